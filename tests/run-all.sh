#!/usr/bin/env bash
# Every test Keyport has: the Rust suites (SQLite always, PostgreSQL too when
# KEYPORT_TEST_POSTGRES_URL is set) and the contract checks with third-party clients.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

set -o pipefail
# Debian packages first (installed when root, else named with the command that installs
# them), then the third-party checkers in .venv and tests/contract/redocly, once.
bash tests/prerequisites.sh
cargo test --workspace --all-targets 2>&1 | tee "$log"
bash tests/contract/openapi.sh
bash tests/contract/rest.sh
bash tests/contract/metrics.sh
bash tests/contract/certificate.sh
bash tests/contract/soap.sh
# nginx in front of three instances on PostgreSQL (needs KEYPORT_TEST_POSTGRES_URL).
bash tests/topology.sh
# Webhooks to a receiver that verifies with the Standard Webhooks library (both backends).
bash tests/webhooks.sh
# The web depot in headless Chromium with axe-core (Selenium).
bash tests/depot.sh
# The integrators' recipes in examples/ against `keyport sandbox`, and the contract
# compatibility check against the last released WSDL and OpenAPI document.
bash tests/examples.sh
bash tests/contract/compat.sh

# The benchmarks still run (seconds, tiny data; nothing is asserted about speed).
rm -rf target/bench-quick
cargo run -q -p keyport-bench -- all --quick
test -s target/bench-quick/sqlite.md && test -s target/bench-quick/sqlite.json

# One closing line over every Rust test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
