package provision

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/consulstore/consultest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodetool/nodetooltest"
)

// lab is the lab fixture's machines (clustertest.New), a Consul served by
// memory wherever a consul container publishes its port, and a simulated
// Cassandra ring that answers nodetool status and refuses concurrent
// joins.
type lab struct {
	t      *testing.T
	w      *enginetest.World
	infra  *enginetest.Fake
	swarm  []*enginetest.Fake
	remote *fakeRemote
	ring   *ring
	auth   *authSim
	dir    string
	home   string // Config.Home: the credentials' local copy
}

func newLab(t *testing.T, machines int) *lab {
	t.Helper()
	machinesLab := clustertest.New(t, machines)
	l := &lab{t: t, w: machinesLab.W, infra: machinesLab.Infra, swarm: machinesLab.Swarm}
	l.remote = &fakeRemote{w: l.w, consuls: map[string]*consultest.Fake{}}
	l.ring = &ring{fakes: append([]*enginetest.Fake{l.infra}, l.swarm...), looks: map[string]int{}, never: map[string]bool{}, fail: map[string]int{}, readyAfter: 2}
	l.auth = newAuthSim(l.w)
	l.ring.auth = l.auth
	l.w.Exec = l.ring.exec
	l.w.Streams = l.auth.streams
	l.home = t.TempDir()
	l.w.Logs = func(f *enginetest.Fake, c engine.Container, tail int) string {
		return "INFO  [main] Config.java:NNN - Node configuration:[...]\nlast line of " + c.Name
	}
	l.w.TaskState = l.ring.taskState
	l.dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(l.dir, "Dockerfile"), []byte("FROM scratch\nCOPY cassim /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.dir, "cassim"), []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

// alone is a bootstrap of n nodes on one new engine, name at addr, that
// plays every role (no swarm machines: newLab(t, 0)).
func (l *lab) alone(name, addr string, n int) Config {
	e := l.w.NewFake(name, addr)
	e.AddImage(clustertest.ConsulImage)
	e.AddImage(clustertest.RegistryImage)
	l.ring.fakes = append(l.ring.fakes, e)
	cfg := l.config(n)
	cfg.Infra = cluster.Host{Engine: e, Addr: addr}
	cfg.Swarm = []cluster.Host{{Engine: e, Addr: addr}}
	return cfg
}

// config is a bootstrap of n nodes on the lab, polling fast.
func (l *lab) config(n int) Config {
	cfg := Config{
		Cluster:       "test",
		Nodes:         n,
		Infra:         cluster.Host{Engine: l.infra, Addr: l.infra.Addr()},
		ConsulImage:   clustertest.ConsulImage,
		RegistryImage: clustertest.RegistryImage,
		ImageDir:      l.dir,
		NodeEnv:       []string{"CASSIM_PROFILE=fast"},
		PollInterval:  time.Millisecond,
		NodeTimeout:   2 * time.Second,
		InfraTimeout:  time.Second,
		Remote:        l.remote,
		Home:          l.home,
	}
	for _, f := range l.swarm {
		cfg.Swarm = append(cfg.Swarm, cluster.Host{Engine: f, Addr: f.Addr()})
	}
	return cfg
}

// fakeRemote answers for what runs in the world: Consul where a consul
// container publishes 8500, the registry where one publishes 5000.
type fakeRemote struct {
	w       *enginetest.World
	mu      sync.Mutex
	consuls map[string]*consultest.Fake
}

func (r *fakeRemote) serving(addr, role string) bool {
	host, port, _ := net.SplitHostPort(addr)
	p := 0
	fmt.Sscan(port, &p)
	c, ok := r.w.Published(host, p)
	return ok && c.Labels[engine.LabelRole] == role
}

func (r *fakeRemote) Consul(addr string) (consulstore.Store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.consuls[addr]
	if !ok {
		c = consultest.New()
		r.consuls[addr] = c
	}
	c.ServeWhile(func() bool { return r.serving(addr, engine.RoleConsul) })
	return c, nil
}

func (r *fakeRemote) PingRegistry(ctx context.Context, addr string) error {
	if !r.serving(addr, engine.RoleRegistry) {
		return fmt.Errorf("dial tcp %s: connection refused", addr)
	}
	return nil
}

func (r *fakeRemote) Listening(ctx context.Context, addr string) bool {
	host, port, _ := net.SplitHostPort(addr)
	p := 0
	fmt.Sscan(port, &p)
	_, ok := r.w.Published(host, p)
	return ok
}

// consul is the lab's Consul, on infra.
func (l *lab) consul() *consultest.Fake { return l.remote.consuls["10.0.0.2:8500"] }

// kv is the value of key in the lab's Consul.
func (l *lab) kv(key string) string {
	v, _ := l.consul().Value(key)
	return string(v)
}

// ring simulates Cassandra nodes: a node becomes UN after readyAfter
// looks of nodetool in its own container; a node that starts while another
// is still joining fails, as Cassandra refuses concurrent bootstraps.
type ring struct {
	fakes      []*enginetest.Fake
	mu         sync.Mutex
	looks      map[string]int // container ID -> nodetool calls in it
	readyAfter int
	never      map[string]bool // node names that never become UN
	fail       map[string]int  // node name -> tasks to fail before one runs
	concurrent []string        // nodes started while another was joining
	onLook     func(node string)
	auth       *authSim
	// ghost is a node that failed while joining: every view lists it as
	// DJ for its next ghost looks, then gossip forgets it. Starting a node
	// while it is listed is recorded in concurrent, as Cassandra refuses.
	ghost int
}

type member struct {
	name, addr, id string
	up             bool
	down           bool // down and joining
}

// running lists the running Cassandra containers of the world, by name.
func (r *ring) running(ctx context.Context) []member {
	var out []member
	for _, f := range r.fakes {
		cs, _ := f.ContainerList(ctx, engine.Labels{engine.LabelRole: engine.RoleCassandra})
		for _, c := range cs {
			if !c.Running {
				continue
			}
			name := c.Labels[engine.LabelNode]
			r.mu.Lock()
			up := r.looks[c.ID] >= r.readyAfter && !r.never[name]
			r.mu.Unlock()
			out = append(out, member{name: name, addr: c.Networks["swarmcass"], id: c.ID, up: up})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (r *ring) exec(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
	if res, ok := r.auth.exec(f, c, cmd); ok {
		return res, nil
	}
	if strings.Join(cmd, " ") != "nodetool status" {
		return engine.ExecResult{ExitCode: 127, Stderr: "unknown command"}, nil
	}
	name := c.Labels[engine.LabelNode]
	r.mu.Lock()
	r.looks[c.ID]++
	first := r.looks[c.ID] == 1
	on := r.onLook
	r.mu.Unlock()
	if on != nil {
		on(name)
	}
	r.mu.Lock()
	ghost := r.ghost > 0
	if ghost {
		r.ghost--
	}
	r.mu.Unlock()
	if first && ghost {
		r.mu.Lock()
		r.concurrent = append(r.concurrent, name+" while a failed joining node was in the ring")
		r.mu.Unlock()
	}
	if first {
		for _, m := range r.running(context.Background()) {
			if m.name != name && !m.up {
				r.mu.Lock()
				r.concurrent = append(r.concurrent, name+" while "+m.name+" joined")
				r.mu.Unlock()
			}
		}
		return engine.ExecResult{ExitCode: 1, Stderr: nodetooltest.ConnectRefused}, nil
	}
	ms := r.running(context.Background())
	if ghost {
		ms = append(ms, member{name: "ghost", addr: "10.0.9.99", id: "ghost", down: true})
	}
	return engine.ExecResult{Stdout: statusOutput(ms)}, nil
}

func (r *ring) taskState(spec engine.ServiceSpec, node engine.Node) (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := spec.Labels[engine.LabelNode]
	if r.fail[name] > 0 {
		r.fail[name]--
		return "failed", "task: non-zero exit (1)"
	}
	return "running", ""
}

// statusOutput prints members as nodetool does: UN once up, UJ while
// joining, DJ for a node that died joining.
func statusOutput(ms []member) string {
	var rows []nodetooltest.Row
	for _, m := range ms {
		code := "UJ"
		if m.down {
			code = "DJ"
		}
		if m.up {
			code = "UN"
		}
		rows = append(rows, nodetooltest.Row{Code: code, Address: m.addr, HostID: nodetooltest.HostID(m.id)})
	}
	return nodetooltest.Status(rows)
}
