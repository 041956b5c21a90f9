#!/usr/bin/env bash
# The REST contract: schemathesis fuzzes every operation of the served OpenAPI document
# against a live server (SQLite, seeded with a catalog and an admin key) and fails on any
# server error or any response that does not match its documented schema.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/contract/setup.sh
# shellcheck source=tests/contract/lib.sh
source tests/contract/lib.sh
start_keyport

admin_post /api/v1/products '{"code":"cad-pro","name":"CAD Pro"}'
admin_post /api/v1/rule-sets '{"name":"standard","seats":2,"deactivation_allowed":true,"offline_allowed":true,"initial_credits":1,"blocking_days":0,"replenish_credits":1,"replenish_every_days":30,"credit_cap":2,"emergency_days":14,"emergency_per_year":1,"checkin_interval_days":null,"checkin_grace_days":0}'
admin_post /api/v1/items '{"sku":"CAD-PRO-5","product_code":"cad-pro","name":"CAD Pro 5","license_model":"perpetual","features":["export"],"version_min":5,"version_max":null,"rule_set":"standard"}'
admin_post /api/v1/customers '{"email":"anna@example.com","name":"Anna","password":"contract-password"}'
admin_post /api/v1/orders '{"shop":"webshop","external_order_number":"C-1","customer":{"email":"anna@example.com"},"lines":[{"line_number":1,"sku":"CAD-PRO-5","quantity":2}]}'

fuzz() {
    timeout 900 .venv/bin/schemathesis run "$KEYPORT_BASE/api/v1/openapi.json" \
        --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
        --max-examples "${KEYPORT_CONTRACT_EXAMPLES:-100}" \
        --seed 4242 \
        --phases examples,coverage,fuzzing,stateful \
        --generation-database none \
        --no-color \
        "$@"
}

# The customer logs in first: the fuzzer's failed logins will have the address limited.
token=$(curl -fsS -X POST "$KEYPORT_BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"anna@example.com","password":"contract-password"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

echo "== every operation as an admin key"
fuzz --header "Authorization: Bearer $KEYPORT_ADMIN_KEY"

echo "== the customer operations as a logged-in customer"
fuzz --header "Authorization: Bearer $token" --include-tag customer

echo "REST contract: schemathesis found no failure"
