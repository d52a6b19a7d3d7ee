package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
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
	r.res.Seeds = chooseSeeds(existing, r.cfg.Nodes)
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
			endedBefore = endedTasks(tasks)
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

// endedTasks are the IDs of tasks that ended: failed, or ended to be
// replaced by Swarm (as after failed health checks).
func endedTasks(tasks []engine.Task) map[string]bool {
	ended := map[string]bool{}
	for _, t := range tasks {
		if failedStates[t.State] || t.State == "complete" || t.State == "shutdown" {
			ended[t.ID] = true
		}
	}
	return ended
}

// neverReady says why node's existing service should be recreated: one of
// its tasks ended, and the node is not UN in a seed's view. It returns ""
// for a node that is up or merely still starting.
func (r *run) neverReady(ctx context.Context, name string, tasks []engine.Task, ended map[string]bool) string {
	for _, t := range tasks {
		if !ended[t.ID] {
			continue
		}
		if l, err := r.look(ctx, name, 0, ended); err == nil && l.ready {
			return ""
		}
		if t.Err != "" {
			return t.State + ": " + t.Err
		}
		return t.State
	}
	return ""
}

// waitQuiet waits, before node is created, until a seed's view shows no
// node joining, leaving or moving: Cassandra refuses to bootstrap next to
// one (consistent range movement), and a node whose start failed stays in
// the ring as joining until gossip forgets it.
func (r *run) waitQuiet(ctx context.Context, node string) error {
	var busy string
	err := op.Poll(ctx, r.cfg.PollInterval, r.cfg.NodeTimeout, "the ring to settle before "+node, func() (bool, error) {
		seed, err := r.seedView(ctx, node)
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
			r.p.Debugf("before %s:%s", node, busy)
		}
		return busy == "", nil
	})
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
	if r.cfg.CQLPort > 0 {
		spec.Ports = []engine.PortBinding{{HostPort: r.cqlPort(k), ContainerPort: 9042, Protocol: "tcp"}}
	}
	if _, err := r.manager.Engine.ServiceCreate(ctx, spec); err != nil {
		return fmt.Errorf("create service %s: %w", name, err)
	}
	r.created("service %s on %s", name, h.name())
	return nil
}

// publishedCQL is the host port a service publishes its CQL port on, or
// "" (the host's address is added once its task is found).
func publishedCQL(s engine.Service) string {
	for _, p := range s.Spec.Ports {
		if p.ContainerPort == 9042 {
			return strconv.Itoa(p.HostPort)
		}
	}
	return ""
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

// readiness is one look at a node.
type readiness struct {
	task     engine.Task
	host     *host
	nodetool string // last output, kept for the report
	address  string // on the overlay
	hostID   string
	ready    bool
	why      string // why it is not ready
}

// waitNode polls the node until it is ready, one of its tasks other than
// endedBefore ends, the node timeout passes or ctx ends. On failure it
// returns a *NodeError.
func (r *run) waitNode(ctx context.Context, nr *NodeResult, started int, endedBefore map[string]bool) error {
	var last readiness
	err := op.Poll(ctx, r.cfg.PollInterval, r.cfg.NodeTimeout, nr.Name+" to be UN", func() (bool, error) {
		look, err := r.look(ctx, nr.Name, started, endedBefore)
		last = look
		if err != nil {
			return false, err
		}
		r.p.Debugf("%s: %s", nr.Name, look.why)
		return look.ready, nil
	})
	if last.host != nil { // always, once the node is ready
		nr.SwarmNode, nr.Host = last.task.NodeID, last.host.name()
	}
	if err == nil {
		nr.State, nr.Address, nr.HostID = "UN", last.address, last.hostID
		if nr.CQL != "" && !strings.Contains(nr.CQL, ":") {
			nr.CQL = net.JoinHostPort(last.host.Addr, nr.CQL)
		}
		return nil
	}
	nr.State = "failed"
	if ctx.Err() != nil {
		nr.State = "interrupted" // still starting, when the run was stopped
	}
	nerr := &NodeError{Node: nr.Name, Err: err, Nodetool: last.nodetool}
	if last.host != nil {
		nerr.Host = last.host.name()
		if ctx.Err() == nil && last.task.ContainerID != "" {
			logs, lerr := last.host.Engine.ContainerLogs(ctx, last.task.ContainerID, 30)
			if lerr != nil {
				logs = "(no logs: " + lerr.Error() + ")"
			}
			nerr.Logs = logs
		}
	}
	if ctx.Err() != nil {
		return nerr
	}
	return op.WithHint(nerr, fmt.Sprintf("the nodes before %s keep running; fix the cause and run bootstrap again to continue from %s", nr.Name, nr.Name))
}

// failedStates are task states that mean the node's container died.
var failedStates = map[string]bool{"failed": true, "rejected": true, "orphaned": true}

// look checks a node once: no task but those in endedBefore has ended, its
// newest task runs, and nodetool status in it and in a seed shows it UN
// with at least as many UN nodes as were started up to it (later nodes may
// exist already when a run resumes). An error means waiting longer will not
// help.
//
// A task's end is judged by its state, not its timestamp: a machine
// reports a container's death with the time it died, which may be before
// the run began to wait although the manager learns of it only later.
func (r *run) look(ctx context.Context, name string, started int, endedBefore map[string]bool) (readiness, error) {
	var l readiness
	tasks, err := r.manager.Engine.TaskList(ctx, name)
	if err != nil {
		return l, fmt.Errorf("list tasks of %s: %w", name, err)
	}
	for _, t := range tasks {
		if failedStates[t.State] && !endedBefore[t.ID] {
			msg := t.Err
			if msg == "" {
				msg = t.Message
			}
			l.task = t
			l.host = r.byNode[t.NodeID]
			return l, fmt.Errorf("its task %s %s: %s", t.ID, t.State, msg)
		}
	}
	if len(tasks) == 0 {
		l.why = "no task yet"
		return l, nil
	}
	// An older task that ended during this wait was replaced by Swarm: its
	// container stopped (as when its HEALTHCHECK failed) although the node
	// should run. Waiting on its successor would loop the same way.
	for _, t := range tasks[1:] {
		if (t.State == "complete" || t.State == "shutdown") && !endedBefore[t.ID] {
			l.task, l.host = t, r.byNode[t.NodeID]
			return l, fmt.Errorf("its task %s ended (%s) and Swarm replaced it: the container stopped or its health check failed before the node was UN", t.ID, t.State)
		}
	}
	l.task = tasks[0]
	l.host = r.byNode[l.task.NodeID]
	// A task stays "starting" until its image's HEALTHCHECK first passes,
	// which may be many seconds after the container started: ask nodetool
	// as soon as there is a container.
	if l.task.State != "running" && (l.task.State != "starting" || l.task.ContainerID == "") {
		l.why = "task " + l.task.State
		if l.task.Message != "" {
			l.why += ": " + l.task.Message
		}
		return l, nil
	}
	if l.host == nil {
		return l, fmt.Errorf("its task runs on swarm node %s, which is none of the given hosts", l.task.NodeID)
	}
	addr := l.task.Addresses[r.cfg.Network]
	own, out, err := r.status(ctx, l.host, l.task.ContainerID)
	l.nodetool = out
	if err != nil {
		l.why = err.Error()
		return l, nil
	}
	if ok, why := upAndCounted(own, addr, started); !ok {
		l.why = "own view: " + why
		return l, nil
	}
	seed, err := r.seedView(ctx, name)
	if err != nil {
		l.why = err.Error()
		return l, nil
	}
	if seed != nil {
		if ok, why := upAndCounted(seed, addr, started); !ok {
			l.why = "seed's view: " + why
			return l, nil
		}
	}
	n, _ := own.Node(addr)
	l.ready, l.why, l.address, l.hostID = true, "UN", addr, n.HostID
	return l, nil
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

// status runs nodetool status in a container and parses it.
func (r *run) status(ctx context.Context, h *host, container string) (*nodetool.Status, string, error) {
	res, err := h.Engine.Exec(ctx, container, []string{"nodetool", "status"})
	if err != nil {
		return nil, "", fmt.Errorf("exec nodetool status on %s: %w", h.name(), err)
	}
	out := res.Stdout
	if res.ExitCode != 0 {
		if ce, ok := nodetool.ParseConnectError(res.Stderr); ok {
			return nil, res.Stderr, ce
		}
		return nil, res.Stdout + res.Stderr, fmt.Errorf("nodetool status exited %d: %s", res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	s, err := nodetool.ParseStatus(out)
	if err != nil {
		return nil, out, fmt.Errorf("read nodetool status: %w", err)
	}
	return s, out, nil
}

// seedView is nodetool status as the first running seed other than node
// sees it; nil when node is the only seed running.
func (r *run) seedView(ctx context.Context, node string) (*nodetool.Status, error) {
	for _, seed := range r.res.Seeds {
		if seed == node {
			continue
		}
		tasks, err := r.manager.Engine.TaskList(ctx, seed)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list tasks of seed %s: %w", seed, err)
		}
		if len(tasks) == 0 || tasks[0].State != "running" || r.byNode[tasks[0].NodeID] == nil {
			continue
		}
		s, _, err := r.status(ctx, r.byNode[tasks[0].NodeID], tasks[0].ContainerID)
		if err != nil {
			return nil, fmt.Errorf("seed %s: %w", seed, err)
		}
		return s, nil
	}
	return nil, nil
}

// recordNode writes the node's record to Consul (consulstore.WriteNode).
func (r *run) recordNode(ctx context.Context, nr NodeResult) error {
	return consulstore.WriteNode(ctx, r.consul, r.cfg.Cluster, nr.Node, nr.Created)
}
