package provision

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/consulstore/consultest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodetool/nodetooltest"
	"github.com/swarmcass/swarmcass/registry"
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
	// Credentials' local files go to the test's own swarmcass home.
	t.Setenv("SWARMCASS_HOME", t.TempDir())
	machinesLab := clustertest.New(t, machines)
	l := &lab{t: t, w: machinesLab.W, infra: machinesLab.Infra, swarm: machinesLab.Swarm}
	l.remote = &fakeRemote{w: l.w, consuls: map[string]*consultest.Fake{}, refuse: map[string]int{}}
	l.ring = newRing(l.w, append([]*enginetest.Fake{l.infra}, l.swarm...))
	if len(l.swarm) > 0 {
		l.ring.manager = l.swarm[0]
	}
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
	l.ring.manager = e
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
		// The one-at-a-time path; tests of the all-at-once start of a
		// brand-new cluster (together_test.go) clear it.
		OneAtATime:   true,
		PollInterval: time.Millisecond,
		NodeTimeout:  2 * time.Second,
		InfraTimeout: time.Second,
		// A pair of hosts is tried for this long before it is called cut
		// off (a real overlay may take seconds to converge).
		OverlaySettle: 50 * time.Millisecond,
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
	acls    map[string]*consultest.ACL
	// tokens is the token each Consul's store was given last, by address.
	tokens map[string]string
	// refuse is how many more times Listening says no at an address,
	// although something is published there: a CQL port not open yet.
	refuse map[string]int
}

func (r *fakeRemote) serving(addr, role string) bool {
	host, port, _ := net.SplitHostPort(addr)
	p := 0
	fmt.Sscan(port, &p)
	c, ok := r.w.Published(host, p)
	return ok && c.Labels[engine.LabelRole] == role
}

func (r *fakeRemote) Consul(addr string, tokens consulstore.Tokens) (consulstore.Store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tokens != nil {
		t, err := tokens(context.Background(), "")
		if err != nil {
			return nil, err
		}
		if r.tokens == nil {
			r.tokens = map[string]string{}
		}
		r.tokens[addr] = t
	}
	c, ok := r.consuls[addr]
	if !ok {
		c = consultest.New()
		r.consuls[addr] = c
	}
	c.ServeWhile(func() bool { return r.serving(addr, engine.RoleConsul) })
	return c, nil
}

// ConsulAdmin is the ACL system of the Consul at addr: on, as the
// container bootstrap makes asks, unless a test turned it off first.
func (r *fakeRemote) ConsulAdmin(addr string) (consulstore.Admin, error) {
	return r.acl(addr), nil
}

func (r *fakeRemote) acl(addr string) *consultest.ACL {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acls == nil {
		r.acls = map[string]*consultest.ACL{}
	}
	a, ok := r.acls[addr]
	if !ok {
		a = &consultest.ACL{}
		a.EnableACL()
		r.acls[addr] = a
	}
	return a
}

func (r *fakeRemote) PingRegistry(ctx context.Context, addr string, user *registry.User) error {
	if !r.serving(addr, engine.RoleRegistry) {
		return fmt.Errorf("dial tcp %s: connection refused", addr)
	}
	if user != nil {
		if err := r.w.RegistryDenies(addr, user.Auth(addr)); err != nil {
			return fmt.Errorf("registry %s: 401 Unauthorized: %v: %w", addr, err, registry.ErrUnauthorized)
		}
	}
	return nil
}

func (r *fakeRemote) RegistryWantsAuth(ctx context.Context, addr string) (bool, error) {
	if !r.serving(addr, engine.RoleRegistry) {
		return false, fmt.Errorf("dial tcp %s: connection refused", addr)
	}
	return r.w.RegistryDenies(addr, nil) != nil, nil
}

func (r *fakeRemote) RegistryHas(ctx context.Context, addr string, user *registry.User, repo, digest string) (bool, error) {
	if !r.serving(addr, engine.RoleRegistry) {
		return false, fmt.Errorf("dial tcp %s: connection refused", addr)
	}
	if user != nil {
		if err := r.w.RegistryDenies(addr, user.Auth(addr)); err != nil {
			return false, fmt.Errorf("registry %s: 401 Unauthorized: %v: %w", addr, err, registry.ErrUnauthorized)
		}
	}
	return r.w.RegistryHas(addr, repo, digest), nil
}

func (r *fakeRemote) Listening(ctx context.Context, addr string) bool {
	r.mu.Lock()
	if r.refuse[addr] > 0 {
		r.refuse[addr]--
		r.mu.Unlock()
		return false
	}
	r.mu.Unlock()
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

// ring simulates the lifecycle of Cassandra nodes and shows it through a
// nodetooltest.Ring, which renders every view and nodetool answer: a node
// becomes UN after readyAfter looks of nodetool in its own container; a
// node that starts while another is still joining fails, as Cassandra
// refuses concurrent bootstraps.
//
// A node's identity (its host ID) lives in its data volume, as
// Cassandra's does: the same volume on the same engine gives the same host
// ID; a removed and recreated volume a new one. A node once UN stays in
// every view: DN while its container does not run or after nodetool drain,
// UL while nodetool decommission runs, gone once it has left, or once a
// node started with replace_address_first_boot=<its address> is UN. The
// ring also answers decommission and drain, and the overlay check's probes.
type ring struct {
	*nodetooltest.Ring
	fakes      []*enginetest.Fake
	w          *enginetest.World
	manager    *enginetest.Fake // reads a node's service spec (replace option)
	mu         sync.Mutex
	looks      map[string]int // container ID -> nodetool calls in it
	readyAfter int
	never      map[string]bool // node names that never become UN
	fail       map[string]int  // node name -> tasks to fail before one runs
	concurrent []string        // nodes started while another was joining
	onLook     func(node string)
	auth       *authSim
	// hookMu: onLook is called for one look at a time, also when the
	// views of a round are asked in parallel.
	hookMu sync.Mutex
	// viewMu: one look at a time brings the simulation to the Ring and
	// reads its answer.
	viewMu sync.Mutex
	// ghost is a node that failed while joining: every view lists it as
	// DJ for its next ghost looks, then gossip forgets it. Starting a node
	// while it is listed is recorded in concurrent, as Cassandra refuses.
	ghost int
	// probes logs the overlay probes' commands (machines that drop
	// overlay traffic: Ring.SetDropped).
	probes []string
	// dropESP: encrypted overlays carry nothing (no IPsec ESP in the
	// kernel, or protocol 50 dropped); plain ones do.
	dropESP bool
	// settling: the overlay has not yet converged for these hosts (one
	// just joined it): this many more cross-host probes to or from each
	// get no answer before they do.
	settling map[string]int

	ids     map[string]string  // volume identity -> host ID
	known   map[string]*joined // host ID -> a node that has been UN
	order   []string           // host IDs of known, in the order they joined
	drained map[string]bool    // container IDs
	// leaveLooks is how many looks by other nodes a decommission stays UL for.
	leaveLooks int
	// decommissions, drains count the commands run in each node.
	decommissions, drains map[string]int
	// refused are nodes that asked to replace a live node.
	refused []string
	// holdAfterLeave, when not nil: nodetool decommission returns only
	// once it is closed, long after the node has left every view (as
	// when Cassandra announces its departure for the ring delay).
	holdAfterLeave chan struct{}
	// shutAfterLeave: a decommissioned node's JVM ends, and nodetool
	// decommission fails as it did on real 5.0.8 here.
	shutAfterLeave bool
	// calls are the nodetool commands run other than status, as "drain
	// cass2"; onNodetool hears each once it has run.
	calls      []string
	onNodetool func(cmd, node string)
}

type joined struct {
	name, addr string
	leaving    int  // looks left UL; -1: not leaving
	left       bool // decommissioned, or replaced
}

type member struct {
	name, addr, id string
	host           string // the machine it runs on
	up             bool
	container      string
}

func newRing(w *enginetest.World, fakes []*enginetest.Fake) *ring {
	r := &ring{Ring: nodetooltest.NewRing(), w: w, fakes: fakes, looks: map[string]int{}, never: map[string]bool{}, fail: map[string]int{}, readyAfter: 2,
		ids: map[string]string{}, known: map[string]*joined{}, drained: map[string]bool{},
		leaveLooks: 2, decommissions: map[string]int{}, drains: map[string]int{}}
	r.Keyspaces = nodetooltest.SystemKeyspaces()
	return r
}

// identity is the host ID the node's volume on f holds.
func (r *ring) identity(f *enginetest.Fake, node string) string {
	volume := node + "-data"
	gen := 0
	for _, e := range r.w.Log() {
		if e == f.Name()+": VolumeRemove "+volume {
			gen++
		}
	}
	key := fmt.Sprintf("%s/%s#%d", f.Name(), volume, gen)
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.ids[key]; ok {
		return id
	}
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:16])
	id := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	r.ids[key] = id
	return id
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
			id := r.identity(f, name)
			r.mu.Lock()
			up := r.looks[c.ID] >= r.readyAfter && !r.never[name] && !slices.Contains(r.refused, c.ID) && c.Labels["test.broken"] == ""
			r.mu.Unlock()
			out = append(out, member{name: name, addr: c.Networks["swarmcass"], id: id, up: up, container: c.ID, host: f.Name()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// env is the environment node's service gives its containers.
func (r *ring) env(node string) []string {
	for _, f := range r.fakes {
		if s, err := f.ServiceInspect(context.Background(), node); err == nil {
			return s.Spec.Env
		}
	}
	return nil
}

// bootstraps: the node streams when it joins (Cassandra's auto_bootstrap,
// true unless its environment says false), unless it was UN before (the
// identity its volume holds is known); one that does not never counts as
// joining, and minds no one joining beside it.
func (r *ring) bootstraps(node, identity string) bool {
	r.mu.Lock()
	joined := r.known[identity] != nil
	r.mu.Unlock()
	return !joined && !slices.Contains(r.env(node), "CASSANDRA_AUTO_BOOTSTRAP=false")
}

// replaces is the address node's service asks to replace, if any.
func (r *ring) replaces(node string) string {
	if r.manager == nil {
		return ""
	}
	s, err := r.manager.ServiceInspect(context.Background(), node)
	if err != nil {
		return ""
	}
	for _, kv := range s.Spec.Env {
		if v, ok := strings.CutPrefix(kv, "JVM_EXTRA_OPTS="); ok {
			for _, opt := range strings.Fields(v) {
				if a, ok := strings.CutPrefix(opt, replaceOption+"="); ok {
					return a
				}
			}
		}
	}
	return ""
}

// members is the ring the simulation has now, for viewer's look: nodes
// once UN in the order they joined (DN, UN or UL), then the running ones
// still joining (UJ), then a ghost when one is listed. A node that looks
// at a leaving one brings its departure one look closer.
func (r *ring) members(viewer string, ms []member, ghost bool) []nodetooltest.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	runningByID := map[string]member{}
	hostOf := map[string]string{} // overlay address -> machine
	for _, m := range ms {
		runningByID[m.id] = m
		hostOf[m.addr] = m.host
		if m.up {
			k, ok := r.known[m.id]
			if !ok {
				k = &joined{name: m.name, leaving: -1}
				r.known[m.id] = k
				r.order = append(r.order, m.id)
			}
			k.addr = m.addr
		}
	}
	var out []nodetooltest.Member
	for _, id := range r.order {
		k := r.known[id]
		if k.left {
			continue
		}
		code := "DN"
		if m, ok := runningByID[id]; ok && m.up && !r.drained[m.container] {
			code = "UN"
			if k.leaving >= 0 {
				code = "UL"
				if viewer != k.name && k.leaving > 0 {
					k.leaving--
				}
			}
		}
		out = append(out, nodetooltest.Member{Node: k.name, Addr: k.addr, HostID: id, Code: code, Host: hostOf[k.addr]})
	}
	for _, m := range ms {
		if _, ok := r.known[m.id]; !ok {
			out = append(out, nodetooltest.Member{Node: m.name, Addr: m.addr, HostID: m.id, Code: "UJ", Host: m.host})
		}
	}
	if ghost {
		out = append(out, nodetooltest.Member{Node: "ghost", Addr: "10.0.9.99", HostID: nodetooltest.HostID("ghost"), Code: "DJ"})
	}
	return out
}

func (r *ring) exec(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
	if c.Labels[engine.LabelRole] == engine.RoleProbe {
		return r.probe(f, cmd)
	}
	if res, ok := r.auth.exec(f, c, cmd); ok {
		return res, nil
	}
	name := c.Labels[engine.LabelNode]
	self := nodetooltest.Member{Node: name, Host: f.Name()}
	switch line := strings.Join(cmd, " "); line {
	case "nodetool status", "nodetool describecluster":
		return r.look(f, c, self, cmd), nil
	case "nodetool info -T":
		// The tokens it was given, or one of its own.
		for _, kv := range r.env(name) {
			if v, ok := strings.CutPrefix(kv, "CASSANDRA_INITIAL_TOKENS="); ok {
				self.Tokens = v
			}
		}
		return r.Answer(self, cmd), nil
	case "nodetool decommission":
		return r.decommission(name), nil
	case "nodetool drain":
		r.mu.Lock()
		r.drains[name]++
		r.mu.Unlock()
		return r.nodetool(c, name, "drain")
	default:
		if sub, ok := strings.CutPrefix(line, "nodetool "); ok {
			return r.nodetool(c, name, sub) // version, upgradesstables, ...
		}
		return r.Answer(self, cmd), nil // df, ...
	}
}

// look is nodetool status or describecluster in node's container c:
// counted (readyAfter), refused the first time, when the simulation notes
// a node starting beside a joining one or asking to replace a live one;
// later, the Ring's answer once the simulation has been brought to it.
func (r *ring) look(f *enginetest.Fake, c engine.Container, self nodetooltest.Member, cmd []string) engine.ExecResult {
	name := self.Node
	r.mu.Lock()
	r.looks[c.ID]++
	first := r.looks[c.ID] == 1
	on := r.onLook
	r.mu.Unlock()
	if on != nil {
		r.hookMu.Lock()
		on(name)
		r.hookMu.Unlock()
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
		ms := r.running(context.Background())
		if r.bootstraps(name, r.identity(f, name)) {
			var joining []string
			for _, m := range ms {
				if m.name != name && !m.up && r.bootstraps(m.name, m.id) {
					joining = append(joining, m.name)
				}
			}
			r.mu.Lock()
			for _, j := range joining {
				r.concurrent = append(r.concurrent, name+" while "+j+" joined")
			}
			r.mu.Unlock()
		}
		if addr := r.replaces(name); addr != "" {
			r.mu.Lock()
			for _, m := range ms {
				if m.addr == addr && m.up && r.known[m.id] != nil && !r.drained[m.container] {
					r.refused = append(r.refused, c.ID)
				}
			}
			r.mu.Unlock()
		}
		return engine.ExecResult{ExitCode: 1, Stderr: nodetooltest.ConnectRefused}
	}
	r.viewMu.Lock()
	defer r.viewMu.Unlock()
	ms := r.running(context.Background())
	r.SetMembers(r.members(name, ms, ghost))
	r.mu.Lock()
	// A replacing node, once UN, has taken over the dead node's entry.
	for _, m := range ms {
		if m.name == name && m.up {
			if addr := r.replaces(name); addr != "" {
				for id, k := range r.known {
					if k.addr == addr && id != m.id {
						k.left = true
					}
				}
			}
		}
	}
	r.mu.Unlock()
	return r.Answer(self, cmd)
}

// decommission answers nodetool decommission in node: Cassandra's
// refusals, else UL for leaveLooks looks by other nodes, then gone from
// every view; it returns when the node has left, as nodetool does.
func (r *ring) decommission(node string) engine.ExecResult {
	r.mu.Lock()
	r.decommissions[node]++
	var k *joined
	for _, j := range r.known {
		if j.name == node && !j.left {
			k = j
		}
	}
	switch {
	case k == nil:
		r.mu.Unlock()
		return engine.ExecResult{ExitCode: 1, Stdout: "nodetool: Unsupported operation: local node is not a member of the token ring yet\n"}
	case k.leaving >= 0:
		r.mu.Unlock()
		return engine.ExecResult{ExitCode: 1, Stdout: "nodetool: Unsupported operation: Node is still decommissioning. Check nodetool netstats.\n"}
	}
	k.leaving = r.leaveLooks
	r.mu.Unlock()
	for range 2000 {
		r.mu.Lock()
		done := k.leaving == 0
		r.mu.Unlock()
		if done {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.mu.Lock()
	k.left = true
	shut, hold := r.shutAfterLeave, r.holdAfterLeave
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if shut {
		return engine.ExecResult{ExitCode: 2, Stdout: "Cassandra has shutdown.\n", Stderr: "error: null\n-- StackTrace --\njava.io.EOFException\n"}
	}
	return engine.ExecResult{}
}

// probe answers the overlay check's probes (the Consul image's client):
// its own agent always; another host's probe, found by its overlay
// address, unless either host drops overlay traffic (Ring.SetDropped).
func (r *ring) probe(f *enginetest.Fake, cmd []string) (engine.ExecResult, error) {
	r.mu.Lock()
	r.probes = append(r.probes, f.Name()+": "+strings.Join(cmd, " "))
	r.mu.Unlock()
	if len(cmd) == 2 && cmd[0] == "/bin/consul" && cmd[1] == "members" {
		return engine.ExecResult{Stdout: "Node  Address  Status\n"}, nil
	}
	target, ok := strings.CutPrefix(strings.Join(cmd, " "), "/bin/consul members -http-addr=http://")
	if !ok {
		return engine.ExecResult{ExitCode: 127, Stderr: "unknown command"}, nil
	}
	addr, _, _ := net.SplitHostPort(target)
	for _, g := range r.fakes {
		cs, _ := g.ContainerList(context.Background(), engine.Labels{engine.LabelRole: engine.RoleProbe})
		for _, c := range cs {
			for network, a := range c.Networks {
				n, _ := g.NetworkInspect(context.Background(), network)
				r.mu.Lock()
				dropESP := r.dropESP
				r.mu.Unlock()
				dropped := r.Dropped(f.Name()) || r.Dropped(g.Name()) || (dropESP && n.Encrypted)
				if c.Running && a == addr && !dropped && !r.stillSettling(f.Name(), g.Name()) {
					return engine.ExecResult{Stdout: "Node  Address  Status\n"}, nil
				}
			}
		}
	}
	return engine.ExecResult{ExitCode: 1, Stderr: "Error retrieving members: Get \"http://" + target + "/v1/agent/members\": dial tcp " + target + ": i/o timeout\n"}, nil
}

// stillSettling counts a cross-host probe between hosts a and b against
// ring.settling: true (no answer) while either has probes left to fail.
func (r *ring) stillSettling(a, b string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range []string{a, b} {
		if r.settling[h] > 0 {
			r.settling[h]--
			return true
		}
	}
	return false
}

// defaultRelease is the release a node reports when its image's labels
// name none.
const defaultRelease = nodetooltest.DefaultRelease

// nodetool answers the other nodetool commands day-2 operations run, as
// Cassandra does once the node is up: drain (the node leaves gossip: every
// view shows it DN until its container is replaced), version (test.release
// on its image, else its version label), upgradesstables. Each is noted in
// calls, in order.
func (r *ring) nodetool(c engine.Container, name, cmd string) (engine.ExecResult, error) {
	r.mu.Lock()
	up := r.looks[c.ID] >= r.readyAfter && !r.never[name] && c.Labels["test.broken"] == ""
	drained := r.drained[c.ID]
	r.calls = append(r.calls, cmd+" "+name)
	if cmd == "drain" {
		r.drained[c.ID] = true
	}
	hook := r.onNodetool
	r.mu.Unlock()
	if hook != nil {
		hook(cmd, name)
	}
	if !up || (drained && cmd != "drain") {
		return engine.ExecResult{ExitCode: 1, Stderr: nodetooltest.ConnectRefused}, nil
	}
	switch cmd {
	case "drain", "upgradesstables":
		return engine.ExecResult{}, nil
	case "version":
		// test.release: a node that runs another release than its label says.
		self := nodetooltest.Member{Node: name, Release: cmp.Or(c.Labels["test.release"], c.Labels[VersionLabel])}
		return r.Answer(self, []string{"nodetool", "version"}), nil
	}
	return engine.ExecResult{ExitCode: 1, Stderr: "nodetool: unknown command " + cmd}, nil
}

// callsOf are the nodetool commands run other than status, in order.
func (r *ring) callsOf() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
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

func init() { registry.HtpasswdCost = bcrypt.MinCost } // bcrypt at its default cost is slow under -race
