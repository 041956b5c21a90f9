#!/usr/bin/env bash
# A rolling upgrade (tests/upgrade.py): the previous release serves while this one migrates
# the same database. Not part of the test command (it needs the previous release built):
#
#   git worktree add /tmp/prev <previous release commit>
#   (cd /tmp/prev && CARGO_TARGET_DIR=/tmp/prev-target cargo build -p keyport-server)
#   KEYPORT_PREVIOUS_BIN=/tmp/prev-target/debug/keyport bash tests/upgrade.sh
#
# It runs on a fresh SQLite file, and on PostgreSQL too when KEYPORT_TEST_POSTGRES_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KEYPORT_PREVIOUS_BIN:?set KEYPORT_PREVIOUS_BIN to the keyport binary of the previous release}"
cargo build -q -p keyport-server
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "== SQLite"
python3 tests/upgrade.py "$KEYPORT_PREVIOUS_BIN" target/debug/keyport "sqlite://$dir/keyport.db"
if [ -n "${KEYPORT_TEST_POSTGRES_URL:-}" ]; then
    echo "== PostgreSQL"
    db="keyport_upgrade_$$"
    psql "$KEYPORT_TEST_POSTGRES_URL" -q -c "CREATE DATABASE $db"
    trap 'psql "$KEYPORT_TEST_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; rm -rf "$dir"' EXIT
    url="${KEYPORT_TEST_POSTGRES_URL%/*}/$db"   # the same server, the new database
    python3 tests/upgrade.py "$KEYPORT_PREVIOUS_BIN" target/debug/keyport "$url"
fi
