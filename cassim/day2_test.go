package cassim

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// slowDetector makes a node's failure detector too slow to matter within
// waitLimit, so that a peer seen down in time was marked down by the
// shutdown it announced, not by silence.
func slowDetector(c *Config) { c.Timings.DownAfter = 10 * time.Minute }

// ring3 starts a ring of nodes 1 (seed), 2 and 3, all UN on node 1.
func ringOf3(t *testing.T, l *lab, edit func(*Config)) (nodes [3]*running, dirs [3]string) {
	t.Helper()
	for i := range 3 {
		dirs[i] = t.TempDir()
		var seeds []int
		if i > 0 {
			seeds = []int{1}
		}
		nodes[i] = l.start(i+1, dirs[i], edit, seeds...)
		nodes[i].waitLog(t, "Starting listening for CQL clients")
		var want []string
		for j := range i + 1 {
			want = append(want, "UN "+l.ip(j+1))
		}
		l.waitStatus(1, want...) // the seed knows it is NORMAL before the next one joins
	}
	return nodes, dirs
}

func (r *running) identity() (string, []int64) {
	r.node.mu.Lock()
	defer r.node.mu.Unlock()
	return r.node.id.HostID, append([]int64(nil), r.node.id.Tokens...)
}

// badUse is what nodetool prints for an unsupported operation.
func badUse(msg string) string {
	return "nodetool: Unsupported operation: " + msg + "\nSee 'nodetool help' or 'nodetool help <command>'.\n"
}

func TestDecommissionAloneIsPointless(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	a := l.start(1, t.TempDir(), nil)
	a.waitLog(t, "Starting listening for CQL clients")
	for _, args := range [][]string{{"decommission"}, {"decommission", "--force"}} {
		if out, code := l.nodetool(1, args...); code != 1 || out != badUse(MsgDecommissionAlone) {
			t.Errorf("%v (%d): %q", args, code, out)
		}
	}
	if out, _ := l.nodetool(1, "netstats"); !strings.HasPrefix(out, "Mode: NORMAL\n") {
		t.Errorf("netstats: %q", out)
	}
}

// TestDecommission: the replication check (system keyspaces and user
// keyspaces, user ones named first), --force, UL while the node streams
// a load that takes its time, LEFT, and a decommissioned node that stays
// up and refuses to rejoin on its data.
func TestDecommission(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	// Node 3 streams 600 KiB at 1 MiB/s, at least 0.6 s, and then stays
	// LEAVING (UL) until the test has looked at it there.
	nodes, dirs := ringOf3(t, l, func(c *Config) { c.Timings.StreamBytesPerSecond = 1 << 20 })
	hold := nodes[2].holdStreams()
	setLoad(nodes[2], 600<<10)
	// A stock 3-node ring refuses: system_distributed has RF 3 (N <= RF).
	if out, code := l.nodetool(3, "decommission"); code != 1 || out != badUse(MsgNotEnoughReplicas("system_distributed", 3, 3)) {
		t.Errorf("decommission (%d): %q", code, out)
	}
	if out, _ := l.nodetool(3, "netstats"); !strings.HasPrefix(out, "Mode: DECOMMISSION_FAILED\n") {
		t.Errorf("netstats after the refusal: %q", out)
	}
	nodes[2].waitLog(t, "Error while decommissioning node: "+MsgNotEnoughReplicas("system_distributed", 3, 3))
	// A user keyspace is checked first.
	cl := dialCQL(t, l.ip(2)+":9042")
	cl.startup()
	if f := cl.query("CREATE KEYSPACE ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}", 0, nil); f.op != opResult {
		t.Fatalf("CREATE KEYSPACE: %s", describeResponse(f.op, f.body))
	}
	waitFor(t, "node 3 learns ks3", func() bool { return nodes[2].node.hasKeyspace("ks3") })
	if out, code := l.nodetool(3, "decommission"); code != 1 || out != badUse(MsgNotEnoughReplicas("ks3", 3, 3)) {
		t.Errorf("decommission with ks3 (%d): %q", code, out)
	}

	done := make(chan string, 1)
	// While it announces that it has left, CQL still answers and
	// system.local says NEEDS_BOOTSTRAP, so the image's health check
	// (Probe: CQL and COMPLETED) fails, as on Cassandra 5.0: probed
	// throughout the decommission.
	probed := make(chan bool, 1)
	go func() {
		for {
			_, err := Probe(l.ip(3)+":9042", 3*time.Second)
			if err != nil && strings.Contains(err.Error(), "bootstrapped=[NEEDS_BOOTSTRAP") {
				probed <- true
				return
			}
			if len(done) > 0 {
				probed <- false
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	go func() {
		out, code := l.nodetool(3, "decommission", "--force")
		done <- fmt.Sprintf("%s exit %d", strings.TrimSpace(out), code)
	}()
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UL "+l.ip(3))
	if out, code := l.nodetool(3, "decommission"); code != 1 || out != badUse(MsgStillDecommissining) {
		t.Errorf("a second decommission (%d): %q", code, out)
	}
	if out, _ := l.nodetool(3, "info"); !strings.Contains(out, "Decommissioning        : true\n") {
		t.Errorf("info while leaving:\n%s", out)
	}
	close(hold)
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2))
	l.waitStatus(2, "UN "+l.ip(1), "UN "+l.ip(2))
	got := <-done
	if got != " exit 0" {
		t.Errorf("decommission --force: %q", got)
	}
	done <- got // for the prober, which stops once it is there
	if !<-probed {
		t.Errorf("the health probe never saw CQL answer with bootstrapped NEEDS_BOOTSTRAP while the node announced its departure")
	}
	out := nodes[2].out.String()
	for _, line := range []string{"LEAVING: sleeping 1000 ms for batch processing and pending range setup",
		"LEAVING: replaying batch log and streaming data to other nodes", "Announcing that I have left the ring for 1000ms", "- DECOMMISSIONED\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("no %q in the log", line)
		}
	}
	// After the announcement gossip stops without announcing a shutdown
	// (the node is LEFT), then DECOMMISSIONED: 5.0.8's own sequence.
	announce := strings.Index(out, "Announcing that I have left the ring")
	silent := strings.Index(out, "No local state, state is in silent shutdown, or node hasn't joined, not announcing shutdown")
	if decom := strings.Index(out, "- DECOMMISSIONED\n"); !(announce >= 0 && announce < silent && silent < decom) {
		t.Errorf("want the announcement, gossip's silent stop, then DECOMMISSIONED, in that order:\n%s", out)
	}
	// Streaming took at least load / throughput (and the gossip rounds
	// around it saw UL, above).
	if d := logGap(t, out, "streaming data to other nodes", "streaming hints to other nodes"); d < 550*time.Millisecond {
		t.Errorf("streaming 600 KiB at 1 MiB/s took %s", d)
	}

	// The process stays up, decommissioned.
	for cmd, want := range map[string]string{"netstats": "Mode: DECOMMISSIONED\n", "decommission": MsgAlreadyDecom + "\n",
		"statusgossip": "not running\n", "statusbinary": "not running\n"} {
		if out, code := l.nodetool(3, cmd); code != 0 || !strings.HasPrefix(out, want) {
			t.Errorf("%s after decommission (%d): %q", cmd, code, out)
		}
	}
	if out, _ := l.nodetool(3, "info"); !strings.Contains(out, "Bootstrap state        : DECOMMISSIONED\n") ||
		!strings.Contains(out, "Token                  : (node is not joined to the cluster)\n") || !strings.Contains(out, "Generation No          : 0\n") {
		t.Errorf("info after decommission:\n%s", out)
	}
	if out, code := l.nodetool(3, "describecluster"); code != 2 || !strings.Contains(out, "error: event executor terminated") {
		t.Errorf("describecluster after decommission (%d): %q", code, out)
	}
	if out, _ := l.nodetool(3, "status"); strings.Contains(out, l.ip(3)) || !strings.Contains(out, "UN  "+l.ip(1)) {
		t.Errorf("status on the decommissioned node:\n%s", out)
	}
	if err := nodes[2].stop(); err != nil {
		t.Fatal(err)
	}

	// Started again on its data, it refuses to rejoin, as a fatal configuration error.
	again := l.start(3, dirs[2], nil, 1)
	err := again.exited(t)
	var fe *FatalConfigError
	if !errors.As(err, &fe) || fe.Msg != MsgDecommissioned {
		t.Fatalf("restart of a decommissioned node: %v\n%s", err, again.out.String())
	}
	if !strings.Contains(again.out.String(), MsgDecommissioned+"\n"+MsgFatalConfig+"\n") {
		t.Errorf("the log does not show the refusal:\n%s", again.out.String())
	}
	// ... unless the operator overrides it: it rejoins with its tokens.
	id, tokens := nodes[2].identity()
	back := l.start(3, dirs[2], func(c *Config) { c.OverrideDecommission = true }, 1)
	back.waitLog(t, "This node was decommissioned, but overriding by operator request.")
	back.waitLog(t, "state jump to NORMAL")
	if id2, tokens2 := back.identity(); id2 != id || len(tokens2) != len(tokens) || tokens2[0] != tokens[0] {
		t.Errorf("override: host ID %s tokens %v, had %s %v", id2, tokens2, id, tokens)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(3))
}

// holdStreams keeps the node's next streams going until the returned
// channel is closed (Config.holdStream, for a node already running).
func (r *running) holdStreams() chan struct{} {
	hold := make(chan struct{})
	r.node.mu.Lock()
	r.node.hold = hold
	r.node.mu.Unlock()
	return hold
}

// setLoad gives a running node a load (what CASSIM_LOAD sets at start).
func setLoad(r *running, bytes float64) {
	r.node.mu.Lock()
	r.node.id.Load = bytes
	r.node.mu.Unlock()
	r.node.setLocal(func(s *EndpointState) { s.Load = bytes })
}

// logGap is the time between the first log lines containing a and b.
func logGap(t *testing.T, log, a, b string) time.Duration {
	t.Helper()
	at := func(s string) time.Time {
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, s) {
				// INFO  [thread] 2006-01-02 15:04:05,000 ...
				i := strings.Index(line, "] ")
				ts, err := time.Parse("2006-01-02 15:04:05,000", line[i+2:i+2+23])
				if err != nil {
					t.Fatalf("log time of %q: %v", line, err)
				}
				return ts
			}
		}
		t.Fatalf("no %q in the log", s)
		return time.Time{}
	}
	return at(b).Sub(at(a))
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDrain: the drained node is DN on the others at once (its shutdown is
// announced), answers nodetool as 5.0.8 does, keeps running, and comes
// back with its host ID and tokens.
func TestDrain(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	nodes, dirs := ringOf3(t, l, slowDetector)
	id, tokens := nodes[2].identity()
	if out, code := l.nodetool(3, "drain"); code != 0 || out != "" {
		t.Fatalf("drain (%d): %q", code, out)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "DN "+l.ip(3))
	l.waitStatus(2, "UN "+l.ip(1), "UN "+l.ip(2), "DN "+l.ip(3))
	nodes[0].waitLog(t, "Node /"+l.ip(3)+":7000 state jump to shutdown")
	for _, line := range []string{"DRAINING: starting drain process", "Stop listening for CQL clients", "Announcing shutdown", "- DRAINED\n"} {
		nodes[2].waitLog(t, line)
	}
	// On the drained node itself gossip has stopped: its view stays as it was.
	l.waitStatus(3, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(3))
	for cmd, want := range map[string]string{"netstats": "Mode: DRAINED\n", "statusgossip": "not running\n",
		"statusbinary": "not running\n", "drain": "", "version": "ReleaseVersion: " + DefaultReleaseVersion + "\n"} {
		if out, code := l.nodetool(3, cmd); code != 0 || !strings.HasPrefix(out, want) {
			t.Errorf("%s after drain (%d): %q", cmd, code, out)
		}
	}
	if out, _ := l.nodetool(3, "info"); !strings.Contains(out, "Gossip active          : false\n") ||
		!strings.Contains(out, "Native Transport active: false\n") || !strings.Contains(out, "Generation No          : 0\n") {
		t.Errorf("info after drain:\n%s", out)
	}
	if out, code := l.nodetool(3, "decommission"); code != 1 || out != badUse(MsgNodeInMode("DRAINED")) {
		t.Errorf("decommission after drain (%d): %q", code, out)
	}
	if out, code := l.nodetool(3, "describecluster"); code != 2 || !strings.Contains(out, "event executor terminated") {
		t.Errorf("describecluster after drain (%d): %q", code, out)
	}
	if _, err := Probe(l.ip(3)+":9042", time.Second); err == nil {
		t.Error("CQL answers after drain")
	}
	select {
	case <-nodes[2].done:
		t.Fatalf("the drained node ended: %v", nodes[2].err)
	default:
	}
	if err := nodes[2].stop(); err != nil {
		t.Fatal(err)
	}
	back := l.start(3, dirs[2], slowDetector, 1)
	back.waitLog(t, "Starting listening for CQL clients")
	if strings.Contains(back.out.String(), "JOINING") {
		t.Error("a drained node bootstrapped again")
	}
	if id2, tokens2 := back.identity(); id2 != id || fmt.Sprint(tokens2) != fmt.Sprint(tokens) {
		t.Errorf("after drain and restart: %s %v, had %s %v", id2, tokens2, id, tokens)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(3))
}

// A node that stops announces its shutdown too, as Cassandra's shutdown
// hook does: its peers see it down at once.
func TestStopAnnouncesShutdown(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	nodes, _ := ringOf3(t, l, slowDetector)
	if err := nodes[1].stop(); err != nil {
		t.Fatal(err)
	}
	nodes[1].waitLog(t, "Announcing shutdown")
	l.waitStatus(1, "UN "+l.ip(1), "DN "+l.ip(2), "UN "+l.ip(3))
}

// TestReplace: replace_address_first_boot refusals, then a replacement of
// a dead node: new host ID, the old tokens, UJ while it streams, then UN;
// the old address is gone from every view and from system.peers.
func TestReplace(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	nodes, _ := ringOf3(t, l, func(c *Config) { c.Timings.StreamBytesPerSecond = 1 << 20 })
	replacing := func(addr string) func(*Config) {
		return func(c *Config) {
			c.ReplaceAddress = addr
			c.Timings.StreamBytesPerSecond = 1 << 20
		}
	}
	if msg := l.start(4, t.TempDir(), replacing("127.250.250.250"), 1).startupError(t); msg != MsgReplaceUnknown("127.250.250.250") {
		t.Errorf("replace of an unknown address: %q", msg)
	}
	// A live node is told by its heartbeat changing while the replacing
	// node waits: here for five seconds more, a hundred gossip rounds, so
	// that a loaded machine's stalls cannot hide it.
	live := func(c *Config) { replacing(l.ip(3))(c); c.Timings.BroadcastInterval = 5 * time.Second }
	if msg := l.start(4, t.TempDir(), live, 1).startupError(t); msg != MsgReplaceLive {
		t.Errorf("replace of a live node: %q", msg)
	}
	if msg := l.start(4, t.TempDir(), replacing(l.ip(3)), 4).startupError(t); msg != MsgReplaceUnsafe {
		t.Errorf("a seed replacing: %q", msg)
	}

	oldID, oldTokens := nodes[2].identity()
	setLoad(nodes[2], 500<<10) // the replacement streams 0.5 s
	waitFor(t, "node 1 learns node 3's load", func() bool {
		nodes[0].node.mu.Lock()
		defer nodes[0].node.mu.Unlock()
		s, _ := nodes[0].node.view.State(l.ip(3))
		return s.Load == 500<<10
	})
	if err := nodes[2].stop(); err != nil {
		t.Fatal(err)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "DN "+l.ip(3))
	// It streams (UJ) until node 1 has shown it so.
	hold := make(chan struct{})
	r := l.start(4, t.TempDir(), func(c *Config) { replacing(l.ip(3))(c); c.holdStream = hold }, 1)
	r.waitLog(t, "Gathering node replacement information for /"+l.ip(3)+":7000")
	r.waitLog(t, "JOINING: Replacing a node with token(s): ")
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "DN "+l.ip(3), "UJ "+l.ip(4))
	close(hold)
	r.waitLog(t, "Starting listening for CQL clients")
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(4))
	l.waitStatus(2, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(4))
	l.waitStatus(4, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(4))
	newID, newTokens := r.identity()
	if newID == oldID || fmt.Sprint(newTokens) != fmt.Sprint(oldTokens) {
		t.Errorf("replacement: host ID %s tokens %v; old %s %v", newID, newTokens, oldID, oldTokens)
	}
	if d := logGap(t, r.out.String(), "JOINING: Starting to bootstrap...", "Bootstrap completed"); d < 450*time.Millisecond {
		t.Errorf("streaming the old node's 500 KiB at 1 MiB/s took %s", d)
	}
	for _, peer := range []*running{nodes[0], nodes[1]} {
		for _, row := range peer.node.peerRows() {
			if row["peer"] == l.ip(3) {
				t.Errorf("system.peers still has %s", l.ip(3))
			}
		}
	}
	// The flag counts on a first boot only.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestKeyspaces: CREATE/ALTER/DROP KEYSPACE spread by gossip, shown by
// describecluster and system_schema.keyspaces, kept across a restart, and
// used by nodetool status's effective ownership.
func TestKeyspaces(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	nodes, dirs := ringOf3(t, l, nil)
	cl := dialCQL(t, l.ip(1)+":9042")
	cl.startup()
	run := func(q string) frame { return cl.query(q, 0, nil) }
	if f := run("CREATE KEYSPACE ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"); f.op != opResult {
		t.Fatalf("CREATE: %s", describeResponse(f.op, f.body))
	} else if rd := (&reader{b: f.body}); rd.int() != resultSchemaChange || rd.str() != "CREATED" || rd.str() != "KEYSPACE" || rd.str() != "ks3" {
		t.Errorf("CREATE's result: %s", describeResponse(f.op, f.body))
	}
	if code, msg := errorOf(t, run("CREATE KEYSPACE ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")); code != errAlreadyExists || msg != "Keyspace 'ks3' already exists" {
		t.Errorf("CREATE again: 0x%04x %q", code, msg)
	}
	if f := run("CREATE KEYSPACE IF NOT EXISTS ks3 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"); f.op != opResult {
		t.Errorf("IF NOT EXISTS: %s", describeResponse(f.op, f.body))
	}
	if code, msg := errorOf(t, run("CREATE KEYSPACE x WITH replication = {'class': 'SimpleStrategy'}")); code != errConfig || msg != "SimpleStrategy requires a replication_factor strategy option." {
		t.Errorf("no RF: 0x%04x %q", code, msg)
	}
	// With one user keyspace, ownership follows it: RF 3 on 3 nodes.
	waitFor(t, "node 3 status by ks3", func() bool {
		out, _ := l.nodetool(3, "status")
		return strings.Count(out, "100.0%") == 3 && strings.Contains(out, "Owns (effective)")
	})
	if f := run("CREATE KEYSPACE ksn WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 2} AND durable_writes = true"); f.op != opResult {
		t.Fatalf("CREATE ksn: %s", describeResponse(f.op, f.body))
	}
	want := "Keyspaces:\n" +
		"\tsystem_traces -> Replication class: SimpleStrategy {replication_factor=2}\n" +
		"\tsystem_distributed -> Replication class: SimpleStrategy {replication_factor=3}\n" +
		"\tsystem_auth -> Replication class: SimpleStrategy {replication_factor=1}\n" +
		"\tks3 -> Replication class: SimpleStrategy {replication_factor=3}\n" +
		"\tksn -> Replication class: NetworkTopologyStrategy {datacenter1=2}\n" +
		"\tsystem_schema -> Replication class: LocalStrategy {}\n" +
		"\tsystem -> Replication class: LocalStrategy {}\n\n" +
		"Note: " + MsgOwnershipMeaningless + "\n"
	waitFor(t, "node 2's describecluster lists both", func() bool {
		out, _ := l.nodetool(2, "describecluster")
		return strings.HasSuffix(out, want) && strings.Count(out, "\t\t") == 1 // one schema version
	})
	if out, _ := l.nodetool(2, "status"); !strings.Contains(out, "  Owns  ") || strings.Contains(out, "%") || !strings.HasSuffix(out, "\nNote: "+MsgOwnershipMeaningless+"\n") {
		t.Errorf("status with differing keyspaces:\n%s", out)
	}
	rows, _ := rowsOf(t, run("SELECT keyspace_name FROM system_schema.keyspaces"))
	if len(rows) != 7 || rows[5][0] != "ks3" || rows[6][0] != "ksn" {
		t.Errorf("system_schema.keyspaces: %q", rows)
	}
	if f := run("USE ks3"); f.op != opResult {
		t.Errorf("USE ks3: %s", describeResponse(f.op, f.body))
	}
	// ALTER and DROP spread too, and the schema survives a restart.
	if f := run("ALTER KEYSPACE ksn WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}"); f.op != opResult {
		t.Fatalf("ALTER: %s", describeResponse(f.op, f.body))
	}
	// system_auth's replication may be raised, as on Cassandra; dropped, not.
	if f := run("ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"); f.op != opResult {
		t.Fatalf("ALTER system_auth: %s", describeResponse(f.op, f.body))
	}
	if code, _ := errorOf(t, run("DROP KEYSPACE system_auth")); code != errUnauthorized {
		t.Errorf("DROP system_auth: 0x%04x", code)
	}
	waitFor(t, "node 3 sees system_auth at RF 3", func() bool {
		out, _ := l.nodetool(3, "describecluster")
		return strings.Contains(out, "\tsystem_auth -> Replication class: NetworkTopologyStrategy {datacenter1=3}\n")
	})
	if rf := nodes[2].node.schemaCopy().System()[2].RF("datacenter1"); rf != 3 {
		t.Errorf("system_auth's RF for decommission's check: %d", rf)
	}
	if f := run("DROP KEYSPACE ks3"); f.op != opResult {
		t.Fatalf("DROP: %s", describeResponse(f.op, f.body))
	}
	if code, msg := errorOf(t, run("DROP KEYSPACE ks3")); code != errInvalid || msg != "Keyspace 'ks3' doesn't exist" {
		t.Errorf("DROP again: 0x%04x %q", code, msg)
	}
	waitFor(t, "node 3 has only ksn, at RF 3", func() bool {
		out, _ := l.nodetool(3, "describecluster")
		return !strings.Contains(out, "ks3") && strings.Contains(out, "\tksn -> Replication class: SimpleStrategy {replication_factor=3}\n")
	})
	if err := nodes[2].stop(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].stop(); err != nil { // the one the change was made on
		t.Fatal(err)
	}
	back := l.start(3, dirs[2], nil, 2)
	back.waitLog(t, "state jump to NORMAL")
	if !back.node.hasKeyspace("ksn") || back.node.hasKeyspace("ks3") {
		t.Errorf("after restart: ksn %t, ks3 %t", back.node.hasKeyspace("ksn"), back.node.hasKeyspace("ks3"))
	}
	if _, err := os.Stat(schemaPath(dirs[2])); err != nil {
		t.Error(err)
	}
}

// A node made to fail at start fails as a broken upgrade does, exit 3,
// and leaves its identity as it was.
func TestFailAtStart(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	dir := t.TempDir()
	a := l.start(1, dir, nil)
	a.waitLog(t, "state jump to NORMAL")
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(identityPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	f := l.start(1, dir, func(c *Config) { c.FailAtStart = true; c.ReleaseVersion = "5.0.9" })
	if msg := f.startupError(t); msg != MsgUnreadableSSTables(dir) {
		t.Errorf("got %q", msg)
	}
	f.waitLog(t, "Cassandra version: 5.0.9")
	after, _ := os.ReadFile(identityPath(dir))
	if string(after) != string(before) {
		t.Errorf("identity changed:\n%s\n->\n%s", before, after)
	}
	// The old image again: it starts on the same data, same host ID.
	b := l.start(1, dir, nil)
	b.waitLog(t, "Loaded host ID")
	b.waitLog(t, "state jump to NORMAL")
}

// A replacement at the old node's own address (a rescheduled task that
// got the same address) keeps the old host ID, as Cassandra does.
func TestReplaceSameAddress(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	nodes, _ := ringOf3(t, l, nil)
	oldID, oldTokens := nodes[2].identity()
	if err := nodes[2].stop(); err != nil {
		t.Fatal(err)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "DN "+l.ip(3))
	r := l.start(3, t.TempDir(), func(c *Config) { c.ReplaceAddress = l.ip(3) }, 1)
	r.waitLog(t, "Writes will not be forwarded to this node during replacement because it has the same address")
	r.waitLog(t, "Starting listening for CQL clients")
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(3))
	if id, tokens := r.identity(); id != oldID || fmt.Sprint(tokens) != fmt.Sprint(oldTokens) {
		t.Errorf("same-address replacement: %s %v; old %s %v", id, tokens, oldID, oldTokens)
	}
}

func (n *Node) schemaCopy() Schema {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Schema{}
	s.Merge(n.schema.All())
	return s
}
