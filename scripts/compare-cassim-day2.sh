#!/usr/bin/env bash
# compare-cassim-day2.sh: the day-2 rules (keyspace replication in
# describecluster, decommission and its refusals, a decommissioned node's
# restart, drain, restart after drain, replace_address_first_boot and its
# refusals) on a node image, so that cassim is held to real Cassandra
# (cassim/README.md keeps the comparison). On one bridge network of the
# local engine:
#
#   r1  a seed alone; two keyspaces are created on it (SimpleStrategy RF 3,
#       NetworkTopologyStrategy datacenter1: 2); decommission alone is refused
#   r2  joins; decommission refused (RF), then --force: UL, then LEFT; then
#       restarted on its data: refused
#   x1  replace_address_first_boot of an address nobody had: refused
#   x2  replace_address_first_boot of r1, which is alive: refused
#   r3  joins; drained: what r3 and r1 say afterwards; stopped and started
#       again: same host ID; then stopped for good
#   r4  replace_address_first_boot of r3 at once, then (r5) after a wait
#
# Every nodetool/cqlsh answer is printed with its exit code; r1's view is
# polled every second while r2 leaves and while r3 is replaced.
#
# Usage: scripts/compare-cassim-day2.sh IMAGE [KEY=VALUE ...]   (extra node env)
#   JVM flags for every node go in XOPTS (the script adds its own per node).
#   e.g. XOPTS='-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=5000' \
#          scripts/compare-cassim-day2.sh swarmcass/cassandra-base:5.0.8-3 MAX_HEAP_SIZE=256M HEAP_NEWSIZE=64M \
#          CASSANDRA_ENDPOINT_SNITCH=GossipingPropertyFileSnitch
#        scripts/compare-cassim-day2.sh swarmcass/cassim:compare CASSIM_PROFILE=fast
set -uo pipefail
image=${1:?usage: compare-cassim-day2.sh IMAGE [KEY=VALUE ...]}
shift
id=cmp2$$
net=$id-net
envs=()
for kv in "$@"; do envs+=(-e "$kv"); done
xopts=${XOPTS:-}
t0=$SECONDS
names=(r1 r2 r3 r4 r5 x1 x2 x3)

cleanup() {
  for n in "${names[@]}"; do docker rm -f -v "$id-$n" >/dev/null 2>&1 || true; done
  docker network rm "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
docker network create --label swarmcass.test=compare "$net" >/dev/null

say() { printf '\n## [%3ds] %s\n' $((SECONDS - t0)) "$*"; }
# start NAME SEEDS [JVM flags]: a node container; the seeds in CASSANDRA_SEEDS
# (the base image has no seed argument).
start() {
  docker run -d --name "$id-$1" --hostname "$1" --network "$net" --network-alias "$1" \
    --label swarmcass.test=compare "${envs[@]}" -e "CASSANDRA_SEEDS=$2" \
    -e "JVM_EXTRA_OPTS=$xopts ${3:-}" "$image" >/dev/null
}
ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id-$1"; }
running() { [ "$(docker inspect -f '{{.State.Running}}' "$id-$1" 2>/dev/null)" = true ]; }
# wait_log NAME PATTERN SECONDS: until the node logs PATTERN (0), ends (1) or time passes (2).
wait_log() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    docker logs "$id-$1" 2>&1 | grep -q -- "$2" && return 0
    running "$1" || return 1
    sleep 0.5
  done
  return 2
}
wait_exit() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    running "$1" || { echo "exit code $(docker inspect -f '{{.State.ExitCode}}' "$id-$1")"; return 0; }
    sleep 1
  done
  echo "still running after $2 s"
}
# x NAME CMD...: a command in the node, its output and exit code.
x() {
  local n=$1
  shift
  printf '\n$ %s: %s\n' "$n" "$*"
  docker exec "$id-$n" "$@" 2>&1
  printf '[exit %d]\n' $?
}
lines() {
  docker logs "$id-$1" 2>&1 | grep -E "$2" | sed -E 's/^(INFO|WARN|ERROR|DEBUG) +\[[^]]*\] [0-9-]+ [0-9:,]+ /\1 /' | cut -c1-260
}
tail_log() { printf '\n### %s: last lines\n' "$1"; docker logs "$id-$1" 2>&1 | tail -"${2:-12}" | cut -c1-300; }
# row NODE ADDR: the node's nodetool status line for ADDR ('-' if none).
row() { docker exec "$id-$1" nodetool status 2>/dev/null | awk -v a="$2" '$2 == a { print $1; f = 1 } END { if (!f) print "-" }'; }

say "r1: a seed alone"
start r1 r1
wait_log r1 "Starting listening for CQL clients" 300 || { tail_log r1 30; exit 1; }
r1=$(ip r1)
x r1 cqlsh -e "CREATE KEYSPACE ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"
x r1 cqlsh -e "CREATE KEYSPACE ksn WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 2} AND durable_writes = true"
x r1 cqlsh -e "CREATE KEYSPACE ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"
x r1 cqlsh -e "SELECT keyspace_name, replication FROM system_schema.keyspaces"
x r1 nodetool describecluster
x r1 nodetool -pp describecluster
x r1 nodetool decommission
x r1 nodetool statusgossip
x r1 nodetool statusbinary
x r1 nodetool netstats

say "r2 joins"
start r2 r1
wait_log r2 "Starting listening for CQL clients" 300 || { tail_log r2 30; exit 1; }
r2=$(ip r2)
x r1 nodetool status
x r2 nodetool decommission
say "r2: decommission --force, r1's view every second"
docker exec "$id-r2" nodetool decommission --force >/tmp/$id-decom.out 2>&1 &
decom=$!
last=
while kill -0 $decom 2>/dev/null; do
  s="r1 sees r2: $(row r1 "$r2"); r2 $(docker exec "$id-r2" nodetool netstats 2>&1 | head -1)"
  [ "$s" != "$last" ] && printf '[%3ds] %s\n' $((SECONDS - t0)) "$s" && last=$s
  sleep 1
done
wait $decom
printf 'decommission --force exit %d, output:\n' $?
cat /tmp/$id-decom.out; rm -f /tmp/$id-decom.out
for _ in $(seq 1 30); do [ "$(row r1 "$r2")" = - ] && break; sleep 1; done
printf '[%3ds] r1 sees r2: %s\n' $((SECONDS - t0)) "$(row r1 "$r2")"
lines r2 "LEAVING|DECOMMISSION|Announcing|left the ring|streaming|batch|hints"
lines r1 "Removing tokens|LEFT|left|is now DOWN|$r2"
x r1 nodetool status
x r1 nodetool describecluster
for c in status info netstats statusgossip statusbinary describecluster version; do x r2 nodetool $c; done
x r2 nodetool decommission
say "r2 restarted on its data"
docker restart "$id-r2" >/dev/null
wait_exit r2 180
lines r2 "Exception|Fatal|decommissioned" | tail -4

say "x1: replace an address nobody had"
start x1 r1 "-Dcassandra.replace_address_first_boot=10.254.254.254"
wait_exit x1 240
lines x1 "Exception|Fatal|Gathering|eplac|decommissioned"
say "x2: replace r1, which is alive"
start x2 r1 "-Dcassandra.replace_address_first_boot=$r1"
wait_exit x2 240
lines x2 "Exception|Fatal|Gathering|eplac|decommissioned"
say "x3: replace r2, which left"
start x3 r1 "-Dcassandra.replace_address_first_boot=$r2"
wait_exit x3 240
lines x3 "Exception|Fatal|Gathering|eplac|decommissioned"
docker rm -f -v "$id-x1" "$id-x2" "$id-x3" >/dev/null 2>&1

say "r3 joins"
start r3 r1
wait_log r3 "Starting listening for CQL clients" 300 || { tail_log r3 30; exit 1; }
r3=$(ip r3)
x r3 nodetool info
x r3 cqlsh -e "SELECT host_id, tokens FROM system.local"
say "r3: drain; r1's view"
x r3 nodetool drain
for _ in $(seq 1 30); do printf '[%3ds] r1 sees r3: %s\n' $((SECONDS - t0)) "$(row r1 "$r3")"; [ "$(row r1 "$r3")" = DN ] && break; sleep 1; done
lines r3 "DRAIN|Stop listening|Announcing shutdown|shutdown|Stopping gossip"
lines r1 "$r3.*(DOWN|shutdown)|shutdown"
for c in status info netstats statusgossip statusbinary describecluster version; do x r3 nodetool $c; done
x r3 nodetool decommission
x r3 nodetool drain
x r3 cqlsh -e "SELECT host_id FROM system.local"
sleep 3
printf '[%3ds] r3 running after drain: %s\n' $((SECONDS - t0)) "$(running r3 && echo yes || echo no)"
say "r3 stopped and started again"
docker stop "$id-r3" >/dev/null
echo "stop: $(docker inspect -f '{{.State.ExitCode}}' "$id-r3")"
lines r3 "StorageServiceShutdownHook|shutdown|Shutdown" | tail -5
docker start "$id-r3" >/dev/null
for _ in $(seq 1 300); do
  [ "$(docker logs "$id-r3" 2>&1 | grep -c "Starting listening for CQL clients")" -ge 2 ] && break
  sleep 1
done
sleep 2
x r3 nodetool info
x r1 nodetool status
say "r3 stopped for good; r4 replaces it as soon as r1 sees it down"
docker stop "$id-r3" >/dev/null
for _ in $(seq 1 60); do [ "$(row r1 "$r3")" = DN ] && break; sleep 1; done
printf '[%3ds] r1 sees r3: %s\n' $((SECONDS - t0)) "$(row r1 "$r3")"
start r4 r1 "-Dcassandra.replace_address_first_boot=$r3"
if ! wait_log r4 "Starting listening for CQL clients" 300; then
  lines r4 "Exception|Fatal|Gathering|eplac"
  docker rm -f -v "$id-r4" >/dev/null
  say "r5 replaces r3 a while later"
  sleep 40
  start r5 r1 "-Dcassandra.replace_address_first_boot=$r3"
  rep=r5
else
  rep=r4
fi
last=
while running $rep && ! docker logs "$id-$rep" 2>&1 | grep -q "Starting listening for CQL clients"; do
  s="r1 sees r3: $(row r1 "$r3"); sees $rep: $(row r1 "$(ip $rep)")"
  [ "$s" != "$last" ] && printf '[%3ds] %s\n' $((SECONDS - t0)) "$s" && last=$s
  sleep 1
done
for _ in $(seq 1 60); do
  s="r1 sees r3: $(row r1 "$r3"); sees $rep: $(row r1 "$(ip $rep)")"
  [ "$s" != "$last" ] && printf '[%3ds] %s\n' $((SECONDS - t0)) "$s" && last=$s
  [ "$(row r1 "$r3")" = - ] && break
  sleep 1
done
lines $rep "replace|Replac|JOINING|state jump|Bootstrap|host ID|Host ID|Cannot|Exception"
lines r1 "same token|new owner|FatClient|$r3" | tail -12
x $rep nodetool info
x $rep cqlsh -e "SELECT host_id, tokens FROM system.local"
x r1 nodetool status
x r1 cqlsh -e "SELECT peer, host_id FROM system.peers"
say "done"
