package nodetooltest

import (
	"cmp"
	"fmt"
	"strings"
	"sync"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

// Ring is the one fake Cassandra ring of unit tests: the members it lists,
// each in a state (UN, UJ, UL, DN, ...), what each viewer sees of them, and
// what a node's container answers (nodetool status, info, info -T,
// describecluster, version; df of the data directory).
//
// A test moves nodes through states itself (Set, SetView, Remove) and sets
// World.Exec to Exec. A harness that simulates the nodes' lifecycle lists
// the members its simulation has (SetMembers) and answers through Answer:
// the Ring renders, the harness decides who is in which state.
type Ring struct {
	mu      sync.Mutex
	members []*member                    // in the order they joined
	views   map[string]map[string]string // viewer -> subject -> code, by node
	dropped map[string]bool              // machines that drop overlay traffic
	load    map[string]string            // node -> Load in nodetool status
	owns    map[string]string            // node -> Owns in nodetool status
	schema  map[string]string            // viewer -> its schema version
	tokens  map[string]string            // node -> what nodetool info -T lists
	free    map[string]int64             // node -> bytes df reports free

	// Keyspaces are describecluster's `Keyspaces:` lines ("ks ->
	// Replication class: ..."); none printed when empty. Set it before
	// the ring is asked.
	Keyspaces []string
}

// Member is one node as the ring lists it.
type Member struct {
	Node   string // its container's swarmcass.node label
	Addr   string
	HostID string
	Code   string // how every view lists it, unless SetView says otherwise
	// Host is the machine it runs on ("" when it runs nowhere): a
	// machine that drops overlay traffic (SetDropped) sees only the
	// members on it, and the others do not see those.
	Host string
	// Daemon: its container answers nodetool (Exec); a node the ring
	// does not list, or listed with a daemon down, refuses to connect.
	Daemon bool
	// Tokens are the tokens it was given (comma-separated): what nodetool
	// info -T lists unless SetTokens says otherwise; "42" when none.
	Tokens string
	// Release is what nodetool version says; DefaultRelease when empty.
	Release string
}

// DefaultRelease is the release a member reports when it is given none.
const DefaultRelease = "5.0.8"

type member struct {
	Member
	blankOwnID bool // its own view prints its Host ID blank
}

// Schema is the schema version every node of a Ring agrees on, unless
// SetSchema says otherwise.
const Schema = "59adb24e-f3cd-3e02-97f0-5b395827453f"

// SystemKeyspaces are a fresh cluster's keyspaces as describecluster
// lists them.
func SystemKeyspaces() []string {
	return []string{
		"system_schema -> Replication class: LocalStrategy {}",
		"system -> Replication class: LocalStrategy {}",
		"system_auth -> Replication class: SimpleStrategy {replication_factor=1}",
		"system_distributed -> Replication class: SimpleStrategy {replication_factor=3}",
		"system_traces -> Replication class: SimpleStrategy {replication_factor=2}",
	}
}

// NewRing is an empty ring.
func NewRing() *Ring {
	return &Ring{views: map[string]map[string]string{}, dropped: map[string]bool{},
		load: map[string]string{}, owns: map[string]string{}, schema: map[string]string{},
		tokens: map[string]string{}, free: map[string]int64{}}
}

// find is the member node answers as: the last listed of that name (a
// node that came back on a new identity joined after its old entry).
func (r *Ring) find(node string) *member {
	for i := len(r.members) - 1; i >= 0; i-- {
		if r.members[i].Node == node {
			return r.members[i]
		}
	}
	return nil
}

// Set lists node at addr in state code (UN, UJ, UL, DN, ...) in every
// view, its daemon up unless the code starts with D.
func (r *Ring) Set(node, addr, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.find(node)
	if m == nil {
		m = &member{Member: Member{Node: node, HostID: HostID(node)}}
		r.members = append(r.members, m)
	}
	m.Addr, m.Code, m.Daemon = addr, code, !strings.HasPrefix(code, "D")
}

// SetHostID gives node (listed with Set) its host ID; HostID(node) by default.
func (r *Ring) SetHostID(node, hostID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.find(node).HostID = hostID
}

// BlankOwnHostID makes node's own view print its Host ID column blank, as
// real 5.0 was seen doing for a node restarted on its volume; nodetool
// info in its container still says its ID.
func (r *Ring) BlankOwnHostID(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.find(node).blankOwnID = true
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
	var kept []*member
	for _, m := range r.members {
		if m.Node != node {
			kept = append(kept, m)
		}
	}
	r.members = kept
}

// SetMembers makes the ring list ms, in that order, and nothing else.
func (r *Ring) SetMembers(ms []Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = r.members[:0]
	for _, m := range ms {
		r.members = append(r.members, &member{Member: m})
	}
}

// SetDropped says whether machine host drops overlay traffic (a firewall
// without 4789/udp): members there see only each other, and are seen by
// no one else.
func (r *Ring) SetDropped(host string, dropped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped[host] = dropped
}

// Dropped reports whether machine host drops overlay traffic.
func (r *Ring) Dropped(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped[host]
}

// SetLoad is node's Load in nodetool status ("104.38 KiB" unless set).
func (r *Ring) SetLoad(node, load string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load[node] = load
}

// SetOwns is node's Owns (effective) in nodetool status (Status's default
// unless set).
func (r *Ring) SetOwns(node, owns string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owns[node] = owns
}

// SetSchema makes viewer's describecluster print schema version (Schema,
// unless set): a node whose schema disagrees.
func (r *Ring) SetSchema(viewer, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.schema[viewer] = version
}

// SetTokens makes node's nodetool info -T list tokens (comma-separated),
// whatever it was given: a node that took other tokens.
func (r *Ring) SetTokens(node, tokens string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[node] = tokens
}

// SetFree is what df reports free on node's data directory (100 GiB unless set).
func (r *Ring) SetFree(node string, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.free[node] = bytes
}

// rows is the ring as viewer sees it.
func (r *Ring) rows(viewer Member) []Row {
	var rows []Row
	for _, m := range r.members {
		code := m.Code
		if c, ok := r.views[viewer.Node][m.Node]; ok {
			code = c
		}
		if code == "-" || !r.reaches(viewer.Host, m.Host) {
			continue
		}
		id := m.HostID
		if m.HostID == viewer.HostID && m.Node == viewer.Node && m.blankOwnID {
			id = ""
		}
		rows = append(rows, Row{Code: code, Address: m.Addr, HostID: id, Load: r.load[m.Node], Owns: r.owns[m.Node]})
	}
	return rows
}

// reaches: a node on machine from sees a node on machine to (""
// running nowhere) across the overlay.
func (r *Ring) reaches(from, to string) bool {
	return to == from || (!r.dropped[from] && (to == "" || !r.dropped[to]))
}

// Exec answers in node containers as the member their swarmcass.node label
// names (Answer); a container the ring does not list, or whose daemon is
// down, refuses to connect.
func (r *Ring) Exec(_ *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
	r.mu.Lock()
	m := r.find(c.Labels[engine.LabelNode])
	up := m != nil && m.Daemon
	var v Member
	if up {
		v = m.Member
	}
	r.mu.Unlock()
	if !up {
		return engine.ExecResult{ExitCode: 1, Stderr: ConnectRefused}, nil
	}
	return r.Answer(v, cmd), nil
}

// Answer is what cmd prints in viewer's container, its daemon up: nodetool
// status and describecluster as viewer sees the ring, nodetool info (its
// host ID), info -T (its tokens) and version, df -Pk of the data
// directory.
func (r *Ring) Answer(viewer Member, cmd []string) engine.ExecResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch strings.Join(cmd, " ") {
	case "nodetool status":
		return engine.ExecResult{Stdout: Status(r.rows(viewer))}
	case "nodetool describecluster":
		var eps []string
		for _, row := range r.rows(viewer) {
			eps = append(eps, row.Address)
		}
		version, ok := r.schema[viewer.Node]
		if !ok {
			version = Schema
		}
		out := DescribeCluster("test", version, eps)
		if len(r.Keyspaces) > 0 {
			out += "Keyspaces:\n"
			for _, k := range r.Keyspaces {
				out += "\t" + k + "\n"
			}
		}
		return engine.ExecResult{Stdout: out}
	case "nodetool info":
		return engine.ExecResult{Stdout: "ID                     : " + viewer.HostID + "\nGossip active          : true\n"}
	case "nodetool info -T":
		tokens, ok := r.tokens[viewer.Node]
		if !ok {
			tokens = viewer.Tokens
		}
		if tokens == "" {
			tokens = "42"
		}
		var b strings.Builder
		for _, t := range strings.Split(tokens, ",") {
			fmt.Fprintf(&b, "%-23s: %s\n", "Token", t)
		}
		return engine.ExecResult{Stdout: b.String()}
	case "nodetool version":
		return engine.ExecResult{Stdout: "ReleaseVersion: " + cmp.Or(viewer.Release, DefaultRelease) + "\n"}
	case "df -Pk /var/lib/cassandra":
		free, ok := r.free[viewer.Node]
		if !ok {
			free = 100 << 30
		}
		return engine.ExecResult{Stdout: fmt.Sprintf("Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/sda1        %d  1234 %d       1%% /var/lib/cassandra\n", free>>10+1234, free>>10)}
	}
	return engine.ExecResult{ExitCode: 127, Stderr: "unknown command " + strings.Join(cmd, " ")}
}
