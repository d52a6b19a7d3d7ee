package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
)

// replaceOption is the JVM option a replacing node starts with: it takes
// over the dead node's tokens and streams their data from the replicas.
// Cassandra reads it only while the node has never bootstrapped, and
// ignores it after ("Replace address on first boot requested; this node is
// already bootstrapped"), so the node's service keeps it: removing it
// would change the service's spec, and Swarm restarts a task whose spec
// changes.
const replaceOption = "-Dcassandra.replace_address_first_boot"

// Replace replaces node, which is down for good (its machine is gone, or
// its data is lost), by a node of the same name on machine to (empty: the
// node's own machine when it answers, else the one with the fewest nodes):
// a fresh volume, the service started with replace_address_first_boot set
// to the dead node's address (its record keeps it), waited for until UN;
// then the dead node's host ID must have left every view, and the record
// and Consul registration name the new one.
func Replace(ctx context.Context, cfg Config, node, to string) (*Result, error) {
	p := &replacing{node: node, to: to}
	return operate(ctx, "replace", cfg, []op.Step[*run]{
		{Name: "Preflight", Run: attach},        // operation.go
		{Name: "Lock", Run: lockFor("replace")}, // operation.go
		{Name: "Check", Run: p.check},           // below: the node is dead in every live view; the target can hold it
		{Name: "Plan", Run: showPlan(true)},     // operation.go: a replace needs a yes
		{Name: "Replace", Run: p.replace},       // below: old service and volume out, the new node in, waited for
		{Name: "Record", Run: p.record},         // below: record and registration of the new node
	})
}

// stateReplacing is the record state of a node being replaced: its record
// still holds the dead node's address and host ID.
const stateReplacing = "replacing"

// replacing is one replace's plan.
type replacing struct {
	node, to string
	k        int
	old      consulstore.Node // the dead node, as recorded
	target   *host
	oldHost  *host // the dead node's host, when its engine answers
	resumed  bool  // an earlier run created the replacing service already
	up       int   // nodes UN in the live views, the new one included once it is
	now      NodeResult
}

func (p *replacing) check(ctx context.Context, r *run) error {
	names := r.allNodes()
	if !slices.Contains(names, p.node) {
		return op.Hinted("give one of the cluster's nodes: "+strings.Join(names, ", "), "cluster %s has no node %q", r.cfg.Cluster, p.node)
	}
	p.k = nodeNumber(p.node)
	p.old = r.rec.Nodes[p.node]
	if p.old.Address == "" || p.old.HostID == "" {
		return op.Hinted("a node swarmcass never saw UN cannot be replaced; remove its service and run bootstrap",
			"the record of %s holds no address or host ID: there is nothing to replace", p.node)
	}
	if err := r.adoptNodeSettings(); err != nil {
		return err
	}
	p.oldHost = r.hostNamed(p.old.Host)
	if s, ok := r.services[p.node]; ok && p.old.State == stateReplacing && hasReplaceOption(s.Spec.Env, p.old.Address) {
		p.resumed = true
		p.target = r.byNode[strings.TrimPrefix(firstConstraint(s.Spec), "node.id==")]
		if p.target == nil {
			return fmt.Errorf("the replacing service %s is pinned to %s, none of the hosts that answer", p.node, firstConstraint(s.Spec))
		}
		p.up = len(names)
		r.plan = append(r.plan, fmt.Sprintf("continue the replacement of %s (%s): its new service on %s runs with %s=%s; wait until it is UN and the dead node has left every view",
			p.node, p.old.HostID, p.target.name(), replaceOption, p.old.Address))
		return nil
	}
	if err := p.checkDead(ctx, r, names); err != nil {
		return err
	}
	if err := p.chooseTarget(r); err != nil {
		return err
	}
	r.plan = append(r.plan, fmt.Sprintf("replace %s (host ID %s, %s, dead on %s) by a new %s on %s with a fresh volume, started with %s=%s; waited for until UN",
		p.node, p.old.HostID, p.old.Address, p.old.Host, p.node, p.target.name(), replaceOption, p.old.Address))
	if _, ok := r.services[p.node]; ok {
		r.plan = append(r.plan, "remove the dead node's service "+p.node)
	}
	switch {
	case p.oldHost != nil:
		r.plan = append(r.plan, fmt.Sprintf("remove the dead node's volume %s-data on %s", p.node, p.oldHost.name()))
	default:
		r.plan = append(r.plan, fmt.Sprintf("the dead node's volume %s-data on %s stays (its engine does not answer): remove it once that machine is back (docker volume rm %s-data)", p.node, p.old.Host, p.node))
	}
	return nil
}

// checkDead: the node is DN in the view of every other node that runs, as
// Cassandra requires (it refuses to replace a live node), and there is at
// least one such view.
func (p *replacing) checkDead(ctx context.Context, r *run, names []string) error {
	views := 0
	for _, viewer := range names {
		if viewer == p.node {
			continue
		}
		t, h, ok, err := r.wait.Container(ctx, viewer)
		if err != nil || !ok {
			r.p.Debugf("%s: no view (%v)", viewer, err)
			continue
		}
		st, _, err := nodewait.Status(ctx, h.Engine, t.ContainerID)
		if err != nil {
			r.p.Debugf("%s: no view (%v)", viewer, err)
			continue
		}
		views++
		listed := false
		for _, n := range st.Nodes() {
			if n.UN() {
				p.up = max(p.up, st.CountUN())
			}
			if !strings.EqualFold(n.HostID, p.old.HostID) {
				continue
			}
			listed = true
			if n.Code() != "DN" {
				return op.Hinted("replace only a node that is down for good; a node that runs comes back by itself, and one that is stopped comes back with swarmcass bootstrap",
					"%s is %s (%s) in %s's view: Cassandra refuses to replace a live node", p.node, n.Code(), n.Address, viewer)
			}
		}
		if !listed {
			return op.Hinted("check swarmcass ring --cluster "+r.cfg.Cluster+"; a node that left the ring needs no replacement (swarmcass scale, or bootstrap to add one)",
				"%s (host ID %s) is not in %s's view: there is nothing to replace", p.node, p.old.HostID, viewer)
		}
	}
	if views == 0 {
		return op.Hinted("bring at least one other node back first (swarmcass bootstrap heals stopped nodes)",
			"no other node of cluster %s answers nodetool: no live view says %s is down", r.cfg.Cluster, p.node)
	}
	p.up++ // the replacing node
	return nil
}

// chooseTarget: the machine named by --to, or the dead node's own when it
// answers, or the one with the fewest nodes; it must be in the swarm and
// have memory for one more node.
func (p *replacing) chooseTarget(r *run) error {
	switch {
	case p.to != "":
		p.target = r.hostNamed(p.to)
		if p.target == nil {
			if why, ok := r.unreached[p.to]; ok {
				return op.WithHint(fmt.Errorf("--to %s: the machine does not answer: %w", p.to, why), "choose another machine with --to")
			}
			var names []string
			for _, h := range r.swarm {
				names = append(names, h.name())
			}
			return op.Hinted("choose one of: "+strings.Join(names, ", "), "--to %s is not one of the swarm's machines", p.to)
		}
	case p.oldHost != nil:
		p.target = p.oldHost
	default:
		for _, h := range r.swarm {
			if p.target == nil || r.nodesOn(h) < r.nodesOn(p.target) {
				p.target = h
			}
		}
	}
	if p.target.info.Swarm.State != "active" || r.byNode[p.target.info.Swarm.NodeID] == nil {
		return op.Hinted("join it to the swarm first (swarmcass bootstrap --swarm ... joins the machines it is given)",
			"%s is not a member of the cluster's swarm", p.target.name())
	}
	avail := p.target.info.MemTotal
	if p.target == r.infra {
		avail -= infraReserve
	}
	for name, s := range r.services {
		if name != p.node && firstConstraint(s.Spec) == "node.id=="+p.target.info.Swarm.NodeID {
			avail -= s.Spec.MemoryLimit
		}
	}
	if avail < r.cfg.Memory {
		return op.Hinted("choose another machine with --to, or free memory on this one",
			"%s has %s left for nodes, less than a node's %s", p.target.name(), FormatBytes(max(avail, 0)), FormatBytes(r.cfg.Memory))
	}
	return nil
}

// nodesOn counts the node services pinned to h.
func (r *run) nodesOn(h *host) int {
	n := 0
	for _, s := range r.services {
		if firstConstraint(s.Spec) == "node.id=="+h.info.Swarm.NodeID {
			n++
		}
	}
	return n
}

func firstConstraint(s engine.ServiceSpec) string {
	if len(s.Constraints) == 0 {
		return ""
	}
	return s.Constraints[0]
}

func hasReplaceOption(env []string, addr string) bool {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "JVM_EXTRA_OPTS="); ok && slices.Contains(strings.Fields(v), replaceOption+"="+addr) {
			return true
		}
	}
	return false
}

// replace takes the dead node's service and volume out, creates the new
// node (nodes.go: createNode) with a fresh volume on the target, and waits
// until it is UN and the dead host ID has left every view.
func (p *replacing) replace(ctx context.Context, r *run) error {
	if !p.resumed {
		if err := r.setState(ctx, p.node, stateReplacing); err != nil {
			return err
		}
		if err := r.removeService(ctx, p.node); err != nil {
			return err
		}
		for _, h := range []*host{p.oldHost, p.target} { // the target's too: the new node's volume must be empty
			if h != nil {
				if err := r.removeVolume(ctx, h, p.node); err != nil {
					return err
				}
			}
		}
		// On the dead node's machine it keeps its port; elsewhere the
		// lowest free one there.
		port := r.cqlPort(p.k, p.target, r.services)
		if err := r.createNode(ctx, p.k, p.target, port, nil, p.asReplacement(r)); err != nil {
			return err
		}
		p.now.CQL = ""
		if r.cfg.CQLPort > 0 {
			p.now.CQL = fmt.Sprint(port)
		}
		p.now.Created = true
	} else {
		p.now.CQL = publishedCQL(r.services[p.node])
	}
	p.now.Name = p.node
	r.p.Infof("waiting for %s to replace %s: it streams the dead node's data from the replicas", p.node, p.old.Address)
	if err := r.waitNode(ctx, &p.now, p.up, nil); err != nil {
		return err
	}
	if strings.EqualFold(p.now.HostID, p.old.HostID) {
		return nil // the same address keeps the host ID: the entry was taken over in place
	}
	if err := r.wait.Gone(ctx, "", p.old.HostID, r.nodeNamesAlive()); err != nil {
		return fmt.Errorf("the dead %s (host ID %s) to leave every view: %w", p.node, p.old.HostID, err)
	}
	return nil
}

// nodeNamesAlive are the cluster's node services' names (whose views Gone
// asks; one that does not run has no view).
func (r *run) nodeNamesAlive() []string {
	names := r.allNodes()
	return slices.DeleteFunc(names, func(n string) bool { _, ok := r.services[n]; return !ok })
}

// asReplacement makes the new node's spec a replacement's: the JVM option,
// and a seed list without itself (a seed never bootstraps, and a
// replacement must), which it also waits for on its first boot.
func (p *replacing) asReplacement(r *run) func(*engine.ServiceSpec) {
	return func(spec *engine.ServiceSpec) {
		var seeds []string
		for _, s := range r.res.Seeds {
			if s != p.node {
				seeds = append(seeds, s)
			}
		}
		if len(seeds) == 0 {
			for _, n := range r.nodeNames() {
				if n != p.node && len(seeds) < 3 {
					seeds = append(seeds, n)
				}
			}
		}
		spec.Args = []string{strings.Join(seeds, ",")}
		opt := replaceOption + "=" + p.old.Address
		env := slices.DeleteFunc(slices.Clone(spec.Env), func(kv string) bool { return strings.HasPrefix(kv, "SWARMCASS_WAIT_FOR=") })
		found := false
		for i, kv := range env {
			if v, ok := strings.CutPrefix(kv, "JVM_EXTRA_OPTS="); ok {
				env[i], found = "JVM_EXTRA_OPTS="+v+" "+opt, true
			}
		}
		if !found {
			env = append(env, "JVM_EXTRA_OPTS="+opt)
		}
		spec.Env = append(env, "SWARMCASS_WAIT_FOR="+strings.Join(seeds, ","))
	}
}

// record writes the new node's record (its host ID, host and address) and
// registration, and waits for its Consul check.
func (p *replacing) record(ctx context.Context, r *run) error {
	if err := r.recordNode(ctx, p.now); err != nil {
		return err
	}
	if err := r.registerNode(ctx, p.now); err != nil {
		return err
	}
	r.res.Nodes = append(r.res.Nodes, p.now)
	return r.waitChecks(ctx, r.registered)
}
