#!/usr/bin/env bash
# bench-warm.sh KIND: bootstrap of a brand-new 3-node cluster on a warm lab,
# timed with its no-op re-run and one ring. KIND: fast or realistic (cassim,
# the stand-in, not Cassandra) or real (the offline base image).
#
# Warm: a lab (infra + 3 swarm machines) where a cluster of the same image
# has run, whose node services and volumes are then removed, so that infra,
# the swarm, the images on every host and the overlay probe's image stay.
# The new cluster gets a network of its own. The lab is removed at the end.
# Needs the engine and offline images: scripts/setup-engine.sh, build-images.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. images/versions.env
kind=${1:?usage: scripts/bench-warm.sh fast|realistic|real}
work=$(mktemp -d)
lab=warm$$ store=$work/store bin=$work/swarmcass
go build -o "$bin" ./cmd/swarmcass
export MACHINE_STORAGE_PATH=$store DOCKER_HOST=
sw() { "$bin" "$@"; }
trap 'sw lab down --name $lab --store $store >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
sw lab up --name $lab --store "$store" --machines 3 --subnet 10.234.200.0/24 >"$work/lab.log" 2>&1 || { cat "$work/lab.log"; exit 1; }
sw lab load --name $lab --store "$store" --machine infra "$CONSUL_IMAGE" "$REGISTRY_IMAGE" >/dev/null
args=(--nodes 3 --consul-image "$CONSUL_IMAGE" --registry-image "$REGISTRY_IMAGE")
case $kind in
real)
  sw lab load --name $lab --store "$store" --machine infra "$CASSANDRA_BASE_IMAGE" >/dev/null
  args+=(--base-image "$CASSANDRA_BASE_IMAGE" --heap 256M) ;;
fast | realistic)
  go run ./scripts/cassimctx "$work/ctx"
  args+=(--image-dir "$work/ctx" --heap 64M --node-env "CASSIM_PROFILE=$kind") ;;
*) echo "bench-warm: KIND=$kind: want fast, realistic or real" >&2; exit 2 ;;
esac
echo "bench-warm: warming the lab with cluster w1" >&2
sw bootstrap --cluster w1 "${args[@]}" >"$work/w1.log" 2>&1 || { tail -20 "$work/w1.log"; exit 1; }
# w1's nodes and volumes go; its images, infra, the swarm and its record stay.
( eval "$(sw lab env --name $lab --store "$store" --machine swarm-0)"; docker service rm cass1 cass2 cass3 >/dev/null )
for m in swarm-0 swarm-1 swarm-2; do
  ( eval "$(sw lab env --name $lab --store "$store" --machine $m)"
    for _ in $(seq 60); do
      vols=$(docker volume ls -q --filter label=swarmcass.cluster=w1)
      [ -z "$vols" ] && break
      docker volume rm $vols >/dev/null 2>&1 || sleep 1
    done )
done
args+=(--network w2net)
for run in bootstrap re-run; do
  sw bootstrap --cluster w2 "${args[@]}" --timings "$work/$run.json" >"$work/$run.log" 2>&1 || { tail -20 "$work/$run.log"; exit 1; }
  python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
print("%s %s: %.1f s (%s)" % (sys.argv[1], sys.argv[3], d["total_seconds"],
      ", ".join("%s %.1f s" % (s["step"], s["seconds"]) for s in d["steps"] if s["seconds"] >= 0.05)))' "$kind" "$work/$run.json" "$run"
done
start=$(date +%s.%N)
sw ring --cluster w2 >/dev/null
echo "$kind ring: $(python3 -c "print('%.1f' % ($(date +%s.%N) - $start))") s"
grep -E " is UN after " "$work/bootstrap.log" || true
