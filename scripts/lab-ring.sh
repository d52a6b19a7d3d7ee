#!/usr/bin/env bash
# lab-ring.sh: from a fresh machine to a bootstrapped ring on a lab.
#
# Installs and starts a Docker Engine, builds the offline images, builds
# swarmcass into bin/, brings up a lab (infra + NODES swarm machines), and
# bootstraps a ring of NODES nodes on it: real Apache Cassandra by default (the
# offline base image, assembled from Maven Central artifacts; not the Docker
# Official Image), or cassim, the quick stand-in that is NOT Cassandra.
# Safe to run again: every step is idempotent.
#
#   NODES=3                 swarm machines and Cassandra nodes
#   NODE=cassandra          cassandra (real, 256M heap) or cassim (the stand-in, 64M)
#   CASSIM_PROFILE=realistic   with NODE=cassim: cassim's timings, realistic
#                           (Cassandra 4.x/5.0 start and join times) or fast
#   LAB=swarmcass           lab name
#   SWARMCASS_TIMINGS=FILE  bootstrap writes its step timings there (--timings)
set -euo pipefail
cd "$(dirname "$0")/.."
. images/versions.env
nodes=${NODES:-3}
node=${NODE:-cassandra}
profile=${CASSIM_PROFILE:-realistic}
lab=${LAB:-swarmcass}

bash scripts/setup-engine.sh
case "$node" in
cassandra) bash scripts/build-images.sh ;;
cassim) bash scripts/build-images.sh machine registry consul ;;
*) echo "lab-ring: NODE=$node: want cassandra or cassim" >&2; exit 2 ;;
esac
echo "lab-ring: building bin/swarmcass" >&2
go build -o bin/swarmcass ./cmd/swarmcass

bin/swarmcass lab up --name "$lab" --machines "$nodes"
bin/swarmcass lab load --name "$lab" --machine infra "$CONSUL_IMAGE" "$REGISTRY_IMAGE"
args=(--nodes "$nodes" --consul-image "$CONSUL_IMAGE" --registry-image "$REGISTRY_IMAGE")
if [ "$node" = cassandra ]; then
  bin/swarmcass lab load --name "$lab" --machine infra "$CASSANDRA_BASE_IMAGE"
  args+=(--base-image "$CASSANDRA_BASE_IMAGE" --heap 256M)
else
  ctx=.lab/cassim-context
  rm -rf "$ctx" && go run ./scripts/cassimctx "$ctx"
  args+=(--image-dir "$ctx" --node-env "CASSIM_PROFILE=$profile" --heap 64M)
fi
[ -z "${SWARMCASS_TIMINGS:-}" ] || args+=(--timings "$SWARMCASS_TIMINGS")
eval "$(bin/swarmcass lab env --name "$lab")"
bin/swarmcass bootstrap "${args[@]}"
bin/swarmcass ring
cat >&2 <<MSG

lab-ring: done. To use the lab from this shell:
  eval "\$(bin/swarmcass lab env --name $lab)"
  bin/swarmcass ring
  bin/swarmcass lab down --name $lab
MSG
