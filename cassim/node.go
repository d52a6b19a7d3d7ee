package cassim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// SchemaVersion is the schema version every cassim node reports: nodes
// that agree on the schema report one version, as a fresh cluster does.
const SchemaVersion = "59adb24e-f3cd-3e02-97f0-5b395827453f"

// StartupError is a refusal to start, with Cassandra's exception class and
// message. Cassandra exits with status 3 after it.
type StartupError struct {
	Exception string // e.g. java.lang.UnsupportedOperationException
	Msg       string
}

func (e *StartupError) Error() string { return e.Msg }

// FatalConfigError is a configuration error found at start-up: Cassandra
// prints the message and "Fatal configuration error; unable to start
// server.  See log for stacktrace." and exits with status 1.
type FatalConfigError struct {
	Exception, Msg string
}

func (e *FatalConfigError) Error() string { return e.Msg }

// Cassandra's messages for the rules cassim enforces.
const (
	MsgRangeMovement = "Other bootstrapping/leaving/moving nodes detected, cannot bootstrap while cassandra.consistent.rangemovement is true"
	MsgNoSeeds       = "Unable to contact any seeds!"
	MsgSeedNoBoot    = "This node will not auto bootstrap because it is configured to be a seed node."
)

// MsgAddressTaken is Cassandra's refusal of an address held by another host ID.
func MsgAddressTaken(addr string) string {
	return fmt.Sprintf("A node with address /%s:%d already exists, cancelling join. Use cassandra.replace_address if you want to replace this node.", addr, GossipPort)
}

// MsgExistingToken is BootStrapper's refusal of a token already owned.
func MsgExistingToken(t int64) string {
	return fmt.Sprintf("Bootstrapping to existing token %d is not allowed (decommission/removenode the old node first).", t)
}

// Node is one running cassim node.
type Node struct {
	cfg  Config
	log  *Logger
	addr string // broadcast address
	bind net.IP
	// Resolve looks a seed name up; tests replace it.
	Resolve func(ctx context.Context, host string) ([]string, error)

	mu         sync.Mutex
	hold       <-chan struct{} // Config.holdStream, or a test's later one
	view       *View
	id         Identity
	mode       string // STARTING, JOINING, NORMAL, LEAVING, DECOMMISSIONED, DECOMMISSION_FAILED, DRAINING, DRAINED
	schema     Schema // user keyspaces (schema.go)
	runCtx     context.Context
	gossiping  bool
	started    time.Time
	seedAddrs  []string
	badSeeds   map[string]bool
	tokenWarns map[int64]bool

	gossipLn, cqlLn, adminLn net.Listener
	cql                      cqlConns
	adminSrv                 *http.Server // closed with the node, idle connections too
	// AdminAddr and CQLAddr are where nodetool and CQL clients connect;
	// tests running several nodes in one process change them.
	AdminAddr, CQLAddr string
}

// NewNode prepares a node that logs to out. bind is its listen address;
// the broadcast address defaults to it.
func NewNode(cfg Config, bind net.IP, out io.Writer) *Node {
	addr := cfg.BroadcastAddress
	if addr == "" {
		addr = bind.String()
	}
	if cfg.RPCAddress == "" {
		cfg.RPCAddress = "0.0.0.0"
	}
	if cfg.NativePort == 0 {
		cfg.NativePort = CQLPort
	}
	if cfg.NodetoolAddress == "" {
		cfg.NodetoolAddress = fmt.Sprintf("127.0.0.1:%d", NodetoolPort)
	}
	return &Node{cfg: cfg, log: NewLogger(out), addr: addr, bind: bind,
		Resolve: func(ctx context.Context, h string) ([]string, error) {
			return net.DefaultResolver.LookupHost(ctx, h)
		},
		view: NewView(addr, cfg.Timings.DownAfter, cfg.Timings.FatClientTimeout()), mode: "STARTING",
		badSeeds: map[string]bool{}, tokenWarns: map[int64]bool{}, schema: Schema{}, hold: cfg.holdStream,
		AdminAddr: cfg.NodetoolAddress, CQLAddr: net.JoinHostPort(cfg.RPCAddress, fmt.Sprint(cfg.NativePort))}
}

// Run starts the node and serves until ctx ends, the node is
// decommissioned (nil) or start-up fails (a *StartupError).
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a node that failed to start stops gossiping too
	n.mu.Lock()
	n.runCtx = ctx // day-2 operations outlive the nodetool call that started them
	n.mu.Unlock()
	err := n.run(ctx)
	var se *StartupError
	var fe *FatalConfigError
	switch {
	case errors.As(err, &fe):
		fmt.Fprintf(n.log.w, "%s\n%s\n", fe.Msg, MsgFatalConfig)
		n.log.Error("main", "CassandraDaemon.java:887", "Fatal configuration error\n%s: %s", fe.Exception, fe.Msg)
	case errors.As(err, &se):
		n.log.Error("main", "CassandraDaemon.java:911", "Exception encountered during startup\n%s: %s", se.Exception, se.Msg)
		fmt.Fprintf(n.log.w, "Exception (%s) encountered during startup: %s\n", se.Exception, se.Msg)
	case err == nil || errors.Is(err, context.Canceled):
		n.announceShutdown(context.Background(), "StorageServiceShutdownHook")
	}
	n.closeAll()
	return err
}

func (n *Node) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range []net.Listener{n.gossipLn, n.cqlLn, n.adminLn} {
		if l != nil {
			l.Close()
		}
	}
	n.cql.closeAll()
	if n.adminSrv != nil {
		n.adminSrv.Close() // a stopped node must not answer nodetool
	}
}

func (n *Node) logConfig() {
	c := n.cfg
	tokens := "null"
	if len(c.InitialTokens) > 0 {
		var s []string
		for _, t := range c.InitialTokens {
			s = append(s, fmt.Sprint(t))
		}
		tokens = strings.Join(s, ",")
	}
	seeds := strings.Join(c.Seeds, ",")
	if seeds == "" {
		seeds = n.addr
	}
	authn, authz := "AllowAllAuthenticator{}", "AllowAllAuthorizer{}"
	if c.Auth {
		authn, authz = "PasswordAuthenticator{}", "CassandraAuthorizer{}"
	}
	n.log.Info("main", "Config.java:1174", "Node configuration:[allocate_tokens_for_keyspace=null; authenticator=%s; authorizer=%s; auto_bootstrap=%t; broadcast_address=%s; broadcast_rpc_address=%s; cluster_name=%s; endpoint_snitch=GossipingPropertyFileSnitch; initial_token=%s; listen_address=%s; num_tokens=%d; partitioner=org.apache.cassandra.dht.Murmur3Partitioner; role_manager=CassandraRoleManager{}; rpc_address=%s; seed_provider=org.apache.cassandra.locator.SimpleSeedProvider{seeds=%s}; storage_port=%d; native_transport_port=%d]",
		authn, authz, c.AutoBootstrap, n.addr, n.rpcAddr(), c.ClusterName, tokens, n.bind, c.NumTokens, c.RPCAddress, seeds, GossipPort, c.NativePort)
	n.log.Info("main", "CassandraDaemon.java:625", "JVM Arguments: [%s] (cassim: not a JVM; these -D flags are what it understood)", strings.Join(c.JVMOpts, ", "))
}

func (n *Node) rpcAddr() string {
	if n.cfg.BroadcastRPC != "" {
		return n.cfg.BroadcastRPC
	}
	return n.addr
}

func (n *Node) run(ctx context.Context) error {
	n.started = time.Now()
	n.log.Info("main", "YamlConfigurationLoader.java:97", "cassim %s: a stand-in for an Apache Cassandra node, for tests and labs. It is NOT Cassandra and stores no data.", n.cfg.ReleaseVersion)
	n.logConfig()

	id, err := LoadIdentity(n.cfg.DataDir)
	if err != nil {
		return err
	}
	if id.ClusterName != "" && id.ClusterName != n.cfg.ClusterName {
		return &StartupError{"org.apache.cassandra.exceptions.ConfigurationException",
			fmt.Sprintf("Saved cluster name %s != configured name %s", id.ClusterName, n.cfg.ClusterName)}
	}
	if id.HostID == "" {
		id = Identity{ClusterName: n.cfg.ClusterName, HostID: NewHostID(), Load: 65000 + float64(mrand.IntN(45000))}
		if rep := n.cfg.ReplaceAddress; rep != "" {
			n.log.Info("main", "StorageService.java:1083", "Replace address on first boot requested: /%s:%d", rep, GossipPort)
		}
		n.log.Info("main", "SystemKeyspace.java:1707", "No host ID found, created %s (Note: This should happen exactly once per node).", id.HostID)
	} else {
		n.log.Info("main", "StorageService.java:841", "Loaded host ID %s from saved state (bootstrapped: %t)", id.HostID, id.Bootstrapped)
	}
	if n.cfg.LoadBytes > 0 {
		id.Load = n.cfg.LoadBytes
	}
	if err := id.Save(n.cfg.DataDir); err != nil {
		return err
	}
	schema, err := LoadSchema(n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.id, n.schema = id, schema
	n.mu.Unlock()

	n.log.Info("main", "StorageService.java:968", "Cassandra version: %s", n.cfg.ReleaseVersion)
	n.log.Info("main", "StorageService.java:970", "CQL version: %s", CQLVersion)
	n.log.Info("main", "StorageService.java:971", "Native protocol supported versions: %s (default: %d/v%d)",
		strings.Join(protocolVersions(), ", "), maxProtocolVersion, maxProtocolVersion)
	if err := sleep(ctx, n.cfg.Timings.StartDelay); err != nil {
		return err
	}
	if err := n.failAtStart(); err != nil {
		return err
	}
	if err := n.checkDecommissioned(&id); err != nil {
		return err
	}
	n.mu.Lock()
	n.id = id
	n.mu.Unlock()

	// Listeners: gossip on the listen address, nodetool on loopback.
	gl, err := net.Listen("tcp", net.JoinHostPort(n.bind.String(), fmt.Sprint(GossipPort)))
	if err != nil {
		return fmt.Errorf("gossip port: %w", err)
	}
	al, err := net.Listen("tcp", n.AdminAddr)
	if err != nil {
		gl.Close()
		return fmt.Errorf("nodetool port: %w", err)
	}
	n.mu.Lock()
	n.gossipLn, n.adminLn = gl, al
	n.mu.Unlock()
	go n.serveGossip(gl)
	go n.serveAdmin(al)
	n.log.Info("main", "InboundConnectionInitiator.java:127", "Listening on address: (/%s:%d), nic: eth0, encryption: unencrypted", n.bind, GossipPort)

	n.setLocal(func(s *EndpointState) {})
	isSeed := n.resolveSeeds(ctx)
	priorSelf, err := n.shadowRound(ctx, isSeed)
	if err != nil {
		return err
	}

	replacing, err := n.prepareReplacement(id, isSeed, priorSelf)
	if err != nil {
		return err
	}
	n.keepHostID(&id, replacing)
	shouldBootstrap := n.cfg.AutoBootstrap && !id.Bootstrapped && !isSeed
	if replacing == nil && !safeForStartup(priorSelf, id.HostID, shouldBootstrap) {
		return &StartupError{"java.lang.RuntimeException", MsgAddressTaken(n.addr)}
	}
	if isSeed && !id.Bootstrapped {
		n.log.Info("main", "StorageService.java:1011", MsgSeedNoBoot)
	}
	if err := n.checkRangeMovement(shouldBootstrap && replacing == nil); err != nil {
		return err
	}

	// Start gossiping our heartbeat, without a status yet.
	n.mu.Lock()
	n.gossiping = true
	n.mu.Unlock()
	go n.gossipLoop(ctx)

	tokens := id.Tokens
	if replacing != nil {
		if tokens, err = n.replace(ctx, &id, replacing); err != nil {
			return err
		}
	}
	if len(tokens) == 0 && len(n.cfg.InitialTokens) == 0 && !n.hasNormalPeer() {
		// Token allocation for the local replication factor waits the ring
		// delay for ring information when the node is alone (5.0.8: 30 s
		// after `Starting up server gossip`, even for the first seed).
		if err := sleep(ctx, n.cfg.Timings.RingDelay); err != nil {
			return err
		}
	}
	if !id.Bootstrapped && replacing == nil {
		// A new node lets gossip settle twice before it takes its tokens.
		for range 2 {
			if err := n.settle(ctx); err != nil {
				return err
			}
		}
	}
	if len(tokens) == 0 {
		if len(n.cfg.InitialTokens) > 0 {
			// A bootstrapping node checks them once it has ring
			// information (bootstrap); one that does not, here.
			if !shouldBootstrap {
				if err := n.checkSpecifiedTokens(); err != nil {
					return err
				}
			}
			tokens = slices.Clone(n.cfg.InitialTokens)
			sort.Slice(tokens, func(i, j int) bool { return tokens[i] < tokens[j] })
		} else {
			n.mu.Lock()
			// normal and bootstrapping tokens are taken
			var existing []int64
			for _, p := range n.view.Peers() {
				existing = append(existing, p.Tokens...)
			}
			n.mu.Unlock()
			tokens = AllocateTokens(mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())), existing, n.cfg.NumTokens)
		}
	}

	if shouldBootstrap && replacing == nil {
		if err := n.bootstrap(ctx, id, tokens); err != nil {
			return err
		}
	}

	id.Tokens, id.Bootstrapped, id.BootstrapInProgress = tokens, true, false
	if err := id.Save(n.cfg.DataDir); err != nil {
		return err
	}
	n.mu.Lock()
	n.id = id
	n.mode = "NORMAL"
	if replacing != nil {
		n.view.Replaced(time.Now(), replacing.old.Addr, id.HostID)
	}
	n.mu.Unlock()
	n.setLocal(func(s *EndpointState) { s.Tokens, s.Status, s.Load = tokens, StatusNormal, id.Load })
	n.log.Info("main", "StorageService.java:2785", "Node /%s:%d state jump to NORMAL", n.addr, GossipPort)

	if err := n.settle(ctx); err != nil {
		return err
	}
	if err := n.openCQL(); err != nil {
		return err
	}

	<-ctx.Done()
	n.log.Info("StorageServiceShutdownHook", "HintsService.java:222", "Paused hints dispatch")
	return nil
}

// settle is Gossiper.waitToSettle: GossipSettle, logged as Cassandra logs it
// (nothing when -Dcassandra.skip_wait_for_gossip_to_settle=0 made it zero).
func (n *Node) settle(ctx context.Context) error {
	d := n.cfg.Timings.GossipSettle
	if d <= 0 {
		return nil
	}
	n.log.Info("main", "Gossiper.java:2459", "Waiting for gossip to settle...")
	if err := sleep(ctx, d); err != nil {
		return err
	}
	n.log.Info("main", "Gossiper.java:2490", "No gossip backlog; proceeding")
	return nil
}

// hasNormalPeer says whether this node sees another ring member.
func (n *Node) hasNormalPeer() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.view.Peers() {
		if p.Addr != n.addr && (p.Status == StatusNormal || p.Status == StatusLeaving) {
			return true
		}
	}
	return false
}

// safeForStartup is Gossiper.isSafeForStartup: prior is what the seeds
// know of this node's address (nil: nothing). A bootstrapping node may take
// an address whose previous owner left, or was itself bootstrapping, but
// not one that is NORMAL or that gossiped without ever taking a status (a
// failed bootstrap); any other node must find its own host ID there.
func safeForStartup(prior *EndpointState, hostID string, bootstrapping bool) bool {
	switch {
	case prior == nil || prior.Status == StatusLeft:
		return true
	case bootstrapping:
		return prior.Status != "" && prior.Status != StatusNormal
	default:
		return prior.HostID == hostID
	}
}

func (n *Node) bootstrap(ctx context.Context, id Identity, tokens []int64) error {
	if id.BootstrapInProgress {
		n.log.Warn("main", "StorageService.java:1479", "Detected previous bootstrap failure; retrying")
	} else {
		id.BootstrapInProgress = true
		if err := id.Save(n.cfg.DataDir); err != nil {
			return err
		}
		n.mu.Lock()
		n.id = id
		n.mu.Unlock()
	}
	n.log.Info("main", "StorageService.java:1486", "JOINING: waiting for ring information")
	// Cassandra gossips while it waits for schema and ring information, and
	// only then picks its tokens; so a refusal below leaves an endpoint
	// without a status in the others' gossip (a fat client). The wait is
	// taken from the bootstrap time, so that a join lasts as long as before.
	ringInfo := min(2*n.cfg.Timings.GossipInterval, n.cfg.Timings.Bootstrap)
	if err := sleep(ctx, ringInfo); err != nil {
		return err
	}
	if err := wait(ctx, n.cfg.holdRingInfo); err != nil {
		return err
	}
	if err := n.settle(ctx); err != nil { // 5.0.8 lets gossip settle once more here
		return err
	}
	if err := n.checkSpecifiedTokens(); err != nil {
		return err
	}
	if err := n.checkRangeMovement(true); err != nil {
		return err
	}
	n.mu.Lock()
	n.mode = "JOINING"
	n.mu.Unlock()
	n.setLocal(func(s *EndpointState) { s.Tokens, s.Status = tokens, StatusJoining })
	n.log.Info("main", "StorageService.java:1550", "JOINING: sleeping %d ms for pending range setup", n.cfg.Timings.RingDelay.Milliseconds())
	if err := sleep(ctx, n.cfg.Timings.RingDelay); err != nil {
		return err
	}
	n.log.Info("main", "StorageService.java:1580", "JOINING: Starting to bootstrap...")
	if err := sleep(ctx, n.cfg.Timings.Bootstrap-ringInfo); err != nil {
		return err
	}
	if err := n.holdStream(ctx); err != nil {
		return err
	}
	n.log.Info("main", "StorageService.java:1602", "Bootstrap completed for tokens %v", tokens)
	return nil
}

// holdStream waits, after a stream's time, until a test lets it end
// (Config.holdStream); without one it returns at once.
func (n *Node) holdStream(ctx context.Context) error {
	n.mu.Lock()
	hold := n.hold
	n.mu.Unlock()
	return wait(ctx, hold)
}

// wait waits until hold is closed (a test's; nil: at once) or ctx ends.
func wait(ctx context.Context, hold <-chan struct{}) error {
	if hold == nil {
		return nil
	}
	select {
	case <-hold:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkRangeMovement is StorageService's consistent range movement rule.
func (n *Node) checkRangeMovement(shouldBootstrap bool) error {
	if !shouldBootstrap || !n.cfg.ConsistentRangeMovement {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.view.States() {
		if s.Addr == n.addr {
			continue
		}
		if s.Status == StatusJoining || s.Status == StatusLeaving {
			return &StartupError{"java.lang.UnsupportedOperationException", MsgRangeMovement}
		}
	}
	return nil
}

// setLocal changes this node's gossip state and bumps its version.
func (n *Node) setLocal(change func(*EndpointState)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.view.LocalState()
	if s.HostID == "" {
		s = EndpointState{Generation: n.started.Unix(), HostID: n.id.HostID, Load: n.id.Load,
			DC: n.cfg.DC, Rack: n.cfg.Rack, Release: n.cfg.ReleaseVersion, Schema: n.schema.Version(), RPCAddr: n.rpcAddr(),
			RPCPort: n.cfg.NativePort, Keyspaces: n.schema.All()}
	}
	change(&s)
	s.Version++
	n.view.SetLocal(s)
}

// resolveSeeds looks the seed names up (SimpleSeedProvider: names that do
// not resolve are skipped with a warning) and reports whether this node is
// a seed.
func (n *Node) resolveSeeds(ctx context.Context) bool {
	if len(n.cfg.Seeds) == 0 {
		n.mu.Lock()
		n.seedAddrs = []string{n.addr}
		n.mu.Unlock()
		return true
	}
	var addrs []string
	for _, s := range n.cfg.Seeds {
		if ip := net.ParseIP(s); ip != nil {
			addrs = append(addrs, ip.String())
			continue
		}
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		as, err := n.Resolve(c, s)
		cancel()
		n.mu.Lock()
		warned := n.badSeeds[s]
		if err != nil {
			n.badSeeds[s] = true
		} else {
			delete(n.badSeeds, s)
		}
		n.mu.Unlock()
		if err != nil || len(as) == 0 {
			if !warned {
				n.log.Warn("main", "SimpleSeedProvider.java:60", "Seed provider couldn't lookup host %s", s)
			}
			continue
		}
		addrs = append(addrs, as[0])
	}
	n.mu.Lock()
	n.seedAddrs = addrs
	n.mu.Unlock()
	return slices.Contains(addrs, n.addr)
}

func (n *Node) otherSeeds() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.otherSeedsLocked()
}

// otherSeedsLocked: the seeds' addresses but this node's; n.mu is held.
func (n *Node) otherSeedsLocked() []string {
	var out []string
	for _, s := range n.seedAddrs {
		if s != n.addr {
			out = append(out, s)
		}
	}
	return out
}

// shadowRound asks the seeds for the cluster's state before this node
// announces itself (Gossiper.doShadowRound), for at most the ring delay. It
// returns what the cluster knows of this node's address, if anything.
func (n *Node) shadowRound(ctx context.Context, isSeed bool) (prior *EndpointState, err error) {
	if len(n.otherSeeds()) == 0 && isSeed && len(n.cfg.Seeds) <= 1 {
		return nil, nil // a seed alone in its list starts a new ring
	}
	deadline := time.Now().Add(max(n.cfg.Timings.ShadowRound, n.cfg.Timings.GossipInterval))
	for {
		for _, s := range n.otherSeeds() {
			states, err := n.exchange(ctx, s, true)
			if err == nil {
				for _, st := range states {
					if st.Addr == n.addr { // what the cluster knows of our address
						prior = &st
					}
				}
				n.mu.Lock()
				evs := n.mergeLocked(states)
				n.mu.Unlock()
				n.logEvents(evs)
				return prior, nil
			}
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, n.cfg.Timings.GossipInterval); err != nil {
			return nil, err
		}
		n.resolveSeeds(ctx)
	}
	if isSeed {
		n.log.Warn("main", "StorageService.java:720", "Unable to gossip with any peers but continuing anyway since node is in its own seed list")
		return nil, nil
	}
	return nil, &StartupError{"java.lang.IllegalStateException", MsgNoSeeds}
}

// gossipMsg is one gossip exchange, either way.
type gossipMsg struct {
	Cluster string          `json:"cluster"`
	From    string          `json:"from"`
	Shadow  bool            `json:"shadow,omitempty"`
	States  []EndpointState `json:"states"`
}

// exchange sends our states to addr and returns its states.
func (n *Node) exchange(ctx context.Context, addr string, shadow bool) ([]EndpointState, error) {
	d := net.Dialer{Timeout: max(n.cfg.Timings.GossipInterval, 500*time.Millisecond)}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, fmt.Sprint(GossipPort)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	msg := gossipMsg{Cluster: n.cfg.ClusterName, From: n.addr, Shadow: shadow}
	if !shadow {
		n.mu.Lock()
		msg.States = n.view.States()
		n.mu.Unlock()
	}
	if err := json.NewEncoder(conn).Encode(msg); err != nil {
		return nil, err
	}
	var reply gossipMsg
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return nil, fmt.Errorf("gossip with %s: %w", addr, err)
	}
	return reply.States, nil
}

func (n *Node) serveGossip(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			var m gossipMsg
			if err := json.NewDecoder(c).Decode(&m); err != nil {
				return
			}
			if m.Cluster != n.cfg.ClusterName {
				// GossipDigestSynVerbHandler drops it.
				n.log.Warn("GossipStage:1", "GossipDigestSynVerbHandler.java:61", "ClusterName mismatch from /%s:%d %s!=%s", m.From, GossipPort, m.Cluster, n.cfg.ClusterName)
				return
			}
			n.mu.Lock()
			if !n.gossiping && !m.Shadow {
				n.mu.Unlock()
				return // drained, or still in its own shadow round
			}
			evs := n.mergeLocked(m.States)
			reply := gossipMsg{Cluster: n.cfg.ClusterName, From: n.addr, States: n.view.States()}
			n.mu.Unlock()
			n.logEvents(evs)
			_ = json.NewEncoder(c).Encode(reply)
		}()
	}
}

func (n *Node) gossipLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Timings.GossipInterval)
	defer t.Stop()
	rounds := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		on := n.gossiping
		retry := on && (rounds+1)%10 == 0 && len(n.badSeeds) > 0
		n.mu.Unlock()
		if !on {
			continue
		}
		rounds++
		if retry {
			n.resolveSeeds(ctx) // names of later nodes may resolve by now
		}
		n.setLocal(n.adoptAuth) // heartbeat, with the newest system_auth
		for _, target := range n.gossipTargets() {
			go func(addr string) {
				states, err := n.exchange(ctx, addr, false)
				if err != nil {
					return
				}
				n.mu.Lock()
				evs := n.mergeLocked(states)
				n.mu.Unlock()
				n.logEvents(evs)
			}(target)
		}
		n.mu.Lock()
		evs := n.view.Tick(time.Now())
		n.mu.Unlock()
		n.logEvents(evs)
	}
}

// gossipTargets: a random live peer, a random unreachable one and a random
// seed, as Gossiper.GossipTask picks them.
func (n *Node) gossipTargets() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var live, dead []string
	for _, s := range n.view.States() {
		if s.Addr == n.addr || s.Status == StatusLeft {
			continue
		}
		if n.view.IsUp(s.Addr) {
			live = append(live, s.Addr)
		} else {
			dead = append(dead, s.Addr)
		}
	}
	var out []string
	pick := func(xs []string) {
		if len(xs) > 0 {
			x := xs[mrand.IntN(len(xs))]
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	pick(live)
	pick(dead)
	pick(n.otherSeedsLocked())
	return out
}

func (n *Node) logEvents(evs []Event) {
	for _, e := range evs {
		switch e.Kind {
		case "UP", "DOWN":
			n.log.Info("GossipStage:1", "Gossiper.java:1367", "%s", e.Text)
		case "NEW":
			n.log.Info("GossipStage:1", "Gossiper.java:1320", "%s", e.Text)
		case "STATUS":
			switch e.Text {
			case StatusNormal:
				n.log.Info("GossipStage:1", "StorageService.java:2785", "Node /%s:%d state jump to NORMAL", e.Addr, GossipPort)
				n.warnTokenConflicts()
			case StatusLeft:
				n.log.Info("GossipStage:1", "StorageService.java:3052", "Removing tokens for /%s:%d", e.Addr, GossipPort)
			case "shutdown":
				n.log.Info("GossipStage:1", "StorageService.java:3320", "Node /%s:%d state jump to shutdown", e.Addr, GossipPort)
			}
		case "REMOVED":
			n.log.Info("GossipTasks:1", "Gossiper.java:1040", "%s", e.Text)
		}
	}
}

// warnTokenConflicts logs StorageService.handleStateNormal's warning when
// two nodes claim one token; the later starter owns it.
func (n *Node) warnTokenConflicts() {
	n.mu.Lock()
	defer n.mu.Unlock()
	peers := n.view.Peers()
	claim := map[int64][]Peer{}
	for _, p := range peers {
		if p.Status == StatusNormal || p.Status == StatusLeaving {
			for _, t := range p.Tokens {
				claim[t] = append(claim[t], p)
			}
		}
	}
	for t, ps := range claim {
		if len(ps) < 2 || n.tokenWarns[t] {
			continue
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].Generation < ps[j].Generation })
		n.tokenWarns[t] = true
		n.log.Warn("GossipStage:1", "StorageService.java:2851", "Nodes /%s:%d and /%s:%d have the same token %d. /%s:%d is the new owner",
			ps[0].Addr, GossipPort, ps[len(ps)-1].Addr, GossipPort, t, ps[len(ps)-1].Addr, GossipPort)
	}
}

func (n *Node) closeCQL() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cqlLn != nil {
		n.cqlLn.Close()
		n.cqlLn = nil
	}
	n.cql.closeAll()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
