#!/usr/bin/env bash
# /metrics parsed by Prometheus's own Python client against a live server.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/contract/setup.sh
export KEYPORT_METRICS_TOKEN=metrics-secret-token
# shellcheck source=tests/contract/lib.sh
source tests/contract/lib.sh
start_keyport
KEYPORT_BASE="$KEYPORT_BASE" KEYPORT_ADMIN_KEY="$KEYPORT_ADMIN_KEY" .venv/bin/python tests/contract/metrics.py
