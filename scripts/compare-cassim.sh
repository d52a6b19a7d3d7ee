#!/usr/bin/env bash
# compare-cassim.sh: one start-up scenario on a node image, timed from the
# nodes' own logs, to hold cassim to real Cassandra (cassim/README.md keeps
# the comparison). On one bridge network of the local engine:
#
#   n1  a seed alone (its seed list also names n2, which does not exist yet:
#       what bootstrap's first node sees)
#   n2  a second seed, started once n1 is NORMAL
#   n3  a node that joins (not a seed, auto_bootstrap), started once n2 is NORMAL
#   n4  a second joining node, started while n3 is still JOINING: Cassandra
#       refuses it (consistent range movement)
#
# For each node it prints seconds from container start to the log line
# `state jump to NORMAL` and to `Starting listening for CQL clients`, the
# node's exit code if it ended, and the lines the node contract names; then
# nodetool status, describecluster, info and version from n1.
#
# Usage: scripts/compare-cassim.sh IMAGE [KEY=VALUE ...]   (extra node env)
#   e.g. scripts/compare-cassim.sh swarmcass/cassandra:offline-5.0.8 MAX_HEAP_SIZE=256M HEAP_NEWSIZE=64M
#        scripts/compare-cassim.sh swarmcass/cassim:compare CASSIM_PROFILE=realistic
set -euo pipefail
image=${1:?usage: compare-cassim.sh IMAGE [KEY=VALUE ...]}
shift
id=cmp$$
net=$id-net
envs=()
for kv in "$@"; do envs+=(-e "$kv"); done

cleanup() {
  docker rm -f -v "$id-n1" "$id-n2" "$id-n3" "$id-n4" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
docker network create --label swarmcass.test=compare "$net" >/dev/null

# start NAME SEEDS: a node container with the contract's seed argument.
start() {
  docker run -d --name "$id-$1" --hostname "$1" --network "$net" --network-alias "$1" \
    --label swarmcass.test=compare "${envs[@]}" "$image" "$2" >/dev/null
}

# wait_log NAME PATTERN SECONDS: until the node logs PATTERN (0), ends (1) or time passes (2).
wait_log() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    docker logs "$id-$1" 2>&1 | grep -q -- "$2" && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$id-$1")" = true ] || return 1
    sleep 0.5
  done
  return 2
}

# since NAME PATTERN: seconds from the container's start to the first line
# matching PATTERN, from docker's own timestamps; '-' when there is none.
since() {
  local started line
  started=$(docker inspect -f '{{.State.StartedAt}}' "$id-$1")
  line=$(docker logs -t "$id-$1" 2>&1 | grep -m1 -- "$2" | cut -d' ' -f1) || true
  if [ -z "$line" ]; then echo -; return; fi
  python3 -c 'import sys, datetime as d
p = lambda s: d.datetime.fromisoformat(s.rstrip("Z")[:26])
print("%.1f" % (p(sys.argv[2]) - p(sys.argv[1])).total_seconds())' "$started" "$line"
}

start n1 n1,n2
wait_log n1 "state jump to NORMAL" 300 || { docker logs "$id-n1" 2>&1 | tail -20; exit 1; }
start n2 n1,n2
wait_log n2 "state jump to NORMAL" 300 || { docker logs "$id-n2" 2>&1 | tail -20; exit 1; }
start n3 n1,n2
wait_log n3 "JOINING\|Joining:\|sleeping" 300 || true
start n4 n1,n2
wait_log n3 "state jump to NORMAL" 600 || true
wait_log n4 "state jump to NORMAL" 120 || true
for n in n1 n2 n3; do wait_log "$n" "Starting listening for CQL clients" 120 || true; done

printf '\n## %s\n\n| node | to NORMAL (s) | to CQL (s) | exit |\n| --- | --- | --- | --- |\n' "$image"
for n in n1 n2 n3 n4; do
  code=-
  [ "$(docker inspect -f '{{.State.Running}}' "$id-$n")" = true ] || code=$(docker inspect -f '{{.State.ExitCode}}' "$id-$n")
  printf '| %s | %s | %s | %s |\n' "$n" "$(since "$n" "state jump to NORMAL")" "$(since "$n" "Starting listening for CQL clients")" "$code"
done

for n in n1 n2 n3 n4; do
  printf '\n### %s: the lines that matter\n\n```\n' "$n"
  docker logs "$id-$n" 2>&1 | grep -E "Unable to gossip|Unable to contact|in its own seed list|will not auto bootstrap|Waiting for gossip|JOINING|sleeping|Selected tokens|Other bootstrapping|state jump to NORMAL|Starting listening for CQL|Exception \(|Fatal|is now UP" \
    | sed -E 's/^(INFO|WARN|ERROR) +\[[^]]*\] [0-9-]+ [0-9:,]+ //' | cut -c1-200 || true
  printf '```\n'
done

for cmd in "status" "describecluster" "info" "version"; do
  printf '\n### nodetool %s (n1)\n\n```\n' "$cmd"
  docker exec "$id-n1" nodetool $cmd 2>&1 || true
  printf '```\n'
done
