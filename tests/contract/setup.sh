#!/usr/bin/env bash
# Creates .venv at the repository root with the pinned contract checkers (idempotent).
set -euo pipefail
cd "$(dirname "$0")/../.."
# One installer at a time (tests may call this in parallel).
exec 9>"${TMPDIR:-/tmp}/keyport-venv.lock"
flock 9
# The examples' requirements (examples/, run by tests/examples.sh) go in too.
want=$(cat tests/contract/requirements.txt examples/shop-python-zeep/requirements.txt examples/downloads-python/requirements.txt | sha256sum | cut -d' ' -f1)
if ! [ -x .venv/bin/python ] || [ "$(cat .venv/.requirements 2>/dev/null)" != "$want" ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/contract/requirements.txt \
        -r examples/shop-python-zeep/requirements.txt -r examples/downloads-python/requirements.txt
    echo "$want" > .venv/.requirements
fi
# redocly (npm), pinned by its lock file.
lock=tests/contract/redocly/package-lock.json
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat tests/contract/redocly/node_modules/.lock-hash 2>/dev/null)" != "$want" ]; then
    (cd tests/contract/redocly && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > tests/contract/redocly/node_modules/.lock-hash
fi
# axe-core (npm), pinned by its lock file: the accessibility checks of the depot's browser tests.
lock=tests/depot/package-lock.json
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat tests/depot/node_modules/.lock-hash 2>/dev/null)" != "$want" ]; then
    (cd tests/depot && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > tests/depot/node_modules/.lock-hash
fi
# Optic (npm), pinned by its lock file; ajv is held at 8.17.1 (package.json overrides),
# with which Optic's rule engine compiles.
lock=tests/contract/optic/package-lock.json
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat tests/contract/optic/node_modules/.lock-hash 2>/dev/null)" != "$want" ]; then
    (cd tests/contract/optic && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > tests/contract/optic/node_modules/.lock-hash
fi
