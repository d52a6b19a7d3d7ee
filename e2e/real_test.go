package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/images"
)

// Real Cassandra end to end: the offline base image (real Apache Cassandra
// assembled from Maven Central artifacts by scripts/build-images.sh) under the
// swarmcass binary, on a lab of infra and three swarm machines, with a real
// client. It runs in its own tier (scripts/test.sh sets SWARMCASS_REAL=1):
// minutes, and the base image must exist on the host engine.

// realEnv is newEnv for real Cassandra: the base images loaded into infra,
// and bootstrap told to build swarmcass's image on the 5.0 patch release
// before the pin (images.CassandraBasePrev), so that the tier's upgrade
// phase goes to the pin (images.CassandraBase) and its rollback back.
func realEnv(t *testing.T, machines int) *env {
	t.Helper()
	if os.Getenv("SWARMCASS_REAL") == "" {
		t.Skip("real Cassandra tier: set SWARMCASS_REAL=1 (scripts/test.sh does) with " + images.CassandraBasePrev + " and " +
			images.CassandraBase + " on the host engine (scripts/build-images.sh cassandra cassandra-prev)")
	}
	e := newEnv(t, machines)
	start := time.Now()
	e.must("lab", "load", "--name", e.lab, "--store", e.store, "--machine", "infra", images.CassandraBasePrev, images.CassandraBase)
	t.Logf("loaded %s and %s into infra in %s", images.CassandraBasePrev, images.CassandraBase, time.Since(start).Round(100*time.Millisecond))
	e.imageDir, e.base, e.nodeEnv, e.heap, e.timeout = "", images.CassandraBasePrev, nil, "256M", "6m"
	return e
}

// clientScript is a real client, the DataStax Python driver (PyPI's
// cassandra-driver, which the base image carries for cqlsh), run inside a node
// container against every node as contact points, logged in as the superuser
// of the credentials file bootstrap mounts there (authentication is on; a
// node of an open cluster has none, and the client then gives none):
//
//	write N [FIRST]: creates keyspace e2e (RF 3) and table rows, writes rows
//	                 FIRST..FIRST+N-1 (FIRST 0 when absent) at QUORUM
//	read N [FIRST]:  reads those rows at QUORUM
//
// Requests go 16 at a time (the driver's execute_concurrent_with_args), each
// one counted: a failed request, or a row missing or not as written, is not
// in ok.
//
// It prints one JSON line: the rows asked for, written or found, and failed requests.
const clientScript = `
import configparser, json, sys
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent_with_args
mode, n, hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
cp = configparser.ConfigParser()
auth = None
if cp.read("/run/secrets/swarmcass-cql-credentials"):
    auth = PlainTextAuthProvider(cp["plain_text_auth"]["username"], cp["plain_text_auth"]["password"])
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
profile = ExecutionProfile(consistency_level=ConsistencyLevel.QUORUM, request_timeout=30)
cluster = Cluster(hosts, auth_provider=auth, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
s = cluster.connect()
ok = failed = 0
if mode == "write":
    s.execute("CREATE KEYSPACE IF NOT EXISTS e2e WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}")
    s.execute("CREATE TABLE IF NOT EXISTS e2e.rows (id int PRIMARY KEY, payload text)")
    ins = s.prepare("INSERT INTO e2e.rows (id, payload) VALUES (?, ?)")
    for good, _ in execute_concurrent_with_args(s, ins, [(i, "row-%d" % i) for i in range(first, first + n)],
                                                concurrency=16, raise_on_first_error=False):
        if good: ok += 1
        else: failed += 1
else:
    sel = s.prepare("SELECT payload FROM e2e.rows WHERE id = ?")
    ids = list(range(first, first + n))
    # Results come in the order of ids.
    for i, (good, res) in zip(ids, execute_concurrent_with_args(s, sel, [(i,) for i in ids],
                                                                concurrency=16, raise_on_first_error=False)):
        if not good: failed += 1; continue
        row = res.one()
        if row is not None and row.payload == "row-%d" % i: ok += 1
up = sorted(str(h.address) for h in cluster.metadata.all_hosts() if h.is_up)
print(json.dumps({"mode": mode, "asked": n, "ok": ok, "failed": failed, "hosts_up": up}))
cluster.shutdown()
`

type clientReport struct {
	Mode    string   `json:"mode"`
	Asked   int      `json:"asked"`
	OK      int      `json:"ok"`
	Failed  int      `json:"failed"`
	HostsUp []string `json:"hosts_up"`
}

// client runs clientScript in node's container on rows 0..rows-1.
func (e *env) client(ctx context.Context, node, mode string, rows int, contacts string) clientReport {
	e.t.Helper()
	return e.clientFrom(ctx, node, mode, 0, rows, contacts)
}

// clientFrom runs clientScript in node's container on rows first..first+rows-1.
func (e *env) clientFrom(ctx context.Context, node, mode string, first, rows int, contacts string) clientReport {
	e.t.Helper()
	n := e.runningNode(ctx, node)
	res, err := n.machine.Exec(ctx, n.id, []string{"env", "PYTHONPATH=/opt/cassandra/pylib",
		"python3", "-c", clientScript, mode, fmt.Sprint(rows), contacts, fmt.Sprint(first)})
	if err != nil || res.ExitCode != 0 {
		e.t.Fatalf("client %s in %s: %v exit %d\n%s%s", mode, node, err, res.ExitCode, res.Stdout, res.Stderr)
	}
	var rep clientReport
	if err := json.Unmarshal([]byte(lastLine(res.Stdout)), &rep); err != nil {
		e.t.Fatalf("client %s: %v\n%s%s", mode, err, res.Stdout, res.Stderr)
	}
	return rep
}

// runningNode finds node's running container on the swarm machines that
// answer (a stopped machine is skipped, not an error).
func (e *env) runningNode(ctx context.Context, node string) nodeContainer {
	e.t.Helper()
	var errs []error
	for _, m := range e.swarmMachines() {
		cs, err := m.ContainerList(ctx, engine.Labels{engine.LabelCluster: "e2e", engine.LabelNode: node})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range cs {
			if c.Running {
				return nodeContainer{node: node, machine: m, id: c.ID}
			}
		}
	}
	e.t.Fatalf("no running container of %s (machines that did not answer: %v)", node, errs)
	return nodeContainer{}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// realRows is how many rows the client writes at the start of the real tier;
// every phase must leave each of them readable at QUORUM.
const realRows = 1000

// realPhase is one scenario on the real ring. Phases run in order on the same
// lab and ring: each starts from a healthy ring of cass1..cass3 with realRows
// rows in e2e.rows (RF 3), and must leave it so.
type realPhase struct {
	name string
	run  func(ctx context.Context, t *testing.T, e *env)
}

// realPhases are the real tier's scenarios after the bootstrap (realBootstrap);
// each issue's real-Cassandra scenario is one entry, in its own file.
var realPhases = []realPhase{
	{"security: Consul and registry closed, CQL refusals, the superuser, system_auth RF 3", realAuth}, // real_auth_test.go; the login with a node down is in realNodeDown
	{"node down, reads, heal, no-op re-run", realNodeDown},
	// real_roll_test.go: an upgrade is a rolling restart with a new image
	// (drain, new task, UN in every view, CQL, schema): these two are the
	// tier's rolling restarts too. They leave the ring on the release it
	// was bootstrapped with, the one before the pin.
	{"patch upgrade " + images.CassandraPrevVersion + " to " + images.CassandraVersion + " under QUORUM load", realUpgrade},
	{"rollback to " + images.CassandraPrevVersion + " under QUORUM load", realRollback},
	{"day-2: grow, shrink, replace, down and back", realDay2}, // real_day2_test.go
}

// TestIntegrationRealCassandra: bootstrap three real Cassandra nodes, the ring
// healthy in every view, and a real client writes realRows rows at QUORUM to
// an RF 3 keyspace; then each of realPhases in order. The first phase that
// fails stops the test: the later ones would start from a broken ring.
func TestIntegrationRealCassandra(t *testing.T) {
	e := realEnv(t, 3)
	// A bootstrap of three real nodes takes 3 to 6 minutes on 2 busy
	// cores, and each phase minutes more (a rolling operation 3 to 8).
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	realBootstrap(ctx, t, e)
	runPhases(ctx, t, e, realPhases)
}

// runPhases runs each phase as a subtest on e's ring, in order, logging its
// time; the first that fails stops the test, as every later phase needs
// the ring it leaves.
func runPhases(ctx context.Context, t *testing.T, e *env, phases []realPhase) {
	t.Helper()
	for _, p := range phases {
		start := time.Now()
		ok := t.Run(p.name, func(t *testing.T) {
			e.t = t
			p.run(ctx, t, e)
		})
		e.t = t
		t.Logf("phase %q: %s", p.name, time.Since(start).Round(100*time.Millisecond))
		if !ok {
			t.FailNow()
		}
	}
}

// realBootstrap: three real nodes UN in every view, each on the release
// before the pin, ring healthy, and realRows rows written at QUORUM through
// a real client.
func realBootstrap(ctx context.Context, t *testing.T, e *env) {
	rows := realRows
	r := e.must(e.bootstrapArgs(3)...)
	t.Logf("bootstrap --nodes 3 on real Cassandra: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireRing(ctx, 3)
	e.requireStartedTogether(ctx, r.out, 3)
	e.requireVersions(ctx, images.CassandraPrevVersion)
	if t.Failed() {
		t.FailNow()
	}
	e.must("ring", "--cluster", "e2e")
	// The node command a ccm user reaches for first: cqlsh in a node.
	q := e.must("cqlsh", "--cluster", "e2e", "cass2", "-e", "SELECT cluster_name FROM system.local")
	if !strings.Contains(q.out, "e2e") {
		t.Errorf("swarmcass cqlsh cass2: want the cluster name in\n%s", q.out)
	}

	w := e.client(ctx, "cass1", "write", rows, "cass1,cass2,cass3")
	t.Logf("client wrote: %+v", w)
	if w.OK != rows || w.Failed != 0 || len(w.HostsUp) != 3 {
		t.Fatalf("client wrote %d of %d rows at QUORUM with %d failures, seeing %d hosts up; want all, none, 3", w.OK, rows, w.Failed, len(w.HostsUp))
	}
}

// realNodeDown: with one node's machine stopped, QUORUM reads still return
// every row, a login still works, and ring says degraded; the machine back, a re-run heals the
// ring; a re-run on a healthy ring changes nothing.
func realNodeDown(ctx context.Context, t *testing.T, e *env) {
	rows := realRows
	// cass3's machine stops: the node is down and stays down.
	e.must("lab", "stop", "--name", e.lab, "--store", e.store, "swarm-2")
	rd := e.waitRing(ctx, 1, "cass3")
	t.Logf("ring with swarm-2 stopped (exit %d):\n%s", rd.code, rd.out)
	got := e.client(ctx, "cass1", "read", rows, "cass1,cass2,cass3")
	t.Logf("client read with cass3 down: %+v", got)
	if got.OK != rows || got.Failed != 0 {
		t.Fatalf("QUORUM reads with one node of three down: %d of %d rows, %d failed; want every row", got.OK, rows, got.Failed)
	}
	realAuthNodeDown(ctx, t, e) // real_auth_test.go: a login with cass3 down

	// The machine is back: a re-run waits until cass3 is Up/Normal again.
	e.must("lab", "start", "--name", e.lab, "--store", e.store, "swarm-2")
	r := e.must(e.bootstrapArgs(3)...)
	t.Logf("re-run after swarm-2 came back: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireRing(ctx, 3)
	e.must("ring", "--cluster", "e2e")
	got = e.client(ctx, "cass2", "read", rows, "cass1,cass2,cass3")
	t.Logf("client read after healing: %+v", got)
	if got.OK != rows || got.Failed != 0 || len(got.HostsUp) != 3 {
		t.Fatalf("after healing: %d of %d rows, %d failed, %d hosts up; want all, none, 3", got.OK, rows, got.Failed, len(got.HostsUp))
	}

	r = e.must(e.bootstrapArgs(3)...)
	if !strings.Contains(r.out, "nothing to do") {
		t.Errorf("re-run on a healthy real ring changed something:\n%s", r.out)
	}
	t.Logf("no-op re-run: %s", r.duration.Round(10*time.Millisecond))
}
