#!/usr/bin/env bash
# The container image for real, with podman (Debian packages) on a machine without a
# registry: a Debian bookworm root file system made with debootstrap is imported as the base,
# docker/Dockerfile is built (target `prebuilt`, from the release binaries of this checkout),
# and the image is run: it serves, runs as a non-root user, passes its health check, keeps
# its data in the volume across containers, and its size is reported. Run by hand (as root;
# about a minute once the base exists): bash tests/container.sh
#
# What this machine kind needs, found by trying: runc (crun cannot set rlimits here),
# `--ulimit host` or the host's own nofile limit (raising a limit is not permitted), no
# nproc limit at all, host networking, and the docker image format (OCI has no HEALTHCHECK).
# The Dockerfile's default target compiles in rust:1-bookworm, which no registry here serves.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get install -y -q podman runc debootstrap
fi
if [ ! -e /etc/containers/containers.conf ]; then
    mkdir -p /etc/containers && printf '[containers]\ndefault_ulimits = []\n' > /etc/containers/containers.conf
fi
base=localhost/debian:bookworm-keyport-base
if ! podman image exists "$base"; then
    root=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
    tar -C "$root" -c . | podman import - "$base" >/dev/null
    rm -rf "$root"
fi
cargo build -q --release -p keyport-server -p keyport-client
ctx=$(mktemp -d)
volume="keyport-container-test-$$"
trap 'podman rm -f keyport-container-test >/dev/null 2>&1 || true; podman volume rm -f "$volume" >/dev/null 2>&1 || true; rm -rf "$ctx"' EXIT
cp target/release/keyport target/release/keyport-client "$ctx/"
podman build -q --format docker --runtime runc --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --network host \
    -f docker/Dockerfile --target prebuilt --build-arg RUNTIME_IMAGE="$base" -t localhost/keyport:test "$ctx" >/dev/null
echo "ok: docker/Dockerfile built (target prebuilt) on a debootstrap bookworm base"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run() {
    podman run -d --name keyport-container-test --runtime runc --ulimit host --network host \
        -e "KEYPORT_LISTEN=127.0.0.1:$port" -v "$volume:/var/lib/keyport/data" localhost/keyport:test >/dev/null
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    podman logs keyport-container-test; return 1
}
run
echo "ok: the container serves (/readyz 200)"
test "$(podman exec keyport-container-test id -u)" != 0
echo "ok: it runs as $(podman exec keyport-container-test id -un), not root"
podman healthcheck run keyport-container-test 2>/dev/null
echo "ok: its health check passes"
key=$(podman exec keyport-container-test keyport admin create-api-key --role admin --name container 2>/dev/null)
podman rm -f keyport-container-test >/dev/null 2>&1
run
curl -fs "http://127.0.0.1:$port/api/v1/api-keys" -H "Authorization: Bearer $key" >/dev/null
echo "ok: a new container on the same volume has the data of the first"
size=$(podman image inspect localhost/keyport:test --format '{{.Size}}')
base_size=$(podman image inspect "$base" --format '{{.Size}}')
echo "image: $((size / 1000000)) MB, of which $(((size - base_size) / 1000000)) MB on top of the base ($((base_size / 1000000)) MB)"
