#!/usr/bin/env bash
# The OpenAPI document as integrators' tools see it: openapi-spec-validator (OpenAPI 3.1),
# `redocly lint` (recommended rules, no warnings), and a Python client generated from it by
# openapi-python-client that walks through a portal's calls against a live server.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/contract/setup.sh
doc=$PWD/openapi/openapi.json

echo "== openapi-spec-validator"
.venv/bin/openapi-spec-validator "$doc"

echo "== redocly lint (recommended)"
out=$(cd tests/contract/redocly && npx --no-install redocly lint --format stylish "$doc" 2>&1) || { echo "$out"; exit 1; }
if grep -Eq '(warning|error)' <<<"$(grep -v -i 'node' <<<"$out")"; then
    echo "$out"; echo "redocly reported warnings"; exit 1
fi
echo "redocly: no errors, no warnings"

echo "== openapi-python-client"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
(cd "$gen" && PATH="$OLDPWD/.venv/bin:$PATH" "$OLDPWD/.venv/bin/openapi-python-client" generate --path "$doc" >/dev/null)
# shellcheck source=tests/contract/lib.sh
source tests/contract/lib.sh
start_keyport
trap 'kill $KEYPORT_PID 2>/dev/null || true; wait $KEYPORT_PID 2>/dev/null || true; rm -rf "$KEYPORT_DATA" "$gen"' EXIT
PYTHONPATH="$gen/keyport-rest-api-client" KEYPORT_BASE="$KEYPORT_BASE" KEYPORT_ADMIN_KEY="$KEYPORT_ADMIN_KEY" \
    .venv/bin/python tests/contract/openapi_client.py
