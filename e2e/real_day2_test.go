package e2e

import (
	"context"
	"testing"
	"time"
)

// realDay2 is issue 10's scenario on real Cassandra: scale --nodes 4 then
// --nodes 3 (cass4 decommissioned), cass3 replaced onto swarm-1 while its
// machine swarm-2 is stopped, then down and bootstrap; after each, every
// row is read back at QUORUM. It leaves a healthy ring of cass1..cass3,
// cass3 on swarm-1 from then on, and swarm-2 running with no node.
func realDay2(ctx context.Context, t *testing.T, e *env) {
	rows := realRows
	read := func(stage, node, contacts string) {
		got := e.client(ctx, node, "read", rows, contacts)
		t.Logf("client read %s: %d of %d rows at QUORUM, %d failed, hosts up %v", stage, got.OK, rows, got.Failed, got.HostsUp)
		if got.OK != rows || got.Failed != 0 {
			t.Fatalf("%s: %d of %d rows read at QUORUM, %d failed; want every row", stage, got.OK, rows, got.Failed)
		}
	}
	logRun := func(what string, r result) {
		t.Logf("%s: %s\n%s", what, r.duration.Round(100*time.Millisecond), r.out)
	}

	logRun("scale --nodes 4", e.must("scale", "--cluster", "e2e", "--nodes", "4", "--node-timeout", e.timeout))
	e.requireRing(ctx, 4)
	read("after scale --nodes 4", "cass4", "cass1,cass2,cass3,cass4")

	logRun("scale --nodes 3", e.must("scale", "--cluster", "e2e", "--nodes", "3", "--yes", "--node-timeout", e.timeout))
	e.requireRing(ctx, 3)
	e.requireNoTrace(ctx, "cass4")
	read("after scale --nodes 3", "cass1", "cass1,cass2,cass3")

	e.must("lab", "stop", "--name", e.lab, "--store", e.store, "swarm-2")
	e.waitRing(ctx, 1, "cass3")
	old := e.record(ctx).Nodes["cass3"]
	logRun("replace cass3 --to swarm-1", e.must("replace", "cass3", "--to", "swarm-1", "--cluster", "e2e", "--yes", "--node-timeout", e.timeout))
	if now := e.record(ctx).Nodes["cass3"]; now.Host != "swarm-1" || now.HostID == old.HostID {
		t.Errorf("cass3 recorded %+v after the replace, was %+v", now, old)
	}
	e.must("lab", "start", "--name", e.lab, "--store", e.store, "swarm-2")
	e.requireRing(ctx, 3)
	read("after replace", "cass3", "cass1,cass2,cass3")

	before := e.recordedHostIDs(ctx)
	logRun("down", e.must("down", "--cluster", "e2e"))
	logRun("bootstrap after down", e.must(e.bootstrapArgs(3)...))
	e.requireRing(ctx, 3)
	if after := e.recordedHostIDs(ctx); after != before {
		t.Errorf("host IDs after down and bootstrap %s, before %s", after, before)
	}
	e.must("ring", "--cluster", "e2e")
	read("after down and bootstrap", "cass2", "cass1,cass2,cass3")
}
