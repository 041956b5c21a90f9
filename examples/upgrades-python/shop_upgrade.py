"""Selling an upgrade of a license the customer owns, end to end, against `keyport sandbox`.

The vendor (admin key) defines CAD Pro 6 as an upgrade of CAD Pro 5. The shop (shop key)
sells CAD Pro 5; the buyer activates it on a PC (ticket login). Then the shop sells the
upgrade over SOAP, naming the license: the same license, still on the same PC, is now
CAD Pro 6 with its features. Sending the order again changes nothing; upgrading it twice is
refused with a clear code (in German here); a refund (CancelOrder) takes the upgrade back.

Only the standard library. Run it with the sandbox's KEYPORT_SANDBOX_* lines in the
environment:

    python shop_upgrade.py
"""

import base64
import json
import os
import re
import sys
import urllib.error
import urllib.request

BASE = os.environ["KEYPORT_SANDBOX_URL"].rstrip("/")
API = BASE + "/api/v1"
ADMIN = os.environ["KEYPORT_SANDBOX_ADMIN_KEY"]
SHOP = os.environ["KEYPORT_SANDBOX_SHOP_KEY"]


def call(method, url, token=None, body=None, headers=None, raw=None):
    """One request: (status, bytes)."""
    data = json.dumps(body).encode() if body is not None else raw
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


def soap(operation, inner):
    """A SOAP call with HTTP Basic and the shop key: (status, xml text)."""
    envelope = ('<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:k="urn:keyport:soap:v1">'
                f"<e:Body><k:{operation}>{inner}</k:{operation}></e:Body></e:Envelope>")
    basic = base64.b64encode(f"webshop:{SHOP}".encode()).decode()
    status, body = call("POST", BASE + "/soap", raw=envelope.encode(), headers={
        "Authorization": "Basic " + basic, "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": f'"urn:keyport:soap:v1#{operation}"'})
    return status, body.decode()


def field(xml, name):
    found = re.search(f"<tns:{name}>([^<]*)</tns:{name}>", xml)
    return found.group(1) if found else None


def main():
    status, body = call("POST", BASE + "/sandbox/reset", ADMIN, {})
    ok(status, body, 200)

    # The vendor: CAD Pro 6 upgrades CAD Pro 5 (same product; its rule set, versions 5 and 6).
    status, body = call("POST", API + "/items", ADMIN, {
        "sku": "CAD-PRO-6", "product_code": "cad-pro", "name": "CAD Pro 6", "license_model": "perpetual",
        "features": ["export", "render", "cloud"], "version_min": 5, "version_max": 6,
        "rule_set": "standard", "upgrade_from": ["CAD-PRO-5"]})
    ok(status, body, 201)

    # The shop sells CAD Pro 5; the buyer activates it on a PC.
    status, body = call("POST", API + "/orders", SHOP, {
        "shop": "webshop", "external_order_number": "SALE-1",
        "lines": [{"line_number": 1, "sku": "CAD-PRO-5", "quantity": 1}]})
    ticket = ok(status, body, 201)["order"]["ticket_code"]
    status, body = call("POST", API + "/auth/ticket-login", body={"ticket_code": ticket})
    token = ok(status, body, 200)["access_token"]
    status, body = call("GET", API + "/me/licenses", token)
    license_id = ok(status, body, 200)[0]["id"]
    pc = {"fingerprint": "sha256:office-pc", "machine_key": base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()}
    status, body = call("POST", f"{API}/me/licenses/{license_id}/activations", token, pc)
    ok(status, body, 201)

    # The upgrade, sold over SOAP: a CreateOrder line naming the license.
    line = ("<k:shop>webshop</k:shop><k:externalOrderNumber>UPGRADE-1</k:externalOrderNumber>"
            "<k:line><k:lineNumber>1</k:lineNumber><k:sku>CAD-PRO-6</k:sku><k:quantity>1</k:quantity>"
            f"<k:upgradeLicenseId>{license_id}</k:upgradeLicenseId></k:line>")
    status, xml = soap("CreateOrder", line)
    assert status == 200 and field(xml, "upgradeLicenseId") == license_id, xml
    status, body = call("GET", f"{API}/me/licenses/{license_id}", token)
    upgraded = ok(status, body, 200)
    assert upgraded["sku"] == "CAD-PRO-6" and "cloud" in upgraded["features"], upgraded
    assert upgraded["seats_in_use"] == 1, "still on the same PC"
    print(f"upgraded: license {license_id} is {upgraded['sku']} with {upgraded['features']}, still on its PC")

    # Sending the order again changes nothing; a second upgrade of it is refused, clearly.
    status, xml = soap("CreateOrder", line)
    assert status == 200 and field(xml, "created") == "false", xml
    status, body = call("POST", API + "/orders", SHOP, {
        "shop": "webshop", "external_order_number": "UPGRADE-2",
        "lines": [{"line_number": 1, "sku": "CAD-PRO-6", "quantity": 1, "upgrade_license_id": license_id}]},
        headers={"Accept-Language": "de"})
    problem = ok(status, body, 409)
    assert problem["code"] == "upgrade_not_allowed", problem
    print("refused:", problem["detail"])

    # A refund takes the upgrade back; the license stays on its PC.
    status, xml = soap("CancelOrder", "<k:shop>webshop</k:shop><k:externalOrderNumber>UPGRADE-1</k:externalOrderNumber>"
                                      "<k:reason>refund</k:reason>")
    assert status == 200, xml
    status, body = call("GET", f"{API}/me/licenses/{license_id}", token)
    back = ok(status, body, 200)
    assert back["sku"] == "CAD-PRO-5" and back["state"] == "active", back
    print(f"refunded: license {license_id} is {back['sku']} again, {back['state']}")


if __name__ == "__main__":
    main()
