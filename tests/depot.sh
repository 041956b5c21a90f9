#!/usr/bin/env bash
# The web depot in headless Chromium (tests/depot_browser.py): Selenium walks the pages,
# axe-core checks each one, screenshots go to target/depot-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p keyport-server -p keyport-client
bash tests/contract/setup.sh
.venv/bin/python tests/depot_browser.py target/debug/keyport target/debug/keyport-client
