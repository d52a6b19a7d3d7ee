package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// infoLines keeps what an operation reports with Infof.
type infoLines struct {
	op.Silent
	lines []string
}

func (p *infoLines) Infof(format string, args ...any) {
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

func TestChooseStart(t *testing.T) {
	svc := map[string]engine.Service{"cass1": {Name: "cass1"}}
	for _, c := range []struct {
		name     string
		cfg      Config
		existing map[string]engine.Service
		volumes  []string
		together bool
		why      string
	}{
		{"brand-new", Config{Nodes: 3}, nil, nil, true, "all 3 nodes at once"},
		{"brand-new, one node", Config{Nodes: 1}, nil, nil, true, "all 1 nodes at once"},
		{"--one-at-a-time", Config{Nodes: 3, OneAtATime: true}, nil, nil, false, "--one-at-a-time"},
		{"a node service exists", Config{Nodes: 3}, svc, nil, false, "has 1 node services"},
		// The refusal: a volume means data, and a node given tokens
		// without bootstrapping would take ranges without their data.
		{"a volume exists", Config{Nodes: 3}, nil, []string{"cass2-data on swarm-1"}, false, "has data (volumes cass2-data on swarm-1)"},
		{"the user's own tokens", Config{Nodes: 3, NodeEnv: []string{"CASSANDRA_INITIAL_TOKENS=0"}}, nil, nil, false, "CASSANDRA_INITIAL_TOKENS"},
	} {
		got := chooseStart(c.cfg, c.existing, c.volumes)
		if got.together != c.together || !strings.Contains(got.why, c.why) {
			t.Errorf("%s: %+v, want together %t, why containing %q", c.name, got, c.together, c.why)
		}
	}
}

func env(t *testing.T, l *lab, node string) []string {
	t.Helper()
	s, err := l.swarm[0].ServiceInspect(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec.Env
}

func TestBootstrapTogether(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(5)
	cfg.OneAtATime = false
	// cass1 goes first, the others as soon as Swarm gave it its address:
	// all five exist before any is looked at.
	servicesAtLook := map[string]int{}
	l.ring.onLook = func(node string) {
		if _, ok := servicesAtLook[node]; !ok {
			for _, e := range l.w.Log() {
				if strings.Contains(e, ": ServiceCreate cass") {
					servicesAtLook[node]++
				}
			}
		}
	}
	res := bootstrap(t, cfg)
	for node, want := range map[string]int{"cass1": 5, "cass2": 5, "cass3": 5, "cass4": 5, "cass5": 5} {
		if servicesAtLook[node] != want {
			t.Errorf("%d node services existed when %s was first looked at, want %d", servicesAtLook[node], node, want)
		}
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes bootstrapped beside a joining one: %v", l.ring.concurrent)
	}
	planned, _ := BalancedTokens(5, DefaultNumTokens)
	ids := map[string]bool{}
	for k := 1; k <= 5; k++ {
		e := env(t, l, nodeName(k))
		want := []string{"CASSANDRA_INITIAL_TOKENS=" + TokenList(planned[k-1]), "CASSANDRA_NUM_TOKENS=16", "CASSANDRA_AUTO_BOOTSTRAP=false"}
		if k > 1 { // the others wait for cass1 by its address (DNS lists it only once healthy)
			want = append(want, "SWARMCASS_WAIT_FOR="+res.Nodes[0].Address+",cass1,cass2,cass3")
		}
		for _, w := range want {
			if !slices.Contains(e, w) {
				t.Errorf("cass%d: env %v lacks %s", k, e, w)
			}
		}
		if k == 1 && slices.ContainsFunc(e, func(kv string) bool { return strings.HasPrefix(kv, "SWARMCASS_WAIT_FOR=") }) {
			t.Errorf("cass1 waits for a seed although none runs: %v", e)
		}
		n := res.Nodes[k-1]
		if n.State != "UN" || n.HostID == "" || ids[n.HostID] || !n.Created || n.ReadySeconds <= 0 {
			t.Errorf("node %+v: want UN, created, with its own host ID", n)
		}
		ids[n.HostID] = true
		if l.kv("swarmcass/test/nodes/"+n.Name) == "" {
			t.Errorf("%s not recorded", n.Name)
		}
	}

	// A re-run finds the services: nothing to do, one at a time.
	before := len(l.w.Log())
	again := bootstrap(t, cfg)
	for _, e := range l.w.Log()[before:] {
		if strings.Contains(e, "Service") || strings.Contains(e, "Volume") {
			t.Errorf("re-run did %s", e)
		}
	}
	if len(again.Created) != 0 {
		t.Errorf("re-run created %v", again.Created)
	}
	// Growth is one at a time, bootstrapping, without planned tokens.
	cfg.Nodes = 6
	bootstrap(t, cfg)
	for _, kv := range env(t, l, "cass6") {
		if strings.HasPrefix(kv, "CASSANDRA_INITIAL_TOKENS=") || strings.HasPrefix(kv, "CASSANDRA_AUTO_BOOTSTRAP=") {
			t.Errorf("cass6, added to a running cluster, has %s", kv)
		}
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes bootstrapped beside a joining one: %v", l.ring.concurrent)
	}
}

func TestTogetherRefusedWithData(t *testing.T) {
	l := newLab(t, 3)
	// A volume of the cluster is left from before (its services removed):
	// the nodes join one at a time, bootstrapping, none given tokens.
	labels := engine.Labels{engine.LabelCluster: "test", engine.LabelRole: engine.RoleCassandra, engine.LabelNode: "cass2"}
	if err := l.swarm[1].VolumeCreate(context.Background(), "cass2-data", labels); err != nil {
		t.Fatal(err)
	}
	cfg := l.config(3)
	cfg.OneAtATime = false
	p := &infoLines{}
	cfg.Progress = p
	bootstrap(t, cfg)
	lines := p.lines
	for k := 1; k <= 3; k++ {
		for _, kv := range env(t, l, nodeName(k)) {
			if strings.HasPrefix(kv, "CASSANDRA_INITIAL_TOKENS=") || strings.HasPrefix(kv, "CASSANDRA_AUTO_BOOTSTRAP=") {
				t.Errorf("cass%d on a cluster with data has %s", k, kv)
			}
		}
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes bootstrapped beside a joining one: %v", l.ring.concurrent)
	}
	if !slices.ContainsFunc(lines, func(s string) bool { return strings.Contains(s, "has data (volumes cass2-data on swarm-1)") }) {
		t.Errorf("no word of the data in:\n%s", strings.Join(lines, "\n"))
	}
}

func TestTogetherWrongTokens(t *testing.T) {
	l := newLab(t, 3)
	l.ring.SetTokens("cass2", "7")
	cfg := l.config(3)
	cfg.OneAtATime = false
	_, err := Bootstrap(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "node cass2 runs with tokens 7, not the planned") {
		t.Fatalf("err %v, want cass2's tokens refused", err)
	}
}

func TestFirstNodeOfNewClusterTakesTokens(t *testing.T) {
	// One at a time, a brand-new cluster's first node is given its tokens,
	// so that Cassandra does not wait the ring delay to allocate them
	// alone; later nodes allocate their own while bootstrapping.
	l := newLab(t, 3)
	bootstrap(t, l.config(2))
	planned, _ := BalancedTokens(1, DefaultNumTokens)
	if !slices.Contains(env(t, l, "cass1"), "CASSANDRA_INITIAL_TOKENS="+TokenList(planned[0])) {
		t.Errorf("cass1: env %v lacks its tokens", env(t, l, "cass1"))
	}
	for _, kv := range env(t, l, "cass2") {
		if strings.HasPrefix(kv, "CASSANDRA_INITIAL_TOKENS=") || strings.HasPrefix(kv, "CASSANDRA_AUTO_BOOTSTRAP=") {
			t.Errorf("cass2 has %s", kv)
		}
	}
}

func TestUniqueHostID(t *testing.T) {
	a := NodeResult{}
	a.Name, a.HostID = "cass1", "AB"
	b := NodeResult{}
	b.Name, b.HostID = "cass2", "ab"
	if err := uniqueHostID([]NodeResult{a, b}); err == nil || !strings.Contains(err.Error(), "cass1 and cass2") {
		t.Errorf("err %v", err)
	}
	b.HostID = "cd"
	if err := uniqueHostID([]NodeResult{a, b}); err != nil {
		t.Error(err)
	}
}

func TestRestartTogether(t *testing.T) {
	// After the node services are removed (swarmcass down keeps the
	// volumes), a re-run starts cass1 alone, then the other nodes that
	// bootstrapped before all together; a new node still joins alone.
	l := newLab(t, 3)
	bootstrap(t, l.config(3))
	for k := 1; k <= 3; k++ {
		if err := l.swarm[0].ServiceRemove(context.Background(), nodeName(k)); err != nil {
			t.Fatal(err)
		}
	}
	servicesAtLook := map[string]int{}
	before := len(l.w.Log())
	l.ring.onLook = func(node string) {
		if _, ok := servicesAtLook[node]; !ok {
			for _, e := range l.w.Log()[before:] {
				if strings.Contains(e, ": ServiceCreate cass") {
					servicesAtLook[node]++
				}
			}
		}
	}
	cfg := l.config(4)
	p := &infoLines{}
	cfg.Progress = p
	res := bootstrap(t, cfg)
	for node, want := range map[string]int{"cass1": 1, "cass2": 3, "cass3": 3, "cass4": 4} {
		if servicesAtLook[node] != want {
			t.Errorf("%d node services existed when %s was first looked at, want %d", servicesAtLook[node], node, want)
		}
	}
	if !slices.ContainsFunc(p.lines, func(s string) bool { return strings.Contains(s, "restarting cass2, cass3 together") }) {
		t.Errorf("no word of the restart together in:\n%s", strings.Join(p.lines, "\n"))
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes bootstrapped beside a joining one: %v", l.ring.concurrent)
	}
	for _, n := range res.Nodes {
		if n.State != "UN" {
			t.Errorf("node %+v not UN", n)
		}
	}
}

func TestReturningNodeWaitsForRunningSeeds(t *testing.T) {
	// cass1 and cass3 lost their services while cass2, a seed, ran on. A
	// returning node that cannot resolve a running seed yet (a host that
	// has just rejoined the overlay) would gossip apart from the ring, so
	// each is told to wait for the seeds that run: cass1, walked first,
	// for cass2 (by name: this run has not seen it UN yet); cass3,
	// restarted once cass1 and cass2 were seen UN, for both, by the
	// addresses they were seen at first.
	l := newLab(t, 3)
	first := bootstrap(t, l.config(3))
	for _, name := range []string{"cass1", "cass3"} {
		if err := l.swarm[0].ServiceRemove(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	res := bootstrap(t, l.config(3))
	addr := map[string]string{}
	for _, n := range res.Nodes {
		addr[n.Name] = n.Address
	}
	for name, want := range map[string]string{
		"cass1": "SWARMCASS_WAIT_FOR=cass2",
		"cass2": "SWARMCASS_WAIT_FOR=" + first.Nodes[0].Address + ",cass1", // its service is the first run's
		"cass3": "SWARMCASS_WAIT_FOR=" + addr["cass1"] + "," + addr["cass2"] + ",cass1,cass2",
	} {
		s, err := l.swarm[0].ServiceInspect(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.DeleteFunc(slices.Clone(s.Spec.Env), func(kv string) bool { return !strings.HasPrefix(kv, "SWARMCASS_WAIT_FOR=") }); !slices.Equal(got, []string{want}) {
			t.Errorf("%s waits for %v, want %s", name, got, want)
		}
	}
}

func TestNoRestartTogetherWithoutRecord(t *testing.T) {
	// Volumes alone, without a host ID in the record, do not make nodes
	// that bootstrapped before: they join one at a time.
	l := newLab(t, 3)
	labels := func(n string) engine.Labels {
		return engine.Labels{engine.LabelCluster: "test", engine.LabelRole: engine.RoleCassandra, engine.LabelNode: n}
	}
	for k := 1; k <= 3; k++ {
		if err := l.swarm[k-1].VolumeCreate(context.Background(), nodeName(k)+"-data", labels(nodeName(k))); err != nil {
			t.Fatal(err)
		}
	}
	p := &infoLines{}
	cfg := l.config(3)
	cfg.Progress = p
	bootstrap(t, cfg)
	if slices.ContainsFunc(p.lines, func(s string) bool { return strings.Contains(s, "together") }) {
		t.Errorf("nodes never recorded were restarted together:\n%s", strings.Join(p.lines, "\n"))
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes bootstrapped beside a joining one: %v", l.ring.concurrent)
	}
}

// Nodes started together are UN at about the same moment, and real
// Cassandra opens its CQL port seconds after NORMAL: the Nodes step ends
// only once each node's published CQL port answers (cass3's refuses three
// times first), before the Authentication step logs in through cqlsh.
func TestTogetherWaitsForCQL(t *testing.T) {
	l := newLab(t, 3)
	addr := l.swarm[2].Addr() + ":9042"
	l.remote.refuse[addr] = 3
	res := bootstrap(t, l.config(3))
	if left := l.remote.refuse[addr]; left != 0 {
		t.Errorf("bootstrap ended with cass3's CQL port refusing %d more times", left)
	}
	if res.Nodes[2].CQL != addr {
		t.Errorf("cass3 publishes CQL at %s, want %s", res.Nodes[2].CQL, addr)
	}
}

// A new cluster with authentication on, started all at once or one at a
// time, gives every node the role manager's short setup delay (the
// superuser is made through the default role as soon as the last node has
// made it again); with --auth=false, or a node that joins later, none.
func TestTogetherSuperuserSetupDelay(t *testing.T) {
	const want = "CASSANDRA_SUPERUSER_SETUP_DELAY_MS=1000"
	for _, oneAtATime := range []bool{false, true} {
		l := newLab(t, 3)
		cfg := l.config(3)
		cfg.OneAtATime = oneAtATime
		bootstrap(t, cfg)
		for _, n := range []string{"cass1", "cass2", "cass3"} {
			if !slices.Contains(l.ring.env(n), want) {
				t.Errorf("one at a time %t: %s's env %q lacks %s", oneAtATime, n, l.ring.env(n), want)
			}
		}
		cfg.Nodes = 4
		bootstrap(t, cfg) // cass4 joins the ring
		if env := l.ring.env("cass4"); slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "CASSANDRA_SUPERUSER_SETUP_DELAY_MS=") }) {
			t.Errorf("one at a time %t: cass4, which joined later, has %q", oneAtATime, env)
		}
	}

	l := newLab(t, 3)
	cfg := l.config(3)
	cfg.OneAtATime, cfg.NoAuth = false, true
	bootstrap(t, cfg)
	if env := l.ring.env("cass1"); slices.Contains(env, want) {
		t.Errorf("with --auth=false cass1 has %q", env)
	}
}
