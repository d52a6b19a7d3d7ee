package op

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type state struct {
	Held
	log []string
}

func (s *state) step(name string, err error) Step[*state] {
	return Step[*state]{name, func(ctx context.Context, s *state) error {
		s.log = append(s.log, name)
		return err
	}}
}

func TestRun(t *testing.T) {
	t.Run("in order, timed, released", func(t *testing.T) {
		s := &state{}
		steps := []Step[*state]{s.step("a", nil), {"lock", func(ctx context.Context, s *state) error {
			s.Hold(func() { s.log = append(s.log, "release lock") })
			s.Hold(func() { s.log = append(s.log, "release second") })
			return nil
		}}, s.step("b", nil)}
		timings, err := Run(context.Background(), Silent{}, steps, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.log, ","); got != "a,b,release second,release lock" {
			t.Errorf("ran %s", got)
		}
		if len(timings) != 3 || timings[1].Name != "lock" || !timings[2].OK {
			t.Errorf("timings %+v", timings)
		}
	})
	t.Run("stops at the first failure, releases", func(t *testing.T) {
		s := &state{}
		boom := errors.New("boom")
		steps := []Step[*state]{{"lock", func(ctx context.Context, s *state) error {
			s.Hold(func() { s.log = append(s.log, "release") })
			return nil
		}}, s.step("a", boom), s.step("b", nil)}
		timings, err := Run(context.Background(), Silent{}, steps, s)
		var se *StepError
		if !errors.As(err, &se) || se.Step != "a" || !errors.Is(err, boom) {
			t.Fatalf("err %v, want a StepError of a wrapping boom", err)
		}
		if got := strings.Join(s.log, ","); got != "a,release" {
			t.Errorf("ran %s", got)
		}
		if len(timings) != 2 || timings[1].OK {
			t.Errorf("timings %+v: want lock ok and a failed", timings)
		}
	})
	t.Run("Ctrl-C", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s := &state{}
		_, err := Run(ctx, Silent{}, []Step[*state]{{"wait", func(ctx context.Context, s *state) error {
			cancel()
			return ctx.Err()
		}}}, s)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "wait: interrupted (a re-run continues from here)") {
			t.Errorf("err %v", err)
		}
	})
}

func TestPoll(t *testing.T) {
	n := 0
	if err := Poll(context.Background(), time.Millisecond, time.Second, "three", func() (bool, error) { n++; return n == 3, nil }); err != nil || n != 3 {
		t.Errorf("poll: %v after %d checks", err, n)
	}
	err := Poll(context.Background(), time.Millisecond, 0, "never", func() (bool, error) { return false, nil })
	if err == nil || !strings.Contains(err.Error(), "gave up waiting 0s for never") {
		t.Errorf("timeout: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Poll(ctx, time.Hour, time.Hour, "x", func() (bool, error) { return false, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	boom := errors.New("boom")
	if err := Poll(context.Background(), time.Hour, time.Hour, "x", func() (bool, error) { return false, boom }); err != boom {
		t.Errorf("check error: %v", err)
	}
}

// rolling records what a Rolling did.
type rolling struct {
	log                []string
	failGate, failAct  string
	failWait, failUndo string
	cancelAt           string
	cancel             context.CancelFunc
	undoCtxErr         error
}

func (r *rolling) loop(nodes ...string) Rolling {
	fail := func(on, node, what string) error {
		r.log = append(r.log, what+" "+node)
		if on == node {
			return errors.New(what + " " + node + " failed")
		}
		return nil
	}
	gate := 0
	return Rolling{
		Nodes: nodes,
		Gate: func(ctx context.Context) error {
			gate++
			r.log = append(r.log, "gate")
			if r.failGate != "" && nodes[gate-1] == r.failGate {
				return errors.New("cass2 is DN")
			}
			return nil
		},
		Act: func(ctx context.Context, node string) error {
			if node == r.cancelAt {
				r.cancel()
			}
			return fail(r.failAct, node, "act")
		},
		Wait: func(ctx context.Context, node string) error {
			if err := ctx.Err(); err != nil {
				r.log = append(r.log, "wait "+node)
				return err
			}
			return fail(r.failWait, node, "wait")
		},
		Undo: func(ctx context.Context, node string) error {
			r.undoCtxErr = ctx.Err()
			return fail(r.failUndo, node, "undo")
		},
	}
}

func TestRolling(t *testing.T) {
	nodes := []string{"cass1", "cass2", "cass3"}
	for _, tc := range []struct {
		name      string
		r         rolling
		log, done string
		stage     string
	}{
		{"every node in turn", rolling{}, "gate,act cass1,wait cass1,gate,act cass2,wait cass2,gate,act cass3,wait cass3", "cass1,cass2,cass3", ""},
		{"act fails: undo that node, stop", rolling{failAct: "cass2"}, "gate,act cass1,wait cass1,gate,act cass2,undo cass2", "cass1", StageAct},
		{"wait fails: undo that node, stop", rolling{failWait: "cass2"}, "gate,act cass1,wait cass1,gate,act cass2,wait cass2,undo cass2", "cass1", StageWait},
		{"unhealthy ring: stop before touching the node", rolling{failGate: "cass2"}, "gate,act cass1,wait cass1,gate", "cass1", StageGate},
		{"undo fails too", rolling{failAct: "cass1", failUndo: "cass1"}, "gate,act cass1,undo cass1", "", StageAct},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			done, err := r.loop(nodes...).Run(context.Background())
			if got := strings.Join(r.log, ","); got != tc.log {
				t.Errorf("did %s\nwant %s", got, tc.log)
			}
			if got := strings.Join(done, ","); got != tc.done {
				t.Errorf("done %s, want %s", got, tc.done)
			}
			var ne *NodeError
			switch {
			case tc.stage == "" && err != nil:
				t.Errorf("err %v", err)
			case tc.stage != "" && (!errors.As(err, &ne) || ne.Stage != tc.stage):
				t.Errorf("err %v, want a NodeError at %s", err, tc.stage)
			case tc.r.failUndo != "" && (ne.Undo == nil || !strings.Contains(err.Error(), "undo failed too: undo cass1 failed")):
				t.Errorf("err %v, want the undo's failure too", err)
			}
		})
	}
	t.Run("Ctrl-C: undo the node being acted on, under a live context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		r := rolling{cancelAt: "cass2", cancel: cancel}
		done, err := r.loop(nodes...).Run(ctx)
		if got := strings.Join(r.log, ","); got != "gate,act cass1,wait cass1,gate,act cass2,wait cass2,undo cass2" {
			t.Errorf("did %s", got)
		}
		if !errors.Is(err, context.Canceled) || len(done) != 1 || r.undoCtxErr != nil {
			t.Errorf("err %v, done %v, undo's ctx %v", err, done, r.undoCtxErr)
		}
	})
}

func TestExplain(t *testing.T) {
	err := &StepError{Step: "Preflight", Err: errors.Join(Hinted("pass --nodes 1", "no nodes"), errors.New("bad heap"))}
	want := "Preflight: no nodes\n  hint: pass --nodes 1\nPreflight: bad heap"
	if got := Explain(err); got != want {
		t.Errorf("Explain:\n%s\nwant\n%s", got, want)
	}
	if got := Indent("a\nb\n"); got != "    a\n    b" {
		t.Errorf("Indent %q", got)
	}
}

// A step returning ErrStop (a dry run) ends the run there, successfully:
// the later steps do not run, and what was held is released.
func TestRunStopsWithoutFailing(t *testing.T) {
	type stopState struct {
		Held
		ran []string
	}
	s := &stopState{}
	released := false
	steps := []Step[*stopState]{
		{Name: "Lock", Run: func(_ context.Context, s *stopState) error {
			s.ran = append(s.ran, "Lock")
			s.Hold(func() { released = true })
			return nil
		}},
		{Name: "Plan", Run: func(_ context.Context, s *stopState) error {
			s.ran = append(s.ran, "Plan")
			return fmt.Errorf("dry run: %w", ErrStop)
		}},
		{Name: "Act", Run: func(_ context.Context, s *stopState) error {
			s.ran = append(s.ran, "Act")
			return nil
		}},
	}
	timings, err := Run(context.Background(), Silent{}, steps, s)
	if err != nil {
		t.Fatalf("Run = %v, want nil after ErrStop", err)
	}
	if got := strings.Join(s.ran, ","); got != "Lock,Plan" {
		t.Errorf("steps run: %s, want Lock,Plan", got)
	}
	if len(timings) != 2 || !timings[1].OK {
		t.Errorf("timings %+v, want two, the stopping step OK", timings)
	}
	if !released {
		t.Error("the lock was not released")
	}
}
