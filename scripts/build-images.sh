#!/usr/bin/env bash
# build-images.sh: build the offline images swarmcass's lab and tests use.
#
# No image registry is reachable on these machines, so every image is built
# here: the lab machine from a debootstrapped Debian root filesystem, the
# registry and Consul from their Go sources on the module proxy, FROM scratch.
# Pins live in images/versions.env; an image whose tag (which carries its pin)
# already exists is not rebuilt, so a second run takes a second.
#
# Usage: scripts/build-images.sh [machine] [registry] [consul]   (default: all)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../images/versions.env
. "$root/images/versions.env"
cache=${SWARMCASS_CACHE:-/var/cache/swarmcass}
mkdir -p "$cache"
export DOCKER_BUILDKIT=0   # the classic builder ships with the engine; buildx may not

log() { printf 'build-images: %s\n' "$*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

# gobuild MODULE@VERSION PKG OUT: build a static binary in a throwaway module.
gobuild() {
  local modver=$1 pkg=$2 out=$3 dir
  dir=$(mktemp -d "$cache/gobuild.XXXXXX")
  (
    cd "$dir"
    go mod init swarmcass.local/build >/dev/null 2>&1
    # consul requires a consul-awsauth pseudo-version the checksum database does not know.
    GONOSUMDB=github.com/hashicorp GOFLAGS=-mod=mod go get "$modver" >"$cache/goget.log" 2>&1 \
      || { tail -20 "$cache/goget.log" >&2; exit 1; }
    CGO_ENABLED=0 GONOSUMDB=github.com/hashicorp GOFLAGS=-mod=mod \
      go build -trimpath -ldflags='-s -w' -o "$out" "$pkg"
  )
  rm -rf "$dir"
}

build_machine() {
  have "$MACHINE_IMAGE" && { log "$MACHINE_IMAGE present"; return; }
  command -v debootstrap >/dev/null || { log "debootstrap missing: run scripts/setup-engine.sh"; exit 1; }
  local rootfs="$cache/rootfs-$DEBIAN_SUITE-$MACHINE_REV"
  log "debootstrapping $DEBIAN_SUITE into $rootfs (about a minute)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase \
    --include=docker.io,iptables,ca-certificates,iproute2,procps \
    "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # Trim what a machine never needs; keeps the import small and fast.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  log "importing $MACHINE_IMAGE"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'LABEL swarmcass.image=machine' \
    -c 'CMD ["dockerd"]' - "$MACHINE_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

build_registry() {
  have "$REGISTRY_IMAGE" && { log "$REGISTRY_IMAGE present"; return; }
  local ctx; ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  log "building registry $REGISTRY_VERSION from source (about 2 minutes)"
  gobuild "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" \
    github.com/distribution/distribution/v3/cmd/registry "$ctx/registry"
  cp "$root/images/registry/Dockerfile" "$root/images/registry/config.yml" "$ctx/"
  docker build -q --label swarmcass.image=registry -t "$REGISTRY_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
}

build_consul() {
  have "$CONSUL_IMAGE" && { log "$CONSUL_IMAGE present"; return; }
  local ctx; ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  log "building consul $CONSUL_VERSION from source (several minutes)"
  gobuild "github.com/hashicorp/consul@$CONSUL_VERSION" github.com/hashicorp/consul "$ctx/consul"
  cp "$root/images/consul/Dockerfile" "$ctx/"
  mkdir -p "$ctx/tmp"
  docker build -q --label swarmcass.image=consul -t "$CONSUL_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(machine registry consul)
for t in "${targets[@]}"; do
  case "$t" in
    machine) build_machine ;;
    registry) build_registry ;;
    consul) build_consul ;;
    *) log "unknown image '$t' (want machine, registry or consul)"; exit 2 ;;
  esac
done
log "done"
