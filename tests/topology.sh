#!/usr/bin/env bash
# Scale-out for real (tests/topology.py): nginx in front of three `keyport serve` instances on
# one PostgreSQL database. Needs KEYPORT_TEST_POSTGRES_URL (a server whose user may create
# databases, as .ci/run sets it) and nginx (Debian package nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${KEYPORT_TEST_POSTGRES_URL:-}" ]; then
    echo "topology: needs KEYPORT_TEST_POSTGRES_URL (PostgreSQL); not run"
    exit 0
fi
cargo build -q -p keyport-server
python3 tests/topology.py target/debug/keyport "$KEYPORT_TEST_POSTGRES_URL"
