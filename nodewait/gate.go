package nodewait

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/contract"
	"github.com/swarmcass/swarmcass/engine"
)

// A gate spares nodetool while nodes start. nodetool is a JVM of its own in
// the node's container on real Cassandra (about a CPU second each), and a
// node that is still starting cannot be UN: until a node's own log shows
// it NORMAL (the node contract's NormalMarker, on its own address), its
// task and log are looked at every Interval/4, which costs the engines a
// log read and nothing in the container, and nodetool only once in
// gateEvery Intervals (a log that never says so, as a node that became
// NORMAL long ago and logged much since, is judged that way). Once the
// line is there, nodetool is asked at once, then once an Interval. So a
// wait notices a node Cassandra made NORMAL within Interval/4, not within
// Interval, and while it starts, the node's host is left to the node.
type gate struct {
	interval time.Duration
	network  string
	mu       sync.Mutex
	seen     map[string]bool      // container IDs whose log shows them NORMAL
	asked    map[string]time.Time // container ID -> when nodetool last ran
	viewWhy  map[string]string    // node -> why its last view was not ready
}

// gateEvery is how many Intervals apart nodetool runs in a node whose log
// does not show it NORMAL yet.
const gateEvery = 5

// gateTail is how many log lines are read: a starting real Cassandra logs
// about 300 before its NORMAL line.
const gateTail = 5000

func (w *Waiter) newGate() *gate {
	return &gate{interval: w.Interval, network: w.Network, seen: map[string]bool{}, asked: map[string]time.Time{}, viewWhy: map[string]string{}}
}

// pass reports whether nodetool may run now in t's container on h; when
// not, why says what the wait is for.
func (g *gate) pass(ctx context.Context, h cluster.Host, t engine.Task) (why string, ok bool) {
	id := t.ContainerID
	g.mu.Lock()
	seen, since := g.seen[id], time.Since(g.asked[id])
	g.mu.Unlock()
	fresh := false
	if !seen {
		logs, err := h.Engine.ContainerLogs(ctx, id, gateTail)
		fresh = err == nil && normalLogged(logs, t.Addresses[g.network])
	}
	switch {
	case fresh, seen && since >= g.interval, since >= gateEvery*g.interval:
		g.mu.Lock()
		g.seen[id] = seen || fresh
		g.asked[id] = time.Now()
		g.mu.Unlock()
		return "", true
	case seen:
		return "NORMAL in its log; nodetool again in " + (g.interval - since).Round(time.Millisecond).String(), false
	}
	return "not NORMAL in its log yet", false
}

// ran notes that nodetool ran in container id (nil g: no gate).
func (g *gate) ran(id string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.asked[id] = time.Now()
	g.mu.Unlock()
}

// carry keeps, in a gated look l at node, what the last look with a view
// saw (prev's nodetool output, its reason), so that a wait that ends on a
// gated look still reports the node's last view.
func (g *gate) carry(node string, l *Look, prev Look) {
	if !l.gated {
		g.viewWhy[node] = l.Why
		return
	}
	l.Nodetool = prev.Nodetool
	if why := g.viewWhy[node]; why != "" {
		l.Why += "; at the last look: " + why
	}
}

// normalLogged reports whether logs have the node's own NORMAL line:
// "Node /ADDR:7000 state jump to NORMAL" (Cassandra also logs the line
// for other nodes it sees become NORMAL).
func normalLogged(logs, addr string) bool {
	if addr == "" {
		return false
	}
	for line := range strings.Lines(logs) {
		if strings.Contains(line, contract.NormalMarker) && strings.Contains(line, "/"+addr+":") {
			return true
		}
	}
	return false
}
