package nodewait

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/op"
)

// AllUN waits until every one of nodes is ready (Look, with at least
// started UN nodes in each view), looking at each node not yet ready in
// every round, as for nodes started together: it takes as long as the
// slowest. It returns the last look of each node. On failure (a node's
// task ended, SplitLooks looks in a row showed a node in a ring of its
// own, the timeout, ctx) the error is the *NodeError of the first node not
// ready.
func (w *Waiter) AllUN(ctx context.Context, nodes []string, started int) (map[string]Look, error) {
	last := map[string]Look{}
	splits := map[string]int{} // looks in a row that showed a split, as UN counts them
	var failed string
	var took time.Duration // the last round
	g := w.newGate()
	err := op.Poll(ctx, w.Interval/4, w.Timeout, strings.Join(nodes, ", ")+" to be UN", func() (bool, error) {
		// A round that took longer than Interval (nodetool is a JVM on
		// real Cassandra, on hosts busy starting the nodes) is followed by
		// as long a pause, so that the looks take at most half of what
		// the nodes' hosts have while the nodes start.
		if extra := took - w.Interval; extra > 0 {
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(extra):
			}
		}
		t0 := time.Now()
		defer func() { took = time.Since(t0) }()
		// Every node not ready yet, and the seeds whose views judge
		// them, asked at once.
		var ask []string
		for _, node := range nodes {
			if !last[node].Ready {
				ask = append(ask, node)
			}
		}
		r := w.newRound(ctx, append(ask, w.Seeds...), g, ask)
		done := true
		for _, node := range nodes {
			if last[node].Ready {
				continue
			}
			look, err := w.look(ctx, r, g, node, started, nil)
			g.carry(node, &look, last[node])
			last[node] = look
			if err != nil {
				failed = node
				return false, err
			}
			if !look.gated { // a gated look saw no view
				if splits[node]++; look.Split == nil {
					splits[node] = 0
				}
			}
			if splits[node] >= SplitLooks {
				failed = node
				return false, look.Split
			}
			w.debugf("%s: %s", node, look.Why)
			done = done && look.Ready
		}
		return done, nil
	})
	if err == nil {
		return last, nil
	}
	if failed == "" {
		for _, node := range nodes {
			if !last[node].Ready {
				failed = node
				break
			}
		}
	}
	return last, w.report(ctx, failed, last[failed], err)
}

// ReadyNow looks once, without waiting, at every one of nodes as Look
// does, all at once (each node's task and own view asked in parallel, a
// seed's view shared by all): the check of a re-run, which expects every
// node ready. Tasks that had ended when it looked are overlooked, as by a
// Look given them in endedBefore. all is true when every node is ready;
// the looks say why not.
func (w *Waiter) ReadyNow(ctx context.Context, nodes []string, started int) (looks map[string]Look, all bool) {
	r := w.newRound(ctx, append(slices.Clone(nodes), w.Seeds...), nil, nil)
	looks, all = map[string]Look{}, true
	for _, node := range nodes {
		l, err := w.look(ctx, r, nil, node, started, Ended(r.tasks[node].tasks))
		if err != nil && l.Why == "" {
			l.Why = err.Error()
		}
		looks[node] = l
		all = all && err == nil && l.Ready
	}
	return looks, all
}

// Address waits until node's newest task has its address on the Network
// (Swarm gives one when it schedules the task, before the container
// starts) and returns it.
func (w *Waiter) Address(ctx context.Context, node string) (string, error) {
	var addr string
	err := w.taskPoll(ctx, node+"'s address on "+w.Network, func() (bool, error) {
		tasks, err := w.Manager.TaskList(ctx, node)
		if err != nil || len(tasks) == 0 {
			return false, nil
		}
		if err := newestFailed(tasks); err != nil {
			return false, err
		}
		addr = tasks[0].Addresses[w.Network]
		return addr != "", nil
	})
	return addr, err
}

// Listed waits until node's newest task is running in Swarm's sense: a
// task whose image has a health check stays "starting" until the check
// first passes, and only then does Swarm's DNS list it (Docker activates a
// container's service binding when it becomes healthy), so only then can
// other nodes resolve it by name.
func (w *Waiter) Listed(ctx context.Context, node string) error {
	return w.taskPoll(ctx, node+" to be listed in Swarm's DNS (its health check passing)", func() (bool, error) {
		tasks, err := w.Manager.TaskList(ctx, node)
		if err != nil || len(tasks) == 0 {
			return false, nil
		}
		if err := newestFailed(tasks); err != nil {
			return false, err
		}
		w.debugf("%s: task %s", node, tasks[0].State)
		return tasks[0].State == "running", nil
	})
}

// taskPoll is poll for a wait that only lists tasks (one request to the
// manager, no nodetool): four looks an Interval, so that what follows
// starts soon after Swarm changed the task.
func (w *Waiter) taskPoll(ctx context.Context, what string, check func() (bool, error)) error {
	return op.Poll(ctx, w.Interval/4, w.Timeout, what, check)
}
