#!/usr/bin/env bash
# lab-ring.sh: from a fresh machine to a bootstrapped ring on a lab.
#
# Installs and starts a Docker Engine, builds the offline images, builds
# swarmcass into bin/, brings up a lab (infra + NODES swarm machines), and
# bootstraps a ring of NODES nodes on it with cassim standing in for
# Cassandra (no Cassandra image can be had here; cassim is NOT Cassandra).
# Safe to run again: every step is idempotent.
#
#   NODES=3                 swarm machines and Cassandra nodes
#   CASSIM_PROFILE=realistic   cassim's timings: realistic (Cassandra 4.x/5.0 start
#                           and join times) or fast
#   LAB=swarmcass           lab name
set -euo pipefail
cd "$(dirname "$0")/.."
. images/versions.env
nodes=${NODES:-3}
profile=${CASSIM_PROFILE:-realistic}
lab=${LAB:-swarmcass}

bash scripts/setup-engine.sh
bash scripts/build-images.sh
echo "lab-ring: building bin/swarmcass and cassim's image context" >&2
go build -o bin/swarmcass ./cmd/swarmcass
ctx=.lab/cassim-context
rm -rf "$ctx" && go run ./scripts/cassimctx "$ctx"

bin/swarmcass lab up --name "$lab" --machines "$nodes"
bin/swarmcass lab load --name "$lab" --machine infra "$CONSUL_IMAGE" "$REGISTRY_IMAGE"
eval "$(bin/swarmcass lab env --name "$lab")"
bin/swarmcass bootstrap --nodes "$nodes" \
  --consul-image "$CONSUL_IMAGE" --registry-image "$REGISTRY_IMAGE" \
  --image-dir "$ctx" --node-env "CASSIM_PROFILE=$profile" --heap 64M
bin/swarmcass ring
cat >&2 <<MSG

lab-ring: done. To use the lab from this shell:
  eval "\$(bin/swarmcass lab env --name $lab)"
  bin/swarmcass ring
  bin/swarmcass lab down --name $lab
MSG
