"""A customer portal's download page, end to end, against `keyport sandbox`.

The ISV publishes a release (admin key): a draft, a file uploaded with its SHA-256, then
published. A buyer's order comes from the shop (shop key); the buyer logs in with the
ticket and the portal lists what they may download, follows a link like a download manager
(broken off and resumed with Range), checks the file's SHA-256 and verifies the signed
update manifest with the server's JWKS using PyJWT, a JOSE library that is not Keyport's.

Run it with the sandbox's KEYPORT_SANDBOX_* lines in the environment:

    python portal_downloads.py
"""

import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

import jwt  # PyJWT, with cryptography for EdDSA

BASE = os.environ["KEYPORT_SANDBOX_URL"].rstrip("/")
API = BASE + "/api/v1"
ADMIN = os.environ["KEYPORT_SANDBOX_ADMIN_KEY"]
SHOP = os.environ["KEYPORT_SANDBOX_SHOP_KEY"]


def call(method, url, token=None, body=None, raw=None, headers=None):
    """One request: (status, headers, bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if raw is not None:
        request.add_header("Content-Type", "application/octet-stream")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def ok(status, body, want):
    if status != want:
        sys.exit(f"expected {want}, got {status}: {body[:500]!r}")
    return json.loads(body) if body else None


def main():
    # The ISV: a release of CAD Pro 5 with a Windows installer.
    installer = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(installer).hexdigest()
    status, _, body = call("POST", API + "/releases", ADMIN, {
        "product": "cad-pro", "version": "5.3.0",
        "notes_en": "Faster rendering.", "notes_de": "Schnelleres Rendern."})
    release = ok(status, body, 201)
    query = f"os=windows&arch=x86_64&file_name=cad-pro-5.3.0-setup.exe&sha256={digest}"
    status, _, body = call("POST", f"{API}/releases/{release['id']}/artifacts?{query}", ADMIN, raw=installer)
    ok(status, body, 201)
    status, _, body = call("POST", f"{API}/releases/{release['id']}/publish", ADMIN, {})
    assert ok(status, body, 200)["state"] == "published"

    # The shop sells CAD Pro 5; the buyer logs in with the ticket.
    status, _, body = call("POST", API + "/orders", SHOP, {
        "shop": "webshop", "external_order_number": "DL-1",
        "lines": [{"line_number": 1, "sku": "CAD-PRO-5", "quantity": 1}]})
    ticket = ok(status, body, 201)["order"]["ticket_code"]
    status, _, body = call("POST", API + "/auth/ticket-login", body={"ticket_code": ticket})
    token = ok(status, body, 200)["access_token"]

    # The download page.
    status, _, body = call("GET", API + "/me/downloads?os=windows", token)
    page = ok(status, body, 200)
    product = page["products"][0]
    newest = product["releases"][0]
    assert (product["product"], newest["version"]) == ("cad-pro", "5.3.0"), page
    artifact = newest["artifacts"][0]
    assert artifact["sha256"] == digest and artifact["size"] == len(installer), artifact
    link = artifact["download_url"]

    # A download manager: the first megabyte, then the rest (If-Range: the same file).
    status, headers, head = call("GET", link, headers={"Range": "bytes=0-1048575"})
    assert status == 206 and len(head) == 1048576, status
    etag = headers["ETag"]
    status, headers, tail = call("GET", link, headers={"Range": "bytes=1048576-", "If-Range": etag})
    assert status == 206, status
    assert hashlib.sha256(head + tail).hexdigest() == digest, "the resumed file is the uploaded one"
    assert 'filename="cad-pro-5.3.0-setup.exe"' in headers["Content-Disposition"]

    # The update answer for 5.2.0 on Windows, and its manifest verified with PyJWT.
    status, _, body = call("GET", API + "/me/updates?os=windows&arch=x86_64&installed=cad-pro@5.2.0", token)
    update = ok(status, body, 200)["products"][0]
    assert update["update_available"] and update["latest"]["version"] == "5.3.0", update
    status, _, body = call("GET", BASE + "/.well-known/jwks.json")
    keys = jwt.PyJWKSet.from_dict(ok(status, body, 200))
    manifest = update["latest"]["manifest"]
    kid = jwt.get_unverified_header(manifest)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims = jwt.decode(manifest, key=key, algorithms=["EdDSA"])
    assert claims["sha256"] == digest and claims["size"] == len(installer), claims

    # A link with a changed token is refused with a problem document, never a file.
    forged = link[:-6] + ("AAAAAA" if not link.endswith("AAAAAA") else "BBBBBB")
    status, _, body = call("GET", forged)
    assert status == 403 and json.loads(body)["code"] == "download_link_invalid", (status, body)
    print("downloads: release published, listed, downloaded with a resume, manifest verified by PyJWT")


if __name__ == "__main__":
    main()
