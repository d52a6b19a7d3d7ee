package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// yes confirms every plan.
func yes(cfg Config) Config {
	cfg.Confirm = func(context.Context, []string) error { return nil }
	return cfg
}

// scaled runs Scale to n nodes, confirmed.
func scaled(t *testing.T, cfg Config, n int) *Result {
	t.Helper()
	cfg.Nodes = n
	res, err := Scale(context.Background(), yes(cfg))
	if err != nil {
		t.Fatalf("Scale to %d: %s", n, op.Explain(err))
	}
	return res
}

// traces lists what is left of node in the world and in Consul.
func (l *lab) traces(node string) []string {
	ctx := context.Background()
	var out []string
	if _, err := l.swarm[0].ServiceInspect(ctx, node); err == nil {
		out = append(out, "service")
	}
	for _, f := range l.swarm {
		if vols, _ := f.VolumeList(ctx, nil); slices.Contains(vols, node+"-data") {
			out = append(out, "volume on "+f.Name())
		}
		if cs, _ := f.ContainerList(ctx, engine.Labels{engine.LabelNode: node}); len(cs) > 0 {
			out = append(out, "container on "+f.Name())
		}
	}
	if _, ok := l.consul().Value(consulstore.Key("test", "nodes", node)); ok {
		out = append(out, "record")
	}
	if _, ok := l.consul().Service(consulstore.ServiceID("test", node)); ok {
		out = append(out, "registration")
	}
	return out
}

func TestScaleShrink(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(5)
	bootstrap(t, cfg)
	before := len(l.w.Log())
	res := scaled(t, cfg, 3)
	log := l.w.Log()[before:]
	// Highest first, one at a time: cass5 is gone (service, then volume)
	// before cass4 is touched.
	order := []string{"ServiceRemove cass5", "swarm-1: VolumeRemove cass5-data", "ServiceRemove cass4", "swarm-0: VolumeRemove cass4-data"}
	last := -1
	for _, want := range order {
		i := index(log, want)
		if i < last || i < 0 {
			t.Fatalf("%q out of order in:\n%s", want, strings.Join(log, "\n"))
		}
		last = i
	}
	if l.ring.decommissions["cass5"] != 1 || l.ring.decommissions["cass4"] != 1 || len(l.ring.decommissions) != 2 {
		t.Errorf("decommissions %v, want cass5 and cass4 once each", l.ring.decommissions)
	}
	for _, node := range []string{"cass4", "cass5"} {
		if tr := l.traces(node); len(tr) > 0 {
			t.Errorf("%s left traces: %v", node, tr)
		}
	}
	for _, node := range []string{"cass1", "cass2", "cass3"} {
		if tr := l.traces(node); len(tr) != 5 {
			t.Errorf("%s: %v, want its service, volume, container, record and registration", node, tr)
		}
	}
	if len(res.Removed) != 6 || len(res.Nodes) != 3 {
		t.Errorf("result removed %v, nodes %+v", res.Removed, res.Nodes)
	}
	if l.consul().Locks() != 0 {
		t.Error("the lock was kept")
	}
	// 3 nodes are whole in every view.
	if err := newWaiterFor(t, l, cfg).Healthy(context.Background(), []string{"cass1", "cass2", "cass3"}); err != nil {
		t.Errorf("ring after the shrink: %v", err)
	}
	// The same command again changes nothing.
	again := scaled(t, cfg, 3)
	if len(again.Removed) != 0 || len(again.Plan) != 0 {
		t.Errorf("second shrink to 3 did %v (plan %v)", again.Removed, again.Plan)
	}
}

// newWaiterFor is a waiter on the lab's nodes, as an operation has.
func newWaiterFor(t *testing.T, l *lab, cfg Config) interface {
	Healthy(ctx context.Context, nodes []string, ignore ...string) error
} {
	t.Helper()
	r := &run{cfg: cfg.withDefaults(), p: op.Silent{}, res: &Result{}}
	r.cfg.Cluster = "test"
	if err := attach(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r.wait
}

func TestScaleSeedsLeave(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	l.ring.Keyspaces = l.ring.Keyspaces[:3] // no RF 3 keyspace: 2 nodes may hold the rest
	l.ring.Keyspaces = append(l.ring.Keyspaces, "system_distributed -> Replication class: SimpleStrategy {replication_factor=2}")
	res := scaled(t, cfg, 2)
	if got := l.kv("swarmcass/test/seeds"); got != "cass1,cass2" || !slices.Equal(res.Seeds, []string{"cass1", "cass2"}) {
		t.Errorf("seeds in the record %q, result %v; want cass1,cass2", got, res.Seeds)
	}
	// The running nodes are not restarted to learn it: their services
	// are the ones bootstrap made.
	if index(l.w.Log(), "ServiceRemove cass1") >= 0 || index(l.w.Log(), "ServiceRemove cass2") >= 0 {
		t.Error("a staying node's service was touched")
	}
	// A node added later gets the new list.
	scaled(t, cfg, 3)
	s, _ := l.swarm[0].ServiceInspect(context.Background(), "cass3")
	if !slices.Equal(s.Spec.Args, []string{"cass1,cass2"}) {
		t.Errorf("the new cass3 has seeds %v, want [cass1,cass2]", s.Spec.Args)
	}
}

func TestScaleRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
		setup func(l *lab)
		want  []string // in the error and its hints
	}{
		{"below one node", 0, nil, []string{"--nodes 0: a cluster keeps at least one node"}},
		{"a node down", 3, func(l *lab) { l.ring.never["cass2"] = true }, []string{"the ring is not healthy", "is DN", "swarmcass replace"}},
		{"replication factor", 2, nil, []string{"keyspace system_distributed has replication factor 3, but only 2 nodes would remain", "ALTER KEYSPACE system_distributed"}},
		{"replication factor in a datacenter", 3, func(l *lab) {
			l.ring.Keyspaces = append(l.ring.Keyspaces, "shop -> Replication class: NetworkTopologyStrategy {datacenter1=4}")
		}, []string{"keyspace shop has replication factor 4 in datacenter datacenter1, but only 3 nodes would remain there"}},
		{"unknown replication", 3, func(l *lab) {
			l.ring.Keyspaces = append(l.ring.Keyspaces, "odd -> Replication class: OddStrategy {x=1}")
		}, []string{"keyspace odd: replication class OddStrategy"}},
		{"disk", 3, func(l *lab) {
			l.ring.SetLoad("cass4", "300 GiB")
			l.ring.SetFree("cass2", 10<<30)
		}, []string{"cass2 has 10.0 GiB free on /var/lib/cassandra, less than its share (100.0 GiB) of the 300.0 GiB", "free space on its host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := l.config(4)
			bootstrap(t, cfg)
			if tc.setup != nil {
				tc.setup(l)
			}
			before := len(l.w.Log())
			cfg.Nodes = tc.nodes
			_, err := Scale(context.Background(), yes(cfg))
			if err == nil {
				t.Fatal("Scale went ahead")
			}
			for _, w := range tc.want {
				if !strings.Contains(op.Explain(err), w) {
					t.Errorf("error lacks %q:\n%s", w, op.Explain(err))
				}
			}
			if after := l.w.Log()[before:]; len(after) != 0 || len(l.ring.decommissions) != 0 {
				t.Errorf("a refused scale did %v, decommissions %v", after, l.ring.decommissions)
			}
			if l.consul().Locks() != 0 {
				t.Error("the lock was kept")
			}
		})
	}
}

func TestScaleDryRunAndConfirmation(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(4)
	bootstrap(t, cfg)
	before := len(l.w.Log())
	c := cfg
	c.Nodes, c.DryRun = 3, true
	res, err := Scale(context.Background(), c)
	if err != nil || !res.DryRun || len(res.Plan) != 2 || !strings.Contains(res.Plan[0], "decommission cass4") {
		t.Fatalf("dry run: %v, %+v", err, res)
	}
	c.DryRun = false
	if _, err := Scale(context.Background(), c); err == nil || !strings.Contains(op.Explain(err), "pass --yes") {
		t.Errorf("a shrink without confirmation: %v", err)
	}
	if after := l.w.Log()[before:]; len(after) != 0 || len(l.ring.decommissions) != 0 {
		t.Errorf("dry run and refusal did %v", after)
	}
	// Growing needs no confirmation.
	c.Nodes = 5
	if res, err := Scale(context.Background(), c); err != nil || len(res.Nodes) != 5 || !res.Nodes[4].Created {
		t.Fatalf("grow: %v %+v", err, res)
	}
}

func TestScaleGrowsAsBootstrap(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(2)
	cfg.Heap = 1 << 30
	cfg.NodeEnv = append(cfg.NodeEnv, "JVM_EXTRA_OPTS=-Dx=1")
	bootstrap(t, cfg)
	// scale is given no node flags: the new node is made like its peers.
	c := l.config(4)
	res := scaled(t, c, 4)
	s2, _ := l.swarm[0].ServiceInspect(context.Background(), "cass2")
	s4, _ := l.swarm[0].ServiceInspect(context.Background(), "cass4")
	if s4.Spec.Image != s2.Spec.Image || s4.Spec.MemoryLimit != s2.Spec.MemoryLimit || !slices.Contains(s4.Spec.Env, "MAX_HEAP_SIZE=1G") ||
		!slices.Contains(s4.Spec.Env, "JVM_EXTRA_OPTS=-Dx=1") || s4.Spec.Ports[0].HostPort != 9043 {
		t.Errorf("cass4's spec %+v is not like cass2's %+v", s4.Spec, s2.Spec)
	}
	if len(res.Nodes) != 4 || res.Nodes[3].Host != "swarm-0" || res.Nodes[3].State != "UN" {
		t.Errorf("nodes %+v", res.Nodes)
	}
	// The cluster authenticates: the new node does too, and mounts the
	// credentials secret its peers mount (real 5.0 caught a grown node
	// without either).
	if !slices.Contains(s4.Spec.Env, authEnv(true)) || len(s4.Spec.Secrets) != 1 || len(s2.Spec.Secrets) != 1 || s4.Spec.Secrets[0].ID != s2.Spec.Secrets[0].ID {
		t.Errorf("cass4 env %v secrets %+v; cass2's secrets %+v", s4.Spec.Env, s4.Spec.Secrets, s2.Spec.Secrets)
	}
	// cass1, the first node of a new cluster, started with tokens of its
	// own, and new nodes are made from its spec: a grown node must not take
	// them (a token owned by another node is refused) and must bootstrap.
	s1, _ := l.swarm[0].ServiceInspect(context.Background(), "cass1")
	if !slices.ContainsFunc(s1.Spec.Env, func(kv string) bool { return strings.HasPrefix(kv, "CASSANDRA_INITIAL_TOKENS=") }) {
		t.Fatalf("cass1 started without planned tokens: %v", s1.Spec.Env)
	}
	for _, kv := range s4.Spec.Env {
		if strings.HasPrefix(kv, "CASSANDRA_INITIAL_TOKENS=") || kv == "CASSANDRA_AUTO_BOOTSTRAP=false" {
			t.Errorf("cass4 took %s from its peers", kv)
		}
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("concurrent joins: %v", l.ring.concurrent)
	}
}

// An open cluster (--auth=false) grows open: scale, given no auth flag,
// follows the nodes, and makes no credentials secret.
func TestScaleGrowsOpenClusterOpen(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(2)
	cfg.NoAuth = true
	bootstrap(t, cfg)
	scaled(t, l.config(3), 3)
	s3, _ := l.swarm[0].ServiceInspect(context.Background(), "cass3")
	if !slices.Contains(s3.Spec.Env, authEnv(false)) || len(s3.Spec.Secrets) != 0 {
		t.Errorf("cass3 env %v secrets %+v, want it open like its peers", s3.Spec.Env, s3.Spec.Secrets)
	}
	if secrets, _ := l.swarm[0].SecretList(context.Background(), nil); len(secrets) != 0 {
		t.Errorf("scale of an open cluster made secrets %+v", secrets)
	}
}

// Ctrl-C or a failure at each stage of a shrink, then the same command
// again: it continues, and no node is decommissioned twice.
func TestScaleResume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		engine string // the call on swarm-0 that fails; "": Ctrl-C while cass4 is UL
	}{
		{"Ctrl-C while leaving", ""},
		{"service removal fails", "ServiceRemove"},
		{"volume removal fails", "VolumeRemove"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := l.config(4)
			bootstrap(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.engine == "" {
				l.ring.onLook = func(node string) {
					if l.ring.decommissions["cass4"] > 0 {
						cancel()
					}
				}
			} else {
				l.swarm[0].Fail(tc.engine, errors.New("engine hiccup"))
			}
			c := yes(cfg)
			c.Nodes = 3
			_, err := Scale(ctx, c)
			if err == nil || !strings.Contains(op.Explain(err), "run the same swarmcass scale again") {
				t.Fatalf("err %v, want a stop that says how to continue", err)
			}
			if tc.engine == "" && !strings.Contains(err.Error(), "interrupted") {
				t.Errorf("err %v, want it to say it was interrupted", err)
			}
			l.ring.onLook = nil
			l.swarm[0].Fail(tc.engine, nil)
			scaled(t, cfg, 3)
			if n := l.ring.decommissions["cass4"]; n != 1 {
				t.Errorf("cass4 decommissioned %d times", n)
			}
			if tr := l.traces("cass4"); len(tr) > 0 {
				t.Errorf("cass4 left %v", tr)
			}
		})
	}
}

// said records what an operation tells the user.
type said struct {
	op.Silent
	mu    sync.Mutex
	lines []string
}

func (s *said) Infof(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, fmt.Sprintf(format, args...))
}

func (s *said) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// While a node streams its data away, the user sees it leaving.
func TestScaleReportsLeaving(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(4)
	bootstrap(t, cfg)
	l.ring.leaveLooks = 5
	p := &said{}
	cfg.Progress = p
	scaled(t, cfg, 3)
	for _, want := range []string{"decommissioning cass4", "cass4 is UL (up, leaving) in cass1's view", "cass4 has left the ring"} {
		if !strings.Contains(p.text(), want) {
			t.Errorf("progress lacks %q:\n%s", want, p.text())
		}
	}
}

func TestParseReplication(t *testing.T) {
	for in, want := range map[string]string{
		"SimpleStrategy {replication_factor=3}":                        "SimpleStrategy map[:3]",
		"NetworkTopologyStrategy {dc1=3, dc2=2}":                       "NetworkTopologyStrategy map[dc1:3 dc2:2]",
		"org.apache.cassandra.locator.NetworkTopologyStrategy {dc1=1}": "NetworkTopologyStrategy map[dc1:1]",
		"LocalStrategy {}": "LocalStrategy map[]",
	} {
		class, rfs, err := parseReplication(in)
		if got := fmt.Sprint(class, " ", rfs); err != nil || got != want {
			t.Errorf("%q: %s (%v), want %s", in, got, err, want)
		}
	}
	if _, _, err := parseReplication("NetworkTopologyStrategy {dc1=three}"); err == nil {
		t.Error("a factor that is not a number was read")
	}
}

// On real Cassandra 5.0.8 under Swarm nodetool decommission was cut off
// after the node had left (Swarm ended the task, whose health check fails
// once the node has left): the shrink goes on.
func TestScaleNodetoolCutOffAfterLeaving(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(4)
	bootstrap(t, cfg)
	l.ring.shutAfterLeave = true
	p := &said{}
	cfg.Progress = p
	scaled(t, cfg, 3)
	if tr := l.traces("cass4"); len(tr) > 0 || !strings.Contains(p.text(), "ended with an error, but cass4 has left every view") {
		t.Errorf("cass4 left %v; progress:\n%s", tr, p.text())
	}
}

// The shrink waits on the views, not on nodetool or the node's process:
// a node that has left every view is cleaned up while nodetool
// decommission has not returned (Cassandra announces its departure for
// the ring delay, then idles DECOMMISSIONED until something ends it).
func TestScaleDoesNotWaitForNodetool(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(4)
	bootstrap(t, cfg)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	l.ring.holdAfterLeave = hold
	p := &said{}
	cfg.Progress = p
	scaled(t, cfg, 3)
	if tr := l.traces("cass4"); len(tr) > 0 || !strings.Contains(p.text(), "cass4 has left the ring") {
		t.Errorf("cass4 left %v; progress:\n%s", tr, p.text())
	}
}
