package nodewait

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

func TestAllUN(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	looks, err := s.wait.AllUN(ctx, []string{"cass1", "cass2", "cass3"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		if l := looks[n]; !l.Ready || l.Address != s.addrs[n] || l.HostID != s.ids[n] {
			t.Errorf("%s: %+v, want ready at %s with host ID %s", n, l, s.addrs[n], s.ids[n])
		}
	}

	// One still joining: the wait ends at the timeout with a node report
	// (the first node not ready: with cass2 UJ no view counts 3 UN), and
	// cass2's last look says why.
	s = newSwarm(t)
	s.ring.Set("cass2", s.addrs["cass2"], "UJ")
	looks, err = s.wait.AllUN(ctx, []string{"cass1", "cass2", "cass3"}, 3)
	var ne *NodeError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("err = %v, want a node report at the timeout", err)
	}
	if l := looks["cass2"]; l.Ready || !strings.Contains(l.Why, "is UJ") {
		t.Errorf("cass2's last look %+v, want not ready, UJ", l)
	}

	// A node in a ring of its own fails the wait at once, as UN does.
	s = newSwarm(t)
	s.ring.SetView("cass3", "cass1", "-")
	s.ring.SetView("cass3", "cass2", "-")
	s.ring.SetView("cass1", "cass3", "-")
	_, err = s.wait.AllUN(ctx, []string{"cass1", "cass2", "cass3"}, 2)
	var se *SplitError
	if !errors.As(err, &se) || se.Node != "cass3" || strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("err = %v, want cass3's split", err)
	}
}

func TestAddressAndListed(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	addr, err := s.wait.Address(ctx, "cass2")
	if err != nil || addr != s.addrs["cass2"] {
		t.Errorf("Address = %q, %v; want %s", addr, err, s.addrs["cass2"])
	}
	if err := s.wait.Listed(ctx, "cass2"); err != nil {
		t.Errorf("Listed: %v", err)
	}
	if _, err := s.wait.Address(ctx, "cass9"); err == nil {
		t.Error("Address of a node without a service: no error")
	}
}

// Nodes started together log NORMAL at different moments, so the gate lets
// each through at its own times; the wait still ends soon after the last.
func TestAllUNGateStaggered(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	s.wait.Interval, s.wait.Timeout = 400*time.Millisecond, 30*time.Second
	nodes := []string{"cass1", "cass2", "cass3"}
	var mu sync.Mutex
	normal := map[string]bool{}
	for _, n := range nodes {
		s.ring.Set(n, s.addrs[n], "UJ")
	}
	s.w.Logs = func(f *enginetest.Fake, c engine.Container, tail int) string {
		mu.Lock()
		defer mu.Unlock()
		var logs string
		for _, n := range nodes {
			if normal[n] && strings.HasPrefix(c.Name, n+".") {
				logs += "INFO  [main] StorageService.java:3320 - Node /" + s.addrs[n] + ":7000 state jump to NORMAL\n"
			}
		}
		return logs
	}
	var last time.Time
	go func() {
		for _, n := range nodes {
			time.Sleep(450 * time.Millisecond) // out of step with the gate's Interval
			mu.Lock()
			s.ring.Set(n, s.addrs[n], "UN")
			normal[n] = true
			last = time.Now()
			mu.Unlock()
		}
	}()
	if _, err := s.wait.AllUN(ctx, nodes, 3); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Within an Interval or two of the last NORMAL line, well before the
	// gate's own fallback (gateEvery Intervals, 2 s).
	if took := time.Since(last); last.IsZero() || took > 1500*time.Millisecond {
		t.Errorf("the wait ended %s after the last node's NORMAL line, want within 1.5 s", took)
	}
}

// A round in which the gate lets one waited node through asks every view:
// a node's look needs the seeds' views, and nodes started together are each
// other's seeds. When it asked only the views of the nodes let through, two
// nodes let through in alternate rounds (each once an Interval, from its own
// NORMAL line) never had both views in one round, and a warm lab's wait for
// 3 nodes started together ran to its timeout.
func TestRoundAsksEveryViewOnceOnePasses(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	s.wait.Interval = time.Minute
	nodes := []string{"cass1", "cass2", "cass3"}
	g := s.wait.newGate()
	ids := map[string]string{}
	for _, n := range nodes {
		tasks, err := s.wait.Manager.TaskList(ctx, n)
		if err != nil || len(tasks) == 0 {
			t.Fatal(tasks, err)
		}
		ids[n] = tasks[0].ContainerID
		g.seen[ids[n]] = true
		g.asked[ids[n]] = time.Now() // asked just now: held for an Interval
	}
	if r := s.wait.newRound(ctx, nodes, g, nodes); len(r.views) != 3 || r.views[ids["cass2"]].gated == "" {
		t.Fatalf("views %+v, want all three held by the gate", r.views)
	}
	g.asked[ids["cass1"]] = time.Time{} // cass1's turn
	r := s.wait.newRound(ctx, nodes, g, nodes)
	for _, n := range nodes {
		if v := r.views[ids[n]]; v.gated != "" || v.status == nil {
			t.Errorf("%s's view %+v, want asked: cass1 went through", n, v)
		}
	}
}
