#!/usr/bin/env bash
# setup-engine.sh: make sure a Docker Engine answers on this machine.
#
# Installs Debian's docker.io, iptables, debootstrap, maven and python3-pip
# when they are missing,
# starts dockerd in the background when no engine answers, and waits until
# `docker info` does. Safe to run again: it changes nothing when all is in place.
set -euo pipefail

log() { printf 'setup-engine: %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v iptables >/dev/null 2>&1 || need_pkgs+=(iptables)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
# The offline Cassandra image resolves cassandra-all from Maven Central with
# mvn and fetches cqlsh's wheels with pip (scripts/build-images.sh).
command -v mvn >/dev/null 2>&1 || need_pkgs+=(maven)
python3 -m pip --version >/dev/null 2>&1 || need_pkgs+=(python3-pip)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${need_pkgs[*]}; run this script as root (it uses apt-get)"
    exit 1
  fi
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  log "engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  log "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to use a local engine, or start that engine"
  exit 1
fi

logfile=${SWARMCASS_DOCKERD_LOG:-/var/log/swarmcass-dockerd.log}
log "starting dockerd (log: $logfile)"
# setsid keeps dockerd out of the caller's process group, so it outlives
# the command that started it as long as the machine lives.
setsid dockerd >"$logfile" 2>&1 < /dev/null &

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of $logfile:"
tail -20 "$logfile" >&2 || true
exit 1
