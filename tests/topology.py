#!/usr/bin/env python3
"""Scale-out for real: nginx in front of three `keyport serve` instances on one PostgreSQL
database, with nginx as the trusted proxy.

Through nginx it checks that
  1. a seat race across the instances takes exactly the license's seats;
  2. under a mixed load of orders and activations, one instance taken out of nginx and then
     stopped with SIGTERM (and restarted) fails nothing, one killed with SIGKILL (and
     restarted) fails only requests that were in flight on it, and every acknowledged write
     is there afterwards;
  3. the per-address login limit counts the real client address (the one nginx saw), not
     nginx's.

Usage: topology.py KEYPORT_BIN POSTGRES_SERVER_URL   (stdlib only)
"""

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

BIN, SERVER_URL = sys.argv[1], sys.argv[2]
DB = f"keyport_topology_{os.getpid()}"
ROOT = tempfile.mkdtemp(prefix="keyport-topology-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{name}" + (f"?{query}" if query else "")


def psql(sql: str) -> None:
    subprocess.run(["psql", SERVER_URL, "-q", "-c", sql], check=True, capture_output=True)


def call(port: int, method: str, path: str, body=None, token=None, source="127.0.0.1", timeout=15.0):
    """One HTTP request; answers (status, JSON body) or (None, error text) when the
    connection failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text
    except (OSError, http.client.HTTPException) as e:
        return None, repr(e)
    finally:
        conn.close()


def expect(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}")
        raise SystemExit(1)
    print(f"ok: {what}")


class Instance:
    def __init__(self, n: int, url: str, config: str):
        self.n, self.url, self.config = n, url, config
        self.port = free_port()
        self.dir = os.path.join(ROOT, f"instance-{n}")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self) -> None:
        log = open(os.path.join(self.dir, "server.log"), "a")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--config", self.config, "--listen", f"127.0.0.1:{self.port}",
             "--database-url", self.url, "--data-dir", self.dir],
            stdout=log, stderr=subprocess.STDOUT,
        )

    def ready(self, seconds: float = 30.0) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if call(self.port, "GET", "/readyz", timeout=2)[0] == 200:
                return
            if self.proc.poll() is not None:
                with open(os.path.join(self.dir, "server.log"), errors="replace") as log:
                    taken = "Address already in use" in log.readlines()[-1]
                if not taken:
                    break
                # Its port was free when chosen, but a restart finds it taken by another
                # process's outgoing connection (the ports are from the ephemeral range): the
                # instance comes back on another port (callers reconfigure nginx after ready()).
                self.port = free_port()
                self.start()
            time.sleep(0.1)
        # The reason is in the instance's log, which goes with the test's folder: show it now.
        with open(os.path.join(self.dir, "server.log"), errors="replace") as log:
            tail = log.readlines()[-25:]
        state = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
        print(f"FAILED: instance {self.n} did not become ready ({state}); the end of its log:")
        print("".join(tail))
        raise SystemExit(1)

    def stop(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


def nginx_config(port: int, upstreams: list, drained=()) -> str:
    servers = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s{' down' if p in drained else ''};"
        for p in upstreams
    )
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
pid {ROOT}/nginx.pid;
error_log {ROOT}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {ROOT}/nginx-body;
    proxy_temp_path {ROOT}/nginx-proxy;
    fastcgi_temp_path {ROOT}/nginx-fastcgi;
    uwsgi_temp_path {ROOT}/nginx-uwsgi;
    scgi_temp_path {ROOT}/nginx-scgi;
    upstream keyport {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://keyport;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


def machine(n: int) -> dict:
    key = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=")
    return {"fingerprint": f"sha256:topology-machine-{n:08d}", "machine_key": key}


def main() -> int:
    psql(f"CREATE DATABASE {DB}")
    url = with_database(SERVER_URL, DB)
    config = os.path.join(ROOT, "keyport.toml")
    with open(config, "w") as f:
        f.write('trusted_proxies = ["127.0.0.1"]\n[limits]\nwindow_minutes = 15\n'
                "login_failures_per_account = 5\nlogin_failures_per_address = 5\n"
                "ticket_logins_per_address = 1000\nreset_requests_per_address = 5\n"
                "registrations_per_address = 10\nmails_per_account = 3\n")
    instances = [Instance(n, url, config) for n in range(3)]
    nginx = None
    try:
        for i in instances:  # started together: they race on the migrations
            i.start()
        for i in instances:
            i.ready()
        print("ok: three instances started at once on one fresh PostgreSQL database")
        admin = subprocess.run([BIN, "admin", "create-api-key", "--role", "admin", "--name", "topology",
                                "--database-url", url, "--data-dir", ROOT],
                               check=True, capture_output=True, text=True).stdout.strip()
        port = free_port()
        conf = os.path.join(ROOT, "nginx.conf")

        def configure(drained=()):
            """Writes nginx's configuration; with `drained`, those instances get no new
            requests (and a running nginx is told to reload: old workers finish theirs)."""
            with open(conf, "w") as f:
                f.write(nginx_config(port, [i.port for i in instances], drained))
            if nginx:
                subprocess.run(["nginx", "-p", ROOT, "-c", conf, "-s", "reload"], check=True, capture_output=True)
                time.sleep(1.5)

        configure()
        nginx = subprocess.Popen(["nginx", "-p", ROOT, "-c", os.path.join(ROOT, "nginx.conf"), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for _ in range(100):
            if call(port, "GET", "/healthz", timeout=2)[0] == 200:
                break
            time.sleep(0.1)
        p = lambda path, body, token=admin: call(port, "POST", f"/api/v1{path}", body, token)  # noqa: E731
        expect(p("/products", {"code": "topo", "name": "Topology"})[0] == 201, "a product through nginx")
        rules = {"name": "three", "seats": 3, "deactivation_allowed": True, "offline_allowed": True,
                 "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0,
                 "credit_cap": 1, "emergency_days": 0, "emergency_per_year": 0, "checkin_interval_days": None,
                 "checkin_grace_days": 0}
        expect(p("/rule-sets", rules)[0] == 201, "a rule set of three seats")
        item = {"sku": "TOPO-1", "product_code": "topo", "name": "Topology 1", "license_model": "perpetual",
                "version_min": 1, "rule_set": "three"}
        expect(p("/items", item)[0] == 201, "an item")

        # 1. The seat race, across the three instances.
        status, order = p("/orders", {"shop": "topo", "external_order_number": "RACE-1",
                                      "lines": [{"line_number": 1, "sku": "TOPO-1", "quantity": 1}]})
        ticket, license = order["order"]["ticket_code"], order["order"]["lines"][0]["license_ids"][0]
        token = p("/auth/ticket-login", {"ticket_code": ticket}, None)[1]["access_token"]
        results = []
        racers = [threading.Thread(target=lambda n=n: results.append(
            p(f"/me/licenses/{license}/activations", machine(n), token)[0])) for n in range(24)]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        expect(results.count(201) == 3 and results.count(409) == 21,
               f"24 machines racing through nginx for 3 seats: exactly 3 activations ({sorted(results)})")
        seats = call(port, "GET", f"/api/v1/licenses/{license}", token=admin)[1]["seats_in_use"]
        expect(seats == 3, "the license shows 3 seats in use")

        # 2. A mixed load while one instance is stopped (SIGTERM) and one is killed (SIGKILL).
        acknowledged, failed, stop = [], [], threading.Event()
        lock = threading.Lock()

        def worker(w: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                number = f"LOAD-{w}-{n}"
                started = time.time()
                if n % 3 == 0:
                    status, body = p(f"/me/licenses/{license}/activations", machine(1000 + w), token)
                    ok = status in (200, 201, 409)
                else:
                    status, body = p("/orders", {"shop": "topo", "external_order_number": number,
                                                 "lines": [{"line_number": 1, "sku": "TOPO-1", "quantity": 1}]})
                    ok = status == 201
                with lock:
                    if ok and n % 3 != 0:
                        acknowledged.append(number)
                    elif not ok:
                        failed.append((status, body if status is None else str(body)[:120], started))

        # Daemons: a failure below must not leave them running and the test hanging.
        workers = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(8)]
        for t in workers:
            t.start()
        time.sleep(2)
        # A planned stop: out of the proxy first, then SIGTERM (requests in flight finish).
        configure(drained=(instances[0].port,))
        instances[0].stop(signal.SIGTERM)
        time.sleep(1)
        instances[0].start()
        instances[0].ready()
        configure()
        expect(not failed, f"an instance taken out of nginx and stopped with SIGTERM (then back) failed no request ({failed[:3]})")
        killed_at = time.time()
        instances[1].stop(signal.SIGKILL)
        time.sleep(2)
        instances[1].start()
        instances[1].ready()
        configure()
        time.sleep(2)
        stop.set()
        for t in workers:
            t.join()
        in_flight = [f for f in failed if f[2] <= killed_at + 0.5]
        expect(len(failed) == len(in_flight) and len(failed) <= len(workers),
               f"an instance killed with SIGKILL failed only requests in flight on it ({len(failed)}: {failed[:3]})")
        expect(all(f[0] in (None, 502, 504) for f in failed), "those failures are the proxy's, never Keyport's")
        missing = [n for n in acknowledged if call(port, "GET", f"/api/v1/orders/topo/{n}", token=admin)[0] != 200]
        expect(len(acknowledged) > 50 and not missing,
               f"all {len(acknowledged)} acknowledged orders are there afterwards (missing: {missing[:5]})")

        # 3. The per-address limit sees the client nginx saw.
        # Another account each time: the per-account limit stays out of the way.
        def failed_login(source: str):
            email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
            return call(port, "POST", "/api/v1/auth/login", {"email": email, "password": "wrong"}, source=source)[0]

        first = [failed_login("127.0.0.2") for _ in range(6)]
        expect(first[:5] == [401] * 5 and first[5] == 429, f"client 127.0.0.2 is limited after 5 failures ({first})")
        expect(failed_login("127.0.0.3") == 401, "client 127.0.0.3, through the same nginx, is not")
        print("topology: nginx and three instances on PostgreSQL behaved")
        return 0
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait(timeout=10)
        for i in instances:
            if i.proc and i.proc.poll() is None:
                i.proc.terminate()
                try:
                    i.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    i.proc.kill()
        try:
            psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        except subprocess.CalledProcessError:
            pass
        if os.environ.get("KEYPORT_KEEP_TOPOLOGY"):
            print(f"kept {ROOT}")
        else:
            subprocess.run(["rm", "-rf", ROOT])


if __name__ == "__main__":
    sys.exit(main())
