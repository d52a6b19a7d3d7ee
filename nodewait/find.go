package nodewait

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// Found is a node's running container and the engine that runs it.
type Found struct {
	Node      string // cass2
	Engine    engine.Engine
	Container engine.Container
}

// located is one container of a cluster's node on one engine.
type located struct {
	e engine.Engine
	c engine.Container
}

// nodes lists the cluster's Cassandra containers on every engine that
// answers, by node name, and what the engines that did not answer said.
func nodes(ctx context.Context, engines []engine.Engine, cluster string) (map[string][]located, []error) {
	labels := engine.Labels{engine.LabelCluster: cluster, engine.LabelRole: engine.RoleCassandra}
	out := map[string][]located{}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() {
			cs, err := e.ContainerList(ctx, labels)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("engine %s does not answer: %w", e.Name(), err))
				return
			}
			for _, c := range cs {
				name := c.Labels[engine.LabelNode]
				out[name] = append(out[name], located{e, c})
			}
		})
	}
	wg.Wait()
	return out, errs
}

// Nodes names the cluster's nodes that have a container on one of engines,
// in node order (cass1, cass2, ..., cass10): for completion and messages.
func Nodes(ctx context.Context, engines []engine.Engine, cluster string) ([]string, error) {
	found, errs := nodes(ctx, engines, cluster)
	if len(found) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return sortedNodes(found), nil
}

func sortedNodes(found map[string][]located) []string {
	var names []string
	for n := range found {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
	})
	return names
}

// Find finds node of cluster on engines: node is a node name (cass2) or
// one of its container's addresses. The way ring finds a node's container
// when it asks the engines (by the labels bootstrap puts on every node's
// containers): of a node's containers, the running one started last.
func Find(ctx context.Context, engines []engine.Engine, cluster, node string) (Found, error) {
	found, errs := nodes(ctx, engines, cluster)
	name := node
	if _, ok := found[node]; !ok {
		for n, ls := range found {
			for _, l := range ls {
				if slices.Contains(slices.Collect(maps.Values(l.c.Networks)), node) {
					name = n
				}
			}
		}
	}
	ls := found[name]
	if len(ls) == 0 {
		err := fmt.Errorf("no node %q in cluster %s", node, cluster)
		if len(errs) > 0 {
			err = fmt.Errorf("%w (not every engine answered: %w)", err, errors.Join(errs...))
		}
		known := "no nodes were found on these engines; check --cluster and the host flags"
		if names := sortedNodes(found); len(names) > 0 {
			known = "give a node name or address; the cluster's nodes are " + strings.Join(names, ", ")
		}
		return Found{}, op.WithHint(err, known)
	}
	slices.SortFunc(ls, func(a, b located) int { return b.c.StartedAt.Compare(a.c.StartedAt) })
	for _, l := range ls {
		if l.c.Running {
			return Found{Node: name, Engine: l.e, Container: l.c}, nil
		}
	}
	return Found{}, op.Hinted("swarmcass ring --cluster "+cluster+" says why; a bootstrap re-run starts it again",
		"node %s does not run: its container %s on %s is %s", name, ls[0].c.Name, ls[0].e.Name(), ls[0].c.State)
}
