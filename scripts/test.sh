#!/usr/bin/env bash
# test.sh: the project's whole test run, as CI runs it (.ci/run calls this).
#
#   1. static checks and unit tests: gofmt, go vet, go test -race -short ./...
#      (no engine needed; seconds)
#   2. engine setup and offline images (scripts/setup-engine.sh, build-images.sh;
#      cached after the first run on a machine)
#   3. the CQL drivers cassim's driver test runs (pip, npm; cached), then
#      integration and end-to-end tests, with -race: every TestIntegration* against the real
#      engine, real labs of Docker-in-Docker machines, a real swarm, registry and
#      Consul, with cassim standing in for Cassandra.
#   4. the real Cassandra tier: the node contract suite on swarmcass's image built
#      over the offline base (real Cassandra 5.0 assembled from Maven Central), and
#      end to end on a lab: bootstrap, ring, a real client at QUORUM, a node down.
#      It runs in the background beside step 3 (it is the longest part, and
#      mostly waits on JVMs and gossip), unless SWARMCASS_TEST_SERIAL=1.
#
# Each step prints how long it took, and the run ends with a table of them.
#
# Usage: scripts/test.sh [-short|-long|-real]
#   -short: step 1 only; -long: steps 2 to 4 (after step 1 has passed);
#   -real: steps 2 and 4 only
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS=${GOFLAGS:--buildvcs=false}

run_start=$(date +%s)
step_name= step_start=$run_start times=
step_end() {
  [ -n "$step_name" ] || return 0
  local s=$(( $(date +%s) - step_start ))
  printf '=== %s: %d s\n' "$step_name" "$s"
  times+=$(printf '%6d s  %s' "$s" "$step_name")$'\n'
  step_name=
}
step() { step_end; step_name=$*; step_start=$(date +%s); printf '\n=== %s\n' "$*"; }
summary() {
  # a real tier still running is waited for: its test cleanup removes its lab
  if [ -n "${real_pid:-}" ]; then wait "$real_pid" 2>/dev/null || true; fi
  step_end
  printf '\n=== times (wall clock%s)\n%s%6d s  total\n' "${real_pid:+; the real tier ran beside the integration tier}" "$times" $(( $(date +%s) - run_start ))
}
trap summary EXIT

mode=${1:-}
if [ "$mode" != "-long" ]; then
step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...

step "unit tests (go test -race -short ./...)"
go test -race -short -count=1 ./...
fi
if [ "$mode" = "-short" ]; then exit 0; fi

step "engine and offline images"
bash scripts/setup-engine.sh
bash scripts/build-images.sh

if [ "$mode" != "-real" ]; then
step "CQL drivers for cassim's TestIntegrationDrivers"
# The Python and Node.js drivers, installed once into a cache (a few seconds
# from PyPI and npm); the test fails without them when CI=true.
drivers=${XDG_CACHE_HOME:-$HOME/.cache}/swarmcass/drivers
if ! "$drivers/py/bin/python" -c 'import cassandra' 2>/dev/null; then
  python3 -m venv "$drivers/py" && "$drivers/py/bin/pip" install -q cassandra-driver==3.30.1 ||
    echo "test.sh: could not install the Python driver (cassandra-driver 3.30.1)" >&2
fi
if [ ! -d "$drivers/node/node_modules/cassandra-driver" ]; then
  npm install --silent --no-audit --no-fund --prefix "$drivers/node" cassandra-driver@4.10.0 ||
    echo "test.sh: could not install the Node.js driver (cassandra-driver 4.10.0)" >&2
fi
export CASSIM_PYTHON=${CASSIM_PYTHON:-$drivers/py/bin/python}
export NODE_PATH=$drivers/node/node_modules${NODE_PATH:+:$NODE_PATH}
fi

# The real tier's image and its run in the background: started before the
# integration tier, checked after it.
real_image=
real_tier() {
  SWARMCASS_REAL=1 SWARMCASS_CONTRACT_IMAGES="$real_image" \
    go test -count=1 -p 2 -timeout 45m -v -run "TestIntegrationRealCassandra|TestIntegrationContract/${real_image//\//_}" ./e2e ./contract \
    >/tmp/swarmcass-real.log 2>&1
}
real_pid=
step "real Cassandra tier: swarmcass's image over the offline base"
. images/versions.env
real_image=swarmcass/cassandra:offline-$CASSANDRA_VERSION
DOCKER_BUILDKIT=0 docker build -q --build-arg BASE_IMAGE="$CASSANDRA_BASE_IMAGE" -t "$real_image" cassandra-image/ >/dev/null
if [ "$mode" != "-real" ] && [ "${SWARMCASS_TEST_SERIAL:-}" != 1 ]; then
  real_start=$(date +%s)
  real_tier & real_pid=$!
  echo "test.sh: the real Cassandra tier runs in the background (pid $real_pid, log /tmp/swarmcass-real.log)"
fi

if [ "$mode" != "-real" ]; then
step "integration and end-to-end tests (TestIntegration*, real engines)"
# -p 2: packages run two at a time on this 2-core machine; each test names
# and cleans up its own lab, networks and containers, and e2e's cassim tests
# run two at a time too (t.Parallel, -parallel 2). -race: the e2e tests then
# build the swarmcass binary they run with the race detector as well.
# -v into the log; here each test's result and time.
integration_rc=0
go test -race -count=1 -p 2 -parallel 2 -timeout 40m -v -run 'Integration' ./... 2>&1 | tee /tmp/swarmcass-integration.log |
  grep -E '^(--- |    --- |ok|FAIL|panic|e2e:)' || integration_rc=$?
fi

step "real Cassandra tier (offline base image: contract suite, end to end)"
real_rc=0
if [ -n "$real_pid" ]; then
  echo "test.sh: waiting for the real Cassandra tier, started $(( $(date +%s) - real_start )) s ago"
  wait "$real_pid" || real_rc=$?
  echo "test.sh: the real Cassandra tier took $(( $(date +%s) - real_start )) s in all"
else
  real_tier || real_rc=$?
fi
grep -E '^(=== RUN|--- |    --- |PASS|FAIL|ok|panic)|real_test.go' /tmp/swarmcass-real.log || true
if [ "${integration_rc:-0}" != 0 ]; then echo "integration tier failed: see /tmp/swarmcass-integration.log"; exit 1; fi
if [ "$real_rc" != 0 ] || grep -qE '^(FAIL|panic)' /tmp/swarmcass-real.log; then
  echo "real Cassandra tier failed (exit $real_rc): see /tmp/swarmcass-real.log"; exit 1
fi
grep -q '^ok .*/e2e' /tmp/swarmcass-real.log && grep -q '^ok .*/contract' /tmp/swarmcass-real.log
