package cassim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimings make a node ready in about a second. The tests wait for
// events (log lines, a node's exit, nodetool's answer), never for time to
// pass; what the timings decide is how long a state lasts that a test must
// see while it lasts. Those windows are many gossip rounds long, so that a
// loaded machine under -race, stalling a goroutine for a few hundred
// milliseconds, does not close them early: a silent joining endpoint stays
// in gossip for the ring delay (1 s, twenty rounds; see FatClientTimeout),
// and the tests that must act inside such a window widen it further.
var testTimings = Timings{RingDelay: time.Second, Bootstrap: 300 * time.Millisecond,
	GossipInterval: 50 * time.Millisecond, DownAfter: 600 * time.Millisecond}

// waitLimit bounds each wait for an event: generous, and reached only when
// the awaited thing never comes. A node that ends before the event fails
// the wait at once, with its error.
const waitLimit = 30 * time.Second

// lab runs cassim nodes in this process, each on its own loopback address.
type lab struct {
	t     *testing.T
	octet int
}

func newLab(t *testing.T) *lab {
	return &lab{t: t, octet: 2 + rand.IntN(250)}
}

func (l *lab) ip(i int) string { return fmt.Sprintf("127.%d.0.%d", l.octet, i) }

type running struct {
	node   *Node
	out    *logBuf
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned, err then set
	err    error
}

// logBuf is a node's log: written by the node, read by the test, which
// can wait for the next write instead of polling.
type logBuf struct {
	mu      sync.Mutex
	b       strings.Builder
	written chan struct{} // closed on the next write
}

func newLogBuf() *logBuf { return &logBuf{written: make(chan struct{})} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	close(l.written)
	l.written = make(chan struct{})
	return len(p), nil
}

func (l *logBuf) String() string {
	s, _ := l.watch()
	return s
}

// watch is the log so far and a channel closed when more is written.
func (l *logBuf) watch() (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.written
}

func (l *lab) start(i int, dataDir string, edit func(*Config), seeds ...int) *running {
	cfg := Config{ClusterName: "Test Cluster", DC: "datacenter1", Rack: "rack1", NumTokens: 4,
		AutoBootstrap: true, ConsistentRangeMovement: true, ReleaseVersion: DefaultReleaseVersion,
		DataDir: dataDir, Timings: testTimings}
	for _, s := range seeds {
		cfg.Seeds = append(cfg.Seeds, l.ip(s))
	}
	if edit != nil {
		edit(&cfg)
	}
	out := newLogBuf()
	n := NewNode(cfg, net.ParseIP(l.ip(i)), out)
	n.AdminAddr = l.ip(i) + ":7199"
	n.CQLAddr = net.JoinHostPort(l.ip(i), fmt.Sprint(n.cfg.NativePort))
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{node: n, out: out, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); r.err = n.Run(ctx) }()
	l.t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// waitLog waits for a log line containing s. A node that ends without
// logging it fails the test at once, with its error.
func (r *running) waitLog(t *testing.T, s string) {
	t.Helper()
	limit := time.After(waitLimit)
	for {
		out, written := r.out.watch()
		if strings.Contains(out, s) {
			return
		}
		select {
		case <-written:
		case <-r.done:
			if strings.Contains(r.out.String(), s) {
				return
			}
			t.Fatalf("the node ended (%v) without logging %q:\n%s", r.err, s, r.out.String())
		case <-limit:
			t.Fatalf("no log line %q within %s in:\n%s", s, waitLimit, r.out.String())
		}
	}
}

// exited waits for the node to end and returns what Run returned.
func (r *running) exited(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(waitLimit):
		t.Fatalf("node did not end within %s:\n%s", waitLimit, r.out.String())
	}
	return nil
}

// startupError waits for the node to fail and returns its message.
func (r *running) startupError(t *testing.T) string {
	t.Helper()
	err := r.exited(t)
	var se *StartupError
	if !errors.As(err, &se) {
		t.Fatalf("want a start-up error, got %v\n%s", err, r.out.String())
	}
	if !strings.Contains(r.out.String(), "encountered during startup: "+se.Msg) {
		t.Errorf("the log does not show the start-up error:\n%s", r.out.String())
	}
	return se.Msg
}

func (l *lab) nodetool(i int, args ...string) (string, int) {
	var out, errb bytes.Buffer
	code := NodetoolMain(context.Background(), append([]string{"-h", l.ip(i), "-p", "7199"}, args...), &out, &errb)
	return out.String() + errb.String(), code
}

// waitStatus waits until node i's nodetool status has exactly want
// ("UN 127.x.0.1", ...) as its node lines' state and address.
func (l *lab) waitStatus(i int, want ...string) {
	l.t.Helper()
	deadline := time.Now().Add(waitLimit)
	var got []string
	for time.Now().Before(deadline) {
		out, _ := l.nodetool(i, "status")
		got = nil
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 2 && len(f[0]) == 2 && f[0] != "--" {
				got = append(got, f[0]+" "+f[1])
			}
		}
		if sameSet(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Fatalf("node %d status: got %v, want %v", i, got, want)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestNodeLifecycle(t *testing.T) {
	l := newLab(t)
	a := l.start(1, t.TempDir(), nil) // a seed alone in its list
	a.waitLog(t, MsgSeedNoBoot)
	a.waitLog(t, "state jump to NORMAL")
	a.waitLog(t, "Starting listening for CQL clients")
	if rel, err := Probe(l.ip(1)+":9042", time.Second); err != nil || rel != DefaultReleaseVersion {
		t.Fatalf("CQL probe: %q %v", rel, err)
	}

	bDir := t.TempDir()
	b := l.start(2, bDir, nil, 1)
	b.waitLog(t, "JOINING: Starting to bootstrap...")
	// Judged by what the node had logged when CQL answered, not by how
	// long joining takes: CQL opens only after the jump to NORMAL.
	if _, err := Probe(l.ip(2)+":9042", 200*time.Millisecond); err == nil && !strings.Contains(b.out.String(), "state jump to NORMAL") {
		t.Error("CQL answers before the node is NORMAL")
	}
	b.waitLog(t, "Starting listening for CQL clients")
	if out := b.out.String(); strings.Index(out, "Starting listening for CQL clients") < strings.Index(out, "state jump to NORMAL") {
		t.Errorf("CQL opened before the node was NORMAL:\n%s", out)
	}
	if strings.Contains(b.out.String(), MsgSeedNoBoot) {
		t.Error("a non-seed logged the seed line")
	}
	a.waitLog(t, "InetAddress /"+l.ip(2)+":7000 is now UP")
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2))
	l.waitStatus(2, "UN "+l.ip(1), "UN "+l.ip(2))

	// A node bootstrapping while another is joining stops. d joins for
	// long enough (five seconds) for c to start and look while it does.
	d := l.start(4, t.TempDir(), func(c *Config) { c.Timings.Bootstrap = 5 * time.Second }, 1)
	d.waitLog(t, "JOINING: Starting to bootstrap...")
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UJ "+l.ip(4))
	c := l.start(3, t.TempDir(), nil, 1)
	if msg := c.startupError(t); msg != MsgRangeMovement {
		t.Errorf("got %q, want the range movement refusal", msg)
	}
	// ... unless consistent range movement is off.
	c2 := l.start(5, t.TempDir(), func(c *Config) { c.ConsistentRangeMovement = false }, 1)
	c2.waitLog(t, "state jump to NORMAL")
	d.waitLog(t, "state jump to NORMAL")

	// A stopped node is DOWN on the others, and UP again with its identity.
	b.node.mu.Lock()
	idBefore := b.node.id.HostID
	b.node.mu.Unlock()
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	l.waitStatus(1, "UN "+l.ip(1), "DN "+l.ip(2), "UN "+l.ip(4), "UN "+l.ip(5))
	a.waitLog(t, "InetAddress /"+l.ip(2)+":7000 is now DOWN")

	// Its address cannot be taken by a new node (another host ID).
	e := l.start(2, t.TempDir(), nil, 1)
	if msg := e.startupError(t); msg != MsgAddressTaken(l.ip(2)) {
		t.Errorf("got %q, want the address refusal", msg)
	}

	b2 := l.start(2, bDir, nil, 1)
	b2.waitLog(t, "state jump to NORMAL")
	if strings.Contains(b2.out.String(), "JOINING") {
		t.Error("a restarted node bootstrapped again")
	}
	b2.node.mu.Lock()
	idAfter := b2.node.id.HostID
	b2.node.mu.Unlock()
	if idAfter != idBefore {
		t.Errorf("host ID changed across restart: %s -> %s", idBefore, idAfter)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(4), "UN "+l.ip(5))

	// Bootstrapping onto a token in use is refused.
	a.node.mu.Lock()
	tok := a.node.view.LocalState().Tokens[0]
	a.node.mu.Unlock()
	f := l.start(6, t.TempDir(), func(c *Config) { c.InitialTokens = []int64{tok} }, 1)
	if msg := f.startupError(t); msg != MsgExistingToken(tok) {
		t.Errorf("got %q, want the existing token refusal", msg)
	}

	// describecluster agrees on one schema version and one release, the
	// one nodetool version, the log and system.local report.
	out, code := l.nodetool(1, "describecluster")
	if code != 0 || strings.Count(out, SchemaVersion) != 1 || strings.Contains(out, "UNREACHABLE") ||
		!strings.Contains(out, "Database versions:\n\t"+DefaultReleaseVersion+": [") {
		t.Errorf("describecluster (%d):\n%s", code, out)
	}
	if out, code := l.nodetool(2, "version"); code != 0 || out != "ReleaseVersion: "+DefaultReleaseVersion+"\n" {
		t.Errorf("nodetool version (%d): %q", code, out)
	}
	a.waitLog(t, "Cassandra version: "+DefaultReleaseVersion+"\n")

	// Decommission: LEAVING, then the node leaves the ring and ends.
	out, code = l.nodetool(5, "decommission")
	if code != 0 {
		t.Fatalf("decommission (%d): %s", code, out)
	}
	if err := c2.exited(t); err != nil {
		t.Errorf("decommissioned node ended with %v", err)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(4))
}

func TestNodeWithoutSeedsFails(t *testing.T) {
	l := newLab(t)
	n := l.start(1, t.TempDir(), nil, 9) // nothing listens at .9
	if msg := n.startupError(t); msg != MsgNoSeeds {
		t.Errorf("got %q", msg)
	}
	// A seed whose other seeds are unreachable still starts.
	s := l.start(2, t.TempDir(), nil, 2, 9)
	s.waitLog(t, "Unable to gossip with any peers but continuing anyway")
	s.waitLog(t, "state jump to NORMAL")
}

func TestNodeClusterNameMismatch(t *testing.T) {
	l := newLab(t)
	a := l.start(1, t.TempDir(), nil)
	a.waitLog(t, "state jump to NORMAL")
	b := l.start(2, t.TempDir(), func(c *Config) { c.ClusterName = "Other" }, 1)
	if msg := b.startupError(t); msg != MsgNoSeeds {
		t.Errorf("got %q", msg)
	}
	a.waitLog(t, "ClusterName mismatch from /"+l.ip(2)+":7000 Other!=Test Cluster")

	// A data directory keeps its cluster name.
	dir := t.TempDir()
	c := l.start(3, dir, nil)
	c.waitLog(t, "state jump to NORMAL")
	c.stop()
	c2 := l.start(3, dir, func(c *Config) { c.ClusterName = "Renamed" })
	if msg := c2.startupError(t); msg != "Saved cluster name Test Cluster != configured name Renamed" {
		t.Errorf("got %q", msg)
	}
}

func TestNodetoolBeforeDaemon(t *testing.T) {
	var out, errb bytes.Buffer
	code := NodetoolMain(context.Background(), []string{"-h", "127.0.0.1", "-p", "1", "status"}, &out, &errb)
	want := "nodetool: Failed to connect to '127.0.0.1:1' - ConnectException: 'Connection refused (Connection refused)'.\n"
	if code != 1 || errb.String() != want || out.Len() != 0 {
		t.Errorf("code %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// hostID reads a running node's host ID under its lock.
func (r *running) hostID() string {
	r.node.mu.Lock()
	defer r.node.mu.Unlock()
	return r.node.id.HostID
}

// A node killed while JOINING and restarted on its volume at a new address
// (a Swarm task rescheduled on the overlay) first meets its own dead
// JOINING endpoint and is refused, as Cassandra's range movement check
// looks at addresses, not host IDs; once the others have removed the silent
// endpoint as a fat client it bootstraps again, and so can later nodes.
func TestNodeRebootstrapsAfterFatClientRemoval(t *testing.T) {
	l := newLab(t)
	// a keeps the dead JOINING endpoint for three seconds: the window in
	// which the restarted node must start and be refused.
	aTimings := testTimings
	aTimings.RingDelay = 3 * time.Second
	a := l.start(1, t.TempDir(), func(c *Config) { c.Timings = aTimings })
	a.waitLog(t, "state jump to NORMAL")

	dir := t.TempDir()
	slow := func(c *Config) { c.Timings.Bootstrap = time.Minute }
	b := l.start(2, dir, slow, 1)
	b.waitLog(t, "JOINING: Starting to bootstrap...")
	l.waitStatus(1, "UN "+l.ip(1), "UJ "+l.ip(2))
	id := b.hostID()
	b.stop() // killed while JOINING

	again := l.start(3, dir, nil, 1)
	if msg := again.startupError(t); msg != MsgRangeMovement {
		t.Fatalf("restart next to its own JOINING endpoint: got %q, want the range movement refusal", msg)
	}
	if strings.Contains(a.out.String(), "/"+l.ip(3)+":7000 is now part of the cluster") {
		t.Error("the refused node gossiped")
	}

	a.waitLog(t, fmt.Sprintf("FatClient /%s:7000 has been silent for %dms, removing from gossip", l.ip(2), aTimings.FatClientTimeout().Milliseconds()))
	l.waitStatus(1, "UN "+l.ip(1))

	b2 := l.start(3, dir, nil, 1)
	b2.waitLog(t, "Detected previous bootstrap failure; retrying")
	b2.waitLog(t, "JOINING: Starting to bootstrap...")
	b2.waitLog(t, "state jump to NORMAL")
	if got := b2.hostID(); got != id {
		t.Errorf("host ID changed: %s -> %s", id, got)
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(3))

	c := l.start(4, t.TempDir(), nil, 1)
	c.waitLog(t, "state jump to NORMAL")
	l.waitStatus(3, "UN "+l.ip(1), "UN "+l.ip(3), "UN "+l.ip(4))
}

// A node that fails a start-up check after it began to gossip (here a
// token that is taken) leaves an endpoint without a status; it is removed
// too, and a live joining node is not.
func TestNodeFailedStartupRemovedFromGossip(t *testing.T) {
	l := newLab(t)
	// Node 1 judges fat clients: a timeout of a second rather than 300 ms,
	// so that a live node's heartbeats, delayed on a loaded machine, do
	// not look like silence.
	a := l.start(1, t.TempDir(), func(c *Config) { c.Timings.RingDelay = time.Second })
	a.waitLog(t, "state jump to NORMAL")
	a.node.mu.Lock()
	tok := a.node.view.LocalState().Tokens[0]
	a.node.mu.Unlock()
	f := l.start(2, t.TempDir(), func(c *Config) { c.InitialTokens = []int64{tok} }, 1)
	if msg := f.startupError(t); msg != MsgExistingToken(tok) {
		t.Fatalf("got %q, want the existing token refusal", msg)
	}
	a.waitLog(t, "Node /"+l.ip(2)+":7000 is now part of the cluster")

	// A live joining node, JOINING for several fat client timeouts, stays.
	j := l.start(3, t.TempDir(), func(c *Config) { c.Timings.Bootstrap = 4 * testTimings.FatClientTimeout() }, 1)
	j.waitLog(t, "JOINING: Starting to bootstrap...")
	a.waitLog(t, "FatClient /"+l.ip(2)+":7000 has been silent for")
	a.node.mu.Lock()
	_, known := a.node.view.State(l.ip(2))
	a.node.mu.Unlock()
	if known {
		t.Error("the failed node is still in gossip")
	}
	j.waitLog(t, "state jump to NORMAL")
	if strings.Contains(a.out.String(), "FatClient /"+l.ip(3)) {
		t.Errorf("a live joining node was removed:\n%s", a.out.String())
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(3))
}
