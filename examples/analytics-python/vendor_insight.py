"""How long do our customers' PCs live? A vendor's insight, end to end, against `keyport sandbox`.

The shop sells four licenses of CAD Pro 5 (shop key); the buyer activates each on a PC
(ticket login). The sandbox's clock moves on: after 200 days one PC is lost and its seat is
recovered to a new one; 150 days later another. Then the vendor (admin key) asks Keyport:

- the PC-lifetime estimate (Kaplan-Meier) as JSON: 6 machines, 2 of them replaced, the
  others still running (censored);
- what happened per month (activations, recoveries) as CSV, for a spreadsheet;
- the survival curve as an SVG chart with German labels, written to pc-lifetimes.de.svg.

Only the standard library. Run it with the sandbox's KEYPORT_SANDBOX_* lines in the
environment:

    python vendor_insight.py
"""

import base64
import csv
import io
import json
import os
import sys
import urllib.error
import urllib.request

BASE = os.environ["KEYPORT_SANDBOX_URL"].rstrip("/")
API = BASE + "/api/v1"
ADMIN = os.environ["KEYPORT_SANDBOX_ADMIN_KEY"]
SHOP = os.environ["KEYPORT_SANDBOX_SHOP_KEY"]


def call(method, url, token=None, body=None, headers=None):
    """One request: (status, headers, bytes)."""
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
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def ok(status, body, want):
    if status != want:
        sys.exit(f"expected {want}, got {status}: {body[:500]!r}")
    return json.loads(body) if body else None


def new_pc(name):
    """A machine as the software describes it: a fingerprint and its public key."""
    key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    return {"fingerprint": f"sha256:pc-{name}-{os.urandom(4).hex()}", "machine_key": key}


def ticket_login(ticket):
    """The buyer logs in with the ticket: an access token."""
    status, _, body = call("POST", API + "/auth/ticket-login", body={"ticket_code": ticket})
    return ok(status, body, 200)["access_token"]


def days_pass(days):
    """The sandbox's clock moves forward (admin key)."""
    status, _, body = call("POST", BASE + "/sandbox/clock", ADMIN, {"days": days})
    ok(status, body, 200)


def main():
    # A clean sandbox: its catalog only, the clock at today.
    status, _, body = call("POST", BASE + "/sandbox/reset", ADMIN, {})
    ok(status, body, 200)

    # The shop sells four licenses on one ticket; the buyer logs in with it.
    status, _, body = call("POST", API + "/orders", SHOP, {
        "shop": "webshop", "external_order_number": "INSIGHT-1",
        "lines": [{"line_number": 1, "sku": "CAD-PRO-5", "quantity": 4}]})
    ticket = ok(status, body, 201)["order"]["ticket_code"]
    token = ticket_login(ticket)
    status, _, body = call("GET", API + "/me/licenses", token)
    licenses = [license["id"] for license in ok(status, body, 200)]
    assert len(licenses) == 4, licenses

    # Each license on a PC of its own.
    pcs = []
    for n, license in enumerate(licenses):
        status, _, body = call("POST", f"{API}/me/licenses/{license}/activations", token, new_pc(f"office-{n}"))
        pcs.append(ok(status, body, 201)["activation"]["id"])

    # 200 days later the first PC is lost: its seat moves to a new PC (a recovery).
    days_pass(200)
    token = ticket_login(ticket)  # months later: a new session
    status, _, body = call("POST", f"{API}/me/activations/{pcs[0]}/recovery", token, new_pc("office-0-new"))
    ok(status, body, 201)
    # 150 days after that, the second.
    days_pass(150)
    token = ticket_login(ticket)
    status, _, body = call("POST", f"{API}/me/activations/{pcs[1]}/recovery", token, new_pc("office-1-new"))
    ok(status, body, 201)

    # The vendor's questions. How long do PCs live?
    status, _, body = call("GET", API + "/analytics/machine-lifetimes?product=cad-pro", ADMIN)
    curve = ok(status, body, 200)["curves"][0]
    assert (curve["subjects"], curve["ended"], curve["censored"]) == (6, 2, 4), curve
    drops = [(p["days"], round(p["survival"], 3)) for p in curve["points"] if p["ended"] > 0]
    # On day 200 of their lives four PCs are at risk (the two new ones are younger than
    # that: 150 and 0 days, censored), one is replaced: 3/4 survive. On day 350 three are
    # left, one is replaced: 3/4 * 2/3 = 1/2, so half the PCs live 350 days or less.
    assert drops == [(200, 0.75), (350, 0.5)], drops
    assert curve["median_days"] == 350, curve["median_days"]
    print(f"PC lifetime: {curve['subjects']} PCs, {curve['ended']} replaced; survival {drops}; "
          f"median {curve['median_days']:.0f} days; restricted mean {curve['restricted_mean_days']:.0f} days")

    # What happened, month by month, as CSV for a spreadsheet.
    status, _, body = call("GET", API + "/analytics/activity?product=cad-pro&period=month&from=2020-01-01&format=csv", ADMIN)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert status == 200 and sum(int(r["activations"]) for r in rows) == 6, (status, rows)
    assert sum(int(r["recoveries"]) for r in rows) == 2, rows
    print(f"activity: {len(rows)} months in CSV, 6 activations, 2 recoveries")

    # The survival curve as the server draws it, labelled in German.
    status, headers, body = call("GET", API + "/analytics/machine-lifetimes?product=cad-pro&format=svg", ADMIN,
                                 headers={"Accept-Language": "de"})
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml"), status
    assert body.startswith(b"<svg") and "Lebensdauer".encode() in body, body[:200]
    with open("pc-lifetimes.de.svg", "wb") as out:
        out.write(body)
    print("insight: lifetimes as JSON, activity as CSV, the chart in pc-lifetimes.de.svg")


if __name__ == "__main__":
    main()
