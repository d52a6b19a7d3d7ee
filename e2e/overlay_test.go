package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
)

// block drops (or, with on false, stops dropping) VXLAN, the overlay's
// traffic (4789/udp), arriving at lab machine name: a firewall rule inside
// that Docker-in-Docker machine, as a host firewall without Swarm's ports.
func (e *env) block(name string, on bool) {
	e.t.Helper()
	op := "-I"
	if !on {
		op = "-D"
	}
	out, err := exec.Command("docker", "exec", e.lab+"-"+name, "iptables", op, "INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP").CombinedOutput()
	if err != nil {
		e.t.Fatalf("iptables %s in %s: %v\n%s", op, name, err, out)
	}
}

// TestIntegrationOverlayBlocked: a lab machine whose firewall drops the
// overlay's traffic. Blocked before the run, bootstrap fails at the overlay
// check in seconds, naming the host and the ports, and starts no node.
// Blocked right after cass1 started, bootstrap stops at cass2, says the
// hosts cannot reach each other, and leaves no second ring running. With
// the rule gone a re-run makes one healthy ring; blocked again, ring says
// the nodes cannot reach each other and what to open.
func TestIntegrationOverlayBlocked(t *testing.T) {
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	blocked := false
	setBlock := func(on bool) {
		if on != blocked {
			e.block("swarm-1", on)
			blocked = on
		}
	}
	t.Cleanup(func() { setBlock(false) })

	// 1. Blocked before the run: the overlay check fails, no node starts.
	setBlock(true)
	r := e.run(e.bootstrapArgs(2)...)
	t.Logf("blocked bootstrap: exit %d after %s\n%s", r.code, r.duration.Round(100*time.Millisecond), r.out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{"Overlay check", "does not carry traffic between the swarm hosts", "swarm-1", "7946/tcp", "4789/udp", "no node was started"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Seconds, not a node timeout (3m here): nothing waited for a node.
	if r.duration > 2*time.Minute {
		t.Errorf("the blocked run took %s", r.duration)
	}
	manager := e.machine("swarm-0")
	if svcs, err := manager.ServiceList(ctx, engine.Labels{engine.LabelCluster: "e2e", engine.LabelRole: engine.RoleCassandra}); err != nil || len(svcs) > 0 {
		t.Errorf("services %v (%v): want no node started", svcs, err)
	}
	e.requireNoProbes(ctx)

	// 2. Blocked right after cass1 is UN, before cass2 reaches it: the run
	// stops at cass2 and explains; cass2 never becomes a ring of its own.
	// Its seed wait is cut to 10 s so that it gives up soon.
	setBlock(false)
	// One at a time, so that cass2 starts only after the block: a new
	// cluster otherwise starts both nodes together.
	p := e.start(ctx, append(e.bootstrapArgs(2, "SWARMCASS_WAIT_SECONDS=10"), "--one-at-a-time")...)
	if err := p.waitOutput(ctx, "cass1 is UN"); err != nil {
		t.Fatalf("%v\n%s", err, p.output())
	}
	setBlock(true)
	r, err := p.wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bootstrap blocked after cass1: exit %d after %s\n%s", r.code, r.duration.Round(100*time.Millisecond), r.out)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{"node cass2 on swarm-1", "cannot reach", "4789/udp", "7946/tcp"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	e.requireOneRing(ctx, "cass1")
	e.requireNoProbes(ctx)

	// 3. The rule gone, a re-run joins cass2 into the one ring.
	setBlock(false)
	r = e.must(e.bootstrapArgs(2)...)
	t.Logf("re-run with the network fixed: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireRing(ctx, 2)
	e.requireNoProbes(ctx)
	if r := e.run("ring", "--cluster", "e2e"); r.code != 0 {
		t.Fatalf("ring: exit %d\n%s", r.code, r.out)
	}

	// 4. Blocked again on the running ring: ring says the nodes cannot
	// reach each other (once gossip has marked them down), and what to open.
	setBlock(true)
	var last result
	deadline := time.Now().Add(2 * time.Minute)
	for {
		last = e.run("ring", "--cluster", "e2e")
		if last.code == 1 && strings.Contains(last.out, "cass1 and cass2 cannot reach each other") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ring never explained the partition; last: exit %d\n%s", last.code, last.out)
		}
		time.Sleep(time.Second)
	}
	t.Logf("ring while blocked:\n%s", last.out)
	for _, want := range []string{"only a network partition explains", "hint: the overlay network between the swarm hosts (swarm-0, swarm-1)", "4789/udp"} {
		if !strings.Contains(last.out, want) {
			t.Errorf("ring output lacks %q", want)
		}
	}
}

// requireNoProbes: no overlay check probe is left on a swarm machine.
func (e *env) requireNoProbes(ctx context.Context) {
	e.t.Helper()
	for _, m := range e.swarmMachines() {
		cs, err := m.ContainerList(ctx, engine.Labels{engine.LabelRole: engine.RoleProbe})
		if err != nil || len(cs) > 0 {
			e.t.Errorf("probes on %s: %v (%v)", m.Name(), cs, err)
		}
	}
}

// requireOneRing: of the running node containers, only the named node's
// daemon is a ring (UN in its own view); any other answers no nodetool
// status with itself UN, so no second ring runs.
func (e *env) requireOneRing(ctx context.Context, only string) {
	e.t.Helper()
	for _, n := range e.nodes(ctx) {
		res, err := n.machine.Exec(ctx, n.id, []string{"nodetool", "status"})
		if err != nil || res.ExitCode != 0 {
			continue // no daemon: no ring
		}
		st, err := nodetool.ParseStatus(res.Stdout)
		if err != nil {
			e.t.Fatalf("%s: %v\n%s", n.node, err, res.Stdout)
		}
		if n.node != only && st.CountUN() > 0 {
			e.t.Errorf("%s runs a ring of its own:\n%s", n.node, res.Stdout)
		}
	}
}
