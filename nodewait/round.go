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
// gate g, the views are asked only when it lets one of the nodes in
// waited pass: a round in which no waited node can be UN runs no
// nodetool, and one in which one can asks every view (a node's look needs
// the seeds' views, and nodes started together are each other's seeds).
func (w *Waiter) newRound(ctx context.Context, nodes []string, g *gate, waited []string) *round {
	r := &round{tasks: map[string]tasksAnswer{}, views: map[string]viewAnswer{}}
	type running struct {
		h cluster.Host
		t engine.Task
	}
	var mu sync.Mutex
	var run []running
	gatedWhy := map[string]string{} // container ID -> why the gate held it
	passed := g == nil
	var wg sync.WaitGroup
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
			why, pass := "", true
			if g != nil && slices.Contains(waited, node) {
				why, pass = g.pass(ctx, h, tasks[0])
			}
			mu.Lock()
			defer mu.Unlock()
			run = append(run, running{h, tasks[0]})
			if !pass {
				gatedWhy[tasks[0].ContainerID] = why
			} else if g != nil && slices.Contains(waited, node) {
				passed = true
			}
		}()
	}
	wg.Wait()
	if !passed {
		for id, why := range gatedWhy {
			r.views[id] = viewAnswer{gated: why}
		}
		for _, v := range run {
			if _, held := gatedWhy[v.t.ContainerID]; !held {
				r.views[v.t.ContainerID] = viewAnswer{gated: "no node waited for is through the gate"}
			}
		}
		return r
	}
	slots := make(chan struct{}, maxParallel)
	for _, v := range run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			s, out, err := Status(ctx, v.h.Engine, v.t.ContainerID)
			<-slots
			g.ran(v.t.ContainerID)
			r.mu.Lock()
			r.views[v.t.ContainerID] = viewAnswer{status: s, output: out, err: err}
			r.mu.Unlock()
		}()
	}
	wg.Wait()
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
