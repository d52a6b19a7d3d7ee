package op

import (
	"context"
	"errors"
	"fmt"
)

// Rolling acts on a cluster's nodes one at a time, as Cassandra wants
// restarts, upgrades and replacements done: before each node the ring must
// be healthy (Gate), then the node is acted on (Act) and waited for (Wait)
// before the next one starts. When acting on or waiting for a node fails,
// Undo puts that node back and the loop stops there: the nodes before it
// keep what was done to them, the nodes after it are not touched.
type Rolling struct {
	// Nodes are acted on in this order.
	Nodes []string
	// Gate returns nil when the ring is healthy enough to take a node
	// out; it is asked before every node, and an error stops the loop
	// before that node is touched.
	Gate func(ctx context.Context) error
	// Act does the operation to one node (stop it, replace its image, ...).
	Act func(ctx context.Context, node string) error
	// Wait returns once the node is back (UN in its own view and a seed's).
	Wait func(ctx context.Context, node string) error
	// Undo puts node back after Act or Wait failed; nil: nothing to undo.
	// It runs even when ctx has ended (Ctrl-C), under its own context.
	Undo func(ctx context.Context, node string) error
	// KeepOnInterrupt leaves the node being acted on or waited for as it
	// is when ctx ends (Ctrl-C), instead of Undo: a re-run continues with it.
	KeepOnInterrupt bool
	// Canary is how many of the first Nodes go before the others; once
	// they are done AfterCanary is asked, and its error undoes them all
	// (the last first) and stops the loop before the others are touched.
	Canary      int
	AfterCanary func(ctx context.Context, canaries []string) error
	// Progress hears about each node; nil is silent.
	Progress Progress
}

// NodeError is the failure of a rolling operation at one node: Stage says
// where (gate, act, wait), Undo why putting it back failed too, if it did.
type NodeError struct {
	Node  string
	Stage string
	Err   error
	Undo  error
}

func (e *NodeError) Error() string {
	msg := fmt.Sprintf("%s: %s: %v", e.Node, e.Stage, e.Err)
	if e.Undo != nil {
		msg += fmt.Sprintf("; undo failed too: %v", e.Undo)
	}
	return msg
}

func (e *NodeError) Unwrap() []error {
	if e.Undo != nil {
		return []error{e.Err, e.Undo}
	}
	return []error{e.Err}
}

// Stages of a rolling operation, in NodeError.Stage.
const (
	StageGate = "ring not healthy before it"
	StageAct  = "act"
	StageWait = "wait"
	// StageCanary: AfterCanary refused the canaries.
	StageCanary = "canary check"
)

// Run walks the nodes; it returns the nodes done and, on failure, a
// *NodeError for the node it stopped at.
func (r Rolling) Run(ctx context.Context) (done []string, err error) {
	p := r.Progress
	if p == nil {
		p = Silent{}
	}
	for i, node := range r.Nodes {
		if err := ctx.Err(); err != nil {
			return done, &NodeError{Node: node, Stage: StageGate, Err: err}
		}
		if r.Gate != nil {
			if err := r.Gate(ctx); err != nil {
				return done, &NodeError{Node: node, Stage: StageGate, Err: err}
			}
		}
		p.Infof("%s (%d of %d)", node, i+1, len(r.Nodes))
		stage := StageAct
		err := r.Act(ctx, node)
		if err == nil && r.Wait != nil {
			stage = StageWait
			err = r.Wait(ctx, node)
		}
		if err != nil {
			ne := &NodeError{Node: node, Stage: stage, Err: err}
			if r.Undo != nil && !(r.KeepOnInterrupt && ctx.Err() != nil) {
				p.Infof("%s failed (%v): undoing", node, err)
				ne.Undo = r.Undo(context.WithoutCancel(ctx), node)
			}
			return done, ne
		}
		done = append(done, node)
		if len(done) == r.Canary && r.AfterCanary != nil && i+1 < len(r.Nodes) {
			if err := r.AfterCanary(ctx, done); err != nil {
				ne := &NodeError{Node: node, Stage: StageCanary, Err: err}
				if r.Undo != nil {
					var undo []error
					for j := len(done) - 1; j >= 0; j-- {
						p.Infof("canary %s refused (%v): undoing", done[j], err)
						if err := r.Undo(context.WithoutCancel(ctx), done[j]); err != nil {
							undo = append(undo, err)
						}
					}
					ne.Undo = errors.Join(undo...)
					done = nil
				}
				return done, ne
			}
		}
	}
	return done, nil
}
