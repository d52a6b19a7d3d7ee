package provision

// The day-2 operations (scale, replace, down, restart, upgrade, rollback)
// act on a cluster bootstrap made. Each has Bootstrap's shape: an op.Run
// list of named steps on a *run, in its own file that a newcomer reads top
// to bottom (scale.go, replace.go, ...), and each starts with the same two
// steps and shows its plan before it changes anything:
//
//	{Name: "Preflight", Run: attach},         // the engines, the swarm, Consul, the record, the nodes; changes nothing
//	{Name: "Lock", Run: lockFor("scale")},    // one operation per cluster at a time, named in the lock
//	... the operation's own checks, which fill r.plan ...
//	{Name: "Plan", Run: showPlan(true)},      // print r.plan; stop on --dry-run; a destructive plan needs a yes
//	... the operation's steps ...
//
// What several operations use lives here, not in one operation's file:
// attaching to the cluster, the lock, the plan and its confirmation, the
// gate before a node is taken out (ringHealthy), drain, and the node names
// in order. Waiting for a node is package nodewait (r.wait), the rolling
// loop op.Rolling, the record package consulstore (r.consul, r.rec).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/infracreds"
	"github.com/swarmcass/swarmcass/nodetool"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// operate runs a day-2 operation's steps on a run made from cfg, as
// Bootstrap runs its own; name is the operation's ("scale", ...).
func operate(ctx context.Context, name string, cfg Config, steps []op.Step[*run]) (*Result, error) {
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, p: cfg.Progress, res: &Result{Operation: name, Cluster: cfg.Cluster, Network: cfg.Network}}
	var err error
	r.res.Steps, err = op.Run(ctx, r.p, steps, r)
	return r.res, err
}

// attach is the first step of every day-2 operation: it checks the input,
// asks every engine for its Info, and finds the swarm, Consul on infra,
// the cluster's record and its node services. It creates nothing. Engines
// that do not answer are named in r.unreached (their nodes count as down);
// the operation decides whether it can go on without them. Infra and the
// swarm manager must answer.
func attach(ctx context.Context, r *run) error {
	if err := CheckCluster(r.cfg.Cluster); err != nil {
		return err
	}
	err := r.connect(ctx)
	if r.infra == nil || r.manager == nil {
		return err
	}
	for name, why := range r.unreached {
		r.p.Infof("engine %s does not answer; the nodes on it count as down: %v", name, why)
	}
	m := r.manager
	if m.info.Swarm.State != "active" || !m.info.Swarm.Manager {
		return op.Hinted("bootstrap the cluster first (swarmcass bootstrap --cluster "+r.cfg.Cluster+"), or list its swarm manager first",
			"%s is not a swarm manager (swarm %s): there is no cluster to act on", m.name(), cmp.Or(m.info.Swarm.State, "inactive"))
	}
	r.byNode = map[string]*host{}
	for _, h := range r.swarm {
		r.byNode[h.info.Swarm.NodeID] = h
	}
	r.res.Registry = registry.Addr(r.infra.Addr)
	consulAddr := consulstore.Addr(r.infra.Addr)
	if r.consul, err = r.cfg.Remote.Consul(consulAddr, infracreds.ConsulTokens(r.infra.Engine, r.infra.Addr, r.p.Debugf)); err != nil {
		return err
	}
	// Nodes this operation creates pull with the registry's user.
	if r.registryUser, err = knownRegistryUser(ctx, r); err != nil {
		return err
	}
	if leader, err := r.consul.Leader(ctx); err != nil || leader == "" {
		return op.WithHint(fmt.Errorf("consul at %s has no leader (%v): the cluster's record and lock cannot be read", consulAddr, err),
			"start it again with swarmcass bootstrap (it keeps its data), or check the infra host "+r.infra.name())
	}
	if r.rec, err = consulstore.ReadRecord(ctx, r.consul, r.cfg.Cluster); err != nil {
		return fmt.Errorf("read the record of cluster %s: %w", r.cfg.Cluster, err)
	}
	for _, bad := range r.rec.Bad {
		r.p.Infof("%v", bad)
	}
	list, err := m.Engine.ServiceList(ctx, r.labels(engine.RoleCassandra, ""))
	if err != nil {
		return fmt.Errorf("list the cluster's services on %s: %w", m.name(), err)
	}
	r.services = map[string]engine.Service{}
	for _, s := range list {
		r.services[s.Name] = s
	}
	if len(r.services) == 0 && len(r.rec.Nodes) == 0 {
		return op.Hinted("check --cluster; swarmcass bootstrap creates a cluster",
			"cluster %s has no node service and no record: there is nothing to act on", r.cfg.Cluster)
	}
	if r.rec.Network.Name != "" {
		r.cfg.Network, r.res.Network = r.rec.Network.Name, r.rec.Network.Name
	}
	r.res.Subnet, r.res.Image = r.rec.Network.Subnet, r.rec.Image
	// What the nodes tell drivers, as they were started: nodes a day-2
	// operation creates tell the same.
	r.cfg.Clients = cmp.Or(r.rec.Network.Clients, ClientsOverlay)
	r.res.Clients = r.cfg.Clients
	r.res.Seeds = r.rec.Seeds
	if len(r.res.Seeds) == 0 {
		r.res.Seeds = chooseSeeds(r.services, nil, 0)
	}
	r.wait = r.waiter()
	return nil
}

// lockFor is the Lock step of operation name: the cluster's lock in
// Consul for the rest of the run, so that a second operation on the same
// cluster fails at once, naming this one and its holder.
func lockFor(name string) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		release, err := consulstore.LockCluster(ctx, r.consul, r.cfg.Cluster, name)
		if errors.Is(err, consulstore.ErrLocked) {
			return op.WithHint(err, fmt.Sprintf("wait for it to finish; if that process is gone, its lock expires within about %s", consulstore.LockExpiry))
		}
		if err != nil {
			return err
		}
		r.unlock = sync.OnceFunc(release)
		r.Hold(r.unlock)
		return nil
	}
}

// showPlan is the Plan step: it prints r.plan, what the operation is about
// to do, one line each. On a dry run the operation ends there, having
// changed nothing. A destructive plan goes on only when cfg.Confirm says
// yes (the CLI asks on a terminal, or takes --yes). An empty plan ends the
// operation too: there is nothing to do.
func showPlan(destructive bool) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		r.res.Plan = r.plan
		if len(r.plan) == 0 {
			r.p.Infof("nothing to do")
			return op.ErrStop
		}
		for _, line := range r.plan {
			r.p.Infof("plan: %s", line)
		}
		if r.cfg.DryRun {
			r.res.DryRun = true
			return fmt.Errorf("dry run: %w", op.ErrStop)
		}
		if !destructive {
			return nil
		}
		if r.cfg.Confirm == nil {
			return op.Hinted("pass --yes to go ahead, or --dry-run to see the plan only",
				"this changes the cluster for good (%s) and needs a confirmation", r.plan[0])
		}
		return r.cfg.Confirm(ctx, r.plan)
	}
}

// nodeNumber is K of node casK; 0 for another name.
func nodeNumber(name string) int {
	k, err := strconv.Atoi(strings.TrimPrefix(name, "cass"))
	if err != nil || !strings.HasPrefix(name, "cass") || k < 1 {
		return 0
	}
	return k
}

// nodeNames are the cluster's node services' names in node order.
func (r *run) nodeNames() []string {
	names := make([]string, 0, len(r.services))
	for name := range r.services {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(nodeNumber(a), nodeNumber(b)) })
	return names
}

// ringHealthy is the gate before a node is taken out or restarted: every
// node service runs and every node's view lists them all Up and Normal
// (nodewait.Waiter.Healthy).
func (r *run) ringHealthy(ctx context.Context) error {
	if err := r.wait.Healthy(ctx, r.nodeNames()); err != nil {
		return op.WithHint(fmt.Errorf("the ring is not healthy: %w", err),
			"see swarmcass ring --cluster "+r.cfg.Cluster+"; bring every node back Up/Normal (swarmcass bootstrap heals a stopped one) and run again")
	}
	return nil
}

// drain runs nodetool drain in node's container: Cassandra flushes its
// memtables, stops accepting writes and leaves gossip, so that stopping it
// next loses nothing and replays no commit log.
func (r *run) drain(ctx context.Context, node string) error {
	if _, err := r.inNode(ctx, node, "nodetool", "drain"); err != nil {
		return err
	}
	r.p.Debugf("%s drained", node)
	return nil
}

// inNode runs cmd (nodetool ARGS..., df ...) in node's running container
// and returns its standard output; a command that fails comes back with
// what it printed.
func (r *run) inNode(ctx context.Context, node string, cmd ...string) (string, error) {
	t, h, ok, err := r.wait.Container(ctx, node)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%s does not run", node)
	}
	if cmd[0] == "nodetool" {
		stdout, out, err := nodewait.Nodetool(ctx, h.Engine, t.ContainerID, cmd[1:]...)
		if err != nil {
			return "", fmt.Errorf("nodetool %s in %s: %w\n%s", strings.Join(cmd[1:], " "), node, err, op.Indent(out))
		}
		return stdout, nil
	}
	res, err := h.Engine.Exec(ctx, t.ContainerID, cmd)
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w", strings.Join(cmd, " "), node, err)
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("%s in %s exited %d: %s", strings.Join(cmd, " "), node, res.ExitCode, strings.TrimSpace(res.Stderr+res.Stdout))
	}
	return res.Stdout, nil
}

// freeDisk is the space free for Cassandra's data in node's container:
// df on /var/lib/cassandra, its volume (the real image has coreutils' df,
// cassim a df of its own).
func (r *run) freeDisk(ctx context.Context, node string) (int64, error) {
	out, err := r.inNode(ctx, node, "df", "-Pk", "/var/lib/cassandra")
	if err != nil {
		return 0, err
	}
	return parseDF(out)
}

// parseDF reads the available space from `df -Pk PATH` (POSIX format:
// a header, then "FS 1024-blocks Used Available Capacity Mounted-on").
func parseDF(out string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("df printed no filesystem line: %q", out)
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 6 {
		return 0, fmt.Errorf("df line %q has not the 6 POSIX columns", lines[len(lines)-1])
	}
	kb, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("df available %q is not a number: %w", f[3], err)
	}
	return kb << 10, nil
}

// allNodes are the cluster's nodes, those with a service and those only
// in the record (a node an interrupted operation was taking out, or every
// node after swarmcass down), in node order.
func (r *run) allNodes() []string {
	seen := map[string]bool{}
	var names []string
	for _, name := range append(r.nodeNames(), slices.Collect(maps.Keys(r.rec.Nodes))...) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(nodeNumber(a), nodeNumber(b)) })
	return names
}

// adoptNodeSettings takes what a node the operation creates must have
// from the cluster's lowest-numbered node service (heap, memory limit,
// extra environment, CQL port base) and from the record (image, subnet),
// so that it is made like its peers whatever flags this command got.
// Bootstrap's own environment and a replace's JVM option are not taken.
func (r *run) adoptNodeSettings() error {
	names := r.nodeNames()
	if len(names) == 0 {
		return op.Hinted("bring it back first: swarmcass bootstrap --cluster "+r.cfg.Cluster,
			"cluster %s has no node service (it is down): there is no node to take the settings of new nodes from", r.cfg.Cluster)
	}
	sp := r.services[names[0]].Spec
	r.res.Image = cmp.Or(r.rec.Image, sp.Image)
	r.cfg.Memory = sp.MemoryLimit
	r.cfg.NodeEnv = nil
	subnet := ""
	for _, kv := range sp.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "MAX_HEAP_SIZE":
			if heap, err := ParseBytes(v); err == nil {
				r.cfg.Heap = heap
			}
		case k == "CASSANDRA_LISTEN_SUBNET":
			subnet = v
		case k == "HEAP_NEWSIZE" || slices.Contains(ownedEnv, k):
			// a node's own place (rolling.go: ownedEnv), not a setting
		case k == "JVM_EXTRA_OPTS":
			var keep []string
			for _, opt := range strings.Fields(v) {
				if !strings.HasPrefix(opt, replaceOption+"=") {
					keep = append(keep, opt)
				}
			}
			if len(keep) > 0 {
				r.cfg.NodeEnv = append(r.cfg.NodeEnv, k+"="+strings.Join(keep, " "))
			}
		default:
			r.cfg.NodeEnv = append(r.cfg.NodeEnv, kv)
		}
	}
	r.res.Subnet = cmp.Or(r.rec.Network.Subnet, subnet)
	r.cfg.CQLPort = -1
	for _, s := range r.services {
		if p, err := strconv.Atoi(publishedCQL(s)); err == nil && (r.cfg.CQLPort < 0 || p < r.cfg.CQLPort) {
			r.cfg.CQLPort = p
		}
	}
	return nil
}

// setState records node's state (leaving, replacing, down, ...), keeping
// the rest of its record; written also after Ctrl-C, so that a re-run
// knows where the operation stopped.
func (r *run) setState(ctx context.Context, node, state string) error {
	n := r.rec.Nodes[node]
	n.Name, n.State = node, state
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := consulstore.WriteNode(rctx, r.consul, r.cfg.Cluster, n, false); err != nil {
		return err
	}
	r.rec.Nodes[node] = n
	return nil
}

// removeService removes node's service, if it exists, and waits until no
// container of the node is left on the hosts that answer (Swarm stops
// the task's container after the service is gone).
func (r *run) removeService(ctx context.Context, node string) error {
	err := r.manager.Engine.ServiceRemove(ctx, node)
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		return fmt.Errorf("remove service %s: %w", node, err)
	default:
		r.removed("service %s", node)
	}
	delete(r.services, node)
	labels := r.labels(engine.RoleCassandra, node)
	return op.Poll(ctx, r.cfg.PollInterval, r.cfg.NodeTimeout, "the containers of "+node+" to be gone", func() (bool, error) {
		for _, h := range r.swarm {
			cs, err := h.Engine.ContainerList(ctx, labels)
			if err != nil {
				return false, fmt.Errorf("list containers on %s: %w", h.name(), err)
			}
			if len(cs) > 0 {
				r.p.Debugf("%s: %d containers of %s left", h.name(), len(cs), node)
				return false, nil
			}
		}
		return true, nil
	})
}

// removeVolume removes node's data volume on h, if it is there.
func (r *run) removeVolume(ctx context.Context, h *host, node string) error {
	volume := node + "-data"
	err := h.Engine.VolumeRemove(ctx, volume)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("remove volume %s on %s: %w", volume, h.name(), err)
	}
	r.removed("volume %s on %s", volume, h.name())
	return nil
}

// forget takes node out of Consul: its registration and its record.
func (r *run) forget(ctx context.Context, node string) error {
	if err := r.consul.Deregister(ctx, consulstore.ServiceID(r.cfg.Cluster, node)); err != nil {
		return fmt.Errorf("deregister %s from Consul: %w", node, err)
	}
	if err := r.consul.Delete(ctx, consulstore.Key(r.cfg.Cluster, "nodes", node)); err != nil {
		return fmt.Errorf("delete the record of %s: %w", node, err)
	}
	delete(r.rec.Nodes, node)
	r.removed("%s's Consul registration and record", node)
	return nil
}

// removed notes something this run removed.
func (r *run) removed(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	r.res.Removed = append(r.res.Removed, what)
	r.p.Debugf("removed %s", what)
}

// schemaDisagrees asks node's nodetool describecluster: "" when every
// node holds one schema version and none is unreachable.
func (r *run) schemaDisagrees(ctx context.Context, node string) string {
	_, why := r.schemaOf(ctx, node)
	return why
}

// schemaOf is the one schema version node's describecluster lists for every
// node, or why there is none: it does not run, some node is unreachable or
// holds another version.
func (r *run) schemaOf(ctx context.Context, node string) (version, why string) {
	t, h, ok, err := r.wait.Container(ctx, node)
	if err != nil || !ok {
		return "", fmt.Sprintf("%s does not run (%v)", node, err)
	}
	out, _, err := nodewait.Nodetool(ctx, h.Engine, t.ContainerID, "describecluster")
	if err != nil {
		return "", err.Error()
	}
	d, err := nodetool.ParseDescribeCluster(out)
	if err != nil {
		return "", fmt.Sprintf("read nodetool describecluster in %s: %v", node, err)
	}
	if !d.SchemaAgreement() || len(d.Unreachable) > 0 {
		return "", fmt.Sprintf("in %s's view the schema does not agree (%d versions, unreachable %v)", node, len(d.SchemaVersions), d.Unreachable)
	}
	return d.SchemaVersions[0].Version, ""
}

// settleSchema waits until the nodetool describecluster of every one of
// nodes lists the same one schema version for all, as ring judges it: after
// a step changed the schema, gossip may carry a node's old version for a
// round or two.
func (r *run) settleSchema(ctx context.Context, nodes []string) error {
	var why string
	err := op.Poll(ctx, r.cqlPoll(), r.cfg.NodeTimeout, "every node to agree on the schema", func() (bool, error) {
		// Every view at once: a real nodetool is a JVM of its own.
		versions, whys := make([]string, len(nodes)), make([]string, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() { versions[i], whys[i] = r.schemaOf(ctx, n) })
		}
		wg.Wait()
		why = ""
		for i, n := range nodes {
			if w := whys[i]; w != "" {
				why = w
			} else if versions[i] != versions[0] {
				why = fmt.Sprintf("%s sees schema version %s, %s sees %s", nodes[0], versions[0], n, versions[i])
			}
			if why != "" {
				r.p.Debugf("%s", why)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return op.WithHint(fmt.Errorf("%w (last: %s)", err, why),
			"see swarmcass ring --cluster "+r.cfg.Cluster+" and nodetool describecluster in the node named; once the schema agrees, run again")
	}
	return nil
}

// nodeReport is err with node's last log lines, for the report.
func (r *run) nodeReport(ctx context.Context, node string, err error) error {
	ne := &nodewait.NodeError{Node: node, Err: err}
	tasks, terr := r.manager.Engine.TaskList(ctx, node)
	if terr == nil && len(tasks) > 0 {
		if h, ok := r.wait.Hosts[tasks[0].NodeID]; ok {
			ne.Host = h.Name()
			if tasks[0].ContainerID != "" {
				if logs, lerr := h.Engine.ContainerLogs(ctx, tasks[0].ContainerID, 30); lerr == nil {
					ne.Logs = logs
				}
			}
		}
	}
	return ne
}

// waitCQL waits until each of nodes accepts connections on its published
// CQL port. UN in every view is not that yet: real Cassandra opens its CQL
// port seconds after it is NORMAL (8 to 18 s measured here: it waits for
// gossip to settle first), and a new cluster's nodes started together are
// all UN at about the same moment. A node that publishes no port is judged
// by its health check (nodewait.Listed), which passes once CQL answers.
func (r *run) waitCQL(ctx context.Context, nodes []NodeResult) error {
	for _, n := range nodes {
		if n.CQL == "" {
			if err := r.wait.Listed(ctx, n.Name); err != nil {
				return r.nodeReport(ctx, n.Name, err)
			}
			continue
		}
		err := op.Poll(ctx, r.cfg.PollInterval, r.cfg.NodeTimeout, n.Name+"'s CQL port "+n.CQL+" to answer", func() (bool, error) {
			return r.cfg.Remote.Listening(ctx, n.CQL), nil
		})
		if err != nil {
			return r.nodeReport(ctx, n.Name, err)
		}
	}
	return nil
}
