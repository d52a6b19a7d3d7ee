package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// realDay2 is issue 10's scenario on real Cassandra, lean: scale --nodes 4
// (one real join) then --nodes 3 (cass4 decommissioned), cass3 replaced
// onto swarm-1 while its machine swarm-2 is stopped, then down and
// bootstrap (the nodes restart together, keeping their host IDs). Before
// each operation a real client writes a new batch of rows at QUORUM; after
// it, every row written so far (realRows and the batches) is read back at
// QUORUM. It leaves a healthy ring of cass1..cass3, cass3 on swarm-1 from
// then on, and swarm-2 running with no node.
func realDay2(ctx context.Context, t *testing.T, e *env) {
	const batch = 100
	total := realRows // rows 0..total-1 are in e2e.rows
	var tally []string
	write := func(before, node, contacts string) {
		t.Helper()
		w := e.clientFrom(ctx, node, "write", total, batch, contacts)
		t.Logf("client wrote before %s: rows %d..%d, %d written at QUORUM, %d failed, hosts up %v", before, total, total+batch-1, w.OK, w.Failed, w.HostsUp)
		if w.OK != batch || w.Failed != 0 {
			t.Fatalf("before %s: %d of %d rows written at QUORUM, %d failed; want every row", before, w.OK, batch, w.Failed)
		}
		total += batch
		tally = append(tally, fmt.Sprintf("before %s: %d written, 0 failed", before, w.OK))
	}
	read := func(after, node, contacts string) {
		t.Helper()
		got := e.client(ctx, node, "read", total, contacts)
		t.Logf("client read after %s: %d of %d rows at QUORUM, %d failed, hosts up %v", after, got.OK, total, got.Failed, got.HostsUp)
		if got.OK != total || got.Failed != 0 {
			t.Fatalf("after %s: %d of %d rows read at QUORUM, %d failed; want every row", after, got.OK, total, got.Failed)
		}
		tally = append(tally, fmt.Sprintf("after %s: %d of %d read, %d failed", after, got.OK, total, got.Failed))
	}
	var times []string
	sub := func(name string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		d := time.Since(start).Round(100 * time.Millisecond)
		times = append(times, fmt.Sprintf("%s %s", name, d))
		t.Logf("day-2 sub-phase %q: %s", name, d)
	}
	logRun := func(what string, r result) {
		t.Logf("%s: %s\n%s", what, r.duration.Round(100*time.Millisecond), r.out)
	}
	defer func() {
		t.Logf("day-2 sub-phases: %s", strings.Join(times, ", "))
		t.Logf("day-2 client: %s", strings.Join(tally, "; "))
	}()

	sub("grow 3 to 4", func() {
		write("scale --nodes 4", "cass1", "cass1,cass2,cass3")
		logRun("scale --nodes 4", e.must("scale", "--cluster", "e2e", "--nodes", "4", "--node-timeout", e.timeout))
		e.requireRing(ctx, 4)
		read("scale --nodes 4", "cass4", "cass1,cass2,cass3,cass4")
	})

	sub("shrink 4 to 3", func() {
		write("scale --nodes 3", "cass4", "cass1,cass2,cass3,cass4")
		r := e.must("scale", "--cluster", "e2e", "--nodes", "3", "--yes", "--node-timeout", e.timeout)
		logRun("scale --nodes 3", r)
		if !strings.Contains(r.out, "cass4 has left the ring") {
			t.Errorf("scale --nodes 3 did not say cass4 left the ring:\n%s", r.out)
		}
		e.requireRing(ctx, 3)
		e.requireNoTrace(ctx, "cass4")
		read("scale --nodes 3", "cass1", "cass1,cass2,cass3")
	})

	sub("replace cass3 onto swarm-1", func() {
		e.must("lab", "stop", "--name", e.lab, "--store", e.store, "swarm-2")
		e.waitRing(ctx, 1, "cass3")
		write("replace cass3 (cass3 down)", "cass1", "cass1,cass2")
		old := e.record(ctx).Nodes["cass3"]
		logRun("replace cass3 --to swarm-1", e.must("replace", "cass3", "--to", "swarm-1", "--cluster", "e2e", "--yes", "--node-timeout", e.timeout))
		if now := e.record(ctx).Nodes["cass3"]; now.Host != "swarm-1" || now.HostID == old.HostID || now.State != "UN" {
			t.Errorf("cass3 recorded %+v after the replace, was %+v", now, old)
		}
		e.must("lab", "start", "--name", e.lab, "--store", e.store, "swarm-2")
		e.requireRing(ctx, 3)
		read("replace cass3", "cass3", "cass1,cass2,cass3")
	})

	sub("down and bootstrap back", func() {
		write("down", "cass2", "cass1,cass2,cass3")
		before := e.recordedHostIDs(ctx)
		logRun("down", e.must("down", "--cluster", "e2e"))
		if ns := e.nodes(ctx); len(ns) != 0 {
			t.Fatalf("%d node containers run after down", len(ns))
		}
		r := e.must(e.bootstrapArgs(3)...)
		logRun("bootstrap after down", r)
		if !strings.Contains(r.out, "together: they bootstrapped before") {
			t.Errorf("bootstrap after down did not restart the nodes together:\n%s", r.out)
		}
		e.requireRing(ctx, 3)
		if after := e.recordedHostIDs(ctx); after != before {
			t.Errorf("host IDs after down and bootstrap %s, before %s", after, before)
		}
		e.must("ring", "--cluster", "e2e")
		read("down and bootstrap", "cass2", "cass1,cass2,cass3")
	})
}
