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
	"slices"
	"strconv"
	"strings"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
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
	if r.consul, err = r.cfg.Remote.Consul(consulAddr); err != nil {
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
		r.res.Seeds = chooseSeeds(r.services, 0)
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
		r.Hold(release)
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
	t, h, ok, err := r.wait.Container(ctx, node)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s does not run: nothing to drain", node)
	}
	if _, out, err := nodewait.Nodetool(ctx, h.Engine, t.ContainerID, "drain"); err != nil {
		return fmt.Errorf("nodetool drain in %s: %w\n%s", node, err, op.Indent(out))
	}
	r.p.Debugf("%s drained", node)
	return nil
}

// removed notes something this run removed.
func (r *run) removed(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	r.res.Removed = append(r.res.Removed, what)
	r.p.Debugf("removed %s", what)
}
