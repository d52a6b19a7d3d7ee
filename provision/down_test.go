package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

func TestDownThenBootstrap(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	first := bootstrap(t, cfg)
	before := len(l.w.Log())
	res, err := Down(context.Background(), cfg, false) // no confirmation needed: nothing is lost
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	log := l.w.Log()[before:]
	for _, node := range []string{"cass1", "cass2", "cass3"} {
		if l.ring.drains[node] != 1 {
			t.Errorf("%s drained %d times", node, l.ring.drains[node])
		}
		if i := index(log, "ServiceRemove "+node); i < 0 {
			t.Errorf("no ServiceRemove %s", node)
		}
		if tr := l.traces(node); strings.Join(tr, ",") != "volume on "+l.recorded(node).Host+",record,registration" {
			t.Errorf("%s after down: %v, want its volume, record and registration", node, tr)
		}
		if st := l.recorded(node).State; st != "down" {
			t.Errorf("%s recorded %s", node, st)
		}
	}
	if index(log, "VolumeRemove") >= 0 || index(log, "NetworkRemove") >= 0 || index(log, "ContainerRemove") >= 0 {
		t.Errorf("down removed more than services:\n%s", strings.Join(log, "\n"))
	}
	if len(res.Removed) != 3 {
		t.Errorf("removed %v", res.Removed)
	}
	// Again: nothing to do.
	if again, err := Down(context.Background(), cfg, false); err != nil || len(again.Removed) != 0 {
		t.Errorf("second down: %v %v", err, again.Removed)
	}
	// Bootstrap brings the same nodes back, each on its volume and host,
	// with its host ID and contact point.
	back := bootstrap(t, cfg)
	for i, n := range back.Nodes {
		was := first.Nodes[i]
		if n.HostID != was.HostID || n.Host != was.Host || n.CQL != was.CQL || n.State != "UN" {
			t.Errorf("%s came back as %+v, was %+v", n.Name, n.Node, was.Node)
		}
	}
}

// Placement follows the record: after a replace onto another machine,
// down and bootstrap put the node back there, on its volume.
func TestDownBootstrapFollowsRecord(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	cs, _ := l.swarm[2].ContainerList(context.Background(), engine.Labels{engine.LabelNode: "cass3"})
	l.swarm[2].ContainerStop(context.Background(), cs[0].ID, 0)
	replaced(t, cfg, "cass3", "swarm-0")
	moved := l.recorded("cass3")
	if _, err := Down(context.Background(), cfg, false); err != nil {
		t.Fatal(op.Explain(err))
	}
	back := bootstrap(t, cfg)
	if n := back.Nodes[2]; n.Host != "swarm-0" || n.HostID != moved.HostID || n.CQL != moved.CQL {
		t.Errorf("cass3 came back as %+v, recorded %+v", n.Node, moved)
	}
}

func TestDownPurge(t *testing.T) {
	for _, other := range []bool{false, true} {
		name := "last cluster"
		if other {
			name = "another cluster's record stays"
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := l.config(3)
			bootstrap(t, cfg)
			if other {
				l.consul().SetValue("swarmcass/other/seeds", []byte("cass1"))
			}
			ctx := context.Background()
			c := cfg
			c.DryRun = true
			before := len(l.w.Log())
			if res, err := Down(ctx, c, true); err != nil || !res.DryRun || len(l.w.Log()) != before {
				t.Fatalf("dry run: %v, did %v", err, l.w.Log()[before:])
			}
			if _, err := Down(ctx, cfg, true); err == nil || !strings.Contains(op.Explain(err), "--yes") {
				t.Fatalf("purge without confirmation: %v", err)
			}
			if _, err := Down(ctx, yes(cfg), true); err != nil {
				t.Fatal(op.Explain(err))
			}
			mine := engine.Labels{engine.LabelCluster: "test"}
			for _, left := range l.leftOf(ctx, "test") {
				t.Error(left)
			}
			if ss, _ := l.swarm[0].ServiceList(ctx, mine); len(ss) > 0 {
				t.Errorf("services %v", ss)
			}
			kv, _ := l.consul().List(ctx, "swarmcass/test/")
			if len(kv) > 0 || l.consul().Registrations() > 0 && l.consulHasTest() {
				t.Errorf("Consul keeps %v", kv)
			}
			_, err := l.infra.ContainerInspect(ctx, ConsulContainer)
			if gone := errors.Is(err, engine.ErrNotFound); gone == other {
				t.Errorf("Consul container gone %v, want %v", gone, !other)
			}
			vols, _ := l.infra.VolumeList(ctx, nil)
			if kept := strings.Contains(strings.Join(vols, ","), ConsulContainer+"-data"); kept != other {
				t.Errorf("infra volumes %v", vols)
			}
			// The images loaded before bootstrap were not swarmcass's to remove.
			for _, ref := range []string{clustertest.ConsulImage, clustertest.RegistryImage} {
				if _, err := l.infra.ImageInspect(ctx, ref); err != nil {
					t.Errorf("%s, loaded on infra before bootstrap, is gone: %v", ref, err)
				}
			}
			// The swarm swarmcass made ends with the last cluster of this
			// Consul; another cluster's record keeps it.
			for _, f := range l.swarm {
				info, _ := f.Info(ctx)
				if in := info.Swarm.State == "active"; in != other {
					t.Errorf("%s in the swarm %v after the purge, want %v", f.Name(), in, other)
				}
			}
		})
	}
}

// What swarmcass pulled or built for the cluster goes with down --purge,
// on every engine; what it did not stays.
func TestDownPurgeRemovesPulledAndBuiltImages(t *testing.T) {
	l := newLab(t, 3)
	ctx := context.Background()
	// Consul's image is not on infra: bootstrap pulls it.
	if err := l.infra.ImageRemove(ctx, clustertest.ConsulImage, true); err != nil {
		t.Fatal(err)
	}
	l.w.Publish(clustertest.ConsulImage)
	l.swarm[1].AddImage("user/app:1")
	cfg := l.config(3)
	bootstrap(t, cfg)
	mine := engine.Labels{engine.LabelCluster: "test"}
	for _, f := range append(l.swarm, l.infra) {
		// infra: the node image and the probe built; swarm hosts: both pulled.
		if ims, _ := f.ImageList(ctx, mine); len(ims) != 2 {
			t.Errorf("%s holds images %v of cluster test after bootstrap, want the node image and the probe", f.Name(), ims)
		}
	}
	res, err := Down(ctx, yes(cfg), true)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	for _, left := range l.leftOf(ctx, "test") {
		t.Error(left)
	}
	if _, err := l.infra.ImageInspect(ctx, clustertest.ConsulImage); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("%s, pulled by bootstrap, stays on infra: %v", clustertest.ConsulImage, err)
	}
	if _, err := l.infra.ImageInspect(ctx, clustertest.RegistryImage); err != nil {
		t.Errorf("%s, loaded before bootstrap, is gone: %v", clustertest.RegistryImage, err)
	}
	if _, err := l.swarm[1].ImageInspect(ctx, "user/app:1"); err != nil {
		t.Errorf("a user's image is gone: %v", err)
	}
	if !slices.Contains(res.Removed, "image "+clustertest.ConsulImage+" on infra") {
		t.Errorf("the summary does not list the pulled Consul image: %v", res.Removed)
	}
}

// down --purge ends only a swarm swarmcass made, with nothing else in it.
func TestDownPurgeKeepsSwarm(t *testing.T) {
	ctx := context.Background()
	for name, setup := range map[string]func(l *lab, cfg Config){
		"not made by swarmcass": nil, // set up below, before bootstrap
		"another service": func(l *lab, cfg Config) {
			if _, err := l.swarm[0].ServiceCreate(ctx, engine.ServiceSpec{Name: "web", Image: "user/web:1"}); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := l.config(3)
			if setup == nil { // the user's own swarm, which bootstrap joins
				if err := l.swarm[0].SwarmInit(ctx, l.swarm[0].Addr(), nil); err != nil {
					t.Fatal(err)
				}
			}
			bootstrap(t, cfg)
			if setup != nil {
				setup(l, cfg)
			}
			p := &said{}
			c := yes(cfg)
			c.Progress = p
			if _, err := Down(ctx, c, true); err != nil {
				t.Fatal(op.Explain(err))
			}
			for _, f := range l.swarm {
				if info, _ := f.Info(ctx); info.Swarm.State != "active" {
					t.Errorf("%s left the swarm", f.Name())
				}
			}
			if !strings.Contains(p.text(), "the swarm stays: ") {
				t.Errorf("no word on why the swarm stays:\n%s", p.text())
			}
		})
	}
}

// consulHasTest: a registration of cluster test is left.
func (l *lab) consulHasTest() bool {
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		if _, ok := l.consul().Service("swarmcass-test-" + n); ok {
			return true
		}
	}
	return false
}

// A failed drain stops down before any service goes; a re-run finishes.
func TestDownResume(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	l.swarm[1].Fail("Exec", errors.New("engine hiccup"))
	before := len(l.w.Log())
	if _, err := Down(context.Background(), cfg, false); err == nil || !strings.Contains(op.Explain(err), "no service was removed") {
		t.Fatalf("err %v", err)
	}
	if index(l.w.Log()[before:], "ServiceRemove") >= 0 {
		t.Error("a service was removed although a drain failed")
	}
	l.swarm[1].Fail("Exec", nil)
	if _, err := Down(context.Background(), cfg, false); err != nil {
		t.Fatal(op.Explain(err))
	}
	if ss, _ := l.swarm[0].ServiceList(context.Background(), nil); len(ss) > 0 {
		t.Errorf("services left %v", ss)
	}
}

// A node whose machine is gone has nothing to drain; the rest go down.
func TestDownWithMachineGone(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	l.stopMachine(l.swarm[2])
	if _, err := Down(context.Background(), cfg, false); err != nil {
		t.Fatal(op.Explain(err))
	}
	if l.ring.drains["cass3"] != 0 || l.ring.drains["cass1"] != 1 {
		t.Errorf("drains %v", l.ring.drains)
	}
}

// A purge that fails at any of its engine steps, run again, finishes:
// nothing of the cluster is left and the swarm swarmcass made is gone.
func TestDownPurgeResume(t *testing.T) {
	for _, method := range []string{"ServiceRemove", "VolumeRemove", "NetworkRemove", "ImageRemove", "SwarmLeave"} {
		t.Run(method, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := yes(l.config(3))
			bootstrap(t, cfg)
			ctx := context.Background()
			// swarm-0 is the manager: every step but SwarmLeave fails there
			// first; SwarmLeave fails on a worker, before the manager leaves.
			f := l.swarm[0]
			if method == "SwarmLeave" {
				f = l.swarm[1]
			}
			f.Fail(method, errors.New("engine hiccup"))
			_, err := Down(ctx, cfg, true)
			if err == nil || !strings.Contains(err.Error(), "engine hiccup") {
				t.Fatalf("err %v, want the engine's failure", err)
			}
			f.Fail(method, nil)
			if method == "SwarmLeave" {
				if !strings.Contains(op.Explain(err), "docker swarm leave") {
					t.Errorf("no word on leaving by hand: %s", op.Explain(err))
				}
				// The record is gone by then: a re-run has no cluster to
				// act on, and the hint said how to leave by hand.
				if err := l.swarm[1].SwarmLeave(ctx, false); err != nil {
					t.Fatal(err)
				}
				if err := l.swarm[2].SwarmLeave(ctx, false); err != nil {
					t.Fatal(err)
				}
				if err := l.swarm[0].SwarmLeave(ctx, true); err != nil {
					t.Fatal(err)
				}
			} else if _, err := Down(ctx, cfg, true); err != nil {
				t.Fatal(op.Explain(err))
			}
			for _, left := range l.leftOf(ctx, "test") {
				t.Error(left)
			}
			for _, f := range l.swarm {
				if info, _ := f.Info(ctx); info.Swarm.State != "inactive" {
					t.Errorf("%s is still in the swarm", f.Name())
				}
			}
		})
	}
}

// leftOf says, engine by engine, what carries cluster's label: containers,
// volumes, networks and images (nothing, after a purge).
func (l *lab) leftOf(ctx context.Context, cluster string) []string {
	mine := engine.Labels{engine.LabelCluster: cluster}
	var out []string
	for _, f := range append(l.swarm, l.infra) {
		cs, _ := f.ContainerList(ctx, mine)
		vs, _ := f.VolumeList(ctx, mine)
		ns, _ := f.NetworkList(ctx, mine)
		ims, _ := f.ImageList(ctx, mine)
		if len(cs)+len(vs)+len(ns)+len(ims) > 0 {
			out = append(out, fmt.Sprintf("%s keeps containers %v, volumes %v, networks %v, images %v of cluster %s", f.Name(), cs, vs, ns, ims, cluster))
		}
	}
	return out
}

// A cluster taken down keeps its volumes, named cass1-data and so on like
// every cluster's. A new cluster bootstrapped on that swarm must not take
// them over (dockerd would hand back the existing volume, and the node
// would start on the other cluster's data): it stops before its first
// node's service with what to do, and the old cluster's volumes and record
// are untouched.
func TestBootstrapRefusesAnotherClustersVolume(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	old := l.config(3)
	bootstrap(t, old)
	if _, err := Down(ctx, old, false); err != nil {
		t.Fatal(op.Explain(err))
	}
	other := l.config(3)
	other.Cluster = "other"
	before := len(l.w.Log())
	_, err := Bootstrap(ctx, other)
	var he *op.Error
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "volume cass1-data on swarm-0 exists but is not labelled as cluster other's") || !strings.Contains(he.Hint, "down --purge") {
		t.Fatalf("err = %v, want a refusal of cass1-data with a hint", err)
	}
	for _, e := range l.w.Log()[before:] {
		if strings.Contains(e, "ServiceCreate") || strings.Contains(e, "VolumeRemove") {
			t.Errorf("bootstrap of another cluster did %s", e)
		}
	}
	if st := l.recorded("cass1").State; st != "down" {
		t.Errorf("the old cluster's cass1 recorded %s after, want down", st)
	}
}
