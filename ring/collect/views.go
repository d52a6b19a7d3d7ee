package collect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/ring"
)

// views runs nodetool in every placed node's container, Parallel at a
// time, and asks Consul for the checks meanwhile.
func (g *gather) views(ctx context.Context) {
	views := make([]ring.View, len(g.nodes))
	execs := make([][]Exec, len(g.nodes))
	eg := errgroup.Group{}
	eg.SetLimit(g.cfg.Parallel)
	// The checks go first, so they do not wait for a slot behind the nodes.
	eg.Go(func() error {
		g.checks(ctx)
		return nil
	})
	for i, n := range g.nodes {
		eg.Go(func() error {
			views[i], execs[i] = g.view(ctx, n)
			return nil
		})
	}
	_ = eg.Wait()
	g.res.Input.Views = views
	for _, e := range execs {
		g.res.Timings.Execs = append(g.res.Timings.Execs, e...)
	}
}

// view asks one node for its view: nodetool status, then, when that
// answered, nodetool describecluster.
func (g *gather) view(ctx context.Context, n *node) (ring.View, []Exec) {
	v := ring.View{Node: n.name}
	if n.container == "" {
		v.Unavailable, v.Err = n.why, n.whyErr
		return v, nil
	}
	var execs []Exec
	out, ex, err := g.nodetool(ctx, n, "status")
	execs = append(execs, ex)
	if err == nil {
		v.Status, err = nodetool.ParseStatus(out)
		if err != nil {
			v.Unavailable = ring.NodetoolFailed
		}
	} else {
		v.Unavailable = g.classify(ctx, n, err)
	}
	if v.Status == nil {
		v.Err = err
		return v, execs
	}
	out, ex, err = g.nodetool(ctx, n, "describecluster")
	execs = append(execs, ex)
	if err == nil {
		v.Describe, err = nodetool.ParseDescribeCluster(out)
	}
	v.DescribeErr = err
	return v, execs
}

// nodetool runs `nodetool sub` in the node's container under ExecTimeout
// and returns its standard output; its errors are nodewait.Nodetool's.
func (g *gather) nodetool(ctx context.Context, n *node, sub string) (string, Exec, error) {
	ex := Exec{Node: n.name, Command: "nodetool " + sub}
	c, cancel := context.WithTimeout(ctx, g.cfg.ExecTimeout)
	defer cancel()
	t0 := time.Now()
	out, _, err := nodewait.Nodetool(c, n.host.e, n.container, sub)
	ex.Seconds = time.Since(t0).Seconds()
	var ee *nodewait.ExecError
	if errors.As(err, &ee) && c.Err() != nil && ctx.Err() == nil {
		return "", ex, fmt.Errorf("nodetool %s gave no answer within %s", sub, g.cfg.ExecTimeout)
	}
	ex.OK = err == nil
	return out, ex, err
}

// classify says why nodetool status gave no view. An Exec failure is
// looked into: a container that is gone or stopped, or an engine that no
// longer answers.
func (g *gather) classify(ctx context.Context, n *node, err error) ring.Unavailable {
	var ce *nodetool.ConnectError
	var ee *nodewait.ExecError
	switch {
	case errors.As(err, &ce):
		return ring.DaemonStarting
	case !errors.As(err, &ee):
		return ring.NodetoolFailed
	case errors.Is(err, engine.ErrNotFound):
		return ring.ContainerGone
	}
	c, cancel := g.call(ctx)
	defer cancel()
	ct, ierr := n.host.e.ContainerInspect(c, n.container)
	switch {
	case errors.Is(ierr, engine.ErrNotFound), ierr == nil && !ct.Running:
		return ring.ContainerGone
	case ierr != nil:
		return ring.EngineUnreachable
	}
	return ring.NodetoolFailed
}

// checks asks Consul for the checks of the cluster's nodes.
func (g *gather) checks(ctx context.Context) {
	if g.cfg.Consul == nil {
		return
	}
	c, cancel := g.call(ctx)
	defer cancel()
	cs, err := g.cfg.Consul.Checks(c, consulstore.ServiceName, g.cfg.Cluster)
	if err != nil {
		g.note("Consul checks not judged: %v", err)
		return
	}
	in := &g.res.Input
	in.ChecksKnown = true
	for _, ch := range cs {
		in.Checks = append(in.Checks, ring.Check{Node: ch.Node(g.cfg.Cluster), Name: ch.Name, Status: ch.Status, Output: ch.Output})
	}
}
