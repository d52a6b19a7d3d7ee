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

// placement is the host of the k-th node: one per host while hosts
// suffice, then round-robin.
func (r *run) placement(k int) *host { return r.swarm[(k-1)%len(r.swarm)] }

// cqlPort is the host port node k publishes its CQL port on: CQLPort plus
// the number of earlier nodes on the same host.
func (r *run) cqlPort(k int) int { return r.cfg.CQLPort + (k-1)/len(r.swarm) }

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

// chooseSeeds: the seed list the existing nodes run with, so that every
// node keeps the same list as the cluster grows; for a new cluster the
// first min(3, N) nodes.
func chooseSeeds(existing map[string]engine.Service, n int) []string {
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

// ensureNodes walks cass1..casN in order. A node whose service exists and
// is UN is kept; one that exists but is not ready yet is waited for; a
// missing one is created and waited for. The next node starts only when
// this one is UN in its own view and a seed's, with every node started up
// to it counted UN: Cassandra refuses concurrent bootstraps.
func ensureNodes(ctx context.Context, r *run) error {
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
	r.res.Seeds = chooseSeeds(existing, r.cfg.Nodes)
	r.wait = r.waiter()
	if len(existing) > r.cfg.Nodes {
		r.p.Infof("the cluster has %d nodes, more than --nodes %d; the others are left as they are", len(existing), r.cfg.Nodes)
	}
	started := 0 // nodes cass1..cassK that exist
	for k := 1; k <= r.cfg.Nodes; k++ {
		name := nodeName(k)
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
			if s.Spec.Image != r.res.Image {
				r.p.Infof("%s runs %s, not this run's image; it is left as it is", name, s.Spec.Image)
			}
			nr.CQL = publishedCQL(s)
			started++
		} else {
			h := r.placement(k)
			if err := r.waitQuiet(ctx, name); err != nil {
				return err
			}
			if err := r.createNode(ctx, k, h); err != nil {
				return err
			}
			started++
			nr.Created = true
			nr.CQL = net.JoinHostPort(h.Addr, strconv.Itoa(r.cqlPort(k)))
			if r.cfg.CQLPort < 0 {
				nr.CQL = ""
			}
		}
		r.p.Infof("waiting for %s (%d of %d)", name, k, r.cfg.Nodes)
		err := r.waitNode(ctx, &nr, started, endedBefore)
		if nr.Created || err != nil {
			nr.ReadySeconds = time.Since(t0).Seconds()
		}
		r.res.Nodes = append(r.res.Nodes, nr)
		// Written also after Ctrl-C, so that the record says where the
		// run stopped; Consul answers in milliseconds.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		rerr := r.recordNode(rctx, nr)
		cancel()
		if rerr != nil {
			return errors.Join(err, rerr)
		}
		if err != nil {
			return err
		}
		if err := r.registerNode(ctx, nr); err != nil {
			return err
		}
		if nr.Created {
			r.p.Infof("%s is UN after %.1fs", name, nr.ReadySeconds)
		}
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

// createNode creates node k's labelled volume on its host and its service,
// pinned to that host.
func (r *run) createNode(ctx context.Context, k int, h *host) error {
	name := nodeName(k)
	labels := r.labels(engine.RoleCassandra, name)
	volume := name + "-data"
	if err := r.ensureVolume(ctx, h, volume, labels); err != nil {
		return err
	}
	env := []string{
		"CASSANDRA_CLUSTER_NAME=" + r.cfg.Cluster,
		"CASSANDRA_LISTEN_SUBNET=" + r.res.Subnet,
		"MAX_HEAP_SIZE=" + FormatBytes(r.cfg.Heap),
		"HEAP_NEWSIZE=" + FormatBytes(max(r.cfg.Heap/4, 16<<20)),
	}
	if running := r.res.Seeds[:min(k-1, len(r.res.Seeds))]; len(running) > 0 {
		// The node contract's first-boot wait: not before a running seed
		// resolves and answers, or a seed that reaches none founds its own ring.
		env = append(env, "SWARMCASS_WAIT_FOR="+strings.Join(running, ","))
	}
	env = append(env, authEnv(r.res.Auth.On))
	port := 9042 // inside the container
	if r.cfg.Clients == ClientsHost {
		// Drivers outside the swarm: the node tells them its host's
		// address and listens on the port it publishes there.
		port = r.cqlPort(k)
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
	}
	if r.res.Auth.On {
		spec.Secrets = []engine.SecretRef{r.secret}
	}
	if r.cfg.CQLPort > 0 {
		spec.Ports = []engine.PortBinding{{HostPort: r.cqlPort(k), ContainerPort: port, Protocol: "tcp"}}
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
	if last.Host != nil { // always, once the node is ready
		nr.SwarmNode, nr.Host = last.Task.NodeID, last.Host.Name()
	}
	if err == nil {
		nr.State, nr.Address, nr.HostID = "UN", last.Address, last.HostID
		if nr.CQL != "" && !strings.Contains(nr.CQL, ":") {
			nr.CQL = net.JoinHostPort(last.Host.Addr, nr.CQL)
		}
		return nil
	}
	nr.State = "failed"
	if ctx.Err() != nil {
		nr.State = "interrupted" // still starting, when the run was stopped
		return err
	}
	return op.WithHint(err, fmt.Sprintf("the nodes before %s keep running; fix the cause and run bootstrap again to continue from %s", nr.Name, nr.Name))
}

// recordNode writes the node's record to Consul (consulstore.WriteNode).
func (r *run) recordNode(ctx context.Context, nr NodeResult) error {
	return consulstore.WriteNode(ctx, r.consul, r.cfg.Cluster, nr.Node, nr.Created)
}
