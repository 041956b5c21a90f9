"""Offers by what a customer owns, end to end, against `keyport sandbox`.

The vendor (admin key) defines two offers: an upgrade for everyone who owns CAD Pro, and a
cross-sell for everyone who does not. The shop (shop key) sells CAD Pro 5 to Lena; Max has
an account but owns nothing. Then:

- the portal (portal key, acting for each customer) lists each one's offers, best first,
  and reports what the customer did: Lena sees the upgrade and clicks it, Max dismisses
  the cross-sell and sees it no more;
- the shop's checkout asks over SOAP (ListCustomerOffers) what to show Lena;
- the vendor reads how each offer did (shown, impressions, clicks, dismissals).

Only the standard library. Run it with the sandbox's KEYPORT_SANDBOX_* lines in the
environment:

    python portal_offers.py
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
PORTAL = os.environ["KEYPORT_SANDBOX_PORTAL_KEY"]


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


def customer(email, name):
    """A customer account made by the shop: its id."""
    status, body = call("POST", API + "/customers", SHOP, {"email": email, "name": name})
    return ok(status, body, 201)["id"]


def as_customer(customer_id, method, path):
    """The portal acting for one of its customers."""
    return call(method, API + path, PORTAL, headers={"Keyport-Customer": customer_id})


def main():
    status, body = call("POST", BASE + "/sandbox/reset", ADMIN, {})
    ok(status, body, 200)

    # The vendor's offers. A rule is JSON: owns_product, owns_item, subscription_ends_within,
    # license_older_than, registered_ticket, language, combined with all, any and not.
    owns = {"owns_product": {"product": "cad-pro", "versions": {"from": 5}}}
    status, body = call("POST", API + "/offers", ADMIN, {
        "kind": "upgrade", "rule": owns, "priority": 10,
        "title_en": "CAD Pro 6: 30% off for CAD Pro 5 owners", "title_de": "CAD Pro 6: 30 % Rabatt für Besitzer von CAD Pro 5",
        "text_en": "Faster rendering, new export formats.", "text_de": "Schnelleres Rendern, neue Exportformate.",
        "link": "https://shop.example.com/cad-pro-6", "coupon_code": "UPGRADE-30", "max_days_shown": 14})
    upgrade = ok(status, body, 201)["id"]
    status, body = call("POST", API + "/offers", ADMIN, {
        "kind": "cross_sell", "rule": {"not": owns}, "priority": 5,
        "title_en": "Try CAD Pro for 30 days", "title_de": "CAD Pro 30 Tage testen",
        "link": "https://shop.example.com/cad-pro-demo"})
    cross_sell = ok(status, body, 201)["id"]
    # A rule that does not hold together is refused, naming the bad part.
    status, body = call("POST", API + "/offers", ADMIN, {
        "kind": "upgrade", "rule": {"all": [{"owns_produkt": {}}]}, "title_en": "x", "title_de": "x"})
    problem = ok(status, body, 422)
    assert "rule.all[0]" in problem["detail"], problem
    print("offers defined; a bad rule refused:", problem["detail"])

    # The shop sells CAD Pro 5 to Lena; Max owns nothing.
    lena, max_ = customer("lena@example.com", "Lena"), customer("max@example.com", "Max")
    status, body = call("POST", API + "/orders", SHOP, {
        "shop": "webshop", "external_order_number": "OFFERS-1", "customer": {"email": "lena@example.com"},
        "lines": [{"line_number": 1, "sku": "CAD-PRO-5", "quantity": 1}]})
    ok(status, body, 201)

    # The portal's offer box for Lena: the upgrade. It reports that it showed the offer and
    # that Lena clicked it (each counts once; impressions once a day).
    status, body = as_customer(lena, "GET", "/me/offers")
    offers = ok(status, body, 200)
    assert [o["id"] for o in offers] == [upgrade], offers
    assert offers[0]["coupon_code"] == "UPGRADE-30" and offers[0]["language"] == "en", offers[0]
    for what in ("impressions", "impressions", "clicks"):
        status, body = as_customer(lena, "POST", f"/me/offers/{upgrade}/{what}")
        ok(status, body, 204)
    print(f"Lena sees: {offers[0]['title']} (code {offers[0]['coupon_code']})")

    # Max sees the cross-sell and dismisses it: gone for him.
    status, body = as_customer(max_, "GET", "/me/offers")
    assert [o["id"] for o in ok(status, body, 200)] == [cross_sell]
    status, body = as_customer(max_, "POST", f"/me/offers/{cross_sell}/dismissals")
    ok(status, body, 204)
    status, body = as_customer(max_, "GET", "/me/offers")
    assert ok(status, body, 200) == []
    # An offer that is not for him answers as one that does not exist.
    status, body = as_customer(max_, "POST", f"/me/offers/{upgrade}/clicks")
    assert ok(status, body, 404)["code"] == "not_found"
    print("Max dismissed the cross-sell; his offer box is empty")

    # The shop's checkout asks over SOAP (HTTP Basic with the shop key).
    envelope = (
        '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:k="urn:keyport:soap:v1">'
        f"<e:Body><k:ListCustomerOffers><k:customerId>{lena}</k:customerId></k:ListCustomerOffers></e:Body></e:Envelope>")
    basic = base64.b64encode(f"shop:{SHOP}".encode()).decode()
    status, body = call("POST", BASE + "/soap", raw=envelope.encode(), headers={
        "Authorization": "Basic " + basic, "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"urn:keyport:soap:v1#ListCustomerOffers"'})
    assert status == 200, body
    codes = re.findall(rb"<tns:couponCode>([^<]*)</tns:couponCode>", body)
    assert codes == [b"UPGRADE-30"], body
    print("the checkout (SOAP) shows Lena the code", codes[0].decode())

    # How each offer did.
    for offer_id, want in ((upgrade, {"customers_shown": 1, "impressions": 1, "clicks": 1, "dismissals": 0}),
                           (cross_sell, {"customers_shown": 0, "impressions": 0, "clicks": 0, "dismissals": 1})):
        status, body = call("GET", f"{API}/offers/{offer_id}", ADMIN)
        offer = ok(status, body, 200)
        assert offer["stats"] == want, offer["stats"]
        print(f"{offer['kind']}: {offer['stats']}")


if __name__ == "__main__":
    main()
