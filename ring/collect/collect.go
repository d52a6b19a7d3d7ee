// Package collect finds a cluster's Cassandra nodes on Docker Swarm engines
// and gathers each node's view of the ring for ring.Judge: `nodetool status`
// and `nodetool describecluster` run in every node's container, the Consul
// record of the nodes and the Consul checks of their services.
//
// It tolerates failures piece by piece: an engine that does not answer
// makes its nodes "engine unreachable" and the rest are still asked; a swarm
// manager that does not answer is replaced by the containers the other
// engines hold and by the Consul record; a Consul that does not answer
// leaves the checks unjudged.
package collect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/ring"
)

// Defaults for Config's zero fields.
const (
	DefaultExecTimeout   = 30 * time.Second
	DefaultEngineTimeout = 10 * time.Second
	DefaultParallel      = 8
)

// Config is what Gather looks at.
type Config struct {
	Cluster string
	// Engines are the distinct engines of the hosts plan. The swarm
	// manager is the first of them that answers as one.
	Engines []engine.Engine
	// Broken names engines no client could be made for, with the reason;
	// their nodes are reported as engine unreachable.
	Broken map[string]error
	// Consul holds the cluster's record and checks; nil: not asked.
	Consul consulstore.Store
	// Network is the overlay network whose addresses nodetool shows; ""
	// takes the record's, else a task's only network.
	Network string
	// ExecTimeout bounds each nodetool run; EngineTimeout each engine or
	// Consul call.
	ExecTimeout   time.Duration
	EngineTimeout time.Duration
	// Parallel bounds the nodes asked at once.
	Parallel int
}

// Result is what Gather found.
type Result struct {
	Input ring.Input
	// Notes say what could not be asked (an engine, the manager, Consul)
	// and what that leaves unknown.
	Notes []string `json:"notes"`
	// Found is false when neither the swarm, the engines' containers nor
	// the record know the cluster; OtherClusters then lists the clusters
	// that were seen, for the user's hint.
	Found         bool     `json:"found"`
	OtherClusters []string `json:"otherClusters,omitempty"`
	// Judgeable is false when nothing that could know the cluster answered:
	// no manager, no engine with containers, no Consul.
	Judgeable bool    `json:"-"`
	Timings   Timings `json:"timings"`
	// ContactPoints are what drivers connect to, from the record.
	ContactPoints ContactPoints `json:"contactPoints"`
}

// ContactPoints are the addresses drivers connect to (consulstore.ContactPoints):
// Clients says what the nodes tell drivers, "overlay" or "host".
type ContactPoints struct {
	Clients string   `json:"clients"`
	Overlay []string `json:"overlay"`
	Outside []string `json:"outside"`
}

// Timings say where Gather's time went.
type Timings struct {
	// Seconds is Gather's wall time; DiscoverSeconds the part spent
	// finding nodes (engines, swarm, Consul), NodetoolSeconds the wall time
	// of the nodetool phase.
	Seconds         float64 `json:"seconds"`
	DiscoverSeconds float64 `json:"discoverSeconds"`
	NodetoolSeconds float64 `json:"nodetoolSeconds"`
	// Execs are the nodetool runs, each from exec create to exit code.
	Execs []Exec `json:"execs"`
}

// Exec is one nodetool run.
type Exec struct {
	Node    string  `json:"node"`
	Command string  `json:"command"`
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
}

// ExecStats sums and maxes the runs' durations.
func (t Timings) ExecStats() (sum, longest float64) {
	for _, e := range t.Execs {
		sum += e.Seconds
		longest = max(longest, e.Seconds)
	}
	return sum, longest
}

// Gather finds the cluster's nodes and asks each for its view. It fails
// only when ctx ends; everything else is recorded in the Result.
func Gather(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	g := &gather{cfg: cfg, res: &Result{Input: ring.Input{Cluster: cfg.Cluster}}}
	g.discover(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.res.Timings.DiscoverSeconds = time.Since(start).Seconds()
	t0 := time.Now()
	g.views(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.res.Timings.NodetoolSeconds = time.Since(t0).Seconds()
	g.expect()
	g.res.Timings.Seconds = time.Since(start).Seconds()
	return g.res, nil
}

func (c Config) withDefaults() Config {
	if c.ExecTimeout <= 0 {
		c.ExecTimeout = DefaultExecTimeout
	}
	if c.EngineTimeout <= 0 {
		c.EngineTimeout = DefaultEngineTimeout
	}
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	return c
}

// host is one engine and what it answered.
type host struct {
	e    engine.Engine
	name string
	info engine.Info
	err  error // Info failed: unreachable
}

// node is one Cassandra node and where its view is asked.
type node struct {
	name      string
	swarmHost string
	// addresses the node had, newest first: its tasks' or containers',
	// then the record's. The one the views list is its address.
	addresses []string
	hostID    string
	host      *host  // whose engine runs its container; nil when unknown
	container string // "" when there is none to ask
	// why, when container is "", says why not.
	why    ring.Unavailable
	whyErr error
}

type gather struct {
	cfg   Config
	res   *Result
	hosts []*host
	byID  map[string]*host // swarm node ID -> host
	mu    sync.Mutex
	nodes []*node
}

func (g *gather) note(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.res.Notes = append(g.res.Notes, fmt.Sprintf(format, args...))
}

func (g *gather) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.cfg.EngineTimeout)
}

// swarmView is what the manager says about the cluster's services.
type swarmView struct {
	manager  *host
	services []engine.Service
	tasks    map[string][]engine.Task // service name -> tasks, newest first
	taskErr  map[string]error
	nodes    map[string]engine.Node // swarm node ID -> node
	others   []string               // clusters seen when this one has no service
}

// record is what Consul holds about the cluster; known is false when
// Consul was not asked or did not answer.
type record struct {
	known bool
	consulstore.Record
}

// discover asks the engines, the manager and Consul at once, then matches
// what they say node by node.
func (g *gather) discover(ctx context.Context) {
	g.byID = map[string]*host{}
	for _, e := range g.cfg.Engines {
		g.hosts = append(g.hosts, &host{e: e, name: e.Name()})
	}
	var wg sync.WaitGroup
	for _, h := range g.hosts {
		wg.Go(func() {
			c, cancel := g.call(ctx)
			defer cancel()
			h.info, h.err = h.e.Info(c)
			if h.err != nil && c.Err() != nil && ctx.Err() == nil {
				h.err = fmt.Errorf("no answer within %s: %w", g.cfg.EngineTimeout, h.err)
			}
		})
	}
	var rec record
	wg.Go(func() { rec = g.record(ctx) })
	wg.Wait()
	g.res.ContactPoints = contactPoints(rec)
	for _, name := range slices.Sorted(maps.Keys(g.cfg.Broken)) {
		g.hosts = append(g.hosts, &host{name: name, err: g.cfg.Broken[name]})
	}
	for _, h := range g.hosts {
		if h.err != nil {
			g.note("engine %s does not answer: %v", h.name, h.err)
			continue
		}
		if h.info.Swarm.NodeID != "" {
			g.byID[h.info.Swarm.NodeID] = h
		}
	}

	var sw *swarmView
	containers := map[string][]located{}
	wg.Go(func() { sw = g.swarm(ctx) })
	wg.Go(func() { containers = g.containers(ctx) })
	wg.Wait()
	if ctx.Err() != nil {
		return
	}

	names := map[string]bool{}
	if sw != nil {
		for _, s := range sw.services {
			names[s.Labels[engine.LabelNode]] = true
		}
	}
	for name := range containers {
		names[name] = true
	}
	for name := range rec.Nodes {
		names[name] = true
	}
	delete(names, "")
	g.res.Found = len(names) > 0
	anyEngine := slices.ContainsFunc(g.hosts, func(h *host) bool { return h.err == nil })
	g.res.Judgeable = sw != nil || rec.known || anyEngine
	if !g.res.Found && sw != nil {
		g.res.OtherClusters = sw.others
	}

	network := g.cfg.Network
	if network == "" {
		network = rec.Network.Name
	}
	for _, name := range sortedNodeNames(names) {
		g.nodes = append(g.nodes, g.place(name, sw, containers[name], rec, network))
	}
}

// expect lists the nodes for Judge. A node whose task was replaced had
// several addresses; its address is the newest one that most views list
// (while a new task is pending, the ring still knows the old one), else
// the newest.
func (g *gather) expect() {
	for _, n := range g.nodes {
		addr, most := "", 0
		for _, a := range n.addresses {
			c := 0
			for _, v := range g.res.Input.Views {
				if v.Status == nil {
					continue
				}
				if _, ok := v.Status.Node(a); ok {
					c++
				}
			}
			if addr == "" || c > most {
				addr, most = a, c
			}
		}
		if most == 0 && n.hostID != "" {
			if a := g.addressOfHostID(n.hostID); a != "" {
				addr = a
			}
		}
		g.res.Input.Expected = append(g.res.Input.Expected, ring.ExpectedNode{
			Name: n.name, SwarmHost: n.swarmHost, Address: addr, HostID: n.hostID,
		})
	}
}

// addressOfHostID is the address the most views list hostID at; "" when
// none lists it.
func (g *gather) addressOfHostID(hostID string) string {
	count := map[string]int{}
	best := ""
	for _, v := range g.res.Input.Views {
		if v.Status == nil {
			continue
		}
		for _, sn := range v.Status.Nodes() {
			if strings.EqualFold(sn.HostID, hostID) {
				count[sn.Address]++
				if best == "" || count[sn.Address] > count[best] {
					best = sn.Address
				}
			}
		}
	}
	return best
}

// sortedNodeNames orders cass2 before cass10.
func sortedNodeNames(set map[string]bool) []string {
	names := slices.Collect(maps.Keys(set))
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if len(a) != len(b) && strings.TrimRight(a, "0123456789") == strings.TrimRight(b, "0123456789") {
			return len(a) < len(b)
		}
		return a < b
	})
	return names
}

// swarm asks the first engine that answers as a manager for the cluster's
// services and their tasks; nil when no manager answered.
func (g *gather) swarm(ctx context.Context) *swarmView {
	labels := engine.Labels{engine.LabelCluster: g.cfg.Cluster, engine.LabelRole: engine.RoleCassandra}
	var tried []string
	for _, h := range g.hosts {
		if h.err != nil || !h.info.Swarm.Manager {
			continue
		}
		c, cancel := g.call(ctx)
		services, err := h.e.ServiceList(c, labels)
		cancel()
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", h.name, err))
			continue
		}
		sw := &swarmView{manager: h, services: services, tasks: map[string][]engine.Task{},
			taskErr: map[string]error{}, nodes: map[string]engine.Node{}}
		g.tasks(ctx, sw)
		if len(services) == 0 {
			sw.others = g.otherClusters(ctx, h)
		}
		return sw
	}
	if len(tried) > 0 {
		g.note("no swarm manager answered (%s); nodes are found from the engines' containers and the Consul record", strings.Join(tried, "; "))
	} else {
		g.note("no engine that answered is a swarm manager; nodes are found from the engines' containers and the Consul record")
	}
	return nil
}

// tasks lists each service's tasks and the swarm's nodes, at once.
func (g *gather) tasks(ctx context.Context, sw *swarmView) {
	var mu sync.Mutex
	eg := errgroup.Group{}
	eg.SetLimit(g.cfg.Parallel)
	for _, s := range sw.services {
		eg.Go(func() error {
			c, cancel := g.call(ctx)
			defer cancel()
			ts, err := sw.manager.e.TaskList(c, s.Name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sw.taskErr[s.Name] = err
			} else {
				sw.tasks[s.Name] = ts
			}
			return nil
		})
	}
	eg.Go(func() error {
		c, cancel := g.call(ctx)
		defer cancel()
		ns, err := sw.manager.e.NodeList(c)
		if err != nil {
			g.note("list the swarm's nodes on %s: %v", sw.manager.name, err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		for _, n := range ns {
			sw.nodes[n.ID] = n
		}
		return nil
	})
	_ = eg.Wait()
}

// otherClusters lists the clusters whose Cassandra services the manager runs.
func (g *gather) otherClusters(ctx context.Context, h *host) []string {
	c, cancel := g.call(ctx)
	defer cancel()
	all, err := h.e.ServiceList(c, engine.Labels{engine.LabelRole: engine.RoleCassandra})
	if err != nil {
		return nil
	}
	set := map[string]bool{}
	for _, s := range all {
		if name := s.Labels[engine.LabelCluster]; name != "" {
			set[name] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// located is a node's container on an engine.
type located struct {
	host *host
	c    engine.Container
}

// containers lists the cluster's Cassandra containers on every engine that
// answers, by node name.
func (g *gather) containers(ctx context.Context) map[string][]located {
	labels := engine.Labels{engine.LabelCluster: g.cfg.Cluster, engine.LabelRole: engine.RoleCassandra}
	out := map[string][]located{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range g.hosts {
		if h.err != nil {
			continue
		}
		wg.Go(func() {
			c, cancel := g.call(ctx)
			defer cancel()
			cs, err := h.e.ContainerList(c, labels)
			if err != nil {
				g.note("list containers on %s: %v", h.name, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ct := range cs {
				name := ct.Labels[engine.LabelNode]
				out[name] = append(out[name], located{h, ct})
			}
		})
	}
	wg.Wait()
	return out
}

// record reads the cluster's record from Consul KV.
func (g *gather) record(ctx context.Context) record {
	rec := record{Record: consulstore.Record{Nodes: map[string]consulstore.Node{}}}
	if g.cfg.Consul == nil {
		return rec
	}
	c, cancel := g.call(ctx)
	defer cancel()
	r, err := consulstore.ReadRecord(c, g.cfg.Consul, g.cfg.Cluster)
	if err != nil {
		g.note("Consul does not answer, so the record's host IDs and the Consul checks are not judged: %v", err)
		return rec
	}
	for _, bad := range r.Bad {
		g.note("%v", bad)
	}
	return record{known: true, Record: r}
}

func contactPoints(rec record) ContactPoints {
	cp := ContactPoints{Clients: cmp.Or(rec.Network.Clients, "overlay"), Overlay: []string{}, Outside: []string{}}
	names := map[string]bool{}
	for name := range rec.Nodes {
		names[name] = true
	}
	var nodes []consulstore.Node
	for _, name := range sortedNodeNames(names) {
		nodes = append(nodes, rec.Nodes[name])
	}
	overlay, outside := consulstore.ContactPoints(cp.Clients, nodes)
	cp.Overlay, cp.Outside = append(cp.Overlay, overlay...), append(cp.Outside, outside...)
	return cp
}

// place decides where node name's view is asked: the container of its
// newest running task, else a running container an engine holds, else
// nowhere, with the reason.
func (g *gather) place(name string, sw *swarmView, cs []located, rec record, network string) *node {
	n := &node{name: name}
	r, inRecord := rec.Nodes[name]
	if inRecord {
		n.hostID, n.swarmHost = r.HostID, r.Host
		defer func() { n.addAddress(r.Address) }()
	}
	setAddr := func(addrs map[string]string) { n.addAddress(pickAddress(addrs, network)) }
	// hostOf names the engine of a swarm node.
	hostOf := func(nodeID string) (*host, string) {
		if h, ok := g.byID[nodeID]; ok {
			return h, h.name
		}
		if inRecord && r.SwarmNode == nodeID && r.Host != "" {
			return g.hostNamed(r.Host), r.Host
		}
		if sw != nil {
			if sn, ok := sw.nodes[nodeID]; ok {
				return g.hostNamed(sn.Hostname), sn.Hostname
			}
		}
		return nil, nodeID
	}

	var svc *engine.Service
	if sw != nil {
		for i := range sw.services {
			if sw.services[i].Labels[engine.LabelNode] == name {
				svc = &sw.services[i]
			}
		}
	}
	switch {
	case svc != nil && sw.taskErr[svc.Name] == nil:
		tasks := sw.tasks[svc.Name]
		if len(tasks) == 0 {
			n.unavailable(ring.ContainerGone, fmt.Errorf("service %s has no task", svc.Name))
			return n
		}
		t := tasks[0]
		nodeID := t.NodeID
		if nodeID == "" {
			nodeID = pinnedNode(svc.Spec.Constraints)
		}
		for _, old := range tasks {
			if nodeID == "" {
				nodeID = old.NodeID
			}
			setAddr(old.Addresses)
		}
		h, hostName := hostOf(nodeID)
		if hostName != "" {
			n.swarmHost = hostName
		}
		switch {
		case h != nil && h.err != nil:
			n.unavailable(ring.EngineUnreachable, h.err)
		case !nodewait.Runs(t):
			n.unavailable(ring.ContainerGone, fmt.Errorf("its newest task is %s%s", t.State, nodewait.Why(t)))
		case h == nil:
			n.unavailable(ring.EngineUnreachable, fmt.Errorf("its task runs on swarm node %s, which is none of the given engines; name its engine with --swarm, --context or --host", hostName))
		default:
			n.host, n.container = h, t.ContainerID
		}
		return n
	case svc == nil && sw != nil && g.res.Found && len(cs) == 0:
		// The manager answered and has no service for the node.
		n.unavailable(ring.ContainerGone, fmt.Errorf("the swarm has no service for %s", name))
		return n
	}
	// No answer from the manager for this node: look at the containers.
	if svc != nil {
		g.note("list tasks of %s: %v", svc.Name, sw.taskErr[svc.Name])
	}
	slices.SortFunc(cs, func(a, b located) int { return b.c.StartedAt.Compare(a.c.StartedAt) })
	for _, l := range cs {
		setAddr(l.c.Networks)
	}
	for _, l := range cs {
		if l.c.Running {
			n.host, n.container, n.swarmHost = l.host, l.c.ID, l.host.name
			return n
		}
	}
	if len(cs) > 0 {
		l := cs[0]
		n.swarmHost = l.host.name
		n.unavailable(ring.ContainerGone, fmt.Errorf("its container %s on %s is %s", l.c.Name, l.host.name, l.c.State))
		return n
	}
	if h := g.hostNamed(n.swarmHost); h != nil && h.err != nil {
		n.unavailable(ring.EngineUnreachable, h.err)
		return n
	}
	if n.swarmHost != "" && g.hostNamed(n.swarmHost) != nil {
		n.unavailable(ring.ContainerGone, fmt.Errorf("no container of %s on %s", name, n.swarmHost))
		return n
	}
	n.unavailable(ring.EngineUnreachable, errors.New("no swarm manager answered and no engine that answered holds its container"))
	return n
}

func (n *node) addAddress(a string) {
	if a != "" && !slices.Contains(n.addresses, a) {
		n.addresses = append(n.addresses, a)
	}
}

func (n *node) unavailable(why ring.Unavailable, err error) { n.why, n.whyErr = why, err }

func (g *gather) hostNamed(name string) *host {
	for _, h := range g.hosts {
		if h.name == name {
			return h
		}
	}
	return nil
}

// pickAddress is the address on network, or the only one besides ingress.
func pickAddress(addrs map[string]string, network string) string {
	if network != "" {
		return addrs[network]
	}
	var found []string
	for name, a := range addrs {
		if name != "ingress" && a != "" {
			found = append(found, a)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// pinnedNode is X of a node.id==X constraint.
func pinnedNode(constraints []string) string {
	for _, c := range constraints {
		if k, v, ok := strings.Cut(strings.ReplaceAll(c, " ", ""), "=="); ok && k == "node.id" {
			return v
		}
	}
	return ""
}
