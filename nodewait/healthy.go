package nodewait

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/swarmcass/swarmcass/nodetool"
)

// Healthy looks once, without waiting, at every one of nodes: each must
// run, and each one's view (nodetool status in it) must list exactly as
// many nodes as there are, every one Up and Normal, with the same host IDs
// as the other views. It is the check before a day-2 operation takes a
// node out (Cassandra needs the rest of the ring whole for that); the error
// names the first node or view that differs, and how. Rows whose host ID is
// among ignore are left out of every view (a node an operation is taking
// out, which may be leaving or gone already).
func (w *Waiter) Healthy(ctx context.Context, nodes []string, ignore ...string) error {
	var first []string // host IDs in the first view
	var firstNode string
	r := w.newRound(ctx, nodes, nil, nil) // every view asked at once
	for _, node := range nodes {
		t, h, ok, err := w.container(ctx, r, node)
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		if !ok {
			return fmt.Errorf("%s does not run", node)
		}
		s, _, err := w.status(ctx, r, h.Engine, t.ContainerID)
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		if err := allUN(s, len(nodes), ignore); err != nil {
			return fmt.Errorf("in %s's view %w", node, err)
		}
		ids := hostIDs(s, ignore)
		if first == nil {
			first, firstNode = ids, node
			continue
		}
		if !slices.Equal(ids, first) {
			return fmt.Errorf("%s and %s see different nodes (host IDs %s and %s)", firstNode, node,
				strings.Join(first, ", "), strings.Join(ids, ", "))
		}
	}
	return nil
}

// allUN: the view lists want nodes besides those ignored, all UN.
func allUN(s *nodetool.Status, want int, ignore []string) error {
	var bad []string
	got := 0
	for _, n := range s.Nodes() {
		if ignored(n, ignore) {
			continue
		}
		got++
		if !n.UN() {
			bad = append(bad, fmt.Sprintf("%s is %s", n.Address, n.Code()))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, ", "))
	}
	if got != want {
		return fmt.Errorf("%d nodes are listed, not %d", got, want)
	}
	return nil
}

func ignored(n nodetool.Node, ignore []string) bool {
	return slices.ContainsFunc(ignore, func(id string) bool { return id != "" && strings.EqualFold(id, n.HostID) })
}

func hostIDs(s *nodetool.Status, ignore []string) []string {
	var ids []string
	for _, n := range s.Nodes() {
		if !ignored(n, ignore) {
			ids = append(ids, strings.ToLower(n.HostID))
		}
	}
	slices.Sort(ids)
	return ids
}
