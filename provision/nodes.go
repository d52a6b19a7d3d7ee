package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
)

// nodeName is the name of the k-th node (1-based): its service, hostname
// and label value.
func nodeName(k int) string { return "cass" + strconv.Itoa(k) }

// placement is the host of the k-th node of a new cluster: one per host
// while hosts suffice, then round-robin.
func (r *run) placement(k int) *host { return r.swarm[(k-1)%len(r.swarm)] }

// nodeHost is where node k is (re)created. A node that ran before goes
// back where its data is, since a volume lives on one host: the host its
// record names (as after swarmcass down, or a replace onto another
// machine), else a host holding its labelled volume (a record lost); a
// new node goes where placement says.
func (r *run) nodeHost(ctx context.Context, k int) (*host, error) {
	name := nodeName(k)
	if n, ok := r.rec.Nodes[name]; ok {
		if h := r.byNode[n.SwarmNode]; h != nil && n.SwarmNode != "" {
			return h, nil
		}
		if h := r.hostNamed(n.Host); h != nil {
			return h, nil
		}
	}
	for _, h := range r.swarm {
		vols, err := h.Engine.VolumeList(ctx, r.labels(engine.RoleCassandra, name))
		if err != nil {
			return nil, fmt.Errorf("list volumes on %s: %w", h.name(), err)
		}
		if slices.Contains(vols, name+"-data") {
			return h, nil
		}
	}
	return r.placement(k), nil
}

// hostNamed is the swarm host whose engine is called name, or nil.
func (r *run) hostNamed(name string) *host {
	for _, h := range r.swarm {
		if h.name() == name {
			return h
		}
	}
	return nil
}

// newPort is the host port node k of a brand-new cluster publishes CQL
// on, all its nodes placed at once: CQLPort plus the number of earlier
// nodes on the same host (placement).
func (r *run) newPort(k int) int { return r.cfg.CQLPort + (k-1)/len(r.swarm) }

// cqlPort is the host port node k publishes its CQL port on when it is
// created on h: the one its record names on that host (its contact point
// stays the same), else the lowest from CQLPort up that no other node
// service pinned to h publishes. For a cluster grown in order that is
// CQLPort plus the number of earlier nodes on h.
func (r *run) cqlPort(k int, h *host, existing map[string]engine.Service) int {
	name := nodeName(k)
	if n, ok := r.rec.Nodes[name]; ok && n.Host == h.name() {
		if _, port, err := net.SplitHostPort(n.CQL); err == nil {
			if p, err := strconv.Atoi(port); err == nil && p > 0 {
				return p
			}
		}
	}
	taken := map[int]bool{}
	for other, s := range existing {
		if other == name || !slices.Contains(s.Spec.Constraints, "node.id=="+h.info.Swarm.NodeID) {
			continue
		}
		for _, p := range s.Spec.Ports {
			taken[p.HostPort] = true
		}
	}
	p := r.cfg.CQLPort
	for taken[p] {
		p++
	}
	return p
}

// waiter waits for this run's nodes.
func (r *run) waiter() *nodewait.Waiter {
	hosts := map[string]cluster.Host{}
	for id, h := range r.byNode {
		hosts[id] = h.Host
	}
	return &nodewait.Waiter{
		Manager: r.manager.Engine, Hosts: hosts, Network: r.cfg.Network, Seeds: r.res.Seeds,
		Interval: r.cfg.PollInterval, Timeout: r.cfg.NodeTimeout, Debugf: r.p.Debugf,
	}
}

// chooseSeeds: the seed list of the record (recorded), which day-2
// operations keep current (a shrink drops a seed that left); else the list
// the existing nodes run with, so that every node keeps the same list as
// the cluster grows; for a new cluster the first min(3, N) nodes.
func chooseSeeds(existing map[string]engine.Service, recorded []string, n int) []string {
	if len(recorded) > 0 {
		return recorded
	}
	for k := 1; k <= len(existing)+n; k++ {
		if s, ok := existing[nodeName(k)]; ok && len(s.Spec.Args) > 0 && s.Spec.Args[0] != "" {
			return strings.Split(s.Spec.Args[0], ",")
		}
	}
	var seeds []string
	for k := 1; k <= min(3, n); k++ {
		seeds = append(seeds, nodeName(k))
	}
	return seeds
}

// ensureNodes is the Nodes step: every node started and UN (startNodes),
// then answering CQL (waitCQL), which is what a client given the summary's
// contact points needs next.
func ensureNodes(ctx context.Context, r *run) error {
	if err := r.startNodes(ctx); err != nil {
		return err
	}
	return r.waitCQL(ctx, r.res.Nodes)
}

// startNodes walks cass1..casN in order. A node whose service exists and
// is UN is kept; one that exists but is not ready yet is waited for; a
// missing one is created and waited for. The next node starts only when
// this one is UN in its own view and a seed's, with every node started up
// to it counted UN: Cassandra refuses concurrent bootstraps.
func (r *run) startNodes(ctx context.Context) error {
	m := r.manager
	list, err := m.Engine.ServiceList(ctx, r.labels(engine.RoleCassandra, ""))
	if err != nil {
		return fmt.Errorf("list the cluster's services on %s: %w", m.name(), err)
	}
	existing := map[string]engine.Service{}
	for _, s := range list {
		existing[s.Name] = s
	}
	if err := r.sameClients(existing); err != nil {
		return err
	}
	// The record says where nodes that ran before belong (nodeHost) and
	// which seeds the cluster has.
	if r.rec, err = consulstore.ReadRecord(ctx, r.consul, r.cfg.Cluster); err != nil {
		return fmt.Errorf("read the record of cluster %s: %w", r.cfg.Cluster, err)
	}
	r.res.Seeds = chooseSeeds(existing, r.rec.Seeds, r.cfg.Nodes)
	r.wait = r.waiter()
	plan, err := r.planStart(ctx, existing)
	if err != nil {
		return err
	}
	r.p.Infof("%s", plan.why)
	if plan.together {
		return r.startTogether(ctx)
	}
	if len(existing) > r.cfg.Nodes {
		r.p.Infof("the cluster has %d nodes, more than --nodes %d; the others are left as they are", len(existing), r.cfg.Nodes)
	}
	returning, err := r.returning(ctx, existing)
	if err != nil {
		return err
	}
	if kept, err := r.keptReady(ctx, existing); kept || err != nil {
		return err
	}
	started := 0              // nodes cass1..cassK that exist
	upSeed := ""              // a seed found UN
	done := map[string]bool{} // restarted together, ahead of their turn
	for k := 1; k <= r.cfg.Nodes; k++ {
		name := nodeName(k)
		if done[name] {
			continue
		}
		if _, has := existing[name]; !has && returning[name] && upSeed != "" {
			// Nodes that bootstrapped before come back together once a
			// seed is up, as cass-operator restarts them: none bootstraps.
			var batch []int
			for j := k; j <= r.cfg.Nodes; j++ {
				if _, has := existing[nodeName(j)]; !has && returning[nodeName(j)] {
					batch = append(batch, j)
					done[nodeName(j)] = true
				}
			}
			started += len(batch)
			// A node with data does not wait for a seed before it starts,
			// and one that cannot resolve a seed stops ("Unable to contact
			// any seeds!"): wait until Swarm's DNS lists the seed.
			if err := r.wait.Listed(ctx, upSeed); err != nil {
				return fmt.Errorf("before restarting the nodes that bootstrapped before: %w", err)
			}
			if err := r.restartTogether(ctx, batch, started, upSeed); err != nil {
				return err
			}
			continue
		}
		t0 := time.Now()
		nr := NodeResult{Node: consulstore.Node{Name: name}}
		s, ok := existing[name]
		var endedBefore map[string]bool // tasks that had ended before this run looked
		if ok {
			tasks, err := m.Engine.TaskList(ctx, name)
			if err != nil {
				return fmt.Errorf("list tasks of %s: %w", name, err)
			}
			endedBefore = nodewait.Ended(tasks)
			broken := r.neverReady(ctx, name, tasks, endedBefore)
			if broken != "" {
				// Its container keeps failing and it never became UN: start it
				// afresh once the ring has forgotten the failed attempts. The
				// volume stays, so a node that had joined keeps its identity.
				r.p.Infof("%s is not UN and its task failed (%s): recreating its service", name, broken)
				if err := m.Engine.ServiceRemove(ctx, name); err != nil && !errors.Is(err, engine.ErrNotFound) {
					return fmt.Errorf("remove service %s: %w", name, err)
				}
				ok, endedBefore = false, nil
			}
		}
		if ok {
			r.noteDiffers(name, s)
			nr.CQL = publishedCQL(s)
			started++
		} else {
			h, err := r.nodeHost(ctx, k)
			if err != nil {
				return err
			}
			port := r.cqlPort(k, h, existing)
			if err := r.waitQuiet(ctx, name); err != nil {
				return err
			}
			var up []string // running seeds a returning node must reach
			if returning[name] {
				for _, seed := range r.res.Seeds {
					if _, has := existing[seed]; has {
						up = append(up, seed)
					}
				}
			}
			if err := r.createNode(ctx, k, h, port, r.firstBootEnv(k, up...), nil); err != nil {
				return err
			}
			started++
			nr.Created = true
			nr.CQL = net.JoinHostPort(h.Addr, strconv.Itoa(port))
			if r.cfg.CQLPort < 0 {
				nr.CQL = ""
			}
			existing[name] = engine.Service{Name: name, Spec: engine.ServiceSpec{
				Constraints: []string{"node.id==" + h.info.Swarm.NodeID},
				Ports:       []engine.PortBinding{{HostPort: port, ContainerPort: 9042}}}}
		}
		r.p.Infof("waiting for %s (%d of %d)", name, k, r.cfg.Nodes)
		err := r.waitNode(ctx, &nr, started, endedBefore)
		if nr.Created || err != nil {
			nr.ReadySeconds = time.Since(t0).Seconds()
		}
		if err := r.finishNode(ctx, nr, err); err != nil {
			return err
		}
		if upSeed == "" && slices.Contains(r.res.Seeds, name) {
			upSeed = name
		}
	}
	return nil
}

// keptReady is a re-run's shortcut: when every node up to --nodes has its
// service, all are looked at once (nodewait.Waiter.ReadyNow: each node's
// own view, side by side, and a seed's); when every one is ready, each is
// noted and recorded as the walk of ensureNodes would, and kept is true.
// Otherwise nothing is changed and the walk looks at each node in turn.
func (r *run) keptReady(ctx context.Context, existing map[string]engine.Service) (kept bool, err error) {
	var nodes []string
	for k := 1; k <= r.cfg.Nodes; k++ {
		if _, ok := existing[nodeName(k)]; !ok {
			return false, nil
		}
		nodes = append(nodes, nodeName(k))
	}
	looks, all := r.wait.ReadyNow(ctx, nodes, len(nodes))
	if !all {
		for _, name := range nodes {
			if !looks[name].Ready {
				r.p.Debugf("not every node is ready at once (%s: %s): looking at each in turn", name, looks[name].Why)
				break
			}
		}
		return false, ctx.Err()
	}
	for _, name := range nodes {
		s := existing[name]
		r.noteDiffers(name, s)
		nr := NodeResult{Node: consulstore.Node{Name: name, CQL: publishedCQL(s)}}
		fillFromLook(&nr, looks[name])
		r.p.Debugf("%s: UN", name)
		if err := r.finishNode(ctx, nr, nil); err != nil {
			return true, err
		}
	}
	return true, nil
}

// noteDiffers says so when existing node name's image or settings differ
// from this run's, and keeps it in r.differing (the summary's warning and
// the record's image then follow the nodes, see record.go); the node is
// left as it is: upgrade rolls such changes out.
func (r *run) noteDiffers(name string, s engine.Service) {
	if diff := r.differs(s.Spec); diff != "" {
		r.p.Infof("%s differs from this run: %s; it is left as it is (swarmcass upgrade --cluster %s rolls such changes out one node at a time)", name, diff, r.cfg.Cluster)
		r.differing = append(r.differing, name)
	}
}

// finishNode notes node nr in the result and records it in Consul (also
// after Ctrl-C, so that the record says where the run stopped; Consul
// answers in milliseconds); a node that became UN is registered. waitErr
// is how waiting for it ended.
func (r *run) finishNode(ctx context.Context, nr NodeResult, waitErr error) error {
	r.res.Nodes = append(r.res.Nodes, nr)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	rerr := r.recordNode(rctx, nr)
	cancel()
	if rerr != nil {
		return errors.Join(waitErr, rerr)
	}
	if waitErr != nil {
		return waitErr
	}
	if err := r.registerNode(ctx, nr); err != nil {
		return err
	}
	if nr.Created {
		r.p.Infof("%s is UN after %.1fs", nr.Name, nr.ReadySeconds)
	}
	return nil
}

// neverReady says why node's existing service should be recreated: one of
// its tasks ended, and the node is not UN in a seed's view. It returns ""
// for a node that is up or merely still starting.
func (r *run) neverReady(ctx context.Context, name string, tasks []engine.Task, ended map[string]bool) string {
	for _, t := range tasks {
		if !ended[t.ID] {
			continue
		}
		if l, err := r.wait.Look(ctx, name, 0, ended); err == nil && l.Ready {
			return ""
		}
		if t.Err != "" {
			return t.State + ": " + t.Err
		}
		return t.State
	}
	return ""
}

// waitQuiet waits, before node is created, until the ring is quiet
// (nodewait.Waiter.Quiet).
func (r *run) waitQuiet(ctx context.Context, node string) error {
	busy, err := r.wait.Quiet(ctx, node)
	if err != nil && busy != "" {
		return op.WithHint(fmt.Errorf("%s not started: the ring did not settle:%s %w", node, busy, err),
			"a node that failed while joining stays in the ring until gossip forgets it (ring_delay); run bootstrap again later")
	}
	return err
}

// firstBootEnv is what node k, started after nodes 1..k-1, is told when
// its service is made: the seeds to wait for (those among nodes 1..k-1,
// then up, the running seeds a node that bootstrapped before returns to),
// and for the first node of a brand-new cluster its own balanced tokens (so
// that it skips the ring delay Cassandra's token allocation waits when alone).
func (r *run) firstBootEnv(k int, up ...string) []string {
	var env []string
	running := slices.Clone(r.res.Seeds[:min(k-1, len(r.res.Seeds))])
	for _, s := range up {
		if s != nodeName(k) && !slices.Contains(running, s) {
			running = append(running, s)
		}
	}
	if len(running) > 0 {
		// The node contract's wait: not before a running seed resolves and
		// answers, or a seed that reaches none founds its own ring and a
		// node with data gossips apart from it. Seeds this run found UN
		// come first by their address: Swarm's DNS lists a task only once
		// its health check passes (up to an interval after its CQL port
		// opens, 14 s measured on real 5.0.8), and a seed the node reaches
		// by address joins its seed list (CONTRACT.md).
		env = append(env, "SWARMCASS_WAIT_FOR="+strings.Join(append(r.upAddresses(running), running...), ","))
	}
	if r.brandNew {
		if k == 1 {
			if tokens, per, ok := r.plannedTokens(1); ok {
				env = append(env, tokenEnv(tokens[0], per)...)
			}
		}
		if r.res.Auth.On {
			// Each new node's role manager finds no role (system_auth is
			// at RF 1 until the Authentication step, and the default role's
			// row moves as nodes join) and makes the default role again,
			// by default 10 s after its CQL port opens: the last one's is
			// what the Authentication step logs in through.
			env = append(env, superuserSetupDelay())
		}
	}
	return env
}

// upAddresses are the overlay addresses of those of nodes this run found UN.
func (r *run) upAddresses(nodes []string) []string {
	var out []string
	for _, n := range r.res.Nodes {
		if n.State == "UN" && n.Address != "" && slices.Contains(nodes, n.Name) {
			out = append(out, n.Address)
		}
	}
	return out
}

// createNode creates node k's labelled volume on its host and its service,
// pinned to that host, publishing CQL on port, with the first-boot
// settings extra (firstBootEnv, togetherEnv). with, when not nil, changes
// the spec before it is created (replace adds its JVM option).
func (r *run) createNode(ctx context.Context, k int, h *host, port int, extra []string, with func(*engine.ServiceSpec)) error {
	name := nodeName(k)
	labels := r.labels(engine.RoleCassandra, name)
	volume := name + "-data"
	if err := r.ensureVolume(ctx, h, volume, labels); err != nil {
		return err
	}
	env := append([]string{
		"CASSANDRA_CLUSTER_NAME=" + r.cfg.Cluster,
		"CASSANDRA_LISTEN_SUBNET=" + r.res.Subnet,
	}, heapEnv(r.cfg.Heap)...)
	env = append(env, extra...)
	if !r.authKnown {
		// A day-2 operation: the cluster's nodes say whether it
		// authenticates (and which secret they mount).
		if err := adoptCredentials(ctx, r); err != nil {
			return err
		}
	}
	env = append(env, authEnv(r.res.Auth.On))
	if r.tls == nil {
		// A day-2 operation: the cluster's nodes say whether it has TLS.
		if err := ensureTLS(ctx, r); err != nil {
			return err
		}
	}
	var tlsSecrets []engine.SecretRef
	if r.res.TLS.On {
		env = append(env, tlsEnv())
		var err error
		if tlsSecrets, err = r.nodeTLS(ctx, name, h); err != nil {
			return err
		}
	}
	inside := 9042 // the CQL port inside the container
	if r.cfg.Clients == ClientsHost {
		// Drivers outside the swarm: the node tells them its host's
		// address and listens on the port it publishes there.
		inside = port
		env = append(env, "CASSANDRA_BROADCAST_RPC_ADDRESS="+h.Addr, "CASSANDRA_NATIVE_TRANSPORT_PORT="+strconv.Itoa(port))
	}
	env = append(env, r.cfg.NodeEnv...)
	spec := engine.ServiceSpec{
		Name:             name,
		Image:            r.res.Image,
		Args:             []string{strings.Join(r.res.Seeds, ",")},
		Env:              env,
		Labels:           labels,
		ContainerLabels:  labels,
		Hostname:         name,
		Networks:         []string{r.cfg.Network},
		DNSRR:            true,
		Constraints:      []string{"node.id==" + h.info.Swarm.NodeID},
		Mounts:           []engine.Mount{{Type: "volume", Source: volume, Target: "/var/lib/cassandra"}},
		MemoryLimit:      r.cfg.Memory,
		RestartCondition: "any",
		StopGracePeriod:  30 * time.Second,
		RegistryAuth:     r.pullAuth(r.res.Image),
	}
	spec.Secrets = tlsSecrets
	setAuth(&spec, r.res.Auth.On, r.secret) // auth.go: the switch (in place) and the credentials secret
	if r.cfg.CQLPort > 0 {
		spec.Ports = []engine.PortBinding{{HostPort: port, ContainerPort: inside, Protocol: "tcp"}}
	}
	if with != nil {
		with(&spec)
	}
	if _, err := r.manager.Engine.ServiceCreate(ctx, spec); err != nil {
		return fmt.Errorf("create service %s: %w", name, err)
	}
	r.created("service %s on %s", name, h.name())
	return nil
}

// clientsOf is what node service s tells drivers (Config.Clients).
func clientsOf(s engine.Service) string {
	for _, e := range s.Spec.Env {
		if strings.HasPrefix(e, "CASSANDRA_NATIVE_TRANSPORT_PORT=") {
			return ClientsHost
		}
	}
	return ClientsOverlay
}

// sameClients refuses --clients other than what the existing nodes tell
// drivers: a ring whose nodes advertise different kinds of address leaves
// every driver unable to reach some of them.
func (r *run) sameClients(existing map[string]engine.Service) error {
	names := slices.SortedFunc(maps.Keys(existing), func(a, b string) int { return cmp.Compare(nodeNumber(a), nodeNumber(b)) })
	for _, name := range names {
		if c := clientsOf(existing[name]); c != r.cfg.Clients {
			return op.Hinted(fmt.Sprintf("run bootstrap with --clients %s; to change it, take the cluster down (swarmcass down keeps the data) and bootstrap it again with --clients %s", c, r.cfg.Clients),
				"%s tells drivers its %s address, but this run has --clients %s", name, c, r.cfg.Clients)
		}
	}
	return nil
}

// publishedCQL is the host port a service publishes its CQL port on (9042
// inside the container, or its CASSANDRA_NATIVE_TRANSPORT_PORT), or ""
// (the host's address is added once its task is found).
func publishedCQL(s engine.Service) string {
	port := 9042
	for _, e := range s.Spec.Env {
		if v, ok := strings.CutPrefix(e, "CASSANDRA_NATIVE_TRANSPORT_PORT="); ok {
			port, _ = strconv.Atoi(v)
		}
	}
	for _, p := range s.Spec.Ports {
		if p.ContainerPort == port {
			return strconv.Itoa(p.HostPort)
		}
	}
	return ""
}

// waitNode waits until the node is UN (nodewait.Waiter.UN) and fills nr
// from what was seen; on failure the *nodewait.NodeError carries a hint.
func (r *run) waitNode(ctx context.Context, nr *NodeResult, started int, endedBefore map[string]bool) error {
	last, err := r.wait.UN(ctx, nr.Name, started, endedBefore)
	if err == nil {
		fillFromLook(nr, last)
		return nil
	}
	if last.Host != nil {
		nr.SwarmNode, nr.Host = last.Task.NodeID, last.Host.Name()
	}
	nr.State = "failed"
	if se := (*nodewait.SplitError)(nil); errors.As(err, &se) {
		return r.explainNodeFailure(ctx, nr.Name, r.stopSplitNode(ctx, nr, err)) // overlay.go
	}
	if ctx.Err() != nil {
		nr.State = "interrupted" // still starting, when the run was stopped
		return err
	}
	err = op.WithHint(err, fmt.Sprintf("the nodes before %s keep running; fix the cause and run bootstrap again to continue from %s", nr.Name, nr.Name))
	return r.explainNodeFailure(ctx, nr.Name, err) // overlay.go
}

// fillFromLook fills nr from the look that found it UN.
func fillFromLook(nr *NodeResult, last nodewait.Look) {
	if last.Host != nil { // always, once the node is ready
		nr.SwarmNode, nr.Host = last.Task.NodeID, last.Host.Name()
	}
	nr.State, nr.Address, nr.HostID = "UN", last.Address, last.HostID
	if nr.CQL != "" && !strings.Contains(nr.CQL, ":") {
		nr.CQL = net.JoinHostPort(last.Host.Addr, nr.CQL)
	}
}

// recordNode writes the node's record to Consul (consulstore.WriteNode).
func (r *run) recordNode(ctx context.Context, nr NodeResult) error {
	return consulstore.WriteNode(ctx, r.consul, r.cfg.Cluster, nr.Node, nr.Created)
}
