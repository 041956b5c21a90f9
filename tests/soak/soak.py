"""A soak run: two `keyport serve` instances on one PostgreSQL database under a moderate,
mixed load (orders, activations, logins, failed logins, password resets that write mails)
for a number of minutes, sampling each instance's RSS and the database's size. Flat numbers
after warm-up mean nothing grows per request without bound. Not part of CI.

    python3 tests/soak/soak.py --minutes 10 [--binary target/release/keyport]

Needs KEYPORT_TEST_POSTGRES_URL (a server URL whose user may create databases)."""

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, body=None, token=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], capture_output=True, text=True, check=True).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--binary", default="target/debug/keyport")
    ap.add_argument("--rate", type=float, default=40, help="requests per second in all")
    args = ap.parse_args()
    admin_url = os.environ["KEYPORT_TEST_POSTGRES_URL"]
    db = f"keyport_soak_{os.getpid()}"
    psql(admin_url, f"CREATE DATABASE {db}")
    url = admin_url.rsplit("/", 1)[0] + "/" + db
    dirs = [tempfile.mkdtemp() for _ in range(2)]
    procs, bases = [], []
    try:
        key = subprocess.run([args.binary, "admin", "create-api-key", "--role", "admin", "--name", "soak",
                              "--database-url", url], capture_output=True, text=True, check=True).stdout.strip()
        for d in dirs:
            port = free_port()
            env = dict(os.environ, RUST_LOG="warn")
            procs.append(subprocess.Popen([args.binary, "serve", "--database-url", url, "--data-dir", d,
                                           "--listen", f"127.0.0.1:{port}"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            bases.append(f"http://127.0.0.1:{port}")
        for b in bases:
            for _ in range(100):
                try:
                    if call(b, "GET", "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
        b = bases[0]
        call(b, "POST", "/api/v1/products", {"code": "soak", "name": "Soak"}, key)
        call(b, "POST", "/api/v1/rule-sets", {"name": "soak", "seats": 3, "deactivation_allowed": True,
             "offline_allowed": True, "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0,
             "replenish_every_days": 0, "credit_cap": 1, "emergency_days": 14, "emergency_per_year": 1,
             "checkin_grace_days": 0}, key)
        call(b, "POST", "/api/v1/items", {"sku": "SOAK-1", "product_code": "soak", "name": "Soak 1",
             "license_model": "perpetual", "features": [], "version_min": 1, "rule_set": "soak"}, key)
        call(b, "POST", "/api/v1/customers", {"email": "soak@example.com", "name": "Soak",
             "password": "soak-password-123"}, key)
        stop = time.time() + args.minutes * 60
        counter = [0]
        errors = {}
        lock = threading.Lock()

        def worker(n):
            rnd = random.Random(n)
            while time.time() < stop:
                with lock:
                    counter[0] += 1
                    i = counter[0]
                base = bases[i % 2]
                kind = rnd.choice(["order", "order", "activate", "login", "badlogin", "reset"])
                status = 0
                if kind in ("order", "activate"):
                    status, o = call(base, "POST", "/api/v1/orders", {"shop": "soak", "external_order_number": f"S-{i}",
                                     "lines": [{"line_number": 1, "sku": "SOAK-1", "quantity": 1}]}, key,
                                     {"Idempotency-Key": f"k-{i}"})
                    if kind == "activate" and o:
                        s, t = call(base, "POST", "/api/v1/auth/ticket-login", {"ticket_code": o["order"]["ticket_code"]})
                        if t:
                            lic = o["order"]["lines"][0]["license_ids"][0]
                            status, _ = call(base, "POST", f"/api/v1/me/licenses/{lic}/activations",
                                             {"fingerprint": f"sha256:soak-machine-{i:08d}",
                                              "machine_key": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}, t["access_token"])
                elif kind == "login":
                    status, _ = call(base, "POST", "/api/v1/auth/login", {"email": "soak@example.com", "password": "soak-password-123"})
                elif kind == "badlogin":
                    status, _ = call(base, "POST", "/api/v1/auth/login", {"email": f"nobody{i}@example.com", "password": "wrong-password"})
                else:
                    status, _ = call(base, "POST", "/api/v1/auth/password-reset", {"email": "soak@example.com"})
                if status >= 500:
                    with lock:
                        errors[status] = errors.get(status, 0) + 1
                time.sleep(max(0.0, 8 / args.rate - 0.01))

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        print("minute  requests  rss_a_mib  rss_b_mib  db_mib  rate_rows  idem_rows  outbox_rows  sessions")
        started = time.time()
        while time.time() < stop:
            time.sleep(min(60, max(1, stop - time.time())))
            size = int(psql(url, "SELECT pg_database_size(current_database())")) // (1 << 20)
            rows = [psql(url, f"SELECT COUNT(*) FROM {t}") for t in ("rate_counters", "idempotency_keys", "outbox", "sessions")]
            print(f"{(time.time() - started) / 60:6.1f}  {counter[0]:8d}  {rss_mib(procs[0].pid):9d}  {rss_mib(procs[1].pid):9d}"
                  f"  {size:6d}  {rows[0]:>9}  {rows[1]:>9}  {rows[2]:>11}  {rows[3]:>8}", flush=True)
        for t in threads:
            t.join()
        print("server errors (5xx):", errors or "none")
        return 1 if errors else 0
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        psql(admin_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
