package nodewait

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodetool/nodetooltest"
)

// swarm is the lab fixture running cluster "test" on three machines,
// and a waiter for it.
type swarm struct {
	w     *enginetest.World
	ring  *nodetooltest.Ring
	addrs map[string]string
	ids   map[string]string
	wait  *Waiter
}

func newSwarm(t *testing.T) *swarm {
	t.Helper()
	l := clustertest.New(t, 3).Running("test", 3)
	l.W.Logs = func(f *enginetest.Fake, c engine.Container, tail int) string { return "last line of " + c.Name }
	return &swarm{w: l.W, ring: l.Ring, addrs: l.Addrs, ids: l.HostIDs, wait: &Waiter{
		Manager: l.Swarm[0], Hosts: l.Hosts(), Network: clustertest.Network, Seeds: []string{"cass1", "cass2", "cass3"},
		Interval: time.Millisecond, Timeout: 200 * time.Millisecond,
	}}
}

func TestUN(t *testing.T) {
	ctx := context.Background()
	t.Run("ready", func(t *testing.T) {
		s := newSwarm(t)
		l, err := s.wait.UN(ctx, "cass2", 3, nil)
		if err != nil || !l.Ready || l.Address != s.addrs["cass2"] || l.HostID != s.ids["cass2"] || l.Host.Name() != "swarm-1" {
			t.Errorf("look %+v, %v", l, err)
		}
	})
	t.Run("own view prints no host ID", func(t *testing.T) {
		s := newSwarm(t)
		s.ring.BlankOwnHostID("cass2")
		l, err := s.wait.UN(ctx, "cass2", 3, nil)
		if err != nil || !l.Ready || l.HostID != s.ids["cass2"] {
			t.Errorf("look %+v, %v: want the host ID nodetool info says, %s", l, err, s.ids["cass2"])
		}
	})
	t.Run("joining in a seed's view", func(t *testing.T) {
		s := newSwarm(t)
		s.ring.SetView("cass1", "cass2", "UJ")
		_, err := s.wait.UN(ctx, "cass2", 3, nil)
		var ne *NodeError
		if !errors.As(err, &ne) || ne.Node != "cass2" || ne.Host != "swarm-1" || !strings.Contains(err.Error(), "gave up waiting") {
			t.Fatalf("err %v, want a NodeError for cass2 that gave up", err)
		}
		if !strings.Contains(ne.Logs, "last line of cass2") || !strings.Contains(ne.Nodetool, "UN  "+s.addrs["cass2"]) {
			t.Errorf("report lacks the logs or the last nodetool output:\n%s", err)
		}
	})
	t.Run("too few UN", func(t *testing.T) {
		s := newSwarm(t)
		s.ring.Set("cass3", s.addrs["cass3"], "DN")
		if _, err := s.wait.UN(ctx, "cass2", 3, nil); err == nil {
			t.Error("cass2 counted ready with cass3 down")
		}
		if _, err := s.wait.UN(ctx, "cass2", 2, nil); err != nil {
			t.Errorf("cass2 with 2 started: %v", err)
		}
	})
	t.Run("its task fails", func(t *testing.T) {
		s := newSwarm(t)
		if err := s.w.KillTask("cass2", "task: non-zero exit (137)"); err != nil {
			t.Fatal(err)
		}
		_, err := s.wait.UN(ctx, "cass2", 3, nil)
		if err == nil || !strings.Contains(err.Error(), "non-zero exit (137)") {
			t.Errorf("err %v, want the task's failure", err)
		}
	})
	const mountBusy = "starting container failed: error mounting secrets tmpfs: device or resource busy"
	t.Run("its task could not start once", func(t *testing.T) {
		// dockerd could not set up the container: the node never ran, and
		// Swarm's next task starts it.
		s := newSwarm(t)
		if err := s.w.KillTask("cass2", mountBusy); err != nil {
			t.Fatal(err)
		}
		tasks, err := s.wait.Manager.TaskList(ctx, "cass2")
		if err != nil || len(tasks) != 2 || tasks[0].State != "running" {
			t.Fatalf("tasks %+v, %v; want Swarm's next one running", tasks, err)
		}
		s.ring.Set("cass2", tasks[0].Addresses[clustertest.Network], "UN") // on its new address
		if l, err := s.wait.UN(ctx, "cass2", 3, nil); err != nil || !l.Ready {
			t.Errorf("look %+v, %v; want cass2 UN in Swarm's next task", l, err)
		}
	})
	t.Run("its tasks can never start", func(t *testing.T) {
		s := newSwarm(t)
		s.w.TaskState = func(spec engine.ServiceSpec, _ engine.Node) (string, string) {
			if spec.Name == "cass2" {
				return "failed", mountBusy
			}
			return "running", ""
		}
		if err := s.w.KillTask("cass2", mountBusy); err != nil {
			t.Fatal(err)
		}
		_, err := s.wait.UN(ctx, "cass2", 3, nil)
		if err == nil || !strings.Contains(err.Error(), "device or resource busy") || strings.Contains(err.Error(), "gave up waiting") {
			t.Errorf("err %v, want the start failure once %d tasks failed so", err, MaxStartFailures)
		}
		tasks, _ := s.wait.Manager.TaskList(ctx, "cass2")
		if n := len(tasks); n < MaxStartFailures {
			t.Errorf("%d tasks, want at least %d before the wait gives up", n, MaxStartFailures)
		}
	})
}

func TestFatal(t *testing.T) {
	start := func(id string) engine.Task {
		return engine.Task{ID: id, State: "failed", Err: "starting container failed: busy"}
	}
	died := engine.Task{ID: "d", State: "failed", Err: "task: non-zero exit (1)"}
	for _, tc := range []struct {
		name   string
		tasks  []engine.Task
		before map[string]bool
		want   string // the fatal task's ID, "" for none
	}{
		{"none failed", []engine.Task{{ID: "r", State: "running"}}, nil, ""},
		{"died", []engine.Task{{ID: "r", State: "running"}, died}, nil, "d"},
		{"died before the wait", []engine.Task{{ID: "r", State: "running"}, died}, map[string]bool{"d": true}, ""},
		{"two start failures", []engine.Task{{ID: "n", State: "pending"}, start("s2"), start("s1")}, nil, ""},
		{"three start failures", []engine.Task{start("s3"), start("s2"), start("s1")}, nil, "s1"},
		{"start failures before the wait do not count", []engine.Task{start("s3"), start("s2"), start("s1")}, map[string]bool{"s1": true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Fatal(tc.tasks, tc.before)
			if ok != (tc.want != "") || got.ID != tc.want {
				t.Errorf("Fatal = %q, %v; want %q", got.ID, ok, tc.want)
			}
		})
	}
	if err := newestFailed([]engine.Task{start("s2"), died}); err != nil {
		t.Errorf("a newest task that could not start is waited past, got %v", err)
	}
	if err := newestFailed([]engine.Task{died, start("s1")}); err == nil {
		t.Error("a newest task that died is not an error")
	}
}

func TestQuiet(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	if busy, err := s.wait.Quiet(ctx, "cass4"); err != nil || busy != "" {
		t.Errorf("quiet ring: %q, %v", busy, err)
	}
	for _, code := range []string{"UJ", "UL", "UM"} {
		s.ring.Set("cass3", s.addrs["cass3"], code)
		busy, err := s.wait.Quiet(ctx, "cass4")
		if err == nil || busy != " "+s.addrs["cass3"]+" is "+code+";" {
			t.Errorf("cass3 %s: busy %q, %v", code, busy, err)
		}
	}
}

func TestDownAndGone(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	addr := s.addrs["cass3"]
	if err := s.wait.Down(ctx, "cass3", addr); err == nil || !strings.Contains(err.Error(), "is UN") {
		t.Errorf("down while UN: %v", err)
	}
	s.ring.Set("cass3", addr, "DN")
	if err := s.wait.Down(ctx, "cass3", addr); err != nil {
		t.Errorf("down: %v", err)
	}
	all := []string{"cass1", "cass2", "cass3"}
	if err := s.wait.Gone(ctx, addr, "", all); err == nil || !strings.Contains(err.Error(), "cass1 lists "+addr+" as DN") {
		t.Errorf("gone while listed: %v", err)
	}
	s.ring.SetView("cass1", "cass3", "-")
	s.ring.SetView("cass2", "cass3", "-")
	if err := s.wait.Gone(ctx, "", s.ids["cass3"], all); err != nil {
		t.Errorf("gone from the views of the running nodes: %v", err)
	}
	s.ring.Remove("cass3")
	if err := s.wait.Gone(ctx, addr, "", all); err != nil {
		t.Errorf("gone: %v", err)
	}
}

// A node UN in its own view that does not see the seed's ring, or is not
// seen by it, founded a ring of its own: UN says so instead of waiting.
func TestUNSplitRing(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		hide           func(r *nodetooltest.Ring)
		nodeMissesPeer bool
		peerMissesNode bool
	}{
		{"neither sees the other", func(r *nodetooltest.Ring) {
			r.SetView("cass3", "cass1", "-")
			r.SetView("cass3", "cass2", "-")
			r.SetView("cass1", "cass3", "-")
		}, true, true},
		{"the seed does not see it", func(r *nodetooltest.Ring) { r.SetView("cass1", "cass3", "-") }, false, true},
		{"it does not see the seed", func(r *nodetooltest.Ring) { r.SetView("cass3", "cass1", "-") }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSwarm(t)
			tc.hide(s.ring)
			_, err := s.wait.UN(ctx, "cass3", 3, nil)
			var se *SplitError
			if !errors.As(err, &se) || se.Node != "cass3" || se.Peer != "cass1" || se.PeerAddr != s.addrs["cass1"] ||
				se.NodeMissesPeer != tc.nodeMissesPeer || se.PeerMissesNode != tc.peerMissesNode {
				t.Fatalf("err = %v (%+v), want a split of cass3 from cass1", err, se)
			}
			if strings.Contains(err.Error(), "gave up waiting") {
				t.Errorf("waited for the timeout: %v", err)
			}
			if tc.name == "neither sees the other" && (len(se.Unseen) != 1 || se.Unseen[0] != s.addrs["cass2"]) {
				t.Errorf("unseen %v, want cass2's address %s", se.Unseen, s.addrs["cass2"])
			}
			if !strings.Contains(err.Error(), "cass3 is UN in its own view, but cass3 and cass1 cannot see each other") {
				t.Errorf("message: %v", err)
			}
		})
	}
	t.Run("joining, not split", func(t *testing.T) {
		// A node not yet UN in its own view is still starting: no split.
		s := newSwarm(t)
		s.ring.SetView("cass3", "cass3", "UJ")
		s.ring.SetView("cass1", "cass3", "-")
		_, err := s.wait.UN(ctx, "cass3", 3, nil)
		var se *SplitError
		if errors.As(err, &se) || !strings.Contains(err.Error(), "gave up waiting") {
			t.Errorf("err = %v, want a timeout", err)
		}
	})
}

// The gate: while cass2's log does not show it NORMAL, nodetool runs in
// its container only at the first look (then once in gateEvery Intervals,
// 5 s here); once the line is there, the wait asks nodetool at once (the
// log is read every Interval/4) and ends, long before that.
func TestUNGate(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	s.wait.Interval, s.wait.Timeout = time.Second, time.Minute
	s.ring.Set("cass2", s.addrs["cass2"], "UJ")
	var mu sync.Mutex
	normal, runs := false, 0 // runs: nodetool in cass2's container
	exec := s.w.Exec
	s.w.Exec = func(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
		if strings.HasPrefix(c.Name, "cass2.") && cmd[0] == "nodetool" {
			mu.Lock()
			runs++
			mu.Unlock()
		}
		return exec(f, c, cmd)
	}
	s.w.Logs = func(f *enginetest.Fake, c engine.Container, tail int) string {
		mu.Lock()
		defer mu.Unlock()
		// Another node's NORMAL line does not count.
		logs := "INFO  [GossipStage:1] StorageService.java:3320 - Node /" + s.addrs["cass1"] + ":7000 state jump to NORMAL\n"
		if normal && strings.HasPrefix(c.Name, "cass2.") {
			logs += "INFO  [main] StorageService.java:3320 - Node /" + s.addrs["cass2"] + ":7000 state jump to NORMAL\n"
		}
		return logs
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.wait.UN(ctx, "cass2", 3, nil)
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond) // six log reads
	mu.Lock()
	before := runs
	s.ring.Set("cass2", s.addrs["cass2"], "UN")
	normal = true
	flipped := time.Now()
	mu.Unlock()
	if before != 1 {
		t.Errorf("nodetool ran %d times in cass2 before its NORMAL line, want once (the first look)", before)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(4 * time.Second):
		t.Fatalf("the wait did not end within 4 s of cass2's NORMAL line (the gate's own next nodetool is 5 s after the first)")
	}
	mu.Lock()
	defer mu.Unlock()
	if after := runs - before; after != 1 {
		t.Errorf("nodetool ran %d times in cass2 after its NORMAL line, want once", after)
	}
	t.Logf("the wait ended %s after cass2's NORMAL line", time.Since(flipped).Round(time.Millisecond))
}

func TestNormalLogged(t *testing.T) {
	logs := "INFO  [GossipStage:1] StorageService.java:3320 - Node /10.0.1.20:7000 state jump to NORMAL\n" +
		"INFO  [main] StorageService.java:3320 - Node /10.0.1.2:7000 state jump to NORMAL\n"
	for addr, want := range map[string]bool{"10.0.1.2": true, "10.0.1.20": true, "10.0.1.3": false, "10.0.1": false, "": false} {
		if got := normalLogged(logs, addr); got != want {
			t.Errorf("normalLogged(%s) = %v, want %v", addr, got, want)
		}
	}
}

// Once the gate lets a node through, its own view and the seeds' are asked
// side by side (on real Cassandra each nodetool is a JVM of about a
// second), and Quiet, asked right after for the next node, judges by the
// seed's view the node was found UN in instead of running nodetool again.
func TestUNAsksViewsTogetherAndQuietReusesTheSeeds(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	s.wait.Interval, s.wait.Timeout = time.Second, time.Minute
	var mu sync.Mutex
	inFlight, most, runs := 0, 0, 0
	both := make(chan struct{})
	var bothOnce sync.Once
	exec := s.w.Exec
	s.w.Exec = func(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
		if cmd[0] != "nodetool" {
			return exec(f, c, cmd)
		}
		mu.Lock()
		runs++
		inFlight++
		most = max(most, inFlight)
		if inFlight == 2 {
			bothOnce.Do(func() { close(both) })
		}
		mu.Unlock()
		// Hold each run until a second one is in flight: runs one after
		// another wait here the whole time, and most stays 1.
		select {
		case <-both:
		case <-time.After(5 * time.Second):
		}
		res, err := exec(f, c, cmd)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return res, err
	}
	if l, err := s.wait.UN(ctx, "cass2", 3, nil); err != nil || !l.Ready {
		t.Fatalf("look %+v, %v", l, err)
	}
	mu.Lock()
	if most < 2 {
		t.Errorf("at most %d nodetool ran at once, want cass2's own view and a seed's side by side", most)
	}
	before := runs
	mu.Unlock()
	if busy, err := s.wait.Quiet(ctx, "cass4"); err != nil || busy != "" {
		t.Fatalf("quiet: %q, %v", busy, err)
	}
	mu.Lock()
	if runs != before {
		t.Errorf("Quiet right after UN ran nodetool %d times, want none (the seed's view was just read)", runs-before)
	}
	mu.Unlock()
	if _, err := s.wait.Quiet(ctx, "cass4"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != before+1 {
		t.Errorf("a second Quiet ran nodetool %d times, want once: the view is handed out once", runs-before)
	}
}

// The first seed of a ring, UN with no other seed running: its own view is
// the ring's, and Quiet before the next node takes it.
func TestQuietReusesTheFirstSeedsOwnView(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	s.wait.Seeds, s.wait.Interval, s.wait.Timeout = []string{"cass2"}, time.Second, time.Minute
	var mu sync.Mutex
	runs := 0
	exec := s.w.Exec
	s.w.Exec = func(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
		if cmd[0] == "nodetool" {
			mu.Lock()
			runs++
			mu.Unlock()
		}
		return exec(f, c, cmd)
	}
	if l, err := s.wait.UN(ctx, "cass2", 3, nil); err != nil || !l.Ready {
		t.Fatalf("look %+v, %v", l, err)
	}
	mu.Lock()
	before := runs
	mu.Unlock()
	if busy, err := s.wait.Quiet(ctx, "cass4"); err != nil || busy != "" {
		t.Fatalf("quiet: %q, %v", busy, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != before {
		t.Errorf("Quiet after the first seed was UN ran nodetool %d times, want none", runs-before)
	}
}
