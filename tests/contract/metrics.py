"""/metrics as Prometheus reads it: parsed with prometheus-client's own parser after a few
requests of each kind (REST, a refusal, SOAP, an activation), against a live server whose
metrics need a bearer token (KEYPORT_BASE, KEYPORT_ADMIN_KEY, KEYPORT_METRICS_TOKEN)."""

import json
import os
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

BASE = os.environ["KEYPORT_BASE"]
ADMIN = os.environ["KEYPORT_ADMIN_KEY"]
TOKEN = os.environ["KEYPORT_METRICS_TOKEN"]


def call(method, path, body=None, token=None, content_type="application/json"):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def expect(condition, what):
    if not condition:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)
    print("ok:", what)


call("POST", "/api/v1/products", {"code": "met-pro", "name": "Metrics Pro"}, ADMIN)
call("GET", "/api/v1/products/met-pro", None, ADMIN)
call("GET", "/api/v1/products/no-such-product", None, ADMIN)
call("POST", "/api/v1/rule-sets", {"name": "met", "seats": 1, "deactivation_allowed": True, "offline_allowed": True,
     "initial_credits": 1, "blocking_days": 0, "replenish_credits": 0, "replenish_every_days": 0, "credit_cap": 1,
     "emergency_days": 14, "emergency_per_year": 1, "checkin_grace_days": 0}, ADMIN)
call("POST", "/api/v1/items", {"sku": "MET-1", "product_code": "met-pro", "name": "Metrics 1",
     "license_model": "perpetual", "features": [], "version_min": 1, "rule_set": "met"}, ADMIN)
_, order = call("POST", "/api/v1/orders", {"shop": "web", "external_order_number": "M-1",
                "lines": [{"line_number": 1, "sku": "MET-1", "quantity": 1}]}, ADMIN)
order = json.loads(order)["order"]
_, session = call("POST", "/api/v1/auth/ticket-login", {"ticket_code": order["ticket_code"]})
access = json.loads(session)["access_token"]
status, _ = call("POST", f"/api/v1/me/licenses/{order['lines'][0]['license_ids'][0]}/activations",
                 {"fingerprint": "sha256:metrics-machine-0001", "machine_key": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"},
                 access)
expect(status == 201, "an activation signs a certificate")
envelope = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:k="urn:keyport:soap:v1">'
    '<soapenv:Body><k:GetOrder><k:shop>web</k:shop><k:externalOrderNumber>M-1</k:externalOrderNumber></k:GetOrder>'
    '</soapenv:Body></soapenv:Envelope>'
).encode()
call("POST", "/soap", envelope, None, "text/xml; charset=utf-8")

status, _ = call("GET", "/metrics")
expect(status == 401, "without the token /metrics answers 401")
status, text = call("GET", "/metrics", None, TOKEN)
expect(status == 200, "with the token /metrics answers 200")
families = {f.name: f for f in text_string_to_metric_families(text)}
for name, kind in [
    ("keyport_http_requests", "counter"),
    ("keyport_http_request_duration_seconds", "histogram"),
    ("keyport_refusals", "counter"),
    ("keyport_soap_requests", "counter"),
    ("keyport_soap_request_duration_seconds", "histogram"),
    ("keyport_certificates_signed", "counter"),
    ("keyport_db_connections", "gauge"),
    ("keyport_mail_outbox_depth", "gauge"),
    ("keyport_mail_outbox_oldest_seconds", "gauge"),
    ("keyport_webhook_queue_depth", "gauge"),
    ("keyport_webhook_oldest_seconds", "gauge"),
    ("keyport_build_info", "gauge"),
]:
    expect(name in families and families[name].type == kind, f"{name} is a {kind}")
routes = {s.labels.get("route") for s in families["keyport_http_requests"].samples}
expect("/api/v1/products/{code}" in routes, "requests are counted by route pattern")
expect(not any(r and "met-pro" in r for r in routes), "no raw path (with its values) becomes a label")
refusals = {s.labels["code"]: s.value for s in families["keyport_refusals"].samples}
expect(refusals.get("not_found", 0) >= 1 and refusals.get("unauthorized", 0) >= 1, "refusals are counted by code")
soap = {(s.labels["operation"], s.labels["outcome"]) for s in families["keyport_soap_requests"].samples}
expect(("GetOrder", "unauthorized") in soap, "SOAP calls are counted by operation and outcome")
signed = sum(s.value for s in families["keyport_certificates_signed"].samples)
expect(signed >= 1, "certificates signed are counted")
print("metrics: Prometheus parsed every family")
