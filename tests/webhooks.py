#!/usr/bin/env python3
"""Webhooks for real: `keyport serve` instances post to a receiver on loopback that verifies
every delivery with the Standard Webhooks reference library (`standardwebhooks`, PyPI) and
counts them.

It checks that
  1. every event is delivered once, with a valid signature, while two instances send
     (on PostgreSQL; one instance on SQLite, which has one server);
  2. a receiver that fails 3 times and then answers 2xx gets the event on the 4th attempt,
     and the delivery shows the four attempts;
  3. an event committed while no sender runs, and one whose attempt was in flight when its
     sender was killed with SIGKILL, are delivered after a restart;
  4. after a secret rotation, a delivery verifies with the old and with the new secret
     during the overlap;
  5. an endpoint on a private address is refused unless the configuration allows it, and a
     receiver that redirects elsewhere is not followed;
  6. a ticket code reaches only an endpoint that asked for the order's or ticket's events by
     name; elsewhere it is masked.

Usage: webhooks.py KEYPORT_BIN sqlite|POSTGRES_SERVER_URL
"""

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BIN, TARGET = sys.argv[1], sys.argv[2]
ROOT = tempfile.mkdtemp(prefix="keyport-webhooks-")
POSTGRES = TARGET != "sqlite"
DB = f"keyport_webhooks_{os.getpid()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expect(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}")
        raise SystemExit(1)
    print(f"ok: {what}")


def wait_for(check, what: str, seconds: float = 30.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    expect(False, what)


def call(port: int, method: str, path: str, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        return response.status, (json.loads(text) if text else None)
    except (OSError, http.client.HTTPException) as e:
        return None, repr(e)
    finally:
        conn.close()


class Receiver:
    """An HTTP receiver: verifies each delivery with every secret it was given and records
    it; `plan` maps an event kind to the statuses to answer first (then 204)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = []  # (path, webhook-id, payload, verified-by: list of secret names)
        self.secrets = {}  # name -> secret
        self.plan = {}  # event kind -> list of statuses still to answer
        self.hold = threading.Event()  # while set, answers wait
        self.arrived = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path in ("/redirect", "/moved"):
                    # Elsewhere with 307; to this very receiver with 302 (which would lose the body).
                    self.send_response(307 if self.path == "/redirect" else 302)
                    target = "http://example.invalid/elsewhere" if self.path == "/redirect" else "/hooks"
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                verified = []
                for name, secret in list(receiver.secrets.items()):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(name)
                    except WebhookVerificationError:
                        pass
                payload = json.loads(body)
                with receiver.lock:
                    receiver.received.append((self.path, headers.get("webhook-id"), payload, verified))
                    statuses = receiver.plan.get(payload["type"], [])
                    status = statuses.pop(0) if statuses else 204
                receiver.arrived.set()
                while receiver.hold.is_set():
                    time.sleep(0.05)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_kind(self, kind: str, path: str = "/hooks"):
        with self.lock:
            return [r for r in self.received if r[2]["type"] == kind and r[0] == path]


class Instance:
    def __init__(self, n: int, url: str, config: str):
        self.n, self.url, self.config = n, url, config
        self.port = free_port()
        self.dir = os.path.join(ROOT, f"instance-{n}")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self) -> None:
        log = open(os.path.join(self.dir, "server.log"), "a")
        args = [BIN, "serve", "--config", self.config, "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.dir]
        if self.url:
            args += ["--database-url", self.url]
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if call(self.port, "GET", "/readyz")[0] == 200:
                return
            if self.proc.poll() is not None:
                with open(os.path.join(self.dir, "server.log"), errors="replace") as log:
                    lines = log.readlines()
                # A restart can find its port taken by another process's outgoing connection
                # (the ports are from the ephemeral range): it comes back on another one.
                if lines and "Address already in use" in lines[-1]:
                    self.port = free_port()
                    return self.start()
                raise SystemExit(f"instance {self.n} exited; the end of its log:\n{''.join(lines[-25:])}")
            time.sleep(0.1)
        raise SystemExit(f"instance {self.n} did not become ready; see {self.dir}/server.log")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def config_file(name: str, private: bool) -> str:
    path = os.path.join(ROOT, name)
    with open(path, "w") as f:
        f.write("[webhooks]\n"
                f"allow_private_addresses = {'true' if private else 'false'}\n"
                "timeout_ms = 2000\nfirst_retry_ms = 200\npoll_ms = 100\n")
    return path


def main() -> int:
    if POSTGRES:
        base, _, query = TARGET.partition("?")
        scheme, _, rest = base.partition("://")
        url = f"{scheme}://{rest.split('/', 1)[0]}/{DB}" + (f"?{query}" if query else "")
        subprocess.run(["psql", TARGET, "-q", "-c", f"CREATE DATABASE {DB}"], check=True, capture_output=True)
    else:
        url = None
    allowed = config_file("keyport.toml", True)
    receiver = Receiver()
    hooks = f"http://127.0.0.1:{receiver.port}/hooks"
    instances = [Instance(n, url, allowed) for n in range(2 if POSTGRES else 1)]
    try:
        for i in instances:
            i.start()
        db_args = ["--database-url", url] if url else ["--data-dir", instances[0].dir]
        admin = subprocess.run([BIN, "admin", "create-api-key", "--role", "admin", "--name", "webhooks", *db_args],
                               check=True, capture_output=True, text=True).stdout.strip()
        # The first instance's port as it is now (a restart may move it).
        api = lambda method, path, body=None, at=None: call(at or instances[0].port, method, f"/api/v1{path}", body, admin)  # noqa: E731

        # 5a. A private address is refused where the configuration does not allow it.
        strict = Instance(9, None, config_file("strict.toml", False))
        strict.start()
        strict_admin = subprocess.run([BIN, "admin", "create-api-key", "--role", "admin", "--name", "s",
                                       "--data-dir", strict.dir], check=True, capture_output=True, text=True).stdout.strip()
        status, problem = call(strict.port, "POST", "/api/v1/webhook-endpoints", {"url": hooks}, strict_admin)
        expect(status == 422 and problem["code"] == "invalid_input" and problem["facts"]["field"] == "url",
               f"a loopback endpoint is refused without allow_private_addresses ({status})")
        strict.stop()

        status, created = api("POST", "/webhook-endpoints", {"url": hooks, "description": "all events"})
        expect(status == 201 and created["secret"].startswith("whsec_"), "an endpoint for every event, with its secret")
        endpoint, receiver.secrets["first"] = created["endpoint"]["id"], created["secret"]

        # 1. Every event once, while every instance sends.
        for n in range(30):
            at = instances[n % len(instances)].port
            expect_status = api("POST", "/products", {"code": f"wh{n}", "name": f"Webhook {n}"}, at)[0]
            if expect_status != 201:
                expect(False, f"product {n} created")
        status, page = api("GET", "/events?kind=product_defined&limit=500")
        event_ids = {e["id"] for e in page["items"]}
        wait_for(lambda: len({r[1] for r in receiver.of_kind("product_defined")}) >= 30,
                 "all 30 product events arrived")
        time.sleep(1.0)  # anything sent twice would arrive now
        got = receiver.of_kind("product_defined")
        ids = [r[1] for r in got]
        expect(set(ids) == event_ids and len(ids) == 30,
               f"each of the 30 events arrived exactly once with {len(instances)} instance(s) sending ({len(ids)} posts)")
        expect(all("first" in r[3] for r in got), "every delivery verifies with the Standard Webhooks library")
        one = got[0][2]
        expect(one["data"]["event"]["kind"] == "product_defined" and one["data"]["resource"]["code"].startswith("wh"),
               "a payload carries the event and the resource as the REST API shows it")

        # 2. Three failures, then success: delivered on the 4th attempt.
        receiver.plan["rule_set_defined"] = [500, 503, 500]
        rules = {"name": "flaky", "seats": 1, "deactivation_allowed": True, "offline_allowed": True,
                 "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
                 "credit_cap": 1, "emergency_days": 0, "emergency_per_year": 0, "checkin_interval_days": None,
                 "checkin_grace_days": 0}
        expect(api("POST", "/rule-sets", rules)[0] == 201, "a rule set is defined while the receiver fails")
        wait_for(lambda: len(receiver.of_kind("rule_set_defined")) >= 4, "the 4th attempt arrives", 30)
        deliveries = wait_for(lambda: [d for d in api("GET", f"/webhook-endpoints/{endpoint}/deliveries?state=delivered")[1]["items"]
                                       if d["event_kind"] == "rule_set_defined"], "the delivery is recorded delivered")
        detail = api("GET", f"/webhook-deliveries/{deliveries[0]['id']}")[1]
        statuses = [a["status"] for a in detail["attempts"]]
        expect(statuses == [500, 503, 500, 204] and detail["delivery"]["attempts"] == 4,
               f"the delivery lists its four attempts ({statuses})")
        expect(len(receiver.of_kind("rule_set_defined")) == 4, "nothing is sent after the success")

        # 3a. Committed while no sender runs: delivered after the restart.
        for i in instances:
            i.kill()
        writer = Instance(7, url, config_file("quiet.toml", True))
        with open(writer.config, "a") as f:
            f.write("send = false\n")
        if POSTGRES:
            writer.start()
            status = call(writer.port, "POST", "/api/v1/products", {"code": "quiet", "name": "Quiet"}, admin)[0]
            writer.stop()
        else:
            instances[0].start()  # SQLite has one server: it commits and is killed at once
            status = api("POST", "/products", {"code": "quiet", "name": "Quiet"})[0]
            instances[0].kill()
        expect(status == 201, "a product is defined, then every sender is down (SIGKILL)")
        time.sleep(0.5)
        instances[0].start()
        wait_for(lambda: any(r[2]["data"]["resource"] and r[2]["data"]["resource"].get("code") == "quiet"
                             for r in receiver.of_kind("product_defined")),
                 "the event committed while no sender ran is delivered after the restart")

        # 3b. Killed with SIGKILL while its attempt was in flight: delivered after the restart.
        receiver.hold.set()
        receiver.arrived.clear()
        expect(api("POST", "/products", {"code": "inflight", "name": "In flight"})[0] == 201,
               "a product is defined while the receiver holds its answer")
        wait_for(receiver.arrived.is_set, "its first attempt reached the receiver")
        instances[0].kill()
        receiver.hold.clear()
        before = len(receiver.received)
        instances[0].start()
        wait_for(lambda: api("GET", f"/webhook-endpoints/{endpoint}/deliveries?state=pending")[1]["items"] == []
                 and len(receiver.received) > before,
                 "after SIGKILL mid-attempt and a restart, the delivery is sent again and completes", 40)
        inflight = [r for r in receiver.of_kind("product_defined") if r[2]["data"]["resource"]["code"] == "inflight"]
        expect(len({r[1] for r in inflight}) == 1 and len(inflight) >= 2,
               f"the resent delivery carries the same webhook-id ({len(inflight)} posts, one id)")

        # 4. A rotated secret: both verify during the overlap.
        status, secrets = api("POST", f"/webhook-endpoints/{endpoint}/secret-rotation", {"overlap_seconds": 3600})
        expect(status == 200 and secrets["previous_secret"] == receiver.secrets["first"], "the secret is rotated")
        receiver.secrets["second"] = secrets["secret"]
        expect(api("POST", "/products", {"code": "rotated", "name": "Rotated"})[0] == 201, "a product after rotation")
        rotated = wait_for(lambda: [r for r in receiver.of_kind("product_defined")
                                    if r[2]["data"]["resource"]["code"] == "rotated"], "its delivery arrives")
        expect(set(rotated[0][3]) == {"first", "second"}, "it verifies with the old and with the new secret")

        # 5b. A redirect elsewhere is not followed.
        status, away = api("POST", "/webhook-endpoints",
                           {"url": f"http://127.0.0.1:{receiver.port}/redirect", "event_kinds": ["customer_created"]})
        expect(status == 201, "an endpoint that redirects")
        expect(api("POST", "/customers", {"email": "redirect@example.com", "name": "R"})[0] == 201, "a customer")
        failed = wait_for(lambda: [d for d in api("GET", f"/webhook-endpoints/{away['endpoint']['id']}/deliveries")[1]["items"]
                                   if d["attempts"] >= 1], "the redirecting endpoint's attempt is recorded")
        expect(failed[0]["last_status"] == 307 and "followed only" in failed[0]["last_error"],
               f"a redirect to another origin is not followed ({failed[0]['last_error']})")

        status, moved = api("POST", "/webhook-endpoints",
                            {"url": f"http://127.0.0.1:{receiver.port}/moved", "event_kinds": ["customer_created"]})
        expect(status == 201, "an endpoint that answers 302 to its own origin")
        expect(api("POST", "/customers", {"email": "moved@example.com", "name": "M"})[0] == 201, "another customer")
        failed = wait_for(lambda: [d for d in api("GET", f"/webhook-endpoints/{moved['endpoint']['id']}/deliveries")[1]["items"]
                                   if d["attempts"] >= 1], "the 302 endpoint's attempt is recorded")
        expect(failed[0]["state"] == "pending" and failed[0]["last_status"] == 302,
               "a 302 is not followed (it would turn the post into a GET without the body): not delivered")

        # 6. Ticket codes: masked unless asked for by name.
        status, named = api("POST", "/webhook-endpoints",
                            {"url": f"http://127.0.0.1:{receiver.port}/tickets", "event_kinds": ["order_created"]})
        expect(status == 201, "an endpoint naming order_created")
        item = {"sku": "WH-1", "product_code": "wh0", "name": "Webhook item", "license_model": "perpetual",
                "version_min": 1, "rule_set": "flaky"}
        expect(api("POST", "/items", item)[0] == 201, "an item")
        status, order = api("POST", "/orders", {"shop": "wh", "external_order_number": "WH-1",
                                                 "lines": [{"line_number": 1, "sku": "WH-1", "quantity": 1}]})
        code = order["order"]["ticket_code"]
        everything = wait_for(lambda: receiver.of_kind("order_created"), "the order reaches the every-kind endpoint")
        expect(code not in json.dumps(everything[0][2]) and everything[0][2]["data"]["resource"]["ticket_code"].endswith(code[-5:]),
               "an every-kind endpoint sees the ticket code masked")
        named_got = wait_for(lambda: receiver.of_kind("order_created", "/tickets"), "the order reaches the named endpoint")
        expect(named_got[0][2]["data"]["resource"]["ticket_code"] == code and "first" not in named_got[0][3],
               "an endpoint that named order_created sees the ticket code (signed with its own secret)")
        print("ok: webhooks on", "PostgreSQL" if POSTGRES else "SQLite")
        return 0
    finally:
        for i in instances:
            i.stop()
        receiver.server.shutdown()
        if POSTGRES:
            subprocess.run(["psql", TARGET, "-q", "-c", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
