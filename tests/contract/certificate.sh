#!/usr/bin/env bash
# Third-party verification: PyJWT (with cryptography) verifies a license certificate from a
# live server using nothing but the served JWKS, and refuses a forged one.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/contract/setup.sh
# shellcheck source=tests/contract/lib.sh
source tests/contract/lib.sh
start_keyport

admin_post /api/v1/products '{"code":"cad-pro","name":"CAD Pro"}'
admin_post /api/v1/rule-sets '{"name":"standard","seats":2,"deactivation_allowed":true,"offline_allowed":true,"initial_credits":1,"blocking_days":0,"replenish_credits":1,"replenish_every_days":30,"credit_cap":2,"emergency_days":14,"emergency_per_year":1,"checkin_interval_days":30,"checkin_grace_days":7}'
admin_post /api/v1/items '{"sku":"CAD-PRO-5","product_code":"cad-pro","name":"CAD Pro 5","license_model":"subscription","duration_days":365,"features":["export"],"version_min":5,"version_max":5,"rule_set":"standard"}'
ticket=$(curl -fsS -X POST "$KEYPORT_BASE/api/v1/orders" -H "Authorization: Bearer $KEYPORT_ADMIN_KEY" \
    -H 'Content-Type: application/json' \
    -d '{"shop":"webshop","external_order_number":"P-1","lines":[{"line_number":1,"sku":"CAD-PRO-5","quantity":1}]}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["order"]["ticket_code"])')

home=$(mktemp -d)
target/debug/keyport-client --home "$home" activate --server "$KEYPORT_BASE" --ticket "$ticket"
certificate=$(ls "$home"/certificates/*.cert)
.venv/bin/python tests/contract/verify_certificate.py "$KEYPORT_BASE/.well-known/jwks.json" "$certificate"
rm -rf "$home"
echo "certificate contract: PyJWT verified the certificate with the JWKS alone"
