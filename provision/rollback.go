package provision

import (
	"context"
	"fmt"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// Rollback rolls every node back to the previous image and settings of
// the cluster's image history, one node at a time as Upgrade rolls them
// out (canaries first, a node that does not come back put back as it
// was). After an upgrade that stopped part way, it first takes the nodes
// it changed back to the release the others still run.
func Rollback(ctx context.Context, cfg Config) (*Result, error) {
	return operate(ctx, "rollback", cfg, []op.Step[*run]{
		{Name: "Preflight", Run: attach},         // operation.go: the engines, the swarm, Consul, the record, the nodes
		{Name: "Lock", Run: lockFor("rollback")}, // operation.go: one operation per cluster at a time
		{Name: "Check", Run: checkRollback},      // the release to go back to, the version rules, the plan
		{Name: "Plan", Run: showPlan(true)},      // operation.go: print it; stop on --dry-run; ask
		{Name: "Roll", Run: rollNodes},           // rolling.go: canaries, then the others; undo a node that fails
	})
}

// checkRollback chooses the release to go back to: the one an
// interrupted rollback was going to; else the newest of the history when
// some nodes do not run it (an upgrade that stopped part way), else the
// one before it, which becomes the newest once every node runs it.
func checkRollback(ctx context.Context, r *run) error {
	h := r.rec.History
	if len(h) == 0 {
		return op.Hinted("rollback goes back to what an earlier swarmcass upgrade replaced; there was none on this cluster",
			"cluster %s has no image history", r.cfg.Cluster)
	}
	names := r.nodeNames()
	target, history := h[len(h)-1], h
	partial := false
	for _, n := range names {
		if !releaseOf(r.services[n].Spec).Same(target) {
			partial = true
		}
	}
	if i := interruptedRollback(r.rec.Rollout, h); i >= 0 {
		// Its nodes done run h[i], the others still the newest: going on
		// to h[i], not back to the newest as after a part-way upgrade.
		target, history, partial = h[i], h[:i+1], true
	}
	if !partial {
		if len(h) < 2 {
			return op.Hinted("nothing to roll back to: upgrade first",
				"every node runs the only release in cluster %s's history (%s)", r.cfg.Cluster, shortImage(target.Image))
		}
		target, history = h[len(h)-2], h[:len(h)-1]
	}
	pending, from, err := r.startRoll(ctx, "rollback")
	if err != nil {
		return err
	}
	if err := checkVersionStep(from, target.Version); err != nil {
		return err
	}
	ro := &rollout{op: "rollback", undo: true, version: target.Version, canary: max(r.cfg.Canary, 1),
		target: map[string]engine.ServiceSpec{}, before: map[string]engine.ServiceSpec{}, history: history}
	rel := target
	rel.By = "rollback"
	ro.release = &rel
	for _, n := range names {
		cur := r.services[n].Spec
		if n == pending {
			ro.pending, ro.acted, ro.target[n] = n, r.resumeActed, withRelease(cur, target)
			continue
		}
		if releaseOf(cur).Same(target) {
			ro.done = append(ro.done, n)
			continue
		}
		r.plan = append(r.plan, ro.add(n, cur, withRelease(cur, target), "back to "+releaseName(target)+": "))
	}
	if pending != "" {
		r.plan = append([]string{fmt.Sprintf("wait for %s, which an interrupted run was acting on", pending)}, r.plan...)
	}
	r.roll = ro
	return nil
}

// releaseName is a release as the plan names it.
func releaseName(rel consulstore.Release) string {
	if rel.Version != "" {
		return "Cassandra " + rel.Version
	}
	return "the release of " + rel.At.Format("2006-01-02 15:04")
}

// interruptedRollback is the index in h of the release an interrupted
// rollback (ro) was going to, or -1 when ro is no rollback or names none
// of h.
func interruptedRollback(ro *consulstore.Rollout, h []consulstore.Release) int {
	if ro == nil || ro.Op != "rollback" || ro.To == nil {
		return -1
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Same(*ro.To) {
			return i
		}
	}
	return -1
}
