"""Newsletter consent and a segment export, end to end, against `keyport sandbox`.

The shop sells CAD Pro 5 to Lena and Max; the portal (portal key acting for each) asks for
their marketing consent. Lena confirms with the link of her confirmation mail (double
opt-in); Max does not. Then:

- the vendor (admin key) defines the segment "CAD Pro owners" and exports it as CSV: only
  Lena, with her language, the product that made her match and her unsubscribe URL;
- Lena's mail client unsubscribes her in one click (RFC 8058: a POST of
  `List-Unsubscribe=One-Click` to the URL of the `List-Unsubscribe` header);
- the next export is empty, and her consent history tells when and how each step happened.

Only the standard library. Run it with the sandbox's KEYPORT_SANDBOX_* lines in the
environment:

    python newsletter.py
"""

import csv
import io
import json
import os
import sys
import urllib.error
import urllib.parse
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
    return json.loads(body) if body and body[:1] in (b"{", b"[") else body


def mails_to(address):
    status, body = call("GET", BASE + "/sandbox/mails?" + urllib.parse.urlencode({"to": address}), ADMIN)
    return ok(status, body, 200)


def main():
    status, body = call("POST", BASE + "/sandbox/reset", ADMIN, {})
    ok(status, body, 200)
    ids = {}
    for n, (email, name) in enumerate((("lena@example.com", "Lena"), ("max@example.com", "Max"))):
        status, body = call("POST", API + "/customers", SHOP, {"email": email, "name": name})
        ids[name] = ok(status, body, 201)["id"]
        status, body = call("POST", API + "/orders", SHOP, {
            "shop": "webshop", "external_order_number": f"NEWS-{n}", "customer": {"email": email},
            "lines": [{"line_number": 1, "sku": "CAD-PRO-5", "quantity": 1}]})
        ok(status, body, 201)
        # The portal's newsletter checkbox: a request, answered by a confirmation mail.
        status, body = call("POST", API + "/me/marketing-consent", PORTAL, headers={"Keyport-Customer": ids[name]})
        assert ok(status, body, 200)["state"] == "pending"

    # Lena opens the link of her mail; the portal's /newsletter/confirm page posts the token.
    link = next(l for m in mails_to("lena@example.com") for l in m["links"] if "/newsletter/confirm" in l)
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
    status, body = call("POST", API + "/marketing-consent/confirmations", body={"token": token})
    assert ok(status, body, 200)["state"] == "subscribed"
    welcome = next(m for m in mails_to("lena@example.com") if m["list_unsubscribe"])
    print("Lena's first newsletter mail has List-Unsubscribe:", welcome["list_unsubscribe"].split("?")[0] + "?token=...")

    # The vendor's segment, exported as CSV: only those who confirmed.
    status, body = call("POST", API + "/segments", ADMIN, {
        "name": "CAD Pro owners", "rule": {"owns_product": {"product": "cad-pro"}}})
    segment = ok(status, body, 201)["id"]
    status, body = call("GET", f"{API}/segments/{segment}/export?format=csv", ADMIN)
    rows = list(csv.DictReader(io.StringIO(ok(status, body, 200).decode())))
    assert [r["email"] for r in rows] == ["lena@example.com"], rows
    assert rows[0]["products"] == "cad-pro" and rows[0]["language"] == "en", rows[0]
    print("export:", [(r["email"], r["language"], r["products"]) for r in rows])

    # Her mail client's one-click unsubscribe, then the export again.
    status, body = call("POST", rows[0]["unsubscribe_url"], raw=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    ok(status, body, 200)
    status, body = call("GET", f"{API}/segments/{segment}/export?format=json", ADMIN)
    assert ok(status, body, 200) == [], body
    status, body = call("GET", API + "/me/marketing-consent", PORTAL, headers={"Keyport-Customer": ids["Lena"]})
    history = ok(status, body, 200)["history"]
    print("Lena's consent history:", [(h["state"], h["method"]) for h in history])
    assert [h["method"] for h in history] == [
        "one_click_unsubscribe", "double_opt_in_confirmed", "double_opt_in_requested"], history


if __name__ == "__main__":
    main()
