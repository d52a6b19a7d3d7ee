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
// names the first node or view that differs, and how.
func (w *Waiter) Healthy(ctx context.Context, nodes []string) error {
	var first []string // host IDs in the first view
	var firstNode string
	for _, node := range nodes {
		t, h, ok, err := w.Container(ctx, node)
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		if !ok {
			return fmt.Errorf("%s does not run", node)
		}
		s, _, err := Status(ctx, h.Engine, t.ContainerID)
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		if err := allUN(s, len(nodes)); err != nil {
			return fmt.Errorf("in %s's view %w", node, err)
		}
		ids := hostIDs(s)
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

// allUN: the view lists want nodes, all UN.
func allUN(s *nodetool.Status, want int) error {
	var bad []string
	for _, n := range s.Nodes() {
		if !n.UN() {
			bad = append(bad, fmt.Sprintf("%s is %s", n.Address, n.Code()))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, ", "))
	}
	if got := len(s.Nodes()); got != want {
		return fmt.Errorf("%d nodes are listed, not %d", got, want)
	}
	return nil
}

func hostIDs(s *nodetool.Status) []string {
	var ids []string
	for _, n := range s.Nodes() {
		ids = append(ids, strings.ToLower(n.HostID))
	}
	slices.Sort(ids)
	return ids
}
