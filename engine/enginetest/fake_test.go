package enginetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/engine"
)

// Fakes of one world form one swarm; services get a task with an overlay
// address on the constrained node; images come from the world's registry
// only for engines that trust it.
func TestSwarmAcrossFakes(t *testing.T) {
	ctx := context.Background()
	w := NewWorld()
	a, b := w.NewFake("a", "10.0.0.10"), w.NewFake("b", "10.0.0.11")
	if err := a.SwarmInit(ctx, "10.0.0.10", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SwarmInspect(ctx); err == nil {
		t.Error("SwarmInspect on a non-member succeeded")
	}
	sw, _ := a.SwarmInspect(ctx)
	if err := b.SwarmJoin(ctx, "10.0.0.11", "10.0.0.10:2377", "wrong"); err == nil {
		t.Error("join with a wrong token succeeded")
	}
	if err := b.SwarmJoin(ctx, "10.0.0.11", "10.0.0.10:2377", sw.WorkerToken); err != nil {
		t.Fatal(err)
	}
	nodes, _ := a.NodeList(ctx)
	ib, _ := b.Info(ctx)
	if len(nodes) != 2 || nodes[1].ID != ib.Swarm.NodeID || ib.Swarm.Manager || ib.Swarm.State != "active" {
		t.Fatalf("nodes %+v, b's info %+v", nodes, ib.Swarm)
	}
	if _, err := b.NetworkCreate(ctx, engine.NetworkSpec{Name: "ov", Driver: "overlay"}); err == nil {
		t.Error("a worker created an overlay network")
	}
	if _, err := a.NetworkCreate(ctx, engine.NetworkSpec{Name: "ov", Driver: "overlay", Attachable: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.NetworkInspect(ctx, "ov"); err != nil || n.Scope != "swarm" {
		t.Errorf("worker sees overlay %+v, %v", n, err)
	}

	// An image pushed to a registry on a that b does not trust is rejected on b.
	a.AddImage("reg")
	a.AddImage("app")
	id, _ := a.ContainerCreate(ctx, engine.ContainerSpec{Name: "registry", Image: "reg", Ports: []engine.PortBinding{{HostPort: 5000, ContainerPort: 5000}}})
	if err := a.ContainerStart(ctx, id); err != nil {
		t.Fatal(err)
	}
	a.ImageTag(ctx, "app", "127.0.0.1:5000/app:1")
	digest, err := a.ImagePush(ctx, "127.0.0.1:5000/app:1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := "10.0.0.10:5000/app@" + digest
	spec := engine.ServiceSpec{Name: "s", Image: ref, Networks: []string{"ov"}, Constraints: []string{"node.id==" + ib.Swarm.NodeID}}
	if _, err := a.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tasks, _ := a.TaskList(ctx, "s")
	if len(tasks) != 1 || tasks[0].State != "rejected" || !strings.Contains(tasks[0].Err, "No such image") {
		t.Fatalf("tasks on an engine that does not trust the registry: %+v", tasks)
	}
	b.Spec.InsecureRegistries = append(b.Spec.InsecureRegistries, "10.0.0.10:5000")
	a.ServiceRemove(ctx, "s")
	spec.Name = "s2"
	a.ServiceCreate(ctx, spec)
	tasks, _ = a.TaskList(ctx, "s2")
	if len(tasks) != 1 || tasks[0].State != "running" || tasks[0].NodeID != ib.Swarm.NodeID || tasks[0].Addresses["ov"] == "" {
		t.Fatalf("task %+v", tasks)
	}
	c, err := b.ContainerInspect(ctx, tasks[0].ContainerID)
	if err != nil || !c.Running || c.Networks["ov"] != tasks[0].Addresses["ov"] {
		t.Errorf("container on b %+v, %v", c, err)
	}
	if _, err := a.ContainerInspect(ctx, tasks[0].ContainerID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("the task's container is on a too: %v", err)
	}

	// A killed task is replaced (restart condition any).
	if err := w.KillTask("s2", "killed"); err != nil {
		t.Fatal(err)
	}
	tasks, _ = a.TaskList(ctx, "s2")
	if len(tasks) != 2 || tasks[0].State != "running" || tasks[1].State != "failed" {
		t.Errorf("after kill: %+v", tasks)
	}

	// An update stops the running task and starts one of the new spec on
	// the same node; unchanged, only a forced one does.
	spec.Env = []string{"X=1"}
	if err := a.ServiceUpdate(ctx, "s2", spec, false); err != nil {
		t.Fatal(err)
	}
	tasks, _ = a.TaskList(ctx, "s2")
	if len(tasks) != 3 || tasks[0].State != "running" || tasks[1].State != "shutdown" || tasks[0].NodeID != ib.Swarm.NodeID {
		t.Fatalf("after an update: %+v", tasks)
	}
	if old, _ := b.ContainerInspect(ctx, tasks[1].ContainerID); old.Running {
		t.Error("the old task's container still runs")
	}
	if s, _ := a.ServiceInspect(ctx, "s2"); len(s.Spec.Env) != 1 {
		t.Errorf("spec after the update: %+v", s.Spec)
	}
	a.ServiceUpdate(ctx, "s2", spec, false)
	if tasks, _ = a.TaskList(ctx, "s2"); len(tasks) != 3 {
		t.Errorf("an unchanged spec made a new task: %+v", tasks)
	}
	a.ServiceUpdate(ctx, "s2", spec, true)
	if tasks, _ = a.TaskList(ctx, "s2"); len(tasks) != 4 || tasks[0].State != "running" {
		t.Errorf("a forced update made no new task: %+v", tasks)
	}
	if err := a.ServiceUpdate(ctx, "nope", spec, true); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("update of a missing service: %v", err)
	}
}

func TestConflictsAndPorts(t *testing.T) {
	ctx := context.Background()
	w := NewWorld()
	f := w.NewFake("f", "10.0.0.2")
	f.AddImage("img")
	id, _ := f.ContainerCreate(ctx, engine.ContainerSpec{Name: "x", Image: "img", Ports: []engine.PortBinding{{HostPort: 80}}})
	if _, err := f.ContainerCreate(ctx, engine.ContainerSpec{Name: "x", Image: "img"}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("same name: %v", err)
	}
	if _, err := f.ContainerCreate(ctx, engine.ContainerSpec{Name: "y", Image: "missing"}); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("missing image: %v", err)
	}
	f.ContainerStart(ctx, id)
	id2, _ := f.ContainerCreate(ctx, engine.ContainerSpec{Name: "z", Image: "img", Ports: []engine.PortBinding{{HostPort: 80}}})
	if err := f.ContainerStart(ctx, id2); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Errorf("second start on port 80: %v", err)
	}
	if c, ok := w.Published("10.0.0.2", 80); !ok || c.Name != "x" {
		t.Errorf("Published = %+v %v", c, ok)
	}
	f.Fail("Info", errors.New("down"))
	if _, err := f.Info(ctx); err == nil {
		t.Error("injected fault ignored")
	}
}
