package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// Restart restarts the named nodes (all when none are named) one at a
// time: before each, every node UN in every view and one schema; then
// nodetool drain, a new task of its service (same host, same volume), and
// a wait until it is UN in every view, its CQL port answers and the schema
// agrees. A node that does not come back within the node timeout stops the
// run with its last log lines; the nodes after it are left alone.
func Restart(ctx context.Context, cfg Config, nodes []string) (*Result, error) {
	return operate(ctx, "restart", cfg, []op.Step[*run]{
		{Name: "Preflight", Run: attach},          // operation.go: the engines, the swarm, Consul, the record, the nodes
		{Name: "Lock", Run: lockFor("restart")},   // operation.go: one operation per cluster at a time
		{Name: "Check", Run: checkRestart(nodes)}, // the nodes exist, the ring is healthy; the plan, resuming an interrupted restart
		{Name: "Plan", Run: showPlan(false)},      // operation.go: print it; stop on --dry-run
		{Name: "Roll", Run: rollNodes},            // rolling.go: drain, restart, wait; one node at a time
	})
}

// checkRestart refuses names that are no node of the cluster, and plans
// the nodes in node order; an interrupted restart of the same nodes
// continues where it stopped.
func checkRestart(names []string) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		all := r.nodeNames()
		var nodes, unknown []string
		for _, n := range all {
			if len(names) == 0 || slices.Contains(names, n) {
				nodes = append(nodes, n)
			}
		}
		for _, n := range names {
			if !slices.Contains(all, n) {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			return op.Hinted("name nodes of the cluster: "+strings.Join(all, ", "),
				"cluster %s has no node %s", r.cfg.Cluster, strings.Join(unknown, ", "))
		}
		pending, done := r.resumeFrom("restart")
		if pending != "" && !slices.Contains(nodes, pending) {
			pending = "" // not ours to wait for: the gate judges it
		}
		ro := &rollout{op: "restart", force: true, pending: pending, acted: r.resumeActed, target: map[string]engine.ServiceSpec{}}
		for _, n := range nodes {
			if n == pending {
				ro.target[n] = r.services[n].Spec
				continue
			}
			if slices.Contains(done, n) {
				ro.done = append(ro.done, n)
				continue
			}
			ro.nodes = append(ro.nodes, n)
			ro.target[n] = r.services[n].Spec
		}
		if len(ro.done) > 0 {
			r.p.Infof("an interrupted restart did %s already: continuing with the others", strings.Join(ro.done, ", "))
		}
		if pending == "" {
			if err := r.rollGate(ctx); err != nil {
				return err
			}
		}
		r.roll = ro
		if pending != "" {
			r.plan = append(r.plan, fmt.Sprintf("wait for %s, which an interrupted run restarted", pending))
		}
		for _, n := range ro.nodes {
			r.plan = append(r.plan, fmt.Sprintf("restart %s on %s (drain, new task, same host and volume)", n, r.hostOf(n)))
		}
		return nil
	}
}

// hostOf is the name of the host node's service is pinned to.
func (r *run) hostOf(node string) string {
	for _, c := range r.services[node].Spec.Constraints {
		if id, ok := strings.CutPrefix(c, "node.id=="); ok {
			if h, ok := r.byNode[id]; ok {
				return h.name()
			}
			return "swarm node " + id
		}
	}
	return "its host"
}
