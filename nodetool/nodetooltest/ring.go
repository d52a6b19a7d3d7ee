package nodetooltest

import (
	"strings"
	"sync"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

// Ring is a fake Cassandra ring: the nodes it lists, each in a state a
// test sets, and what each node's container answers. Set World.Exec to its
// Exec. A node's container is found by its swarmcass.node label; a node the
// ring does not list answers as a daemon that is not up.
type Ring struct {
	mu      sync.Mutex
	order   []string
	members map[string]*member
	views   map[string]map[string]string // viewer -> subject -> code
}

type member struct {
	addr, hostID, code string
	daemon             bool // answers nodetool
	blankOwnID         bool // its own view prints its Host ID blank
}

// NewRing is an empty ring.
func NewRing() *Ring {
	return &Ring{members: map[string]*member{}, views: map[string]map[string]string{}}
}

// Set lists node at addr in state code (UN, UJ, UL, DN, ...) in every
// view, its daemon up unless the code starts with D.
func (r *Ring) Set(node, addr, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[node]
	if !ok {
		m = &member{hostID: HostID(node)}
		r.members[node] = m
		r.order = append(r.order, node)
	}
	m.addr, m.code, m.daemon = addr, code, !strings.HasPrefix(code, "D")
}

// SetHostID gives node (listed with Set) its host ID; HostID(node) by default.
func (r *Ring) SetHostID(node, hostID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members[node].hostID = hostID
}

// BlankOwnHostID makes node's own view print its Host ID column blank, as
// real 5.0 was seen doing for a node restarted on its volume; nodetool
// info in its container still says its ID.
func (r *Ring) BlankOwnHostID(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members[node].blankOwnID = true
}

// SetView makes viewer see subject as code ("-": not listed), whatever
// subject's own state.
func (r *Ring) SetView(viewer, subject, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.views[viewer] == nil {
		r.views[viewer] = map[string]string{}
	}
	r.views[viewer][subject] = code
}

// Remove takes node out of the ring: no view lists it any more (as after
// nodetool removenode, or once gossip forgot it).
func (r *Ring) Remove(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.members, node)
	for i, n := range r.order {
		if n == node {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

// Rows is the ring as viewer sees it.
func (r *Ring) Rows(viewer string) []Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows []Row
	for _, n := range r.order {
		m := r.members[n]
		code := m.code
		if c, ok := r.views[viewer][n]; ok {
			code = c
		}
		if code == "-" {
			continue
		}
		id := m.hostID
		if n == viewer && m.blankOwnID {
			id = ""
		}
		rows = append(rows, Row{Code: code, Address: m.addr, HostID: id})
	}
	return rows
}

// Exec answers nodetool status and describecluster in node containers.
func (r *Ring) Exec(_ *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
	viewer := c.Labels[engine.LabelNode]
	r.mu.Lock()
	m, ok := r.members[viewer]
	up := ok && m.daemon
	r.mu.Unlock()
	if !up {
		return engine.ExecResult{ExitCode: 1, Stderr: ConnectRefused}, nil
	}
	switch strings.Join(cmd, " ") {
	case "nodetool status":
		return engine.ExecResult{Stdout: Status(r.Rows(viewer))}, nil
	case "nodetool info":
		r.mu.Lock()
		id := m.hostID
		r.mu.Unlock()
		return engine.ExecResult{Stdout: "ID                     : " + id + "\nGossip active          : true\n"}, nil
	case "nodetool describecluster":
		var eps []string
		for _, row := range r.Rows(viewer) {
			eps = append(eps, row.Address)
		}
		return engine.ExecResult{Stdout: DescribeCluster("test", "59adb24e-f3cd-3e02-97f0-5b395827453f", eps)}, nil
	}
	return engine.ExecResult{ExitCode: 127, Stderr: "unknown command " + strings.Join(cmd, " ")}, nil
}
