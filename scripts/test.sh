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
#
# Usage: scripts/test.sh [-short|-real]   (-short: step 1 only; -real: steps 2 and 4 only)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS=${GOFLAGS:--buildvcs=false}

step() { printf '\n=== %s\n' "$*"; }

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...

step "unit tests (go test -race -short ./...)"
go test -race -short -count=1 ./...

mode=${1:-}
if [ "$mode" = "-short" ]; then exit 0; fi

step "engine and offline images"
bash scripts/setup-engine.sh
# The default images, and the 5.0 patch release before the pin: the real
# tier's ring starts on it, is upgraded to the pin and rolled back.
bash scripts/build-images.sh machine registry consul cassandra cassandra-prev

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

step "integration and end-to-end tests (TestIntegration*, real engines)"
# -p 2: packages run two at a time on this 2-core machine; each test names
# and cleans up its own lab, networks and containers. -race: the e2e tests
# then build the swarmcass binary they run with the race detector as well
# (about 30 s more in all).
go test -race -count=1 -p 2 -timeout 40m -run 'Integration' ./... 2>&1 | tee /tmp/swarmcass-integration.log
fi

step "real Cassandra tier (offline base image: contract suite, end to end)"
. images/versions.env
real_image=swarmcass/cassandra:offline-$CASSANDRA_VERSION
DOCKER_BUILDKIT=0 docker build -q --build-arg BASE_IMAGE="$CASSANDRA_BASE_IMAGE" -t "$real_image" cassandra-image/ >/dev/null
SWARMCASS_REAL=1 SWARMCASS_CONTRACT_IMAGES="$real_image" \
  go test -count=1 -p 2 -timeout 45m -v -run "TestIntegrationRealCassandra|TestIntegrationContract/${real_image//\//_}" ./e2e ./contract 2>&1 \
  | tee /tmp/swarmcass-real.log | grep -E '^(=== RUN|--- |    --- |PASS|FAIL|ok|panic)|real_test.go' || true
grep -qE '^(FAIL|panic)' /tmp/swarmcass-real.log && { echo "real Cassandra tier failed: see /tmp/swarmcass-real.log"; exit 1; }
grep -q '^ok .*/e2e' /tmp/swarmcass-real.log && grep -q '^ok .*/contract' /tmp/swarmcass-real.log
