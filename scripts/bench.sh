#!/usr/bin/env bash
# bench.sh: bootstrap's total time and the provisioner's overhead for rings of
# 3, 6 and 12 cassim nodes, each on a fresh lab (see scripts/bench/main.go).
# Needs the engine and offline images: scripts/setup-engine.sh, build-images.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench "$@"
