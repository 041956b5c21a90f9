#!/usr/bin/env bash
# The integrators' recipes in examples/, run as an integrator's CI runs them, against
# `keyport sandbox`:
# - the web shop's pytest suite (zeep) starts a sandbox of its own with a fixed seed and
#   checks its golden file;
# - the ERP's node:test suite (the `soap` package), the portal's download page (Python's
#   urllib, PyJWT) and the vendor's insight script (urllib) run against a sandbox started
#   as a service step, as
#   examples/ci/github-actions.yml does.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p keyport-server
bash tests/contract/setup.sh
bin=$PWD/target/debug/keyport
# The CI recipe is a valid workflow file whose sandbox step is the one run below.
.venv/bin/python - <<'PY'
import yaml
flow = yaml.safe_load(open("examples/ci/github-actions.yml"))
steps = flow["jobs"]["contract"]["steps"]
start = next(s for s in steps if s.get("name") == "Start the Keyport sandbox")
assert "keyport sandbox --listen" in start["run"] and "GITHUB_ENV" in start["run"], start
PY

(cd examples/shop-python-zeep && KEYPORT_BIN=$bin ../../.venv/bin/python -m pytest -q -p no:cacheprovider)

# The service step: start, wait for the keys and /readyz, export the lines, run, stop.
env_file=$(mktemp)
"$bin" sandbox --listen 127.0.0.1:0 > "$env_file" 2> "$env_file.log" &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; wait $sandbox 2>/dev/null || true; rm -f "$env_file" "$env_file.log"' EXIT
for _ in $(seq 1 100); do
    grep -q '^KEYPORT_SANDBOX_PORTAL_KEY=' "$env_file" && break
    kill -0 $sandbox 2>/dev/null || break
    sleep 0.1
done
if ! grep -q '^KEYPORT_SANDBOX_PORTAL_KEY=' "$env_file"; then
    echo "examples: the sandbox did not start:" >&2
    cat "$env_file.log" >&2
    exit 1
fi
set -a
. "$env_file"
set +a
curl -fsS "$KEYPORT_SANDBOX_URL/readyz" > /dev/null
(cd examples/erp-node-soap && npm ci --no-audit --no-fund --loglevel=error && npm test)
# A portal's download page: publish, list, download with a resume, manifest checked by PyJWT.
.venv/bin/python examples/downloads-python/portal_downloads.py
# The vendor's insight: PCs replaced on the sandbox's clock, lifetimes, activity CSV, chart.
(cd "$(mktemp -d)" && "$OLDPWD/.venv/bin/python" "$OLDPWD/examples/analytics-python/vendor_insight.py")
# A portal's offer box and a checkout's offers (urllib, SOAP by hand).
.venv/bin/python examples/offers-python/portal_offers.py
# A shop sells an upgrade of an owned license over SOAP, and refunds it.
.venv/bin/python examples/upgrades-python/shop_upgrade.py
# A portal's bonus page: rewards for a reseller's ticket, an exchange, a refused redemption.
.venv/bin/python examples/bonus-python/portal_bonus.py
# A newsletter: double opt-in from the captured mail, a segment's CSV export, one-click unsubscribe.
.venv/bin/python examples/newsletter-python/newsletter.py
echo "examples: the shop (zeep), ERP (soap), download page (urllib, PyJWT), insight (urllib), offers, upgrade, bonus and newsletter (urllib) recipes passed against the sandbox"
