package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/nodetool"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
)

// Scale brings the cluster to cfg.Nodes nodes. Growing is bootstrap's own
// path (ensureNodes: one node at a time, each waited for until UN, then
// the record). Shrinking decommissions the highest-numbered node first, one
// at a time: Cassandra streams its data to the others while it is UL, and
// once it has left every remaining view its service, Consul registration,
// record and volume go (a decommissioned node's data cannot rejoin).
func Scale(ctx context.Context, cfg Config) (*Result, error) {
	s := &scaling{}
	return operate(ctx, "scale", cfg, []op.Step[*run]{
		{Name: "Preflight", Run: attach},      // operation.go: engines, swarm, Consul, record, services
		{Name: "Lock", Run: lockFor("scale")}, // operation.go
		{Name: "Check", Run: s.check},         // below: what changes, and the refusals; fills r.plan
		{Name: "Plan", Run: s.showPlan},       // operation.go: a shrink needs a yes
		{Name: "Nodes", Run: s.nodes},         // grow: ensureNodes (nodes.go); shrink: decommission one at a time
		{Name: "Record", Run: s.record},       // grow: record.go; shrink: the nodes that stay
	})
}

// scaling is one scale's plan: the nodes that stay and those that leave,
// highest-numbered first.
type scaling struct {
	grow    bool
	staying []string
	leaving []leaver
}

// leaver is a node the shrink takes out.
type leaver struct {
	name string
	node consulstore.Node // its record: host, address, host ID
	// resumed: an earlier run started its decommission (state leaving) or
	// finished it (decommissioned); it is not decommissioned again.
	resumed bool
}

// Record states a shrink writes, so that a re-run continues.
const (
	stateLeaving        = "leaving"
	stateDecommissioned = "decommissioned"
)

func (s *scaling) check(ctx context.Context, r *run) error {
	want := r.cfg.Nodes
	if want < 1 {
		return op.Hinted("pass --nodes 1 or more; swarmcass down stops the whole cluster and keeps its data",
			"--nodes %d: a cluster keeps at least one node", want)
	}
	names := r.allNodes()
	if err := r.adoptNodeSettings(); err != nil {
		return err
	}
	switch {
	case want == len(names):
		return nil // an empty plan: nothing to do
	case want > len(names):
		return s.checkGrow(ctx, r, len(names))
	}
	s.staying = names[:want]
	for i := len(names) - 1; i >= want; i-- {
		l := leaver{name: names[i], node: r.rec.Nodes[names[i]]}
		l.resumed = l.node.State == stateLeaving || l.node.State == stateDecommissioned
		if l.node.HostID == "" {
			look, err := r.wait.Look(ctx, l.name, 0, nil)
			if err != nil || !look.Ready {
				return op.Hinted("bring it back Up/Normal first (swarmcass bootstrap heals a stopped node), or replace it (swarmcass replace "+l.name+")",
					"%s has no record of its host ID and is not UN (%s): it cannot be decommissioned", l.name, look.Why)
			}
			l.node.Name, l.node.HostID, l.node.Address, l.node.Host = l.name, look.HostID, look.Address, look.Host.Name()
			l.node.SwarmNode, l.node.State = look.Task.NodeID, "UN"
			r.rec.Nodes[l.name] = l.node
		}
		s.leaving = append(s.leaving, l)
	}
	var problems []error
	if err := s.gate(ctx, r, 0); err != nil {
		return err // the other checks need whole views
	}
	view, err := r.inNode(ctx, s.staying[0], "nodetool", "status")
	if err != nil {
		return err
	}
	status, err := nodetool.ParseStatus(view)
	if err != nil {
		return fmt.Errorf("%s: %w", s.staying[0], err)
	}
	problems = append(problems, s.checkReplication(ctx, r, status)...)
	problems = append(problems, s.checkDisk(ctx, r, status)...)
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	for _, l := range s.leaving {
		if l.node.State == stateDecommissioned {
			r.plan = append(r.plan, fmt.Sprintf("%s has left the ring already (an earlier run): remove what is left of it", l.name))
		} else if l.resumed {
			r.plan = append(r.plan, fmt.Sprintf("%s was leaving when an earlier run stopped: wait until it has left every view", l.name))
		} else {
			r.plan = append(r.plan, fmt.Sprintf("decommission %s (host ID %s on %s): it streams its data to the nodes that stay, then leaves the ring", l.name, l.node.HostID, l.node.Host))
		}
		r.plan = append(r.plan, fmt.Sprintf("remove service %s, its Consul registration and record, and volume %s-data on %s (a decommissioned node's data cannot rejoin)", l.name, l.name, l.node.Host))
	}
	if seeds := s.seedsAfter(r, len(s.leaving)); !slices.Equal(seeds, r.res.Seeds) {
		r.plan = append(r.plan, fmt.Sprintf("seeds become %s (record, and every node created from now on); running nodes keep their list until their next start, where a departed seed is skipped", strings.Join(seeds, ",")))
	}
	return nil
}

// checkGrow plans nodes have+1..want, where ensureNodes will put them, and
// checks that they fit the hosts' memory.
func (s *scaling) checkGrow(ctx context.Context, r *run, have int) error {
	s.grow = true
	if problems := r.checkMemory(); len(problems) > 0 {
		return errors.Join(problems...)
	}
	for k := have + 1; k <= r.cfg.Nodes; k++ {
		h, err := r.nodeHost(ctx, k)
		if err != nil {
			return err
		}
		r.plan = append(r.plan, fmt.Sprintf("add %s on %s, as bootstrap does: started once the ring is quiet, waited for until UN", nodeName(k), h.name()))
	}
	return nil
}

// gate: every node still in the ring runs and is UN in every view, before
// leaving[from] goes; nodes that already left or are leaving (an earlier
// run's) are left out.
func (s *scaling) gate(ctx context.Context, r *run, from int) error {
	nodes := slices.Clone(s.staying)
	var ignore []string
	for _, l := range s.leaving[from:] {
		if l.resumed {
			ignore = append(ignore, l.node.HostID)
		} else {
			nodes = append(nodes, l.name)
		}
	}
	slices.SortFunc(nodes, func(a, b string) int { return nodeNumber(a) - nodeNumber(b) })
	if err := r.wait.Healthy(ctx, nodes, ignore...); err != nil {
		return op.WithHint(fmt.Errorf("the ring is not healthy, so no node may leave it: %w", err),
			"see swarmcass ring --cluster "+r.cfg.Cluster+"; bring every node back Up/Normal (swarmcass bootstrap heals a stopped one), or replace a dead one (swarmcass replace NODE), and run again")
	}
	return nil
}

// checkReplication refuses a shrink that leaves a datacenter fewer nodes
// than a keyspace's replication factor there (Cassandra's own check at
// decommission: its N counts every ring member of the datacenter, the
// leaving node too, and it refuses when N <= RF). The replication is
// read from the cluster (nodetool describecluster, Cassandra 4.0+).
func (s *scaling) checkReplication(ctx context.Context, r *run, status *nodetool.Status) []error {
	out, err := r.inNode(ctx, s.staying[0], "nodetool", "describecluster")
	if err != nil {
		return []error{err}
	}
	d, err := nodetool.ParseDescribeCluster(out)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", s.staying[0], err)}
	}
	if len(d.Keyspaces) == 0 {
		return []error{op.Hinted("scale needs Cassandra 4.0 or newer, whose describecluster lists the keyspaces",
			"nodetool describecluster in %s lists no keyspaces: the replication factors cannot be checked", s.staying[0])}
	}
	remain := map[string]int{} // datacenter -> nodes that stay
	total := 0
	leavingDC := map[string]bool{}
	for _, n := range status.Nodes() {
		left := false
		for _, l := range s.leaving {
			if strings.EqualFold(n.HostID, l.node.HostID) {
				left = true
				leavingDC[n.Datacenter] = true
			}
		}
		if !left {
			remain[n.Datacenter]++
			total++
		}
	}
	var problems []error
	for _, ks := range d.Keyspaces {
		class, rfs, err := parseReplication(ks.Replication)
		if err != nil {
			problems = append(problems, fmt.Errorf("keyspace %s: %w", ks.Name, err))
			continue
		}
		for dc, rf := range rfs {
			have := total
			if class == "NetworkTopologyStrategy" {
				if !leavingDC[dc] {
					continue
				}
				have = remain[dc]
			}
			if rf > have {
				where := ""
				if class == "NetworkTopologyStrategy" {
					where = " in datacenter " + dc
				}
				problems = append(problems, op.Hinted(
					fmt.Sprintf("keep at least %d nodes%s, or lower the keyspace's replication first (ALTER KEYSPACE %s WITH replication = ..., then nodetool repair)", rf, where, ks.Name),
					"keyspace %s has replication factor %d%s, but only %d nodes would remain there", ks.Name, rf, where, have))
			}
		}
	}
	return problems
}

// parseReplication reads describecluster's "SimpleStrategy
// {replication_factor=3}" or "NetworkTopologyStrategy {dc1=3, dc2=2}":
// the class and the replication factor by datacenter ("" for
// SimpleStrategy, which ignores datacenters). Local and Everywhere
// strategies have none a shrink can break.
func parseReplication(s string) (class string, rfs map[string]int, err error) {
	class, opts, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		opts = ""
	}
	rfs = map[string]int{}
	switch class = strings.TrimPrefix(class, "org.apache.cassandra.locator."); class {
	case "LocalStrategy", "EverywhereStrategy", "MetaStrategy":
		return class, rfs, nil
	case "SimpleStrategy", "NetworkTopologyStrategy":
	default:
		return class, nil, fmt.Errorf("replication class %s: swarmcass cannot tell what a shrink does to it", class)
	}
	opts = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(opts), "{"), "}")
	for kv := range strings.SplitSeq(opts, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			continue
		}
		rf, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return class, nil, fmt.Errorf("replication %q: %s is not a number", s, v)
		}
		if class == "SimpleStrategy" {
			if k == "replication_factor" {
				rfs[""] = rf
			}
			continue
		}
		rfs[k] = rf
	}
	return class, rfs, nil
}

// checkDisk: the data the leaving nodes hold (their load in nodetool
// status) moves to the nodes that stay; each must have free at least an
// even share of it on /var/lib/cassandra. Streaming is not perfectly even
// and compaction needs room too, so this is a floor, not a comfort.
func (s *scaling) checkDisk(ctx context.Context, r *run, status *nodetool.Status) []error {
	var moving int64
	for _, l := range s.leaving {
		if l.node.State == stateDecommissioned {
			continue
		}
		for _, n := range status.Nodes() {
			if strings.EqualFold(n.HostID, l.node.HostID) {
				if !n.LoadKnown {
					r.p.Infof("the load of %s is unknown (?), so the free disk cannot be checked for it", l.name)
				}
				moving += n.Load
			}
		}
	}
	share := moving / int64(len(s.staying))
	var problems []error
	for _, name := range s.staying {
		free, err := r.freeDisk(ctx, name)
		if err != nil {
			problems = append(problems, op.WithHint(fmt.Errorf("free disk of %s: %w", name, err),
				"the node image must have df (the real image has; cassim has its own)"))
			continue
		}
		r.p.Debugf("%s: %s free on /var/lib/cassandra, needs %s", name, humanBytes(free), humanBytes(share))
		if free < share {
			problems = append(problems, op.Hinted("free space on its host, or remove fewer nodes",
				"%s has %s free on /var/lib/cassandra, less than its share (%s) of the %s the leaving nodes hold", name, humanBytes(free), humanBytes(share), humanBytes(moving)))
		}
	}
	return problems
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// seedsAfter is the seed list once the first done leavers have gone: the
// seeds that stay, or the first min(3, N) nodes that stay when none does.
func (s *scaling) seedsAfter(r *run, done int) []string {
	gone := map[string]bool{}
	for _, l := range s.leaving[:done] {
		gone[l.name] = true
	}
	var seeds []string
	for _, seed := range r.res.Seeds {
		if !gone[seed] {
			seeds = append(seeds, seed)
		}
	}
	if len(seeds) == 0 {
		inRing := slices.Clone(s.staying)
		for _, l := range s.leaving[done:] {
			inRing = append(inRing, l.name)
		}
		slices.SortFunc(inRing, func(a, b string) int { return nodeNumber(a) - nodeNumber(b) })
		seeds = inRing[:min(3, len(inRing))]
	}
	return seeds
}

func (s *scaling) showPlan(ctx context.Context, r *run) error {
	return showPlan(!s.grow)(ctx, r)
}

func (s *scaling) nodes(ctx context.Context, r *run) error {
	if s.grow {
		return ensureNodes(ctx, r)
	}
	done := 0
	_, err := op.Rolling{
		Nodes: namesOf(s.leaving),
		// Before each node that has not started leaving: the ring whole.
		Gate: func(ctx context.Context) error {
			if s.leaving[done].resumed {
				return nil
			}
			return s.gate(ctx, r, done)
		},
		Act: func(ctx context.Context, _ string) error { return s.decommission(ctx, r, &s.leaving[done]) },
		Wait: func(ctx context.Context, _ string) error {
			if err := s.cleanUp(ctx, r, s.leaving[done], done); err != nil {
				return err
			}
			done++
			return nil
		},
		Progress: r.p,
	}.Run(ctx)
	if err != nil {
		return op.WithHint(err, "run the same swarmcass scale again: it continues from "+s.leaving[done].name+" (a node that has left is cleaned up, not decommissioned again)")
	}
	return nil
}

func namesOf(ls []leaver) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.name)
	}
	return out
}

// decommission runs nodetool decommission in l's container and waits
// until no view of the nodes still in the ring lists it, reporting its
// state in a staying node's view while it streams. The wait is on the
// views, not on nodetool or the node's process: Cassandra's decommission
// keeps its JVM up ("let op be responsible for killing the process"), but
// once the node has left (STATUS LEFT, system.local bootstrapped
// NEEDS_BOOTSTRAP) it no longer passes the image's health check, so Swarm
// may end its task before nodetool returns; and a node that has left
// every view is done, whatever its process does next.
func (s *scaling) decommission(ctx context.Context, r *run, l *leaver) error {
	if l.node.State == stateDecommissioned {
		return nil
	}
	if !l.resumed {
		if err := r.setState(ctx, l.name, stateLeaving); err != nil {
			return err
		}
		l.node = r.rec.Nodes[l.name]
		t0 := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := r.inNode(ctx, l.name, "nodetool", "decommission")
			done <- err
		}()
		r.p.Infof("decommissioning %s: it streams its data to the nodes that stay", l.name)
		last := ""
		tick := time.NewTicker(max(r.cfg.PollInterval, 10*time.Millisecond))
		defer tick.Stop()
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					// nodetool ended with an error: a refusal or a failed
					// stream (the node is still in the ring), or its JVM
					// ended under it once the node had left (Swarm ending
					// a task that fails its health check; nodetool then
					// says "Cassandra has shutdown."). The ring decides.
					if gerr := r.wait.WithTimeout(30*time.Second).Gone(ctx, "", l.node.HostID, s.inRing(l)); gerr != nil {
						return op.WithHint(fmt.Errorf("decommission of %s: %w", l.name, err),
							"nodetool netstats in "+l.name+" says what it is doing; fix the cause and run scale again")
					}
					r.p.Infof("nodetool decommission in %s ended with an error, but %s has left every view: %v", l.name, l.name, firstLine(err.Error()))
				}
				break wait
			case <-ctx.Done():
				return fmt.Errorf("decommission of %s, started %s ago, goes on in the node: %w", l.name, time.Since(t0).Round(time.Second), ctx.Err())
			case <-tick.C:
				now, gone := s.leaveState(ctx, r, l)
				if now != last {
					r.p.Infof("%s is %s after %s", l.name, now, time.Since(t0).Round(time.Second))
					last = now
				}
				if gone {
					// Left the first view: the others follow within a
					// few gossip rounds (waited for below), while the
					// node announces its departure and ends.
					break wait
				}
			}
		}
	}
	if err := r.wait.Gone(ctx, "", l.node.HostID, s.inRing(l)); err != nil {
		return fmt.Errorf("%s to leave every view: %w", l.name, err)
	}
	if err := r.setState(ctx, l.name, stateDecommissioned); err != nil {
		return err
	}
	l.node.State = stateDecommissioned
	r.p.Infof("%s has left the ring", l.name)
	return nil
}

// inRing are the nodes still in the ring besides l: those that stay and
// the leavers after l.
func (s *scaling) inRing(l *leaver) []string {
	nodes := slices.Clone(s.staying)
	i := slices.IndexFunc(s.leaving, func(o leaver) bool { return o.name == l.name })
	for _, o := range s.leaving[i+1:] {
		nodes = append(nodes, o.name)
	}
	return nodes
}

// leaveState is how the first staying node lists l: "UL (Up/Leaving) in
// cass1's view", "gone from cass1's view" (then gone is true).
func (s *scaling) leaveState(ctx context.Context, r *run, l *leaver) (desc string, gone bool) {
	viewer := s.staying[0]
	t, h, ok, err := r.wait.Container(ctx, viewer)
	if err != nil || !ok {
		return "not visible (" + viewer + " does not answer)", false
	}
	st, _, err := nodewait.Status(ctx, h.Engine, t.ContainerID)
	if err != nil {
		return "not visible (" + err.Error() + ")", false
	}
	for _, n := range st.Nodes() {
		if strings.EqualFold(n.HostID, l.node.HostID) {
			return n.Code() + " (" + nodetool.Words(n.Status, n.State) + ") in " + viewer + "'s view", false
		}
	}
	return "gone from " + viewer + "'s view", true
}

// cleanUp removes what is left of a node that has left the ring: its
// service (and so its container), its volume on its host, its Consul
// registration, and last its record, which tells a re-run what is left.
// The seeds in the record lose it if it was one.
func (s *scaling) cleanUp(ctx context.Context, r *run, l leaver, done int) error {
	if err := r.removeService(ctx, l.name); err != nil {
		return err
	}
	if h := r.hostNamed(l.node.Host); h != nil {
		if err := r.removeVolume(ctx, h, l.name); err != nil {
			return err
		}
	} else {
		r.p.Infof("volume %s-data on %s stays: that engine does not answer; remove it once it is back (docker volume rm %s-data)", l.name, l.node.Host, l.name)
	}
	// The seeds: the record (and so every node created from now on, see
	// chooseSeeds) loses the node that left. The nodes that run keep
	// their list: Cassandra reads its seeds at start, and the list is the
	// service's Args[0], whose change makes Swarm restart the task, a
	// needless restart of every node. Their stale entry names a service
	// that no longer exists, which Cassandra skips at their next start
	// while the other seeds in it remain (a shrink never removes cass1,
	// and the seeds that stay are a subset of the old list); the list is
	// renewed whenever a node's service is next created.
	seeds := s.seedsAfter(r, done+1)
	if !slices.Equal(seeds, r.res.Seeds) {
		network := r.rec.Network
		if err := consulstore.WriteCluster(ctx, r.consul, r.cfg.Cluster, seeds, r.res.Image, network); err != nil {
			return err
		}
		r.res.Seeds, r.wait.Seeds = seeds, seeds
		r.p.Infof("seeds are now %s", strings.Join(seeds, ","))
	}
	return r.forget(ctx, l.name)
}

func (s *scaling) record(ctx context.Context, r *run) error {
	if s.grow {
		return record(ctx, r)
	}
	for _, name := range s.staying {
		r.res.Nodes = append(r.res.Nodes, NodeResult{Node: r.rec.Nodes[name]})
	}
	return nil
}
