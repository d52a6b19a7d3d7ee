package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/machinestore"
)

// The day-2 operations of issue 10 on a lab with cassim: a shrink by
// decommission, the replacement of a node whose machine is stopped for
// good, down and bootstrap back, and down --purge.
func TestIntegrationDay2(t *testing.T) {
	t.Parallel() // its own lab: see newEnv
	e := newEnv(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// Each node holds 360 MiB: cass4 streams it for about 15 s (cassim's
	// 24 MiB/s), long enough to be seen UL by scale's polls (about one a
	// second; seconds each when other labs load the machine: this test runs
	// beside others).
	load := "CASSIM_LOAD=360MiB"
	e.must(e.bootstrapArgs(4, load)...)
	e.requireRing(ctx, 4)

	// 1. Shrink to 3: cass4 decommissioned, and no trace of it is left.
	r := e.must("scale", "--cluster", "e2e", "--nodes", "3", "--yes")
	t.Logf("scale --nodes 3: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	if !strings.Contains(r.out, "cass4 is UL") {
		t.Errorf("no progress while cass4 streamed:\n%s", r.out)
	}
	e.requireRing(ctx, 3)
	e.requireNoTrace(ctx, "cass4")

	// 2. swarm-2 stops for good: cass3 is replaced onto swarm-1.
	e.must("lab", "stop", "--name", e.lab, "--store", e.store, "swarm-2")
	e.waitRing(ctx, 1, "cass3")
	old := e.record(ctx).Nodes["cass3"]
	r = e.must("replace", "cass3", "--to", "swarm-1", "--cluster", "e2e", "--yes", "--node-timeout", e.timeout)
	t.Logf("replace cass3 --to swarm-1: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	now := e.record(ctx).Nodes["cass3"]
	if now.Host != "swarm-1" || now.HostID == old.HostID || now.State != "UN" {
		t.Errorf("cass3 recorded %+v after the replace, was %+v", now, old)
	}
	// The machine comes back empty-handed: the ring is whole without it.
	e.must("lab", "start", "--name", e.lab, "--store", e.store, "swarm-2")
	e.requireRing(ctx, 3)
	e.must("ring", "--cluster", "e2e")

	// 3. down, then bootstrap: the same nodes, the same host IDs.
	before := e.recordedHostIDs(ctx)
	r = e.must("down", "--cluster", "e2e")
	t.Logf("down: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	if ns := e.nodes(ctx); len(ns) != 0 {
		t.Fatalf("%d node containers run after down", len(ns))
	}
	r = e.must(e.bootstrapArgs(3, load)...)
	t.Logf("bootstrap after down: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireRing(ctx, 3)
	if after := e.recordedHostIDs(ctx); after != before {
		t.Errorf("host IDs after down and bootstrap %s, before %s", after, before)
	}

	// 4. down --purge: nothing of cluster e2e is left on any engine.
	r = e.must("down", "--cluster", "e2e", "--purge", "--yes")
	t.Logf("down --purge: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireClusterGone(ctx)
}

// recordedHostIDs are the recorded nodes' host IDs, "cass1=... cass2=...".
func (e *env) recordedHostIDs(ctx context.Context) string {
	e.t.Helper()
	rec := e.record(ctx)
	var out []string
	for k := 1; k <= len(rec.Nodes); k++ {
		n := rec.Nodes[fmt.Sprintf("cass%d", k)]
		out = append(out, n.Name+"="+n.HostID+"@"+n.Host)
	}
	return strings.Join(out, " ")
}

// requireNoTrace: no container, service or volume of node on any swarm
// machine, no record and no Consul registration.
func (e *env) requireNoTrace(ctx context.Context, node string) {
	e.t.Helper()
	labels := engine.Labels{engine.LabelCluster: "e2e", engine.LabelNode: node}
	for _, m := range e.swarmMachines() {
		cs, err := m.ContainerList(ctx, labels)
		if err != nil {
			e.t.Fatal(err)
		}
		vs, err := m.VolumeList(ctx, labels)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(cs)+len(vs) > 0 {
			e.t.Errorf("%s keeps %d containers and volumes %v of %s", m.Name(), len(cs), vs, node)
		}
	}
	if _, err := e.machine("swarm-0").ServiceInspect(ctx, node); err == nil {
		e.t.Errorf("service %s still exists", node)
	}
	rec := e.record(ctx)
	if _, ok := rec.Nodes[node]; ok {
		e.t.Errorf("the record still names %s", node)
	}
	for _, s := range rec.Seeds {
		if s == node {
			e.t.Errorf("the seeds still name %s", node)
		}
	}
}

// requireClusterGone: no container, service, volume, network or image of
// cluster e2e on any engine, no infra container (no other cluster was
// there), no engine left in the swarm bootstrap made; and the images the
// lab loaded onto infra before bootstrap (not swarmcass's) are still there.
func (e *env) requireClusterGone(ctx context.Context) {
	e.t.Helper()
	names, err := machinestore.New(e.store).List()
	if err != nil {
		e.t.Fatal(err)
	}
	mine := engine.Labels{engine.LabelCluster: "e2e"}
	for _, name := range names {
		m := e.machine(name)
		cs, err := m.ContainerList(ctx, mine)
		if err != nil {
			e.t.Fatal(err)
		}
		vs, _ := m.VolumeList(ctx, mine)
		ns, _ := m.NetworkList(ctx, mine)
		ims, err := m.ImageList(ctx, mine)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(cs)+len(vs)+len(ns)+len(ims) > 0 {
			e.t.Errorf("%s keeps %d containers, volumes %v, %d networks, images %v of cluster e2e", name, len(cs), vs, len(ns), ims)
		}
		info, err := m.Info(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if info.Swarm.State != "inactive" {
			e.t.Errorf("%s is still in a swarm (%s)", name, info.Swarm.State)
		}
		if name == "infra" {
			for _, ref := range []string{consulImage, registryImage} {
				if _, err := m.ImageInspect(ctx, ref); err != nil {
					e.t.Errorf("%s, loaded onto infra before bootstrap, is gone: %v", ref, err)
				}
			}
		}

		for _, infra := range []string{"swarmcass-consul", "swarmcass-registry"} {
			if _, err := m.ContainerInspect(ctx, infra); err == nil {
				e.t.Errorf("%s still runs %s", name, infra)
			}
		}
	}
}
