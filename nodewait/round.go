package nodewait

import (
	"context"
	"sync"

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
}

// maxParallel bounds the nodetool runs of one round: each is a process in
// a node's container (a JVM of its own on real Cassandra).
const maxParallel = 16

// newRound asks, in parallel, for the tasks of each of nodes and, for
// each whose newest task runs on one of the Hosts, its own view.
func (w *Waiter) newRound(ctx context.Context, nodes []string) *round {
	r := &round{tasks: map[string]tasksAnswer{}, views: map[string]viewAnswer{}}
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxParallel)
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
			slots <- struct{}{}
			s, out, err := Status(ctx, h.Engine, tasks[0].ContainerID)
			<-slots
			r.mu.Lock()
			r.views[tasks[0].ContainerID] = viewAnswer{s, out, err}
			r.mu.Unlock()
		}()
	}
	wg.Wait()
	return r
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
		if ok {
			return a.status, a.output, a.err
		}
	}
	return Status(ctx, e, container)
}
