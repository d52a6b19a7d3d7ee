package nodewait

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
)

// round is one look at several nodes at once: every node's task list and
// its own view (nodetool status in it) are asked for in parallel first,
// then judged from those answers, so that a round of N nodes costs one
// nodetool run per node, side by side, instead of two per node (its own
// view and a seed's) one after another. A nil *round asks the engines
// each time, as a single look does.
type round struct {
	mu    sync.Mutex
	tasks map[string]tasksAnswer // by node
	views map[string]viewAnswer  // by container ID
}

type tasksAnswer struct {
	tasks []engine.Task
	err   error
}

type viewAnswer struct {
	status *nodetool.Status
	output string
	err    error
	gated  string // why nodetool was not asked (see gate); "" when it was
}

// maxParallel bounds the nodetool runs of one round: each is a process in
// a node's container (a JVM of its own on real Cassandra).
const maxParallel = 16

// newRound asks, in parallel, for the tasks of each of nodes and, for
// each whose newest task runs on one of the Hosts, its own view. With a
// gate g, the views of the nodes in waited are asked only when it lets
// them pass, and those of the others (the seeds that judge them) only when
// it let one pass: a round in which no waited node can be UN runs no
// nodetool.
func (w *Waiter) newRound(ctx context.Context, nodes []string, g *gate, waited []string) *round {
	r := &round{tasks: map[string]tasksAnswer{}, views: map[string]viewAnswer{}}
	type running struct {
		h engine.Engine
		t engine.Task
	}
	var mu sync.Mutex
	var later []running // views asked once the waited nodes are through the gate
	passed := g == nil
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxParallel)
	view := func(e engine.Engine, t engine.Task) {
		slots <- struct{}{}
		s, out, err := Status(ctx, e, t.ContainerID)
		<-slots
		r.mu.Lock()
		r.views[t.ContainerID] = viewAnswer{status: s, output: out, err: err}
		r.mu.Unlock()
	}
	seen := map[string]bool{}
	for _, node := range nodes {
		if seen[node] {
			continue
		}
		seen[node] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			tasks, err := w.Manager.TaskList(ctx, node)
			r.mu.Lock()
			r.tasks[node] = tasksAnswer{tasks, err}
			r.mu.Unlock()
			if err != nil || len(tasks) == 0 || !Runs(tasks[0]) {
				return
			}
			h, ok := w.Hosts[tasks[0].NodeID]
			if !ok {
				return
			}
			if g != nil && !slices.Contains(waited, node) {
				mu.Lock()
				later = append(later, running{h.Engine, tasks[0]})
				mu.Unlock()
				return
			}
			if g != nil {
				if why, ok := g.pass(ctx, h, tasks[0]); !ok {
					r.mu.Lock()
					r.views[tasks[0].ContainerID] = viewAnswer{gated: why}
					r.mu.Unlock()
					return
				}
				mu.Lock()
				passed = true
				mu.Unlock()
			}
			view(h.Engine, tasks[0])
		}()
	}
	wg.Wait()
	if passed {
		for _, v := range later {
			wg.Add(1)
			go func() {
				defer wg.Done()
				view(v.h, v.t)
			}()
		}
		wg.Wait()
	}
	return r
}

// gated reports whether nodetool may be asked in t's container on h: gate
// g's word, as this round took it (r) or now; ok without a gate.
func (w *Waiter) gated(ctx context.Context, r *round, g *gate, h cluster.Host, t engine.Task) (why string, ok bool) {
	if g == nil {
		return "", true
	}
	if r != nil {
		r.mu.Lock()
		a, asked := r.views[t.ContainerID]
		r.mu.Unlock()
		if asked {
			return a.gated, a.gated == ""
		}
	}
	return g.pass(ctx, h, t)
}

// taskList is the node's tasks: this round's answer, else the manager's.
func (w *Waiter) taskList(ctx context.Context, r *round, node string) ([]engine.Task, error) {
	if r != nil {
		r.mu.Lock()
		a, ok := r.tasks[node]
		r.mu.Unlock()
		if ok {
			return a.tasks, a.err
		}
	}
	return w.Manager.TaskList(ctx, node)
}

// status is the view in container on e: this round's answer, else
// nodetool status run now.
func (w *Waiter) status(ctx context.Context, r *round, e engine.Engine, container string) (*nodetool.Status, string, error) {
	if r != nil {
		r.mu.Lock()
		a, ok := r.views[container]
		r.mu.Unlock()
		if ok && a.gated != "" {
			return nil, "", errors.New(a.gated)
		}
		if ok {
			return a.status, a.output, a.err
		}
	}
	return Status(ctx, e, container)
}
