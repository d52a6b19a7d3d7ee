package cassim

import (
	"fmt"
	"sort"
	"time"
)

// Gossip STATUS values (VersionedValue): a node without a status yet is
// still in its shadow round.
const (
	StatusJoining = "BOOT"
	StatusNormal  = "NORMAL"
	StatusLeaving = "LEAVING"
	StatusLeft    = "LEFT"
)

// EndpointState is one node's gossip state: its heartbeat (generation and
// version) and its application states.
type EndpointState struct {
	Addr       string  `json:"addr"`
	Generation int64   `json:"gen"` // start time in seconds, as Cassandra's
	Version    int64   `json:"ver"` // bumped by every heartbeat and change
	HostID     string  `json:"host_id"`
	Tokens     []int64 `json:"tokens,omitempty"`
	Status     string  `json:"status,omitempty"`
	Load       float64 `json:"load"` // bytes
	DC         string  `json:"dc"`
	Rack       string  `json:"rack"`
	Release    string  `json:"release"`
	Schema     string  `json:"schema"`
	RPCAddr    string  `json:"rpc_addr"`
	// RPCPort is the node's native_transport_port (Cassandra gossips it
	// as NATIVE_ADDRESS_AND_PORT); 0 from a node that did not say: 9042.
	RPCPort int `json:"rpc_port,omitempty"`
	// Keyspaces are the user keyspace definitions this node knows (schema.go).
	Keyspaces []Keyspace `json:"ks,omitempty"`
	// Shutdown is Cassandra's gossip shutdown message (a drain, or a node
	// that stops): peers mark the node down at once, without waiting for
	// the failure detector.
	Shutdown bool `json:"shutdown,omitempty"`
	// Replacing is the address a node started with
	// -Dcassandra.replace_address_first_boot takes over (BOOT_REPLACE).
	Replacing string `json:"replacing,omitempty"`
	// Auth is system_auth as this node last heard of it (auth.go).
	Auth *AuthData `json:"auth,omitempty"`
}

// newer reports whether a is a later state of the same endpoint than b.
func (a EndpointState) newer(b EndpointState) bool {
	if a.Generation != b.Generation {
		return a.Generation > b.Generation
	}
	return a.Version > b.Version
}

// Peer is an endpoint as this node sees it.
type Peer struct {
	EndpointState
	Up bool
}

// View is the gossip map of one node plus its failure detector. It is a
// plain state machine: the caller supplies the time.
type View struct {
	Local     string // this node's broadcast address
	DownAfter time.Duration
	// FatClientTimeout is Gossiper.fatClientTimeout: an endpoint that is
	// not a ring member (it never reached NORMAL) and has been silent this
	// long is removed from gossip, and gossip about it is then ignored for
	// twice as long (QUARANTINE_DELAY). Zero keeps such endpoints forever.
	FatClientTimeout time.Duration
	states           map[string]EndpointState
	heard            map[string]time.Time // when a remote state last advanced
	up               map[string]bool
	member           map[string]bool      // holds normal tokens (TokenMetadata.isMember)
	justRemoved      map[string]time.Time // quarantined endpoints: when they were removed
}

// NewView makes an empty view for the node at local.
func NewView(local string, downAfter, fatClientTimeout time.Duration) *View {
	return &View{Local: local, DownAfter: downAfter, FatClientTimeout: fatClientTimeout,
		states: map[string]EndpointState{}, heard: map[string]time.Time{}, up: map[string]bool{},
		member: map[string]bool{}, justRemoved: map[string]time.Time{}}
}

// QuarantineDelay is Gossiper.QUARANTINE_DELAY, twice the fat client timeout.
func (v *View) QuarantineDelay() time.Duration { return 2 * v.FatClientTimeout }

// quarantined reports whether gossip about addr is still ignored at now.
func (v *View) quarantined(now time.Time, addr string) bool {
	at, ok := v.justRemoved[addr]
	if ok && now.Sub(at) > v.QuarantineDelay() {
		delete(v.justRemoved, addr)
		return false
	}
	return ok
}

// Event is a change worth a log line.
type Event struct {
	Addr string
	Kind string // "UP", "DOWN", "STATUS", "NEW", "REMOVED"
	Text string
}

// SetLocal replaces this node's own state.
func (v *View) SetLocal(s EndpointState) {
	s.Addr = v.Local
	v.states[v.Local] = s
}

// LocalState is this node's own state.
func (v *View) LocalState() EndpointState { return v.states[v.Local] }

// Merge takes in remote states heard at now and returns what changed.
func (v *View) Merge(now time.Time, states []EndpointState) []Event {
	var evs []Event
	for _, s := range states {
		if s.Addr == v.Local || s.Addr == "" || v.quarantined(now, s.Addr) {
			continue
		}
		old, known := v.states[s.Addr]
		if known && !s.newer(old) {
			continue
		}
		v.states[s.Addr] = s
		v.heard[s.Addr] = now
		switch s.Status {
		case StatusNormal, StatusLeaving:
			v.member[s.Addr] = true
		case StatusLeft:
			delete(v.member, s.Addr)
		}
		if !known {
			evs = append(evs, Event{s.Addr, "NEW", fmt.Sprintf("Node /%s:%d is now part of the cluster", s.Addr, GossipPort)})
		}
		if s.Shutdown {
			// Gossiper.markAsShutdown: down at once
			if v.up[s.Addr] {
				v.up[s.Addr] = false
				evs = append(evs, Event{s.Addr, "DOWN", fmt.Sprintf("InetAddress /%s:%d is now DOWN", s.Addr, GossipPort)})
			}
		} else if s.Status != StatusLeft && !v.up[s.Addr] {
			v.up[s.Addr] = true
			evs = append(evs, Event{s.Addr, "UP", fmt.Sprintf("InetAddress /%s:%d is now UP", s.Addr, GossipPort)})
		}
		if known && old.Status != s.Status && s.Status != "" {
			evs = append(evs, Event{s.Addr, "STATUS", s.Status})
		}
		if s.Shutdown && !old.Shutdown {
			evs = append(evs, Event{s.Addr, "STATUS", "shutdown"})
		}
		if s.Status == StatusNormal && s.Replacing != "" {
			evs = append(evs, v.Replaced(now, s.Replacing, s.HostID)...)
		}
	}
	return evs
}

// Replaced removes the endpoint at old once the node with hostID has
// replaced it (Gossiper.replacedEndpoint): its state and tokens go, and
// gossip about it is ignored for the quarantine, as for a fat client. A
// node that replaced its own address keeps that state.
func (v *View) Replaced(now time.Time, old, hostID string) []Event {
	s, ok := v.states[old]
	if !ok || s.HostID == hostID || old == v.Local {
		return nil
	}
	delete(v.states, old)
	delete(v.heard, old)
	delete(v.up, old)
	delete(v.member, old)
	v.justRemoved[old] = now
	return []Event{{old, "REMOVED", fmt.Sprintf("Removing endpoint /%s:%d: it was replaced", old, GossipPort)}}
}

// Tick runs the failure detector and Gossiper.doStatusCheck's fat client
// removal at now.
func (v *View) Tick(now time.Time) []Event {
	var evs []Event
	for a := range v.justRemoved {
		v.quarantined(now, a) // forgets a quarantine that is over
	}
	for a, s := range v.states {
		if a == v.Local {
			continue
		}
		if v.gossipOnlyMember(a) && v.FatClientTimeout > 0 && now.Sub(v.heard[a]) > v.FatClientTimeout {
			// Gossiper.removeEndpoint and evictFromMembership: the state
			// and its pending tokens go, the address is quarantined.
			delete(v.states, a)
			delete(v.heard, a)
			delete(v.up, a)
			v.justRemoved[a] = now
			evs = append(evs, Event{a, "REMOVED", fmt.Sprintf("FatClient /%s:%d has been silent for %dms, removing from gossip", a, GossipPort, v.FatClientTimeout.Milliseconds())})
			continue
		}
		if !v.up[a] {
			continue
		}
		if s.Status == StatusLeft || now.Sub(v.heard[a]) > v.DownAfter {
			v.up[a] = false
			if s.Status != StatusLeft {
				evs = append(evs, Event{a, "DOWN", fmt.Sprintf("InetAddress /%s:%d is now DOWN", a, GossipPort)})
			}
		}
	}
	return evs
}

// gossipOnlyMember is Gossiper.isGossipOnlyMember: in gossip, not in a
// dead state (LEFT) and holding no normal tokens, e.g. a node that died
// while JOINING or failed a start-up check after it began to gossip.
func (v *View) gossipOnlyMember(addr string) bool {
	s, ok := v.states[addr]
	return ok && s.Status != StatusLeft && !v.member[addr]
}

// States returns every state, this node's own included, ordered by address.
func (v *View) States() []EndpointState {
	out := make([]EndpointState, 0, len(v.states))
	for _, s := range v.states {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// State returns the state of addr.
func (v *View) State(addr string) (EndpointState, bool) {
	s, ok := v.states[addr]
	return s, ok
}

// IsUp reports whether the failure detector holds addr alive (this node is).
func (v *View) IsUp(addr string) bool { return addr == v.Local || v.up[addr] }

// Peers returns the ring members as this node sees them: every endpoint
// but those that left and those whose host ID moved to a newer address.
func (v *View) Peers() []Peer {
	newestByID := map[string]EndpointState{}
	for _, s := range v.states {
		if cur, ok := newestByID[s.HostID]; !ok || s.Generation > cur.Generation {
			newestByID[s.HostID] = s
		}
	}
	var out []Peer
	for _, s := range v.States() {
		if s.Status == StatusLeft || s.Status == "" || newestByID[s.HostID].Addr != s.Addr {
			continue
		}
		out = append(out, Peer{EndpointState: s, Up: v.IsUp(s.Addr)})
	}
	return out
}

// NormalTokenOwners maps each token of the normal ring (NORMAL and LEAVING
// nodes) to its owner. When two nodes claim one token the node that started
// later owns it, as Gossiper.compareEndpointStartup decides.
func NormalTokenOwners(peers []Peer) map[int64]string {
	own := map[int64]string{}
	gen := map[int64]int64{}
	for _, p := range peers {
		if p.Status != StatusNormal && p.Status != StatusLeaving {
			continue
		}
		for _, t := range p.Tokens {
			if _, taken := own[t]; !taken || p.Generation > gen[t] {
				own[t], gen[t] = p.Addr, p.Generation
			}
		}
	}
	return own
}
