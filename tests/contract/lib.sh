# Helpers for the contract scripts: start a real `keyport serve` on a fresh SQLite folder.
# shellcheck shell=bash

# Starts the debug `keyport` on a free port with a new data folder; sets KEYPORT_BASE,
# KEYPORT_ADMIN_KEY and KEYPORT_PID, and stops the server when the script exits.
start_keyport() {
    local bin=target/debug/keyport
    cargo build -q -p keyport-server -p keyport-client
    KEYPORT_DATA=$(mktemp -d)
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    KEYPORT_ADMIN_KEY=$("$bin" admin create-api-key --role admin --name contract --data-dir "$KEYPORT_DATA" 2>/dev/null)
    "$bin" serve --data-dir "$KEYPORT_DATA" --listen "127.0.0.1:$port" >"$KEYPORT_DATA/server.log" 2>&1 &
    KEYPORT_PID=$!
    trap 'kill $KEYPORT_PID 2>/dev/null || true; wait $KEYPORT_PID 2>/dev/null || true; rm -rf "$KEYPORT_DATA"' EXIT
    KEYPORT_BASE="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
        curl -fs "$KEYPORT_BASE/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "keyport did not start:"; cat "$KEYPORT_DATA/server.log"; return 1
}

# POSTs JSON with the admin key; fails on an error status.
admin_post() {
    curl -fsS -X POST "$KEYPORT_BASE$1" -H "Authorization: Bearer $KEYPORT_ADMIN_KEY" \
        -H 'Content-Type: application/json' -d "$2" >/dev/null
}
