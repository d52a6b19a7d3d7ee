// Package nodewait waits for Cassandra nodes on Docker Swarm, for any
// operation: it finds a node's container (its service's newest task, on
// one of the cluster's hosts), runs nodetool in it, and waits until the
// node is UN in its own view and a seed's, until the ring is quiet (nobody
// joining, leaving or moving), until a node is down, or until it is gone
// from every view. A node that does not become ready is reported as a
// *NodeError with its last log lines and last nodetool output.
package nodewait

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
	"github.com/swarmcass/swarmcass/op"
)

// Waiter waits for the nodes of one cluster.
type Waiter struct {
	// Manager is the swarm manager: it lists the nodes' tasks.
	Manager engine.Engine
	// Hosts are the swarm's hosts by swarm node ID: where a task runs.
	Hosts map[string]cluster.Host
	// Network is the overlay the nodes' addresses are on.
	Network string
	// Seeds are the seed nodes' names: a seed's view is the ring's.
	Seeds []string
	// Interval is the time between looks; Timeout bounds each wait.
	Interval time.Duration
	Timeout  time.Duration
	// Debugf hears each look (-v); nil is silent.
	Debugf func(format string, args ...any)

	// recent is the ring's view (a seed's) that the last look to find its
	// node ready judged by: Quiet, asked right after, takes it instead of
	// running nodetool in the seed again.
	mu     sync.Mutex
	recent struct {
		at     time.Time
		status *nodetool.Status
	}
}

// WithTimeout is a Waiter like w whose waits give up after d.
func (w *Waiter) WithTimeout(d time.Duration) *Waiter {
	return &Waiter{Manager: w.Manager, Hosts: w.Hosts, Network: w.Network, Seeds: w.Seeds,
		Interval: w.Interval, Timeout: d, Debugf: w.Debugf}
}

func (w *Waiter) debugf(format string, args ...any) {
	if w.Debugf != nil {
		w.Debugf(format, args...)
	}
}

func (w *Waiter) poll(ctx context.Context, what string, check func() (bool, error)) error {
	return op.Poll(ctx, w.Interval, w.Timeout, what, check)
}

// Container is where node runs: its newest task when it runs (Runs: also
// while its health check has not passed yet), on one of the Hosts; ok is
// false when it does not run (yet).
func (w *Waiter) Container(ctx context.Context, node string) (t engine.Task, h cluster.Host, ok bool, err error) {
	return w.container(ctx, nil, node)
}

// container is Container from round r's answers (nil: asked now).
func (w *Waiter) container(ctx context.Context, r *round, node string) (t engine.Task, h cluster.Host, ok bool, err error) {
	tasks, err := w.taskList(ctx, r, node)
	if err != nil {
		return t, h, false, fmt.Errorf("list tasks of %s: %w", node, err)
	}
	if len(tasks) == 0 || !Runs(tasks[0]) {
		return t, h, false, nil
	}
	h, ok = w.Hosts[tasks[0].NodeID]
	return tasks[0], h, ok, nil
}

// SeedView is nodetool status as the first running seed other than node
// sees it; nil when no other seed runs.
func (w *Waiter) SeedView(ctx context.Context, node string) (*nodetool.Status, error) {
	s, err := w.seed(ctx, nil, node)
	if s == nil {
		return nil, err
	}
	return s.status, err
}

// seedView is a seed's view, with whose it is.
type seedView struct {
	name, addr string // addr on the overlay
	status     *nodetool.Status
}

// seed is the view of the first running seed other than node; nil when no
// other seed runs. Round r's answers serve when it has them.
func (w *Waiter) seed(ctx context.Context, r *round, node string) (*seedView, error) {
	for _, seed := range w.Seeds {
		if seed == node {
			continue
		}
		t, h, ok, err := w.container(ctx, r, seed)
		if errors.Is(err, engine.ErrNotFound) || (err == nil && !ok) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("seed %s: %w", seed, err)
		}
		s, _, err := w.status(ctx, r, h.Engine, t.ContainerID)
		if err != nil {
			return nil, fmt.Errorf("seed %s: %w", seed, err)
		}
		return &seedView{name: seed, addr: t.Addresses[w.Network], status: s}, nil
	}
	return nil, nil
}

// Look is one look at a node.
type Look struct {
	Task     engine.Task
	Host     *cluster.Host // where Task runs; nil when unknown
	Nodetool string        // the last nodetool output, kept for the report
	Address  string        // on the overlay
	HostID   string
	Ready    bool
	Why      string // why it is not ready
	// Split is set when the node is UN in its own view but it and a
	// running seed do not see each other: a ring of its own.
	Split *SplitError
	// gated: the gate let no nodetool run (see gate), so the look says
	// nothing of the node's view.
	gated bool
}

// Look checks node once: no task but those in endedBefore has ended, its
// newest task runs, and nodetool status in it and in a seed shows it UN
// with at least started UN nodes (later nodes may exist already when an
// operation resumes). An error means waiting longer will not help.
//
// A task's end is judged by its state, not its timestamp: a machine
// reports a container's death with the time it died, which may be before
// the wait began although the manager learns of it only later.
func (w *Waiter) Look(ctx context.Context, node string, started int, endedBefore map[string]bool) (Look, error) {
	return w.look(ctx, nil, nil, node, started, endedBefore)
}

// look is Look from round r's answers (nil: asked now), through gate g
// (nil: nodetool is asked at every look).
func (w *Waiter) look(ctx context.Context, r *round, g *gate, node string, started int, endedBefore map[string]bool) (Look, error) {
	var l Look
	tasks, err := w.taskList(ctx, r, node)
	if err != nil {
		return l, fmt.Errorf("list tasks of %s: %w", node, err)
	}
	at := func(t engine.Task) {
		l.Task, l.Host = t, nil
		if h, ok := w.Hosts[t.NodeID]; ok {
			l.Host = &h
		}
	}
	if t, ok := Fatal(tasks, endedBefore); ok {
		at(t)
		return l, fmt.Errorf("its task %s %s: %s", t.ID, t.State, cmp.Or(t.Err, t.Message))
	}
	if len(tasks) == 0 {
		l.Why = "no task yet"
		return l, nil
	}
	// An older task that ended during this wait was replaced by Swarm: its
	// container stopped (as when its HEALTHCHECK failed) although the node
	// should run. Waiting on its successor would loop the same way. The
	// first of them to end is the one reported (tasks are newest first):
	// its successors may have failed only because it did, as a node whose
	// container died while joining leaves its JOINING state in gossip and
	// the next attempt is refused for it (CI saw this once).
	for i := len(tasks) - 1; i >= 1; i-- {
		if t := tasks[i]; (t.State == "complete" || t.State == "shutdown") && !endedBefore[t.ID] {
			at(t)
			err := fmt.Errorf("its task %s ended (%s) and Swarm replaced it: the container stopped or its health check failed before the node was UN", t.ID, t.State)
			if i > 1 {
				err = fmt.Errorf("%w; Swarm started %d more since, and the log lines are this first one's", err, i)
			}
			return l, err
		}
	}
	at(tasks[0])
	if !Runs(l.Task) {
		l.Why = "task " + l.Task.State
		if l.Task.Message != "" {
			l.Why += ": " + l.Task.Message
		}
		return l, nil
	}
	if l.Host == nil {
		return l, fmt.Errorf("its task runs on swarm node %s, which is none of the given hosts", l.Task.NodeID)
	}
	if why, ok := w.gated(ctx, r, g, *l.Host, l.Task); !ok {
		l.Why, l.gated = why, true
		return l, nil
	}
	addr := l.Task.Addresses[w.Network]
	own, out, err := w.status(ctx, r, l.Host.Engine, l.Task.ContainerID)
	l.Nodetool = out
	if err != nil {
		l.Why = err.Error()
		return l, nil
	}
	// UN in its own view: the ring it is in must be the seeds' ring.
	var seed *seedView
	if n, ok := own.Node(addr); ok && n.UN() {
		if seed, err = w.seed(ctx, r, node); err != nil {
			l.Why = err.Error()
			return l, nil
		}
		if l.Split = split(node, addr, own, seed); l.Split != nil {
			l.Why = l.Split.Error()
			return l, nil
		}
	}
	if ok, why := upAndCounted(own, addr, started); !ok {
		l.Why = "own view: " + why
		return l, nil
	}
	if seed != nil {
		if ok, why := upAndCounted(seed.status, addr, started); !ok {
			l.Why = "seed's view: " + why
			return l, nil
		}
	}
	n, _ := own.Node(addr)
	if n.HostID == "" {
		// Real 5.0 was seen listing a node that restarted on its volume
		// UN in its own view with the Host ID column blank: its own host
		// ID, which it keeps in system.local, is what nodetool info says.
		id, err := HostID(ctx, l.Host.Engine, l.Task.ContainerID)
		if err != nil {
			l.Why = "UN, but its own view lists no host ID and nodetool info does not say it: " + err.Error()
			return l, nil
		}
		n.HostID = id
	}
	l.Ready, l.Why, l.Address, l.HostID = true, "UN", addr, n.HostID
	ring := own // with no other seed running, a seed's own view is the ring's
	if seed != nil {
		ring = seed.status
	}
	if seed != nil || slices.Contains(w.Seeds, node) {
		w.mu.Lock()
		w.recent.at, w.recent.status = time.Now(), ring
		w.mu.Unlock()
	}
	return l, nil
}

// recentSeedView is the seed's view a ready look took less than an
// Interval ago, which Quiet may take as its first look; nil when there is
// none. It is handed out once.
func (w *Waiter) recentSeedView() *nodetool.Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.recent.status
	if s == nil || time.Since(w.recent.at) >= w.Interval {
		s = nil
	}
	w.recent.status = nil
	return s
}

// SplitLooks is how many looks in a row must show a split before UN gives
// up: gossip may list a node that has just become NORMAL a round later in
// its seed's view, but a ring of its own stays one.
const SplitLooks = 5

// SplitError is a node that is UN in its own view while it and a running
// seed do not see each other: it has not joined the seeds' ring but founded
// one of its own, as a Cassandra seed does that reaches none of the other
// seeds (`Unable to gossip with any peers but continuing anyway since node
// is in its own seed list`). Waiting does not heal that: the two rings
// never merge by themselves.
type SplitError struct {
	Node, Addr string // the new node and its overlay address
	Peer       string // the seed compared with
	PeerAddr   string
	// NodeMissesPeer: the node's view does not list the seed;
	// PeerMissesNode: the seed's view does not list the node.
	NodeMissesPeer, PeerMissesNode bool
	// Unseen are further nodes of the seed's view (addresses) that the
	// node's view does not list.
	Unseen []string
}

func (e *SplitError) Error() string {
	var miss []string
	if e.NodeMissesPeer {
		m := fmt.Sprintf("%s's view does not list %s (%s)", e.Node, e.Peer, e.PeerAddr)
		if len(e.Unseen) > 0 {
			m += " nor " + strings.Join(e.Unseen, ", ")
		}
		miss = append(miss, m)
	}
	if e.PeerMissesNode {
		miss = append(miss, fmt.Sprintf("%s's view does not list %s (%s)", e.Peer, e.Node, e.Addr))
	}
	return fmt.Sprintf("%s is UN in its own view, but %s and %s cannot see each other: %s", e.Node, e.Node, e.Peer, strings.Join(miss, ", and "))
}

// split compares the view of node (at addr, UN in it) with the seed's:
// each must list the other.
func split(node, addr string, own *nodetool.Status, s *seedView) *SplitError {
	if s == nil || s.addr == "" {
		return nil
	}
	_, ownListsPeer := own.Node(s.addr)
	_, peerListsNode := s.status.Node(addr)
	if ownListsPeer && peerListsNode {
		return nil
	}
	e := &SplitError{Node: node, Addr: addr, Peer: s.name, PeerAddr: s.addr, NodeMissesPeer: !ownListsPeer, PeerMissesNode: !peerListsNode}
	for _, n := range s.status.Nodes() {
		if _, ok := own.Node(n.Address); !ok && n.Address != s.addr && n.Address != addr {
			e.Unseen = append(e.Unseen, n.Address)
		}
	}
	return e
}

// upAndCounted: addr is UN in the view and the view has at least started
// UN nodes.
func upAndCounted(s *nodetool.Status, addr string, started int) (bool, string) {
	n, ok := s.Node(addr)
	if !ok {
		return false, addr + " not listed yet"
	}
	if !n.UN() {
		return false, addr + " is " + n.Code()
	}
	if c := s.CountUN(); c < started {
		return false, fmt.Sprintf("%d UN nodes, want %d", c, started)
	}
	return true, ""
}

// UN waits until node is ready (Look), one of its tasks other than
// endedBefore ends, the timeout passes or ctx ends; it returns the last
// look. On failure the error is a *NodeError with the node's last log
// lines (unless ctx ended) and last nodetool output.
func (w *Waiter) UN(ctx context.Context, node string, started int, endedBefore map[string]bool) (Look, error) {
	var last Look
	splits := 0
	g := w.newGate()
	// Each look is a round of the node and the seeds: once the gate lets
	// the node through, its own view and the seeds' are asked side by
	// side, not one nodetool after another.
	nodes := append([]string{node}, w.Seeds...)
	err := op.Poll(ctx, w.Interval/4, w.Timeout, node+" to be UN", func() (bool, error) {
		look, err := w.look(ctx, w.newRound(ctx, nodes, g, []string{node}), g, node, started, endedBefore)
		g.carry(node, &look, last)
		last = look
		if err != nil {
			return false, err
		}
		if !look.gated { // a gated look saw no view
			if splits++; look.Split == nil {
				splits = 0
			}
		}
		if splits >= SplitLooks {
			return false, look.Split
		}
		w.debugf("%s: %s", node, look.Why)
		return look.Ready, nil
	})
	if err == nil {
		return last, nil
	}
	return last, w.report(ctx, node, last, err)
}

// report is a *NodeError: what was seen last of node.
func (w *Waiter) report(ctx context.Context, node string, last Look, err error) *NodeError {
	nerr := &NodeError{Node: node, Err: err, Nodetool: last.Nodetool}
	if last.Host != nil {
		nerr.Host = last.Host.Name()
		if ctx.Err() == nil && last.Task.ContainerID != "" {
			logs, lerr := last.Host.Engine.ContainerLogs(ctx, last.Task.ContainerID, 30)
			if lerr != nil {
				logs = "(no logs: " + lerr.Error() + ")"
			}
			nerr.Logs = logs
		}
	}
	return nerr
}

// Quiet waits, before node is started, until a seed's view shows no node
// joining, leaving or moving: Cassandra refuses to bootstrap next to one
// (consistent range movement), and a node whose start failed stays in the
// ring as joining until gossip forgets it. On failure busy says who was
// not normal at the last look.
func (w *Waiter) Quiet(ctx context.Context, node string) (busy string, err error) {
	recent := w.recentSeedView() // the view the last node was found UN in
	err = w.poll(ctx, "the ring to settle before "+node, func() (bool, error) {
		seed, err := recent, error(nil)
		if recent = nil; seed == nil {
			seed, err = w.SeedView(ctx, node)
		}
		if err != nil || seed == nil {
			return seed == nil, nil
		}
		busy = ""
		for _, n := range seed.Nodes() {
			if n.State != nodetool.Normal {
				busy += fmt.Sprintf(" %s is %s;", n.Address, n.Code())
			}
		}
		if busy != "" {
			w.debugf("before %s:%s", node, busy)
		}
		return busy == "", nil
	})
	return busy, err
}

// Down waits until the node at addr is down (D) in the view of a seed
// other than node, as after it was stopped.
func (w *Waiter) Down(ctx context.Context, node, addr string) error {
	var last string
	err := w.poll(ctx, node+" ("+addr+") to be down in a seed's view", func() (bool, error) {
		seed, err := w.SeedView(ctx, node)
		switch {
		case err != nil:
			last = err.Error()
			return false, nil
		case seed == nil:
			last = "no other seed runs"
			return false, nil
		}
		n, ok := seed.Node(addr)
		if !ok {
			last = addr + " is not listed"
			return false, nil
		}
		last = addr + " is " + n.Code()
		w.debugf("%s: %s", node, last)
		return n.Status == nodetool.Down, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w (last: %s)", node, err, last)
	}
	return nil
}

// Gone waits until no view of the nodes among lists addr or hostID
// (either may be ""), as after the node was removed from the ring. A node
// that does not run, or whose daemon is down, has no view to ask.
func (w *Waiter) Gone(ctx context.Context, addr, hostID string, among []string) error {
	var last string
	err := w.poll(ctx, cmp.Or(addr, hostID)+" to be gone from every view", func() (bool, error) {
		for _, viewer := range among {
			t, h, ok, err := w.Container(ctx, viewer)
			if errors.Is(err, engine.ErrNotFound) || (err == nil && !ok) {
				continue
			}
			if err != nil {
				last = err.Error()
				return false, nil
			}
			s, _, err := Status(ctx, h.Engine, t.ContainerID)
			var ce *nodetool.ConnectError
			if errors.As(err, &ce) {
				continue
			}
			if err != nil {
				last = viewer + ": " + err.Error()
				return false, nil
			}
			for _, n := range s.Nodes() {
				if (addr != "" && n.Address == addr) || (hostID != "" && strings.EqualFold(n.HostID, hostID)) {
					last = fmt.Sprintf("%s lists %s as %s", viewer, n.Address, n.Code())
					w.debugf("%s", last)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %s)", err, last)
	}
	return nil
}

// NodeError is a node that did not become ready: what was seen last.
type NodeError struct {
	Node     string
	Host     string
	Err      error
	Logs     string // the container's last log lines
	Nodetool string // the last nodetool status output, or its error
}

func (e *NodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s", e.Node)
	if e.Host != "" {
		fmt.Fprintf(&b, " on %s", e.Host)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Nodetool != "" {
		fmt.Fprintf(&b, "\nlast nodetool status:\n%s", op.Indent(strings.TrimRight(e.Nodetool, "\n")))
	}
	if e.Logs != "" {
		fmt.Fprintf(&b, "\nlast log lines:\n%s", op.Indent(strings.TrimRight(e.Logs, "\n")))
	}
	return b.String()
}

func (e *NodeError) Unwrap() error { return e.Err }
