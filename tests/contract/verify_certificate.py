"""Verifies a Keyport license certificate with PyJWT and the JWKS alone.

Usage: verify_certificate.py JWKS_URL CERTIFICATE_FILE
Exits 0 and prints the claims when the certificate verifies; exits 1 otherwise.
"""

import json
import sys
import urllib.request

import jwt


def main() -> int:
    jwks_url, certificate_path = sys.argv[1], sys.argv[2]
    with urllib.request.urlopen(jwks_url) as response:
        jwks = json.load(response)
    text = open(certificate_path, encoding="ascii").read()
    compact = "".join(line.strip() for line in text.splitlines() if not line.startswith("-----"))
    kid = jwt.get_unverified_header(compact)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    key = jwt.PyJWK(jwk)
    claims = jwt.decode(compact, key.key, algorithms=["EdDSA"], issuer="keyport", options={"require": ["sub", "iat"]})
    print(json.dumps(claims, sort_keys=True))
    # A changed certificate must fail with the same keys.
    parts = compact.split(".")
    forged_claims = dict(claims, features=claims["features"] + ["everything"])
    forged_payload = jwt.utils.base64url_encode(json.dumps(forged_claims).encode()).decode()
    try:
        jwt.decode(".".join([parts[0], forged_payload, parts[2]]), key.key, algorithms=["EdDSA"])
    except jwt.InvalidSignatureError:
        return 0
    print("a forged certificate verified", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
