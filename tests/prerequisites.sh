#!/usr/bin/env bash
# What the test command needs besides Rust, checked before anything is built: the Debian
# packages (installed when this runs as root, as CI does; otherwise it stops at once with the
# one command that installs them), then the pinned Python and npm checkers (installed into
# .venv and tests/contract/node_modules, once).
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A needs=(
    [xmllint]=libxml2-utils [psql]=postgresql-client [openssl]=openssl [taskset]=util-linux
    [flock]=util-linux [curl]=curl [node]=nodejs [npm]=npm [pkg-config]=pkg-config
    [nginx]=nginx-light [chromium]=chromium [chromedriver]=chromium-driver
)
missing=()
for cmd in "${!needs[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
done
for pkg in libpq-dev libsqlite3-dev python3-venv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing: ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    else
        echo "The tests need these Debian packages; install them first with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

bash tests/contract/setup.sh
