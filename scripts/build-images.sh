#!/usr/bin/env bash
# build-images.sh: build the offline images swarmcass's lab and tests use.
#
# No image registry is reachable on these machines, so every image is built
# here: the lab machine from a debootstrapped Debian root filesystem, the
# registry and Consul from their Go sources on the module proxy, FROM scratch.
# Pins live in images/versions.env; an image whose tag (which carries its pin)
# already exists is not rebuilt, so a second run takes a second.
#
# Real Cassandra (cassandra) is assembled the same way, offline: a debootstrapped
# Debian with its Java, cassandra-all and its runtime dependencies resolved by
# mvn from Maven Central on this host, cqlsh's wheels from PyPI, and
# swarmcass's own conf and launchers (cassandra-image/base/).
#
# Cassandra 4.1 (cassandra41) needs Java 8 or 11, which bookworm lacks: it is
# the same build on bullseye's openjdk-11-jre-headless, with cqlsh 6.1.x.
#
# Targets and what each costs cold (empty cache, no image yet); a second run
# finds the image and takes a second:
#   machine      about a minute (debootstrap bookworm)
#   registry     about 2 minutes (go build)
#   consul       several minutes (go build)
#   cassandra    Cassandra 5.0 on bookworm's Java 17: debootstrap, then mvn
#                (about a minute each), pip and docker build (seconds)
#   cassandra-prev  Cassandra 5.0.7 (CASSANDRA_PREV_VERSION) the same way, on
#                the 5.0 OS image: what the real tier's ring starts on, upgrades
#                from and rolls back to (scripts/test.sh asks for it; not a
#                default). 4 min 12 s measured with the OS image present and
#                the Maven repository and download cache empty (2 shared cores,
#                load 30); with cassandra it runs after it in the same
#                background job, sharing its OS image, Maven repository and
#                cqlsh wheels
#   cassandra41  Cassandra 4.1 on bullseye's Java 11: 3 min 20 s measured on 2
#                shared cores (debootstrap 2 min, mvn 70 s, pip and docker build
#                10 s); 7 s when its OS image and the mvn and pip caches exist,
#                but 2 min more whenever the OS image is gone. Not a default:
#                nothing builds on it unless asked, and scripts/lab-ring.sh runs
#                the default list for 5.0 alone.
#
# Usage: scripts/build-images.sh [machine] [registry] [consul] [cassandra] [cassandra-prev] [cassandra41]
#        (default: machine registry consul cassandra)
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
  debootstrap_import "$MACHINE_IMAGE" "$DEBIAN_SUITE" docker.io,iptables,ca-certificates,iproute2,procps \
    machine 'CMD ["dockerd"]'
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

# debootstrap_import IMAGE SUITE PACKAGES KIND [CHANGE...]: a minimal Debian
# SUITE with the comma-separated PACKAGES, trimmed of what an image never
# needs, imported as IMAGE labelled swarmcass.image=KIND, with the Dockerfile
# CHANGEs. Tagged only when whole.
debootstrap_import() {
  local image=$1 suite=$2 packages=$3 kind=$4 rootfs c changes=()
  shift 4
  for c in "$@"; do changes+=(-c "$c"); done
  command -v debootstrap >/dev/null || { log "debootstrap missing: run scripts/setup-engine.sh"; exit 1; }
  rootfs="$cache/rootfs-${image//[:\/]/-}"
  log "debootstrapping $suite with $packages into $rootfs (a minute or two)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; log "debootstrap of $suite failed: check that $DEBIAN_MIRROR answers and that $suite has $packages"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  log "importing $image"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "LABEL swarmcass.image=$kind" "${changes[@]}" - "$image.partial" >/dev/null
  docker tag "$image.partial" "$image" && docker rmi "$image.partial" >/dev/null
  rm -rf "$rootfs"
}

# maven_lib GROUP:ARTIFACT:VERSION DIR: the artifact and its runtime
# dependencies from Maven Central into DIR, through a generated pom, as
# Cassandra's own build makes the tarball's lib/. The result is cached.
maven_lib() {
  local gav=$1 out=$2 g a v dir
  IFS=: read -r g a v <<<"$gav"
  dir="$cache/maven-$a-$v"
  if [ ! -f "$dir/.complete" ]; then
    command -v mvn >/dev/null || { log "mvn missing: run scripts/setup-engine.sh (it installs Debian's maven)"; exit 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.swarmcass</groupId><artifactId>$a-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>
  </dependencies>
</project>
POM
    log "resolving $gav and its runtime dependencies from Maven Central (about a minute)"
    # jmc5.path and friends: sjk's poms name them; Cassandra's build passes these.
    (cd "$dir" && mvn -B -q -Djmc5.path=/tmp -Djmc6.path=/tmp -Dvisualvm.path=/tmp \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib") >"$dir/mvn.log" 2>&1 \
      || { tail -20 "$dir/mvn.log" >&2; log "could not resolve $gav: check that Maven Central answers (mvn -v; mirrors in ~/.m2/settings.xml) and that version $v exists"; exit 1; }
    [ -f "$dir/lib/$a-$v.jar" ] || { log "mvn finished but $a-$v.jar is missing from $dir/lib"; exit 1; }
    touch "$dir/.complete"
  fi
  cp -r "$dir/lib/." "$out/"
}

# pypi_lib PACKAGE==VERSION PYTHON DIR: the package and its dependencies as
# wheels for CPython PYTHON on x86-64 Linux, unpacked into DIR (no pip needed
# in the image). Cached.
pypi_lib() {
  local req=$1 py=$2 out=$3 dir
  dir="$cache/pypi-${req//=/-}-py$py"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir" && mkdir -p "$dir/wheels"
    log "fetching $req for Python $py from PyPI"
    # The target's tags on both steps: the host's own Python may differ.
    local target=(--python-version "$py" --implementation cp --platform manylinux2014_x86_64
      --platform manylinux_2_17_x86_64 --only-binary=:all:)
    python3 -m pip download -q -d "$dir/wheels" "${target[@]}" "$req" >"$dir/pip.log" 2>&1 \
      && python3 -m pip install -q --no-deps --no-index --no-compile "${target[@]}" --target "$dir/lib" "$dir"/wheels/*.whl >>"$dir/pip.log" 2>&1 \
      || { tail -20 "$dir/pip.log" >&2; log "could not fetch $req: check that PyPI answers (python3 -m pip index versions ${req%%=*})"; exit 1; }
    rm -rf "$dir/lib/bin"
    touch "$dir/.complete"
  fi
  cp -r "$dir/lib/." "$out/"
}

# build_cassandra IMAGE VERSION SUITE JAVA CQLSH PYTHON REV: a real Cassandra
# base image: Debian SUITE with the JAVA package (one per REV), cassandra-all
# VERSION from Maven Central, cqlsh CQLSH from PyPI for CPython PYTHON (SUITE's
# python3), and cassandra-image/base/ (conf/, the launchers, the entrypoint).
build_cassandra() {
  local image=$1 version=$2 suite=$3 java=$4 cqlsh=$5 python=$6 rev=$7 os_image ctx
  have "$image" && { log "$image present"; return; }
  os_image="swarmcass/cassandra-os:$suite-$java-$rev"
  have "$os_image" || debootstrap_import "$os_image" "$suite" "$java,python3,procps,iproute2,gosu" cassandra-os
  ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  # shellcheck disable=SC2064 # ctx is expanded now, on purpose
  trap "rm -rf '$ctx'" EXIT   # a failed fetch exits: leave no context behind
  cp -r "$root/cassandra-image/base/." "$ctx/"
  mkdir -p "$ctx/lib" "$ctx/pylib"
  maven_lib "org.apache.cassandra:cassandra-all:$version" "$ctx/lib"
  pypi_lib "cqlsh==$cqlsh" "$python" "$ctx/pylib"
  log "building $image (Cassandra $version, $suite's $java, cqlsh $cqlsh)"
  docker build -q --build-arg OS_IMAGE="$os_image" --build-arg CASSANDRA_VERSION="$version" \
    --build-arg CQLSH_VERSION="$cqlsh" -t "$image" "$ctx" >"$ctx.build.log" 2>&1 \
    || { tail -20 "$ctx.build.log" >&2; rm -f "$ctx.build.log"; log "building $image failed (its last lines are above)"; exit 1; }
  rm -rf "$ctx" "$ctx.build.log"
  trap - EXIT
}

# The pinned 5.0 base (target cassandra) and 4.1 base (cassandra41).
build_cassandra50() {
  build_cassandra "$CASSANDRA_BASE_IMAGE" "$CASSANDRA_VERSION" "$CASSANDRA_SUITE" \
    "$CASSANDRA_JAVA" "$CQLSH_VERSION" "$CASSANDRA_PYTHON" "$CASSANDRA_BASE_REV"
}
build_cassandra_prev() {
  build_cassandra "$CASSANDRA_PREV_BASE_IMAGE" "$CASSANDRA_PREV_VERSION" "$CASSANDRA_SUITE" \
    "$CASSANDRA_JAVA" "$CQLSH_VERSION" "$CASSANDRA_PYTHON" "$CASSANDRA_BASE_REV"
}
build_cassandra41() {
  build_cassandra "$CASSANDRA41_BASE_IMAGE" "$CASSANDRA41_VERSION" "$CASSANDRA41_SUITE" \
    "$CASSANDRA41_JAVA" "$CASSANDRA41_CQLSH" "$CASSANDRA41_PYTHON" "$CASSANDRA41_BASE_REV"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(machine registry consul cassandra)
# Cassandra's build waits mostly on the network (Debian, Maven Central, PyPI),
# the others on the CPU (Go builds): with others to build, it starts first and
# runs beside them. cassandra-prev follows it in the same background job: the
# two share the OS image, which the first one debootstraps.
background=()
prev_too=
[[ " ${targets[*]} " == *" cassandra-prev "* ]] && prev_too=1
if [ ${#targets[@]} -gt 1 ] && [[ " ${targets[*]} " == *" cassandra "* ]]; then
  { build_cassandra50 && { [ -z "$prev_too" ] || build_cassandra_prev; }; } &
  background+=($!)
fi
for t in "${targets[@]}"; do
  case "$t" in
    machine) build_machine ;;
    registry) build_registry ;;
    consul) build_consul ;;
    cassandra) [ ${#background[@]} -gt 0 ] || build_cassandra50 ;;
    cassandra41) build_cassandra41 ;;
    cassandra-prev) [ ${#background[@]} -gt 0 ] || build_cassandra_prev ;;
    *) log "unknown image '$t' (want machine, registry, consul, cassandra, cassandra-prev or cassandra41)"; exit 2 ;;
  esac
done
for pid in "${background[@]}"; do
  wait "$pid" || { log "a build in the background failed (see above)"; exit 1; }
done
log "done"
