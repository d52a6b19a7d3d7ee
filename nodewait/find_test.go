package nodewait

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

func TestFind(t *testing.T) {
	ctx := context.Background()
	l := clustertest.New(t, 3).Running("test", 4)
	engines := []engine.Engine{l.Swarm[0], l.Swarm[1], l.Swarm[2], l.Infra}

	for _, c := range []struct{ node, want, on string }{
		{"cass1", "cass1", "swarm-0"},
		{"cass2", "cass2", "swarm-1"},
		{"cass4", "cass4", "swarm-0"},
		{l.Addrs["cass3"], "cass3", "swarm-2"},
	} {
		f, err := Find(ctx, engines, "test", c.node)
		if err != nil || f.Node != c.want || f.Engine.Name() != c.on || !f.Container.Running || f.Container.Labels[engine.LabelNode] != c.want {
			t.Errorf("Find(%s) = %s on %v (%+v), %v; want %s on %s", c.node, f.Node, f.Engine, f.Container, err, c.want, c.on)
		}
	}

	names, err := Nodes(ctx, engines, "test")
	if err != nil || !slices.Equal(names, []string{"cass1", "cass2", "cass3", "cass4"}) {
		t.Errorf("Nodes = %v, %v", names, err)
	}

	_, err = Find(ctx, engines, "test", "cass9")
	var pe *op.Error
	if err == nil || !strings.Contains(err.Error(), `no node "cass9" in cluster test`) || !errors.As(err, &pe) ||
		!strings.Contains(pe.Hint, "cass1, cass2, cass3, cass4") {
		t.Errorf("unknown node: %s", op.Explain(err))
	}
	if _, err := Find(ctx, engines, "prod", "cass1"); err == nil || !strings.Contains(op.Explain(err), "no nodes were found on these engines") {
		t.Errorf("unknown cluster: %v", err)
	}

	l.Swarm[1].Fail("ContainerList", errors.New("connection refused"))
	if _, err := Find(ctx, engines, "test", "cass2"); err == nil || !strings.Contains(err.Error(), "engine swarm-1 does not answer: connection refused") {
		t.Errorf("engine down: %v", err)
	}
	if f, err := Find(ctx, engines, "test", "cass3"); err != nil || f.Engine.Name() != "swarm-2" {
		t.Errorf("a node on an engine that answers: %v", err)
	}
}

// A node whose container does not run is said so, naming the container.
func TestFindStoppedNode(t *testing.T) {
	ctx := context.Background()
	l := clustertest.New(t, 2).Running("test", 2)
	engines := []engine.Engine{l.Swarm[0], l.Swarm[1]}
	f, err := Find(ctx, engines, "test", "cass2")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Swarm[1].ContainerStop(ctx, f.Container.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = Find(ctx, engines, "test", "cass2")
	var pe *op.Error
	if err == nil || !strings.Contains(err.Error(), "node cass2 does not run: its container "+f.Container.Name+" on swarm-1 is exited") ||
		!errors.As(err, &pe) || !strings.Contains(pe.Hint, "swarmcass ring --cluster test") {
		t.Errorf("stopped node: %s", op.Explain(err))
	}
}
