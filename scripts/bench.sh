#!/usr/bin/env bash
# bench.sh: bootstrap's total time against the limit Cassandra itself imposes
# (the nodes' own start-to-NORMAL times, read from their logs), for rings of
# 3, 6 and 12 cassim nodes by default, each on a fresh lab (scripts/bench/main.go).
#   scripts/bench.sh -profile realistic
#   scripts/bench.sh -node cassandra -nodes 3     (real Cassandra, the offline base image)
# Needs the engine and offline images: scripts/setup-engine.sh, build-images.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench "$@"
