#!/usr/bin/env python3
"""A rolling upgrade: an instance of the previous release serves while an instance of this
release starts on the same database and migrates it; the previous one keeps serving orders,
activations and license lists, and the new one serves what the old one wrote.

Usage: upgrade.py PREVIOUS_KEYPORT_BIN KEYPORT_BIN DATABASE_URL   (stdlib only)
"""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid

OLD, NEW, URL = sys.argv[1], sys.argv[2], sys.argv[3]
ROOT = tempfile.mkdtemp(prefix="keyport-upgrade-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, (json.loads(text) if text.startswith(("{", "[")) else text)


def expect(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        raise SystemExit(1)
    print(f"ok: {what}")


def serve(binary, name):
    port = free_port()
    folder = os.path.join(ROOT, name)
    os.makedirs(folder)
    log = open(os.path.join(folder, "server.log"), "w")
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--database-url", URL,
                             "--data-dir", folder], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if call(port, "GET", "/readyz")[0] == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{name} did not start; see {folder}/server.log")


def machine():
    key = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
    return {"fingerprint": f"sha256:upgrade-{uuid.uuid4().hex[:16]}", "machine_key": key}


def sell_and_activate(port, admin, number):
    """An order, a ticket login, an activation and the license list, as a portal does."""
    status, order = call(port, "POST", "/api/v1/orders", {
        "shop": "webshop", "external_order_number": number,
        "lines": [{"line_number": 1, "sku": "UP-1", "quantity": 1}]}, admin)
    assert status == 201, (status, order)
    ticket = order["order"]["ticket_code"]
    license = order["order"]["lines"][0]["license_ids"][0]
    token = call(port, "POST", "/api/v1/auth/ticket-login", {"ticket_code": ticket})[1]["access_token"]
    status, body = call(port, "POST", f"/api/v1/me/licenses/{license}/activations", machine(), token)
    assert status == 201, (status, body)
    status, licenses = call(port, "GET", "/api/v1/me/licenses", None, token)
    assert status == 200 and licenses[0]["seats_in_use"] == 1, (status, licenses)
    return license


def main():
    old, old_port = serve(OLD, "previous")
    new = None
    try:
        admin = subprocess.run([OLD, "admin", "create-api-key", "--role", "admin", "--name", "upgrade",
                                "--database-url", URL, "--data-dir", ROOT],
                               check=True, capture_output=True, text=True).stdout.strip()
        for path, body in [("/products", {"code": "up", "name": "Upgrade"}),
                           ("/rule-sets", {"name": "up", "seats": 2, "deactivation_allowed": True,
                                           "offline_allowed": True, "initial_credits": 1, "blocking_days": 0,
                                           "replenish_credits": 0, "replenish_every_days": 0, "credit_cap": 1,
                                           "emergency_days": 7, "emergency_per_year": 1,
                                           "checkin_interval_days": None, "checkin_grace_days": 0}),
                           ("/items", {"sku": "UP-1", "product_code": "up", "name": "Upgrade 1",
                                       "license_model": "perpetual", "version_min": 1, "rule_set": "up"})]:
            status, reply = call(old_port, "POST", f"/api/v1{path}", body, admin)
            assert status == 201, (path, status, reply)
        before = sell_and_activate(old_port, admin, "OLD-1")
        expect(True, "the previous release serves on its own schema")

        new, new_port = serve(NEW, "new")
        expect(True, "this release started on the same database and migrated it")
        sell_and_activate(old_port, admin, "OLD-2")
        expect(call(old_port, "GET", f"/api/v1/licenses/{before}", None, admin)[0] == 200,
               "the previous release keeps serving orders, activations and license lists on the migrated database")
        status, view = call(new_port, "GET", f"/api/v1/licenses/{before}", None, admin)
        expect(status == 200 and view["seats_in_use"] == 1, "this release serves what the previous one wrote")
        sell_and_activate(new_port, admin, "NEW-1")
        expect(call(old_port, "GET", "/api/v1/orders/webshop/NEW-1", None, admin)[0] == 200,
               "and the previous release reads what this one wrote")
        print("upgrade: the previous release served through the migration")
        return 0
    finally:
        for proc in (old, new):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
        subprocess.run(["rm", "-rf", ROOT])


if __name__ == "__main__":
    sys.exit(main())
