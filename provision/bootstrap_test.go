package provision

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
)

func bootstrap(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Bootstrap(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Bootstrap: %s", op.Explain(err))
	}
	return res
}

// index is the position of the first log entry containing s, or -1.
func index(log []string, s string) int {
	return slices.IndexFunc(log, func(e string) bool { return strings.Contains(e, s) })
}

func TestBootstrapOrder(t *testing.T) {
	l := newLab(t, 3)
	res := bootstrap(t, l.config(3))
	log := l.w.Log()
	order := []string{
		"infra: ContainerCreate swarmcass-consul", "infra: ContainerStart swarmcass-consul",
		"infra: ContainerCreate swarmcass-registry", "infra: ContainerStart swarmcass-registry",
		"swarm-0: SwarmInit 10.0.0.10", "swarm-1: SwarmJoin 10.0.0.10:2377", "swarm-2: SwarmJoin 10.0.0.10:2377",
		"swarm-0: NetworkCreate swarmcass", "infra: ImageBuild swarmcass/cassandra:test", "infra: ImagePush 127.0.0.1:5000/swarmcass/cassandra:",
		"swarm-0: VolumeCreate cass1-data", "swarm-0: ServiceCreate cass1",
		"swarm-1: VolumeCreate cass2-data", "swarm-0: ServiceCreate cass2",
		"swarm-2: VolumeCreate cass3-data", "swarm-0: ServiceCreate cass3",
	}
	last := -1
	for _, want := range order {
		i := index(log, want)
		if i < 0 {
			t.Fatalf("no %q in the call log:\n%s", want, strings.Join(log, "\n"))
		}
		if i < last {
			t.Errorf("%q came before what precedes it in the flow:\n%s", want, strings.Join(log, "\n"))
		}
		last = i
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes started while another was joining: %v", l.ring.concurrent)
	}
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Name)
	}
	if want := "Preflight,Consul and registry,Lock,Swarm,Network,Overlay check,Credentials,TLS,Image,Nodes,Authentication,Record"; strings.Join(steps, ",") != want {
		t.Errorf("steps %v, want %s", steps, want)
	}
	if !strings.HasPrefix(res.Image, "10.0.0.2:5000/swarmcass/cassandra@sha256:") {
		t.Errorf("image %s, want the registry's digest reference", res.Image)
	}
	// Every node: UN, on its own host, with an overlay address and host ID.
	hosts := map[string]bool{}
	for _, n := range res.Nodes {
		if n.State != "UN" || n.Address == "" || n.HostID == "" || !n.Created || n.ReadySeconds <= 0 {
			t.Errorf("node %+v: want UN with address, host ID and time to ready", n)
		}
		hosts[n.Host] = true
	}
	if len(res.Nodes) != 3 || len(hosts) != 3 {
		t.Errorf("nodes %+v: want 3 nodes on 3 hosts", res.Nodes)
	}
}

func TestServiceSpec(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(4)
	cfg.Heap = 1 << 30
	res := bootstrap(t, cfg)
	nodeIDs := map[string]string{}
	for _, f := range l.swarm {
		info, _ := f.Info(context.Background())
		nodeIDs[f.Name()] = info.Swarm.NodeID
	}
	wantHost := []string{"swarm-0", "swarm-1", "swarm-2", "swarm-0"}
	wantPort := []int{9042, 9042, 9042, 9043}
	for k := 1; k <= 4; k++ {
		s, err := l.swarm[0].ServiceInspect(context.Background(), nodeName(k))
		if err != nil {
			t.Fatal(err)
		}
		sp := s.Spec
		if got := strings.Join(sp.Args, " "); got != "cass1,cass2,cass3" {
			t.Errorf("%s: seeds %q, want cass1,cass2,cass3", s.Name, got)
		}
		if sp.Image != res.Image || !sp.DNSRR || sp.Hostname != s.Name || sp.MemoryLimit != 5<<29 {
			t.Errorf("%s: spec %+v", s.Name, sp)
		}
		if want := "node.id==" + nodeIDs[wantHost[k-1]]; !slices.Equal(sp.Constraints, []string{want}) {
			t.Errorf("%s: constraints %v, want %s (%s)", s.Name, sp.Constraints, want, wantHost[k-1])
		}
		if len(sp.Ports) != 1 || sp.Ports[0].HostPort != wantPort[k-1] || sp.Ports[0].ContainerPort != 9042 {
			t.Errorf("%s: ports %+v, want %d:9042", s.Name, sp.Ports, wantPort[k-1])
		}
		for _, env := range []string{"CASSANDRA_CLUSTER_NAME=test", "CASSANDRA_LISTEN_SUBNET=" + res.Subnet, "MAX_HEAP_SIZE=1G", "HEAP_NEWSIZE=256M", "CASSIM_PROFILE=fast"} {
			if !slices.Contains(sp.Env, env) {
				t.Errorf("%s: env %v lacks %s", s.Name, sp.Env, env)
			}
		}
		// Each node after the first waits, on its first boot, for the seeds
		// that already run: by the address each was found UN at, then by
		// name (Swarm's DNS lists a seed only once its health check passes).
		addr := func(i int) string { return res.Nodes[i].Address }
		wantWait := []string{"",
			"SWARMCASS_WAIT_FOR=" + addr(0) + ",cass1",
			"SWARMCASS_WAIT_FOR=" + addr(0) + "," + addr(1) + ",cass1,cass2",
			"SWARMCASS_WAIT_FOR=" + addr(0) + "," + addr(1) + "," + addr(2) + ",cass1,cass2,cass3"}[k-1]
		var gotWait string
		for _, kv := range sp.Env {
			if strings.HasPrefix(kv, "SWARMCASS_WAIT_FOR=") {
				gotWait = kv
			}
		}
		if gotWait != wantWait {
			t.Errorf("%s: wait %q, want %q", s.Name, gotWait, wantWait)
		}
		if s.Labels[engine.LabelCluster] != "test" || s.Labels[engine.LabelRole] != engine.RoleCassandra || s.Labels[engine.LabelNode] != s.Name {
			t.Errorf("%s: labels %v", s.Name, s.Labels)
		}
		vols, _ := l.swarm[(k-1)%3].VolumeList(context.Background(), engine.Labels{engine.LabelCluster: "test", engine.LabelNode: s.Name})
		if !slices.Equal(vols, []string{s.Name + "-data"}) {
			t.Errorf("%s: labelled volumes on its host %v", s.Name, vols)
		}
	}
	// The record in Consul and the catalog.
	if l.kv("swarmcass/test/seeds") != "cass1,cass2,cass3" || l.kv("swarmcass/test/image") != res.Image {
		t.Errorf("kv %q %q", l.kv("swarmcass/test/seeds"), l.kv("swarmcass/test/image"))
	}
	var n NodeResult
	if err := json.Unmarshal([]byte(l.kv("swarmcass/test/nodes/cass4")), &n); err != nil || n.State != "UN" || n.HostID == "" || n.Host != "swarm-0" {
		t.Errorf("kv node cass4 %s (%v)", l.kv("swarmcass/test/nodes/cass4"), err)
	}
	s, _ := l.consul().Service("swarmcass-test-cass4")
	if s.Check != "10.0.0.10:9043" || s.Address != "10.0.0.10" || s.Port != 9043 || !slices.Contains(s.Tags, "test") {
		t.Errorf("consul service cass4 %+v", s)
	}
}

// A re-run on a healthy cluster changes nothing on any engine: the image
// carries the hash of what it was built from (engine.LabelBuild), the same
// context and base give the same hash, so it is not built again, and the
// registry still holds its digest, so it is not pushed again; no node is
// touched.
func TestSecondRunChangesNothing(t *testing.T) {
	l := newLab(t, 3)
	first := bootstrap(t, l.config(3))
	before := len(l.w.Log())
	puts := l.consul().Puts()
	second := bootstrap(t, l.config(3))
	if got := l.w.Log()[before:]; len(got) != 0 {
		t.Errorf("second run did:\n%s\nwant nothing", strings.Join(got, "\n"))
	}
	if len(second.Created) != 0 {
		t.Errorf("second run created %v", second.Created)
	}
	if second.Image != first.Image {
		t.Errorf("image changed from %s to %s", first.Image, second.Image)
	}
	if got := l.consul().Puts(); got != puts {
		t.Errorf("second run wrote %d keys to Consul", got-puts)
	}
	for i, n := range second.Nodes {
		if n.Created || n.State != "UN" || n.HostID != first.Nodes[i].HostID {
			t.Errorf("second run node %+v, first %+v", n, first.Nodes[i])
		}
	}
}

// A re-run whose image dir changed builds and pushes the image again: the
// hash of its context differs from the one the image carries. The nodes
// already there keep the image they run (upgrade rolls a new one out).
func TestRerunRebuildsChangedImageDir(t *testing.T) {
	l := newLab(t, 3)
	first := bootstrap(t, l.config(3))
	if err := os.WriteFile(filepath.Join(l.dir, "extra"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(l.w.Log())
	second := bootstrap(t, l.config(3))
	var did []string
	for _, e := range l.w.Log()[before:] {
		if strings.HasPrefix(e, "infra: Image") {
			did = append(did, strings.SplitN(e, " ", 3)[1])
		}
	}
	if !slices.Equal(did, []string{"ImageBuild", "ImageTag", "ImagePush"}) {
		t.Errorf("second run's image calls on infra %v, want a build, tag and push", did)
	}
	if second.Image == first.Image {
		t.Errorf("image stayed %s after its dir changed", second.Image)
	}
}

func TestResumeAfterFailedNode(t *testing.T) {
	l := newLab(t, 3)
	l.ring.fail["cass2"] = 1
	res, err := Bootstrap(context.Background(), l.config(3))
	var ne *nodewait.NodeError
	if !errors.As(err, &ne) || ne.Node != "cass2" {
		t.Fatalf("err = %v, want a NodeError for cass2", err)
	}
	if !strings.Contains(err.Error(), "failed: task: non-zero exit (1)") || !strings.Contains(err.Error(), "last line of cass2") {
		t.Errorf("error lacks the task's failure or the node's logs:\n%s", op.Explain(err))
	}
	if !strings.Contains(op.Explain(err), "run bootstrap again to continue from cass2") {
		t.Errorf("no hint:\n%s", op.Explain(err))
	}
	if index(l.w.Log(), "ServiceCreate cass3") >= 0 {
		t.Error("cass3 was started after cass2 failed")
	}
	if res.Nodes[1].State != "failed" {
		t.Errorf("result nodes %+v", res.Nodes)
	}
	if !strings.Contains(l.kv("swarmcass/test/nodes/cass2"), `"state":"failed"`) {
		t.Errorf("cass2 recorded as %s", l.kv("swarmcass/test/nodes/cass2"))
	}
	if l.consul().Locks() != 0 {
		t.Error("the lock was not released after the failure")
	}

	// Swarm restarted the task; a re-run waits for cass2 and goes on.
	before := len(l.w.Log())
	res = bootstrap(t, l.config(3))
	rerun := l.w.Log()[before:]
	if index(rerun, "ServiceCreate cass1") >= 0 || index(rerun, "ServiceCreate cass2") >= 0 || index(rerun, "ServiceCreate cass3") < 0 {
		t.Errorf("re-run did:\n%s", strings.Join(rerun, "\n"))
	}
	for _, n := range res.Nodes {
		if n.State != "UN" {
			t.Errorf("after re-run %+v", n)
		}
	}
}

func TestNodeTimeout(t *testing.T) {
	l := newLab(t, 2)
	l.ring.never["cass2"] = true
	cfg := l.config(3)
	cfg.NodeTimeout = 50 * 1e6
	_, err := Bootstrap(context.Background(), cfg)
	var ne *nodewait.NodeError
	if !errors.As(err, &ne) || ne.Node != "cass2" {
		t.Fatalf("err = %v, want a NodeError for cass2", err)
	}
	if !strings.Contains(ne.Nodetool, "UJ  10.0.") || !strings.Contains(ne.Logs, "last line of cass2") || !strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("report lacks nodetool output, logs or the reason:\n%s", err)
	}
	if index(l.w.Log(), "ServiceCreate cass3") >= 0 {
		t.Error("cass3 was started after cass2 timed out")
	}
}

func TestInterruptThenResume(t *testing.T) {
	l := newLab(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	l.ring.onLook = func(node string) {
		if node == "cass2" {
			cancel()
		}
	}
	_, err := Bootstrap(ctx, l.config(3))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want an interruption", err)
	}
	// The record is written although the run's context has ended, and
	// says what happened: cass2 did not fail, the run was stopped.
	if strings.Contains(err.Error(), "consul") {
		t.Errorf("the record could not be written after Ctrl-C: %v", err)
	}
	if rec := l.kv("swarmcass/test/nodes/cass2"); !strings.Contains(rec, `"state":"interrupted"`) {
		t.Errorf("cass2 recorded as %s, want interrupted", rec)
	}
	l.ring.onLook = nil
	res := bootstrap(t, l.config(3))
	if len(res.Nodes) != 3 || res.Nodes[1].Created || !res.Nodes[2].Created {
		t.Errorf("resume nodes %+v: want cass2 kept and cass3 created", res.Nodes)
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("concurrent bootstraps: %v", l.ring.concurrent)
	}
}

func TestGrow(t *testing.T) {
	l := newLab(t, 3)
	bootstrap(t, l.config(3))
	before := len(l.w.Log())
	res := bootstrap(t, l.config(5))
	grow := l.w.Log()[before:]
	if i, j := index(grow, "ServiceCreate cass4"), index(grow, "ServiceCreate cass5"); i < 0 || j < i || index(grow, "ServiceCreate cass3") >= 0 {
		t.Errorf("growing to 5 did:\n%s", strings.Join(grow, "\n"))
	}
	if res.Nodes[3].Host != "swarm-0" || res.Nodes[4].Host != "swarm-1" {
		t.Errorf("cass4 on %s, cass5 on %s: want swarm-0 and swarm-1", res.Nodes[3].Host, res.Nodes[4].Host)
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("concurrent bootstraps: %v", l.ring.concurrent)
	}
}

func TestSeeds(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{1, "cass1"}, {2, "cass1,cass2"}, {3, "cass1,cass2,cass3"}, {7, "cass1,cass2,cass3"}} {
		if got := strings.Join(chooseSeeds(nil, nil, c.n), ","); got != c.want {
			t.Errorf("seeds for %d nodes: %s, want %s", c.n, got, c.want)
		}
	}
	// Growing a cluster keeps the seed list its nodes run with.
	l := newLab(t, 2)
	bootstrap(t, l.config(1))
	res := bootstrap(t, l.config(3))
	if got := strings.Join(res.Seeds, ","); got != "cass1" {
		t.Errorf("seeds after growing from 1 to 3: %s, want cass1", got)
	}
	s, _ := l.swarm[0].ServiceInspect(context.Background(), "cass3")
	if !slices.Equal(s.Spec.Args, []string{"cass1"}) {
		t.Errorf("cass3 args %v, want [cass1]", s.Spec.Args)
	}
}

func TestLockContention(t *testing.T) {
	l := newLab(t, 2)
	bootstrap(t, l.config(2))
	l.consul().Hold("swarmcass/test/lock", []byte(`{"operation":"scale","hostname":"laptop","pid":4242,"started":"2025-01-01T10:00:00Z"}`))
	before := len(l.w.Log())
	_, err := Bootstrap(context.Background(), l.config(3))
	if !errors.Is(err, consulstore.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "pid 4242 on laptop") || !strings.Contains(op.Explain(err), "hint:") {
		t.Errorf("error does not name the holder or lacks a hint:\n%s", op.Explain(err))
	}
	if !strings.Contains(err.Error(), "another scale holds its lock, so bootstrap cannot start") {
		t.Errorf("error does not name the operation holding the lock and the one refused:\n%s", op.Explain(err))
	}
	if after := l.w.Log()[before:]; len(after) != 0 {
		t.Errorf("a refused bootstrap did %v", after)
	}
}

func TestLocalEngineAlone(t *testing.T) {
	l := newLab(t, 0)
	res := bootstrap(t, l.alone("local", "127.0.0.1", 2))
	if !strings.HasPrefix(res.Image, "127.0.0.1:5000/") || len(res.Nodes) != 2 || res.Nodes[1].Host != "local" || res.Nodes[1].CQL != "127.0.0.1:9043" {
		t.Errorf("result %+v", res)
	}
	if index(l.w.Log(), "local: SwarmInit ") < 0 {
		t.Errorf("no swarm init: %v", l.w.Log())
	}
}

// Consul runs on the infra host's own network, so that it checks each
// node at the contact point the record and the summary hand out (built
// from the host's address) from where that address is valid: with one
// engine alone, 127.0.0.1 is the host's loopback, not Consul's container.
func TestConsulChecksContactPointsFromHostNetwork(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alone string // one engine at this address plays every role; "": infra and 3 swarm hosts
	}{{"local engine alone", "127.0.0.1"}, {"one engine by --host", "10.0.0.50"}, {"machine store", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			l := newLab(t, 0)
			if tc.alone != "" {
				cfg = l.alone("solo", tc.alone, 2)
			} else {
				l = newLab(t, 3)
				cfg = l.config(2)
			}
			res := bootstrap(t, cfg)
			c, err := cfg.Infra.Engine.ContainerInspect(context.Background(), ConsulContainer)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Networks[engine.HostNetwork]; !ok || len(c.Networks) != 1 {
				t.Errorf("Consul's container is on %v, want the host's network alone", c.Networks)
			}
			for _, n := range res.Nodes {
				s, ok := l.remote.consuls[consulstore.Addr(cfg.Infra.Addr)].Service(consulstore.ServiceID("test", n.Name))
				if !ok || s.Check != n.CQL || net.JoinHostPort(s.Address, strconv.Itoa(s.Port)) != n.CQL {
					t.Errorf("%s: registered %+v, want its check and address at its contact point %s", n.Name, s, n.CQL)
				}
				if host, _, _ := net.SplitHostPort(n.CQL); host != cmp.Or(tc.alone, host) {
					t.Errorf("%s: contact point %s, want it on %s", n.Name, n.CQL, tc.alone)
				}
			}
		})
	}
}

// A Consul container an earlier swarmcass made behind the bridge cannot
// check nodes at 127.0.0.1: preflight says so before anything is made.
func TestLocalEngineRefusesConsulBehindBridge(t *testing.T) {
	l := newLab(t, 0)
	cfg := l.alone("local", "127.0.0.1", 1)
	ctx := context.Background()
	if _, err := cfg.Infra.Engine.ContainerCreate(ctx, engine.ContainerSpec{Name: ConsulContainer, Image: clustertest.ConsulImage,
		Labels: engine.Labels{engine.LabelRole: engine.RoleConsul}}); err != nil {
		t.Fatal(err)
	}
	before := len(l.w.Log())
	_, err := Bootstrap(ctx, cfg)
	if err == nil || !strings.Contains(op.Explain(err), "not on the host's network") || !strings.Contains(op.Explain(err), "docker rm -f swarmcass-consul") {
		t.Fatalf("err = %v, want preflight to refuse the bridged Consul with a hint", op.Explain(err))
	}
	if after := l.w.Log()[before:]; len(after) != 0 {
		t.Errorf("a refused bootstrap did %v", after)
	}
}

// One engine reached at its network address (--host tcp://ADDR:2376) plays
// every role: it trusts only loopback, so its nodes pull through 127.0.0.1,
// while swarmcass reaches the registry at ADDR.
func TestOneRemoteEngineAlone(t *testing.T) {
	l := newLab(t, 0)
	res := bootstrap(t, l.alone("solo", "10.0.0.50", 2))
	if !strings.HasPrefix(res.Image, "127.0.0.1:5000/") || res.Registry != "10.0.0.50:5000" || len(res.Nodes) != 2 {
		t.Errorf("result %+v", res)
	}
}

func TestWaitsForFailedJoinToLeaveRing(t *testing.T) {
	l := newLab(t, 3)
	bootstrap(t, l.config(1))
	// cass2's first attempt died while joining: the ring lists it as DJ for
	// a while. Creating cass2 again before gossip forgets it would fail.
	l.ring.ghost = 6
	bootstrap(t, l.config(3))
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes started next to a joining node: %v", l.ring.concurrent)
	}
	if l.ring.ghost != 0 {
		t.Errorf("ghost still listed for %d looks: bootstrap did not wait for it", l.ring.ghost)
	}
}

func TestRecreatesNodeWhoseTaskKeepsFailing(t *testing.T) {
	l := newLab(t, 3)
	l.ring.fail["cass2"] = 1
	l.ring.never["cass2"] = true
	if _, err := Bootstrap(context.Background(), l.config(3)); err == nil {
		t.Fatal("bootstrap with a failing cass2 succeeded")
	}
	// A re-run finds cass2's service with a failed task and not UN: it
	// removes and recreates it instead of waiting on it forever.
	before := len(l.w.Log())
	l.ring.mu.Lock()
	l.ring.onLook = func(node string) {
		// Once its service is recreated, cass2's new container comes up.
		if node == "cass2" && index(l.w.Log()[before:], "ServiceCreate cass2") >= 0 {
			l.ring.mu.Lock()
			l.ring.never["cass2"] = false
			l.ring.mu.Unlock()
		}
	}
	l.ring.mu.Unlock()
	res := bootstrap(t, l.config(3))
	rerun := l.w.Log()[before:]
	if index(rerun, "ServiceRemove cass2") < 0 || index(rerun, "ServiceCreate cass2") < index(rerun, "ServiceRemove cass2") {
		t.Errorf("re-run did not recreate cass2:\n%s", strings.Join(rerun, "\n"))
	}
	if index(rerun, "ServiceRemove cass1") >= 0 {
		t.Error("re-run removed the healthy cass1")
	}
	for _, n := range res.Nodes {
		if n.State != "UN" {
			t.Errorf("after re-run %+v", n)
		}
	}
}

func TestBuildsBuiltInImageByDefault(t *testing.T) {
	l := newLab(t, 1)
	cfg := l.config(1)
	cfg.ImageDir = "" // swarmcass's own cassandra-image/, embedded
	res := bootstrap(t, cfg)
	if index(l.w.Log(), "ImageBuild swarmcass/cassandra:test") < 0 {
		t.Errorf("no build of the built-in image:\n%s", strings.Join(l.w.Log(), "\n"))
	}
	if !strings.Contains(res.Image, "@sha256:") {
		t.Errorf("nodes run %q, not a pinned digest", res.Image)
	}
}

// Swarm keeps a task "starting" until its image's HEALTHCHECK passes; the
// node's readiness is nodetool's word, so bootstrap does not wait for it.
func TestNodeReadyWhileHealthCheckPending(t *testing.T) {
	l := newLab(t, 3)
	l.w.TaskState = func(engine.ServiceSpec, engine.Node) (string, string) { return "starting", "" }
	res := bootstrap(t, l.config(3))
	for _, n := range res.Nodes {
		if n.State != "UN" {
			t.Errorf("%+v", n)
		}
	}
}

// A node's task that ends while bootstrap waits for it stops the run with
// a report, and no later node is started:
//   - Swarm replaces a task whose health check fails; the old one ends
//     "complete". Bootstrap reports that rather than wait on each successor.
//   - A machine reports a container's death with the time it died, which
//     can be before bootstrap began waiting although the manager learns of
//     it only during the wait (CI saw this once): bootstrap judges by what
//     changed while it watched, not by timestamps.
func TestNodeTaskEndsDuringWait(t *testing.T) {
	for _, tc := range []struct {
		name  string
		end   func(w *enginetest.World)
		error string
	}{
		{"replaced by Swarm", func(w *enginetest.World) { w.EndTask("cass2", "complete", "") }, "Swarm replaced it"},
		{"killed, stamped before the wait", func(w *enginetest.World) {
			w.Clock = func() time.Time { return time.Now().Add(-time.Minute) }
			defer func() { w.Clock = nil }()
			w.KillTask("cass2", "task: non-zero exit (137)")
		}, "non-zero exit (137)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 3)
			ended := false
			l.ring.onLook = func(node string) {
				if node == "cass2" && !ended {
					ended = true
					tc.end(l.w)
				}
			}
			_, err := Bootstrap(context.Background(), l.config(3))
			var ne *nodewait.NodeError
			if !errors.As(err, &ne) || ne.Node != "cass2" || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("err = %v, want cass2's task reported (%q)", err, tc.error)
			}
			if index(l.w.Log(), "ServiceCreate cass3") >= 0 {
				t.Error("cass3 was started after cass2's task ended")
			}
		})
	}
}

// When Swarm's replacement fails too before bootstrap looks again (a node
// whose container died while joining leaves its JOINING state in gossip,
// and real Cassandra refuses the next attempt for it), the report names the
// first task that ended and shows its logs: it is the cause, and which task
// is reported does not depend on how fast bootstrap looks.
func TestNodeTaskEndsTwiceDuringWait(t *testing.T) {
	l := newLab(t, 3)
	ctx := context.Background()
	first := ""
	l.ring.onLook = func(node string) {
		if node != "cass2" || first != "" {
			return
		}
		tasks, err := l.swarm[0].TaskList(ctx, "cass2")
		if err != nil || len(tasks) != 1 {
			t.Errorf("tasks of cass2: %v %v", tasks, err)
			return
		}
		first = tasks[0].ID
		for range 2 { // the task, then its successor; TaskList has Swarm schedule the next
			if err := l.w.EndTask("cass2", "complete", ""); err != nil {
				t.Error(err)
			}
			if _, err := l.swarm[0].TaskList(ctx, "cass2"); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := Bootstrap(ctx, l.config(3))
	var ne *nodewait.NodeError
	if !errors.As(err, &ne) || ne.Node != "cass2" {
		t.Fatalf("err = %v, want cass2's task reported", err)
	}
	if !strings.Contains(err.Error(), "its task "+first+" ended (complete)") || !strings.Contains(err.Error(), "Swarm started 2 more since") {
		t.Errorf("err = %v, want the first task %s named, and the two after it counted", err, first)
	}
}

// Re-registering a service resets its Consul check to critical, so a
// re-run leaves registrations alone; a check that never passes is reported.
func TestConsulChecks(t *testing.T) {
	l := newLab(t, 3)
	bootstrap(t, l.config(3))
	c := l.consul()
	if got := c.Registrations(); got != 3 {
		t.Fatalf("%d registrations, want 3", got)
	}
	bootstrap(t, l.config(3))
	if got := c.Registrations(); got != 3 {
		t.Errorf("re-run registered again: %d registrations", got)
	}
	c.SetCheck("swarmcass-test-cass4", "critical", "dial tcp: connection refused")
	_, err := Bootstrap(context.Background(), l.config(4))
	if err == nil || !strings.Contains(op.Explain(err), "swarmcass-test-cass4") || !strings.Contains(op.Explain(err), "reach each node's published CQL port") {
		t.Fatalf("err = %v, want cass4's critical check reported with a hint", err)
	}
}

// An infra image missing on the infra host is pulled; one that cannot be
// pulled stops the run before the swarm or the lock, with a hint.
func TestInfraImagePulled(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(1)
	cfg.ConsulImage = "hashicorp/consul:1.20"
	_, err := Bootstrap(context.Background(), cfg)
	if err == nil || !strings.Contains(op.Explain(err), "cannot pull it") || !strings.Contains(op.Explain(err), "lab load --machine infra hashicorp/consul:1.20") {
		t.Fatalf("err = %v, want the failed pull with a hint", op.Explain(err))
	}
	if index(l.w.Log(), "SwarmInit") >= 0 {
		t.Error("the swarm was made although Consul's image could not be had")
	}
	l.w.Publish("hashicorp/consul:1.20")
	bootstrap(t, cfg)
	if index(l.w.Log(), "infra: ImagePull hashicorp/consul:1.20") < 0 {
		t.Errorf("no pull of hashicorp/consul:1.20:\n%s", strings.Join(l.w.Log(), "\n"))
	}
}

// --clients host: each node tells drivers its host's address and listens
// for CQL on the port it publishes there, so that a driver outside the
// swarm reaches every node, also two on one host; a re-run with the other
// kind is refused before anything changes.
func TestClientsOutsideTheSwarm(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(4)
	cfg.Clients = ClientsHost
	res := bootstrap(t, cfg)
	wantAddr := []string{"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.10"}
	wantPort := []int{9042, 9042, 9042, 9043}
	for k := 1; k <= 4; k++ {
		s, err := l.swarm[0].ServiceInspect(context.Background(), nodeName(k))
		if err != nil {
			t.Fatal(err)
		}
		p := wantPort[k-1]
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].HostPort != p || s.Spec.Ports[0].ContainerPort != p {
			t.Errorf("%s: ports %+v, want %d:%d", s.Name, s.Spec.Ports, p, p)
		}
		for _, env := range []string{"CASSANDRA_BROADCAST_RPC_ADDRESS=" + wantAddr[k-1], fmt.Sprintf("CASSANDRA_NATIVE_TRANSPORT_PORT=%d", p)} {
			if !slices.Contains(s.Spec.Env, env) {
				t.Errorf("%s: env %v lacks %s", s.Name, s.Spec.Env, env)
			}
		}
		if got, want := res.Nodes[k-1].CQL, fmt.Sprintf("%s:%d", wantAddr[k-1], p); got != want {
			t.Errorf("%s: contact point %s, want %s", s.Name, got, want)
		}
	}
	if !strings.Contains(l.kv("swarmcass/test/network"), `"clients":"host"`) {
		t.Errorf("the record does not say what nodes tell drivers: %s", l.kv("swarmcass/test/network"))
	}
	// A re-run that would mix the kinds is refused, and changes nothing.
	cfg.Clients = ClientsOverlay
	before := len(l.w.Log())
	_, err := Bootstrap(context.Background(), cfg)
	if err == nil || !strings.Contains(op.Explain(err), "cass1 tells drivers its host address, but this run has --clients overlay") {
		t.Fatalf("re-run with --clients overlay: %v", err)
	}
	for _, call := range l.w.Log()[before:] {
		if strings.Contains(call, "Create") || strings.Contains(call, "Remove") {
			t.Errorf("the refused run changed something: %s", call)
		}
	}
	// --clients host without published ports cannot work.
	cfg.Clients, cfg.CQLPort = ClientsHost, -1
	if _, err := Bootstrap(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--clients host needs published CQL ports") {
		t.Errorf("--clients host --cql-port 0: %v", err)
	}
}
