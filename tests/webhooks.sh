#!/usr/bin/env bash
# Webhooks for real (tests/webhooks.py): `keyport serve` posting to a receiver on loopback that
# verifies each delivery with the Standard Webhooks reference library. On SQLite (one server)
# and, when KEYPORT_TEST_POSTGRES_URL is set, on PostgreSQL with two instances sending; the two
# run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p keyport-server
bash tests/contract/setup.sh
logs=$(mktemp -d)
.venv/bin/python tests/webhooks.py target/debug/keyport sqlite > "$logs/sqlite.log" 2>&1 &
sqlite=$!
status=0
if [ -n "${KEYPORT_TEST_POSTGRES_URL:-}" ]; then
    .venv/bin/python tests/webhooks.py target/debug/keyport "$KEYPORT_TEST_POSTGRES_URL" > "$logs/postgres.log" 2>&1 || status=1
    cat "$logs/postgres.log"
else
    echo "webhooks: KEYPORT_TEST_POSTGRES_URL is not set; PostgreSQL not run"
fi
wait "$sqlite" || status=1
cat "$logs/sqlite.log"
rm -rf "$logs"
exit $status
