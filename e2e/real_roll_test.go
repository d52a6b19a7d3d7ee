package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/images"
	"github.com/swarmcass/swarmcass/op"
)

// loadScript is a real client under load, the DataStax Python driver as in
// clientScript, with the driver's default retry policy, logged in as the
// cluster's superuser (CQL_USER, CQL_PASSWORD): it writes a row and
// reads it back at QUORUM (keyspace e2e, RF 3) in a loop until the file
// /tmp/stop exists, then reads every row it wrote back at QUORUM, 16 at a
// time (execute_concurrent_with_args; each read counted). It
// prints one JSON line: requests made and failed, rows written and
// verified, and the first errors.
const loadScript = `
import json, os, sys, time
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent_with_args
hosts = sys.argv[1].split(",")
auth = PlainTextAuthProvider(os.environ["CQL_USER"], os.environ["CQL_PASSWORD"])
profile = ExecutionProfile(consistency_level=ConsistencyLevel.QUORUM, request_timeout=30)
cluster = Cluster(hosts, auth_provider=auth, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
s = cluster.connect()
s.execute("CREATE TABLE IF NOT EXISTS e2e.load (id int PRIMARY KEY, payload text)")
ins = s.prepare("INSERT INTO e2e.load (id, payload) VALUES (?, ?)")
sel = s.prepare("SELECT payload FROM e2e.load WHERE id = ?")
open("/tmp/started", "w").close()
requests = failed = 0
written = []
errors = []
i = 0
while not os.path.exists("/tmp/stop"):
    try:
        requests += 1
        s.execute(ins, (i, "load-%d" % i))
        written.append(i)
        requests += 1
        row = s.execute(sel, (i,)).one()
        if row is None or row.payload != "load-%d" % i:
            failed += 1; errors.append("row %d read back as %r" % (i, row))
    except Exception as e:
        failed += 1; errors.append("%d: %s" % (i, e))
    i += 1
    time.sleep(0.02)
verified = 0
# Results come in the order of written.
for j, (good, res) in zip(written, execute_concurrent_with_args(s, sel, [(j,) for j in written], concurrency=16, raise_on_first_error=False)):
    row = res.one() if good else None
    if row is not None and row.payload == "load-%d" % j:
        verified += 1
    elif not good:
        errors.append("verify %d: %s" % (j, res))
print(json.dumps({"requests": requests, "failed": failed, "written": len(written), "verified": verified, "errors": errors[:5]}))
cluster.shutdown()
`

type loadReport struct {
	Requests int      `json:"requests"`
	Failed   int      `json:"failed"`
	Written  int      `json:"written"`
	Verified int      `json:"verified"`
	Errors   []string `json:"errors"`
}

// loadClient is loadScript running in a container of its own on the
// cluster's overlay network, on a swarm machine: not a node, so no
// rolling operation stops it.
type loadClient struct {
	e       *env
	machine engine.Engine
	id      string
}

// startLoad starts loadScript in a container of the node image on swarm-0,
// attached to the overlay, and waits until it is connected. It logs in as
// a user's client would, with what `swarmcass credentials` points to: the
// local cqlsh credentials file (--file), read on the test's side. The
// container is not a node: the Swarm secret is not mounted there.
func (e *env) startLoad(ctx context.Context) *loadClient {
	e.t.Helper()
	file := lastLine(e.must("credentials", "--cluster", "e2e", "--file").out)
	creds, err := credentials.ReadLocal(file)
	if err != nil {
		e.t.Fatalf("the credentials swarmcass credentials --file names: %v", err)
	}
	n := e.runningNode(ctx, "cass1")
	c, err := n.machine.ContainerInspect(ctx, n.id)
	if err != nil {
		e.t.Fatal(err)
	}
	name := "e2e-load-" + suffix()
	id, err := n.machine.ContainerCreate(ctx, engine.ContainerSpec{
		Name: name, Image: c.Image, Network: "swarmcass",
		Entrypoint: []string{"env", "PYTHONPATH=/opt/cassandra/pylib", "python3", "-c", loadScript, "cass1,cass2,cass3"},
		Env:        []string{"CQL_USER=" + creds.User, "CQL_PASSWORD=" + creds.Password},
		Labels:     engine.Labels{engine.LabelCluster: "e2e-client"},
	})
	if err != nil {
		e.t.Fatalf("create the load client: %v", err)
	}
	l := &loadClient{e: e, machine: n.machine, id: id}
	e.t.Cleanup(func() { n.machine.ContainerRemove(context.Background(), id) })
	if err := n.machine.ContainerStart(ctx, id); err != nil {
		e.t.Fatalf("start the load client: %v", err)
	}
	err = op.Poll(ctx, time.Second, 2*time.Minute, "the load client to connect", func() (bool, error) {
		res, err := n.machine.Exec(ctx, id, []string{"test", "-e", "/tmp/started"})
		if err != nil {
			logs, _ := n.machine.ContainerLogs(ctx, id, 20)
			return false, fmt.Errorf("%w\n%s", err, logs)
		}
		return res.ExitCode == 0, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// stop tells the client to stop, waits for its report and checks it: no
// failed request, every row it wrote read back.
func (l *loadClient) stop(ctx context.Context, during string) loadReport {
	t := l.e.t
	t.Helper()
	start := time.Now()
	if _, err := l.machine.Exec(ctx, l.id, []string{"touch", "/tmp/stop"}); err != nil {
		t.Fatalf("stop the load client: %v", err)
	}
	err := op.Poll(ctx, time.Second, 5*time.Minute, "the load client to verify its rows", func() (bool, error) {
		c, err := l.machine.ContainerInspect(ctx, l.id)
		return err == nil && !c.Running, err
	})
	logs, lerr := l.machine.ContainerLogs(ctx, l.id, 50)
	if err != nil || lerr != nil {
		t.Fatalf("load client: %v %v\n%s", err, lerr, logs)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(lastLine(logs)), &rep); err != nil {
		t.Fatalf("load client's report: %v\n%s", err, logs)
	}
	t.Logf("client under load during %s: %d requests, %d failed, %d rows written, %d verified at QUORUM (verified in %s)",
		during, rep.Requests, rep.Failed, rep.Written, rep.Verified, time.Since(start).Round(100*time.Millisecond))
	if rep.Requests == 0 || rep.Failed != 0 || rep.Verified != rep.Written {
		t.Errorf("during %s: %d requests, %d failed, %d of %d rows verified; want none failed and every row: %v",
			during, rep.Requests, rep.Failed, rep.Verified, rep.Written, rep.Errors)
	}
	return rep
}

// rolledLine is a line of a rolling operation's summary table: node, down
// time, the release it reports once back.
var rolledLine = regexp.MustCompile(`(?m)^(cass\d+)\s+([0-9.]+)s\s+(\S+)`)

// realRoll runs a rolling operation of the 3 real nodes (upgrade or
// rollback: args) while a real client writes and reads at QUORUM the whole
// time, and requires of it: no failed request and every row the client
// wrote read back, each node rolled once and reporting want in the
// summary and in nodetool version, the ring healthy and realRows read back
// at QUORUM after.
func realRoll(ctx context.Context, t *testing.T, e *env, what, want string, args ...string) result {
	t0 := time.Now()
	load := e.startLoad(ctx)
	t.Logf("load client connected in %s", time.Since(t0).Round(100*time.Millisecond))
	r := e.must(append(args, "--cluster", "e2e", "--node-timeout", e.timeout, "--yes")...)
	t.Logf("%s: %s\n%s", what, r.duration.Round(100*time.Millisecond), r.out)
	load.stop(ctx, what)
	t0 = time.Now()
	defer func() { t.Logf("checks after the %s: %s", what, time.Since(t0).Round(100*time.Millisecond)) }()
	rolled := map[string]string{}
	for _, m := range rolledLine.FindAllStringSubmatch(r.out, -1) {
		t.Logf("%s: %s down %ss, back on %s", what, m[1], m[2], m[3])
		if _, twice := rolled[m[1]]; twice {
			t.Errorf("%s: %s rolled twice:\n%s", what, m[1], r.out)
		}
		rolled[m[1]] = m[3]
	}
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		if rolled[n] != want {
			t.Errorf("%s: the summary has %s back on %q, want %s", what, n, rolled[n], want)
		}
	}
	e.requireRing(ctx, 3)
	versions := e.versions(ctx)
	t.Logf("nodetool version after the %s: %v", what, versions)
	for n, v := range versions {
		if v != want {
			t.Errorf("after the %s %s reports %s, want %s", what, n, v, want)
		}
	}
	e.must("ring", "--cluster", "e2e")
	got := e.client(ctx, "cass2", "read", realRows, "cass1,cass2,cass3")
	t.Logf("client read after the %s: %+v", what, got)
	if got.OK != realRows || got.Failed != 0 {
		t.Fatalf("after the %s: %d of %d rows, %d failed", what, got.OK, realRows, got.Failed)
	}
	return r
}

// realUpgrade: the pinned release (images.CassandraBase) rolled out with
// a canary over the ring bootstrapped on the patch release before it, a
// real upgrade between two 5.0 patch releases, under the QUORUM load.
func realUpgrade(ctx context.Context, t *testing.T, e *env) {
	to := images.CassandraVersion
	r := realRoll(ctx, t, e, "rolling upgrade "+images.CassandraPrevVersion+" to "+to, to,
		"upgrade", "--base-image", images.CassandraBase)
	if !strings.Contains(r.out, "canary cass1 is back on "+to+": rolling the other 2 nodes") {
		t.Errorf("no canary step for %s in the upgrade's output", to)
	}
	if h := e.record(ctx).History; len(h) != 2 || h[0].Version != images.CassandraPrevVersion || h[1].Version != to {
		t.Errorf("image history after the upgrade: %+v, want %s then %s", h, images.CassandraPrevVersion, to)
	}
}

// realRollback: swarmcass rollback takes every node back to the release
// before (the patch release the ring was bootstrapped with), the same
// careful way, under the QUORUM load; the ring is then as the later
// phases expect it: on the image bootstrap --base-image e.base makes.
func realRollback(ctx context.Context, t *testing.T, e *env) {
	realRoll(ctx, t, e, "rollback to "+images.CassandraPrevVersion, images.CassandraPrevVersion, "rollback")
	if r := e.must(e.bootstrapArgs(3)...); !strings.Contains(r.out, "nothing to do") {
		t.Errorf("bootstrap after the rollback is not a no-op: the nodes do not run what it would make\n%s", r.out)
	}
}
