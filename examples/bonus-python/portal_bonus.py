"""The bonus program, end to end, against `keyport sandbox`.

The vendor (admin key) uploads coupon codes for a discounted add-on (a pool customers buy
with points) and defines two rewards for registering tickets: 100 points for a ticket sold
by the reseller "reseller-nord", and the entitlement "cad-pro-templates" (exclusive
content) for any ticket of CAD Pro. Then:

- the reseller's shop sells CAD Pro 5 for no one named; Lena registers the ticket in the
  portal (portal key acting for her) and sees what it earned; registering it again earns
  nothing more;
- the portal shows her bonus account and she exchanges her 100 points for a coupon: the
  points and the coupon change hands together;
- the shop's checkout tries to redeem points she no longer has: refused, in German, with
  both numbers, and nothing is taken;
- her next certificate carries the entitlement in its claims.

Only the standard library. Run it with the sandbox's KEYPORT_SANDBOX_* lines in the
environment:

    python portal_bonus.py
"""

import base64
import json
import os
import sys
import urllib.error
import urllib.request

BASE = os.environ["KEYPORT_SANDBOX_URL"].rstrip("/")
API = BASE + "/api/v1"
ADMIN = os.environ["KEYPORT_SANDBOX_ADMIN_KEY"]
SHOP = os.environ["KEYPORT_SANDBOX_SHOP_KEY"]
PORTAL = os.environ["KEYPORT_SANDBOX_PORTAL_KEY"]


def call(method, url, token=None, body=None, headers=None):
    """One request: (status, bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def ok(status, body, want):
    if status != want:
        sys.exit(f"expected {want}, got {status}: {body[:500]!r}")
    return json.loads(body) if body else None


def as_customer(customer_id, method, path, body=None):
    """The portal acting for one of its customers."""
    return call(method, API + path, PORTAL, body, headers={"Keyport-Customer": customer_id})


def claims_of(certificate):
    """The claims of a certificate file (verifying it is keyport-client's job)."""
    lines = [l for l in certificate.splitlines() if l and not l.startswith("-----")]
    jws = "".join(lines)
    payload = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def main():
    status, body = call("POST", BASE + "/sandbox/reset", ADMIN, {})
    ok(status, body, 200)

    # The vendor's pool and rewards.
    status, body = call("POST", API + "/coupon-pools", ADMIN, {"name": "CAM Lite add-on -20%", "points_price": 100})
    pool = ok(status, body, 201)["id"]
    status, body = call("POST", f"{API}/coupon-pools/{pool}/coupons", ADMIN, {"codes": ["CAMLITE-7Q2K", "CAMLITE-9XH4"]})
    assert ok(status, body, 200)["pool"]["available"] == 2
    status, body = call("POST", API + "/rewards", ADMIN, {
        "name": "Registered a reseller's ticket", "shop": "reseller-nord", "points": 100})
    ok(status, body, 201)
    status, body = call("POST", API + "/rewards", ADMIN, {
        "name": "CAD Pro template library", "product": "cad-pro", "entitlement": "cad-pro-templates"})
    ok(status, body, 201)

    # The reseller sells CAD Pro 5 for no one named; Lena registers the ticket.
    status, body = call("POST", API + "/orders", SHOP, {
        "shop": "reseller-nord", "external_order_number": "RN-1001",
        "lines": [{"line_number": 1, "sku": "CAD-PRO-5", "quantity": 1}]})
    ticket = ok(status, body, 201)["order"]["ticket_code"]
    status, body = call("POST", API + "/customers", SHOP, {"email": "lena@example.com", "name": "Lena"})
    lena = ok(status, body, 201)["id"]
    status, body = as_customer(lena, "POST", "/me/tickets", {"ticket_code": ticket})
    earned = ok(status, body, 200)["bonus"]
    assert sorted((e["reward_name"], e["points"]) for e in earned) == [
        ("CAD Pro template library", 0), ("Registered a reseller's ticket", 100)], earned
    print("registering", ticket, "earned:", ", ".join(e["reward_name"] for e in earned))
    status, body = as_customer(lena, "POST", "/me/tickets", {"ticket_code": ticket})
    assert ok(status, body, 200)["bonus"] == earned, "registering again earns nothing more"

    # Her bonus account, and an exchange of her points for a coupon.
    status, body = as_customer(lena, "GET", "/me/bonus")
    account = ok(status, body, 200)
    assert account["balance"] == 100 and account["entitlements"] == ["cad-pro-templates"], account
    status, body = as_customer(lena, "POST", "/me/bonus/exchanges", {"coupon_pool_id": pool})
    coupon = ok(status, body, 201)
    assert coupon["points"] == -100 and coupon["coupon_code"] == "CAMLITE-7Q2K", coupon
    print("Lena exchanged 100 points for the coupon", coupon["coupon_code"])

    # The checkout tries to redeem points she no longer has: refused, nothing taken.
    status, body = call("POST", f"{API}/customers/{lena}/bonus/redemptions", SHOP,
                        {"shop": "webshop", "points": 50, "reference": "WS-2001"}, headers={"Accept-Language": "de"})
    refusal = ok(status, body, 409)
    assert refusal["code"] == "insufficient_points", refusal
    print("checkout:", refusal["detail"])
    status, body = as_customer(lena, "GET", "/me/bonus")
    assert ok(status, body, 200)["balance"] == 0

    # Her certificate carries the entitlement: the software unlocks the template library.
    status, body = as_customer(lena, "GET", "/me/licenses")
    license_id = ok(status, body, 200)[0]["id"]
    machine = {"fingerprint": "fp-lena-laptop-0001", "machine_key": base64.urlsafe_b64encode(bytes(range(1, 33))).decode().rstrip("=")}
    status, body = as_customer(lena, "POST", f"/me/licenses/{license_id}/activations", machine)
    claims = claims_of(ok(status, body, 201)["certificate"])
    assert claims["entitlements"] == ["cad-pro-templates"], claims
    print("her certificate's entitlements:", claims["entitlements"])


if __name__ == "__main__":
    main()
