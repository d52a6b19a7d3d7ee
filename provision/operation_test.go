package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/op"
)

// probeOp is the shape every day-2 operation has, with a plan of its own
// and an act step that counts its calls.
func probeOp(plan []string, acted *int) []op.Step[*run] {
	return []op.Step[*run]{
		{Name: "Preflight", Run: attach},
		{Name: "Lock", Run: lockFor("probe")},
		{Name: "Check", Run: func(ctx context.Context, r *run) error {
			if err := r.ringHealthy(ctx); err != nil {
				return err
			}
			r.plan = plan
			return nil
		}},
		{Name: "Plan", Run: showPlan(true)},
		{Name: "Act", Run: func(context.Context, *run) error { *acted++; return nil }},
	}
}

func TestOperationShape(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	plan := []string{"remove cass3"}

	t.Run("no cluster of that name", func(t *testing.T) {
		acted := 0
		c := cfg
		c.Cluster = "other"
		_, err := operate(ctx, "probe", c, probeOp(plan, &acted))
		if err == nil || !strings.Contains(err.Error(), "cluster other has no node service and no record") || acted != 0 {
			t.Fatalf("err %v, acted %d; want a refusal naming the cluster, nothing done", err, acted)
		}
	})
	t.Run("dry run stops at the plan", func(t *testing.T) {
		acted := 0
		c := cfg
		c.DryRun = true
		res, err := operate(ctx, "probe", c, probeOp(plan, &acted))
		if err != nil || acted != 0 || !res.DryRun || len(res.Plan) != 1 {
			t.Fatalf("err %v, acted %d, result %+v; want the plan only", err, acted, res)
		}
		if l.consul().Locks() != 0 {
			t.Error("the lock was kept after the dry run")
		}
	})
	t.Run("destructive without confirmation", func(t *testing.T) {
		acted := 0
		_, err := operate(ctx, "probe", cfg, probeOp(plan, &acted))
		if err == nil || !strings.Contains(op.Explain(err), "--yes") || acted != 0 {
			t.Fatalf("err %v, acted %d; want a refusal pointing at --yes", err, acted)
		}
	})
	t.Run("declined", func(t *testing.T) {
		acted := 0
		c := cfg
		c.Confirm = func(context.Context, []string) error { return errors.New("not confirmed") }
		if _, err := operate(ctx, "probe", c, probeOp(plan, &acted)); err == nil || acted != 0 {
			t.Fatalf("err %v, acted %d; want the operation stopped", err, acted)
		}
	})
	t.Run("confirmed", func(t *testing.T) {
		acted := 0
		c := cfg
		var asked []string
		c.Confirm = func(_ context.Context, p []string) error { asked = p; return nil }
		res, err := operate(ctx, "probe", c, probeOp(plan, &acted))
		if err != nil || acted != 1 || len(asked) != 1 || res.Operation != "probe" {
			t.Fatalf("err %v, acted %d, asked %v; want one act after the confirmation", err, acted, asked)
		}
	})
	t.Run("nothing to do", func(t *testing.T) {
		acted := 0
		if _, err := operate(ctx, "probe", cfg, probeOp(nil, &acted)); err != nil || acted != 0 {
			t.Fatalf("err %v, acted %d; an empty plan ends the operation", err, acted)
		}
	})
	t.Run("ring not healthy", func(t *testing.T) {
		acted := 0
		l.ring.never["cass2"] = true
		defer delete(l.ring.never, "cass2")
		c := cfg
		c.Confirm = func(context.Context, []string) error { return nil }
		_, err := operate(ctx, "probe", c, probeOp(plan, &acted))
		if err == nil || !strings.Contains(err.Error(), "the ring is not healthy") || acted != 0 {
			t.Fatalf("err %v, acted %d; want the gate to refuse", err, acted)
		}
	})
}
