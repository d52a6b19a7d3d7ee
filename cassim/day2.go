package cassim

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Day-2 operations as Cassandra 5.0 runs them: nodetool drain, nodetool
// decommission, -Dcassandra.replace_address_first_boot, and what a node
// does when it stops. Messages are Cassandra's (StorageService,
// CassandraDaemon), checked against real 5.0.8 with
// scripts/compare-cassim-day2.sh (cassim/README.md).

// Cassandra's messages for the day-2 rules.
const (
	MsgNotMember           = "local node is not a member of the token ring yet"
	MsgDecommissionAlone   = "no other normal nodes in the ring; decommission would be pointless"
	MsgStillDecommissining = "Node is still decommissioning. Check nodetool netstats or nodetool info."
	MsgAlreadyDecom        = "Node was already decommissioned."
	MsgDecommissioned      = "This node was decommissioned and will not rejoin the ring unless -Dcassandra.override_decommission=true has been set, or all existing data is removed and the node is bootstrapped again"
	MsgReplaceLive         = "Cannot replace a live node... "
	MsgReplaceUnsafe       = "Replacing a node without bootstrapping risks invalidating consistency guarantees as the expected data may not be present until repair is run. To perform this operation, please restart with -Dcassandra.allow_unsafe_replace=true"
	MsgFatalConfig         = "Fatal configuration error; unable to start server.  See log for stacktrace."
)

// MsgNotEnoughReplicas is decommission's replication check.
func MsgNotEnoughReplicas(ks string, rf, n int) string {
	return fmt.Sprintf("Not enough live nodes to maintain replication factor in keyspace %s (RF = %d, N = %d). Perform a forceful decommission to ignore.", ks, rf, n)
}

// MsgNodeInMode refuses a decommission outside NORMAL.
func MsgNodeInMode(mode string) string {
	return fmt.Sprintf("Node in %s state; wait for status to become normal or restart", mode)
}

// MsgReplaceUnknown refuses to replace an address gossip does not know.
func MsgReplaceUnknown(addr string) string {
	return fmt.Sprintf("Cannot replace_address /%s:%d because it doesn't exist in gossip", addr, GossipPort)
}

// unsupportedOp is nodetool's "Unsupported operation": nodetool prints it
// on stdout with its usage hint and exits 1.
type unsupportedOp struct{ msg string }

func (e *unsupportedOp) Error() string { return e.msg }

// streamTime is how long streaming bytes takes: the profile's fixed
// streaming time plus bytes at the stream throughput.
func (t Timings) streamTime(bytes float64) time.Duration {
	d := t.Bootstrap
	if t.StreamBytesPerSecond > 0 {
		d += time.Duration(bytes / t.StreamBytesPerSecond * float64(time.Second))
	}
	return d
}

// Decommission leaves the ring as StorageService.decommission does:
// refusals in Cassandra's order, then LEAVING (UL on the others) for the
// ring delay and while it streams its load, then LEFT (system.local
// bootstrapped NEEDS_BOOTSTRAP), announced for the ring delay with CQL
// still up; then CQL and gossip stop and the node idles as DECOMMISSIONED
// (the process stays up) and its data refuses to rejoin. It returns nodetool's output.
func (n *Node) Decommission(ctx context.Context, force bool) (string, error) {
	n.mu.Lock()
	mode := n.mode
	local := n.view.LocalState()
	peers := n.view.Peers()
	schema := n.schema.ReplicationCheckOrder()
	n.mu.Unlock()
	switch {
	case mode == "DECOMMISSIONED":
		return MsgAlreadyDecom + "\n", nil
	case mode == "LEAVING":
		return "", &unsupportedOp{MsgStillDecommissining}
	case local.Status != StatusNormal || len(local.Tokens) == 0:
		return "", &unsupportedOp{MsgNotMember}
	}
	others, members, inDC := 0, 0, 0
	for _, p := range peers {
		if p.Status != StatusNormal && p.Status != StatusLeaving {
			continue
		}
		members++
		if p.DC == n.cfg.DC {
			inDC++
		}
		if p.Addr != n.addr && p.Status == StatusNormal {
			others++
		}
	}
	if others == 0 {
		return "", &unsupportedOp{MsgDecommissionAlone}
	}
	if mode != "NORMAL" && mode != "DECOMMISSION_FAILED" {
		return "", &unsupportedOp{MsgNodeInMode(mode)}
	}
	if !force {
		for _, k := range schema {
			rf, nodes := k.RF(n.cfg.DC), members
			if k.Replication["class"] == ntsStrategy {
				nodes = inDC
			}
			if rf > 0 && nodes <= rf {
				msg := MsgNotEnoughReplicas(k.Name, rf, nodes)
				n.log.Error("RMI TCP Connection(2)-127.0.0.1", "StorageService.java:5415", "Error while decommissioning node: %s", msg)
				n.setMode("DECOMMISSION_FAILED")
				return "", &unsupportedOp{msg}
			}
		}
	}
	thread := "RMI TCP Connection(2)-127.0.0.1"
	n.mu.Lock()
	if n.mode != mode { // another decommission (or a drain) got here first
		n.mu.Unlock()
		return "", &unsupportedOp{MsgStillDecommissining}
	}
	n.mode = "LEAVING"
	n.mu.Unlock()
	n.setLocal(func(s *EndpointState) { s.Status = StatusLeaving })
	n.log.Info(thread, "StorageService.java:2086", "LEAVING: sleeping %d ms for batch processing and pending range setup", n.cfg.Timings.RingDelay.Milliseconds())
	if err := sleep(ctx, n.cfg.Timings.RingDelay); err != nil {
		return "", err
	}
	n.log.Info(thread, "StorageService.java:2086", "LEAVING: replaying batch log and streaming data to other nodes")
	n.log.Info(thread, "StreamResultFuture.java:98", "[Stream #%s] Executing streaming plan for Unbootstrap", NewHostID())
	if err := sleep(ctx, n.cfg.Timings.streamTime(local.Load)); err != nil {
		return "", err
	}
	if err := n.holdStream(ctx); err != nil {
		return "", err
	}
	n.log.Info(thread, "StorageService.java:2086", "LEAVING: streaming hints to other nodes")
	// leaveRing: bootstrap state NEEDS_BOOTSTRAP (system.local says so
	// while CQL still answers, so a health check that wants COMPLETED
	// fails from here on, as it does on Cassandra), STATUS LEFT, and the
	// announcement for the ring delay.
	if err := n.saveIdentity(func(id *Identity) { id.Bootstrapped = false }); err != nil {
		return "", err
	}
	n.setLocal(func(s *EndpointState) { s.Status = StatusLeft })
	n.log.Info(thread, "StorageService.java:5433", "Announcing that I have left the ring for %dms", n.cfg.Timings.RingDelay.Milliseconds())
	if err := sleep(ctx, max(n.cfg.Timings.RingDelay, 2*n.cfg.Timings.GossipInterval)); err != nil {
		return "", err
	}
	// Then, as 5.0's decommission: the client servers stop, gossip stops
	// (a LEFT node does not announce a shutdown), messaging and the
	// stages stop, the bootstrap state becomes DECOMMISSIONED. The
	// process stays up ("let op be responsible for killing the
	// process"): real 5.0.8 here still ran, DECOMMISSIONED, minutes after.
	n.closeCQL()
	n.announceShutdown(ctx, thread)
	if err := n.saveIdentity(func(id *Identity) { id.Decommissioned = true }); err != nil {
		return "", err
	}
	n.setMode("DECOMMISSIONED")
	return "", nil
}

// saveIdentity changes the node's saved state (system.local) and writes it.
func (n *Node) saveIdentity(change func(*Identity)) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	change(&n.id)
	return n.id.Save(n.cfg.DataDir)
}

// setMode is StorageService.setMode: the operation mode, logged.
func (n *Node) setMode(mode string) {
	n.mu.Lock()
	n.mode = mode
	n.mu.Unlock()
	n.log.Info("RMI TCP Connection(2)-127.0.0.1", "StorageService.java:2086", "%s", mode)
}

// Drain is nodetool drain: clients are dropped, the shutdown is announced
// (peers mark the node down at once), gossip stops, and the node idles as
// DRAINED until it is stopped. A second drain does nothing.
func (n *Node) Drain(ctx context.Context) {
	n.mu.Lock()
	mode := n.mode
	n.mu.Unlock()
	if mode == "DRAINED" || mode == "DRAINING" {
		return
	}
	thread := "RMI TCP Connection(2)-127.0.0.1"
	n.log.Info(thread, "StorageService.java:2086", "DRAINING: starting drain process")
	n.setModeQuiet("DRAINING")
	n.log.Info(thread, "HintsService.java:234", "Paused hints dispatch")
	n.closeCQL()
	n.log.Info(thread, "Server.java:193", "Stop listening for CQL clients")
	n.announceShutdown(ctx, thread)
	n.setMode("DRAINED")
}

func (n *Node) setModeQuiet(mode string) {
	n.mu.Lock()
	n.mode = mode
	n.mu.Unlock()
}

// announceShutdown is Gossiper.stop, logged from thread: a node that
// gossips tells every live peer it shuts down (GOSSIP_SHUTDOWN), so that
// they mark it down at once, and stops gossiping.
func (n *Node) announceShutdown(ctx context.Context, thread string) {
	n.mu.Lock()
	on := n.gossiping && n.view.LocalState().Status == StatusNormal
	n.gossiping = false
	var targets []string
	for _, s := range n.view.States() {
		if s.Addr != n.addr && n.view.IsUp(s.Addr) {
			targets = append(targets, s.Addr)
		}
	}
	n.mu.Unlock()
	if !on {
		n.log.Warn(thread, "Gossiper.java:2281", "No local state, state is in silent shutdown, or node hasn't joined, not announcing shutdown")
		return
	}
	n.log.Info(thread, "Gossiper.java:2285", "Announcing shutdown")
	n.setLocal(func(s *EndpointState) { s.Shutdown = true })
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	done := make(chan struct{}, len(targets))
	for _, a := range targets {
		go func() {
			_, _ = n.exchange(ctx, a, false)
			done <- struct{}{}
		}()
	}
	for range targets {
		<-done
	}
}

// checkDecommissioned refuses to start on the data of a decommissioned node
// (StorageService.initServer), unless -Dcassandra.override_decommission=true.
func (n *Node) checkDecommissioned(id *Identity) error {
	if !id.Decommissioned {
		return nil
	}
	if !n.cfg.OverrideDecommission {
		return &FatalConfigError{"org.apache.cassandra.exceptions.ConfigurationException", MsgDecommissioned}
	}
	n.log.Warn("main", "StorageService.java:1043", "This node was decommissioned, but overriding by operator request.")
	id.Decommissioned, id.Bootstrapped = false, true
	return nil
}

// replacement is what a replacing node learnt of the node it replaces.
type replacement struct {
	old EndpointState
}

// prepareReplacement is StorageService.prepareForReplacement, after the
// shadow round: the address must be in gossip with tokens, and this node
// must bootstrap. It returns nil when there is nothing to replace (no
// replace address, or this node has bootstrapped before: the flag only
// counts on a first boot).
// prior is what the seeds know of this node's own address.
func (n *Node) prepareReplacement(id Identity, isSeed bool, prior *EndpointState) (*replacement, error) {
	addr := n.cfg.ReplaceAddress
	if addr == "" {
		return nil, nil
	}
	if id.Bootstrapped {
		n.log.Info("main", "StorageService.java:1089", "Replace address on first boot requested; this node is already bootstrapped")
		return nil, nil
	}
	if (isSeed || !n.cfg.AutoBootstrap) && !n.cfg.AllowUnsafeReplace {
		return nil, &StartupError{Exception: "java.lang.RuntimeException", Msg: MsgReplaceUnsafe}
	}
	if net.ParseIP(addr) == nil {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		as, err := n.Resolve(c, addr)
		cancel()
		if err != nil || len(as) == 0 {
			return nil, &FatalConfigError{"org.apache.cassandra.exceptions.ConfigurationException", "Replacement host name could not be resolved or scoped IPv6 address"}
		}
		addr = as[0]
	}
	n.log.Info("main", "StorageService.java:757", "Gathering node replacement information for /%s:%d", addr, GossipPort)
	n.mu.Lock()
	old, ok := n.view.State(addr)
	n.mu.Unlock()
	if addr == n.addr && prior != nil {
		old, ok = *prior, true // the view keeps no state for its own address
	}
	if !ok || old.Status == StatusLeft || len(old.Tokens) == 0 {
		return nil, &StartupError{Exception: "java.lang.RuntimeException", Msg: MsgReplaceUnknown(addr)}
	}
	if addr == n.addr {
		n.log.Warn("main", "StorageService.java:1182", "Writes will not be forwarded to this node during replacement because it has the same address as the node to be replaced (/%s:%d). If the previous node has been down for longer than max_hint_window, repair must be run after the replacement process in order to make this node consistent.", addr, GossipPort)
	}
	return &replacement{old: old}, nil
}

// keepHostID: a node that replaces its own address keeps the old host ID,
// from before it gossips.
func (n *Node) keepHostID(id *Identity, r *replacement) {
	if r == nil || r.old.Addr != n.addr {
		return
	}
	id.HostID = r.old.HostID
	n.mu.Lock()
	n.id.HostID = id.HostID
	n.mu.Unlock()
	n.setLocal(func(s *EndpointState) { s.HostID = id.HostID })
}

// replaceLive is the check after the replacing node has waited: the old
// node's gossip state must not have changed in that time.
// (Replacing its own address, the node holds that address itself: the old
// node cannot be alive there.)
func (n *Node) replaceLive(r *replacement) error {
	if r.old.Addr == n.addr {
		return nil
	}
	n.mu.Lock()
	cur, _ := n.view.State(r.old.Addr)
	up := !cur.Shutdown && cur.newer(r.old)
	n.mu.Unlock()
	if up {
		n.log.Error("main", "StorageService.java:2169", "Unable to replace node for token=%d. The node is reporting as alive (cassim: its gossip state changed while this node waited)", r.old.Tokens[0])
		return &StartupError{Exception: "java.lang.UnsupportedOperationException", Msg: MsgReplaceLive}
	}
	return nil
}

// replace takes over the old node's tokens (StorageService.joinTokenRing
// with a replace address): JOINING, it waits the ring delay and the load
// broadcast interval while it gossips (the others do not list it yet, and
// still show the old node DN), refuses if the old node is alive, then the
// others show it UJ beside the old node while it streams the old node's
// load. It returns the tokens.
func (n *Node) replace(ctx context.Context, id *Identity, r *replacement) ([]int64, error) {
	n.setModeQuiet("JOINING")
	n.log.Info("main", "StorageService.java:2086", "JOINING: waiting for ring information")
	wait := n.cfg.Timings.RingDelay
	if r.old.Addr != n.addr {
		// only then does it wait to see the old node is dead (real 5.0.8:
		// 54 s to UN at the old address, 103 s at another)
		wait += n.cfg.Timings.BroadcastInterval
	}
	if err := sleep(ctx, wait); err != nil {
		return nil, err
	}
	if err := n.replaceLive(r); err != nil {
		return nil, err
	}
	tokens := append([]int64(nil), r.old.Tokens...)
	n.log.Info("main", "StorageService.java:2086", "JOINING: Replacing a node with token(s): %v", tokens)
	id.BootstrapInProgress = true
	if err := id.Save(n.cfg.DataDir); err != nil {
		return nil, err
	}
	n.setLocal(func(s *EndpointState) { s.Tokens, s.Status, s.Replacing = tokens, StatusJoining, r.old.Addr })
	n.log.Info("main", "StorageService.java:2086", "JOINING: sleeping %d ms for pending range setup", n.cfg.Timings.RingDelay.Milliseconds())
	if err := sleep(ctx, n.cfg.Timings.RingDelay); err != nil {
		return nil, err
	}
	n.log.Info("main", "StorageService.java:2086", "JOINING: Starting to bootstrap...")
	if err := sleep(ctx, n.cfg.Timings.streamTime(r.old.Load)); err != nil {
		return nil, err
	}
	if err := n.holdStream(ctx); err != nil {
		return nil, err
	}
	if n.cfg.LoadBytes == 0 {
		id.Load = r.old.Load // it holds what the old node held
	}
	n.log.Info("main", "StorageService.java:1602", "Bootstrap completed for tokens %v", tokens)
	return tokens, nil
}
