package provision

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/op"
)

// stopMachine stops f for good: its nodes' containers stop and its engine
// answers nothing any more.
func (l *lab) stopMachine(f *enginetest.Fake) {
	l.t.Helper()
	ctx := context.Background()
	cs, _ := f.ContainerList(ctx, engine.Labels{engine.LabelRole: engine.RoleCassandra})
	for _, c := range cs {
		if err := f.ContainerStop(ctx, c.ID, 0); err != nil {
			l.t.Fatal(err)
		}
	}
	for _, m := range []string{"Info", "ContainerList", "VolumeList", "VolumeRemove", "Exec", "ContainerInspect"} {
		f.Fail(m, errors.New("dial tcp "+f.Addr()+":2376: connect: connection refused"))
	}
}

// recorded is node's record in the lab's Consul.
func (l *lab) recorded(node string) consulstore.Node {
	var n consulstore.Node
	json.Unmarshal([]byte(l.kv(consulstore.Key("test", "nodes", node))), &n)
	return n
}

func replaced(t *testing.T, cfg Config, node, to string) *Result {
	t.Helper()
	res, err := Replace(context.Background(), yes(cfg), node, to)
	if err != nil {
		t.Fatalf("Replace %s: %s", node, op.Explain(err))
	}
	return res
}

func TestReplaceDeadMachine(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	old := l.recorded("cass3")
	l.stopMachine(l.swarm[2])
	before := len(l.w.Log())
	res := replaced(t, cfg, "cass3", "swarm-1")
	log := l.w.Log()[before:]
	if i, j := index(log, "ServiceRemove cass3"), index(log, "swarm-1: VolumeCreate cass3-data"); i < 0 || j < i || index(log, "ServiceCreate cass3") < j {
		t.Errorf("replace did:\n%s", strings.Join(log, "\n"))
	}
	s, err := l.swarm[0].ServiceInspect(context.Background(), "cass3")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := l.swarm[1].Info(context.Background())
	if !slices.Contains(s.Spec.Env, "JVM_EXTRA_OPTS=-Dcassandra.replace_address_first_boot="+old.Address) ||
		!slices.Equal(s.Spec.Args, []string{"cass1,cass2"}) || !slices.Contains(s.Spec.Env, "SWARMCASS_WAIT_FOR=cass1,cass2") ||
		!slices.Equal(s.Spec.Constraints, []string{"node.id==" + info.Swarm.NodeID}) || s.Spec.Ports[0].HostPort != 9043 {
		t.Errorf("the new cass3's spec %+v", s.Spec)
	}
	now := l.recorded("cass3")
	if now.State != "UN" || now.Host != "swarm-1" || now.HostID == old.HostID || now.HostID == "" || now.Address == old.Address || now.CQL != "10.0.0.11:9043" {
		t.Errorf("record %+v, old %+v; want the new host ID, host and address", now, old)
	}
	if reg, _ := l.consul().Service(consulstore.ServiceID("test", "cass3")); reg.Meta["host_id"] != now.HostID || reg.Check != "10.0.0.11:9043" {
		t.Errorf("registration %+v", reg)
	}
	if len(res.Nodes) != 1 || res.Nodes[0].HostID != now.HostID {
		t.Errorf("result nodes %+v", res.Nodes)
	}
	// The old host ID is gone from every view, the ring whole again.
	if err := newWaiterFor(t, l, cfg).Healthy(context.Background(), []string{"cass1", "cass2", "cass3"}); err != nil {
		t.Errorf("ring after the replace: %v", err)
	}
	if len(l.ring.refused) > 0 {
		t.Errorf("replacing nodes refused: %v", l.ring.refused)
	}
	// A node added later runs with seeds the record keeps, not the
	// replacement's own list.
	scaled(t, cfg, 4)
	s4, _ := l.swarm[0].ServiceInspect(context.Background(), "cass4")
	if !slices.Equal(s4.Spec.Args, []string{"cass1,cass2,cass3"}) || slices.ContainsFunc(s4.Spec.Env, func(kv string) bool { return strings.Contains(kv, replaceOption) }) {
		t.Errorf("cass4 spec %+v", s4.Spec)
	}
}

// The node's data is lost but its machine answers: by default it is
// replaced there, on a fresh volume, keeping its contact point.
func TestReplaceOnItsOwnMachine(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	old := l.recorded("cass2")
	cs, _ := l.swarm[1].ContainerList(context.Background(), engine.Labels{engine.LabelNode: "cass2"})
	l.swarm[1].ContainerStop(context.Background(), cs[0].ID, 0)
	before := len(l.w.Log())
	replaced(t, cfg, "cass2", "")
	log := l.w.Log()[before:]
	if i, j := index(log, "swarm-1: VolumeRemove cass2-data"), index(log, "swarm-1: VolumeCreate cass2-data"); i < 0 || j < i {
		t.Errorf("the volume was not made afresh:\n%s", strings.Join(log, "\n"))
	}
	now := l.recorded("cass2")
	if now.Host != "swarm-1" || now.HostID == old.HostID || now.CQL != old.CQL {
		t.Errorf("record %+v, old %+v", now, old)
	}
}

func TestReplaceRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, node, to string
		setup          func(l *lab)
		want           []string
	}{
		{"a live node", "cass3", "", nil, []string{"cass3 is UN", "Cassandra refuses to replace a live node"}},
		{"no such node", "cass9", "", nil, []string{`cluster test has no node "cass9"`, "cass1, cass2, cass3"}},
		{"no such machine", "cass3", "swarm-7", func(l *lab) { l.stopMachine(l.swarm[2]) }, []string{"--to swarm-7 is not one of the swarm's machines", "swarm-0, swarm-1"}},
		{"the machine is down", "cass3", "swarm-2", func(l *lab) { l.stopMachine(l.swarm[2]) }, []string{"--to swarm-2: the machine does not answer"}},
		{"no room", "cass3", "swarm-1", func(l *lab) {
			l.stopMachine(l.swarm[2])
			l.swarm[1].Spec.MemTotal = 1 << 30
		}, []string{"swarm-1 has 0M left for nodes, less than a node's 1536M"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := l.config(3)
			bootstrap(t, cfg)
			if tc.setup != nil {
				tc.setup(l)
			}
			before := len(l.w.Log())
			_, err := Replace(context.Background(), yes(cfg), tc.node, tc.to)
			if err == nil {
				t.Fatal("Replace went ahead")
			}
			for _, w := range tc.want {
				if !strings.Contains(op.Explain(err), w) {
					t.Errorf("error lacks %q:\n%s", w, op.Explain(err))
				}
			}
			if after := l.w.Log()[before:]; len(after) != 0 {
				t.Errorf("a refused replace did %v", after)
			}
		})
	}
}

func TestReplaceDryRunAndConfirmation(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	l.stopMachine(l.swarm[2])
	before := len(l.w.Log())
	c := cfg
	c.DryRun = true
	res, err := Replace(context.Background(), c, "cass3", "swarm-0")
	if err != nil || !res.DryRun || !strings.Contains(strings.Join(res.Plan, "\n"), "volume cass3-data on swarm-2 stays") {
		t.Fatalf("dry run: %v %+v", err, res)
	}
	c.DryRun = false
	if _, err := Replace(context.Background(), c, "cass3", "swarm-0"); err == nil || !strings.Contains(op.Explain(err), "--yes") {
		t.Errorf("unconfirmed: %v", err)
	}
	if after := l.w.Log()[before:]; len(after) != 0 {
		t.Errorf("did %v", after)
	}
}

// Ctrl-C while the new node joins: the same command continues with it.
func TestReplaceResume(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	l.stopMachine(l.swarm[2])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.ring.onLook = func(node string) {
		if node == "cass3" {
			cancel()
		}
	}
	_, err := Replace(ctx, yes(cfg), "cass3", "swarm-0")
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err %v, want an interruption", err)
	}
	if st := l.recorded("cass3").State; st != stateReplacing {
		t.Errorf("cass3 recorded %s, want %s", st, stateReplacing)
	}
	l.ring.onLook = nil
	before := len(l.w.Log())
	res := replaced(t, cfg, "cass3", "swarm-0")
	if index(l.w.Log()[before:], "ServiceCreate cass3") >= 0 || !strings.Contains(res.Plan[0], "continue the replacement") {
		t.Errorf("the re-run did %v, plan %v", l.w.Log()[before:], res.Plan)
	}
	if now := l.recorded("cass3"); now.State != "UN" || now.Host != "swarm-0" {
		t.Errorf("record %+v", now)
	}
}

// A replace whose engine call fails at each stage (the dead node's
// service, its fresh volume, the new service), run again, finishes: the
// node replaced once, on the target, recorded UN.
func TestReplaceResumeAfterFailure(t *testing.T) {
	for _, method := range []string{"ServiceRemove", "VolumeCreate", "ServiceCreate"} {
		t.Run(method, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := l.config(3)
			bootstrap(t, cfg)
			old := l.recorded("cass3")
			l.stopMachine(l.swarm[2])
			l.swarm[0].Fail(method, errors.New("engine hiccup"))
			if _, err := Replace(context.Background(), yes(cfg), "cass3", "swarm-0"); err == nil || !strings.Contains(err.Error(), "engine hiccup") {
				t.Fatalf("err %v, want the engine's failure", err)
			}
			l.swarm[0].Fail(method, nil)
			replaced(t, cfg, "cass3", "swarm-0")
			if now := l.recorded("cass3"); now.State != "UN" || now.Host != "swarm-0" || now.HostID == old.HostID {
				t.Errorf("record %+v, was %+v", now, old)
			}
		})
	}
}
