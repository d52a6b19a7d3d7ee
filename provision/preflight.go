package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// infraReserve is the memory Consul and the registry need on the infra host.
const infraReserve = 256 << 20

// preflight checks everything it can before anything is created, and
// reports every problem it finds at once, each with a hint. Input that is
// wrong whatever the engines say is refused before any engine is asked.
func preflight(ctx context.Context, r *run) error {
	cfg := r.cfg
	problems := cfg.validate()
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	if err := r.connect(ctx); err != nil {
		return errors.Join(append(problems, err)...)
	}
	r.res.Registry = registry.Addr(r.infra.Addr)
	r.pull = r.pullAddr()
	for _, h := range r.allHosts() {
		if !apiAtLeast(h.info.APIVersion, engine.MinAPIVersion) {
			problems = append(problems, op.Hinted("upgrade Docker Engine on "+h.name()+" to 19.03 or newer",
				"engine %s speaks API %s; swarmcass needs %s or newer", h.name(), h.info.APIVersion, engine.MinAPIVersion))
		}
	}
	problems = append(problems, r.checkAddresses()...)
	problems = append(problems, r.checkMemory()...)
	problems = append(problems, r.checkSwarm(ctx)...)
	problems = append(problems, r.checkInfra(ctx)...)
	if cfg.Image != "" {
		if _, err := r.infra.Engine.ImageInspect(ctx, cfg.Image); err != nil {
			problems = append(problems, op.Hinted("load or pull it on "+r.infra.name()+" first (docker pull, or swarmcass lab load)",
				"--image %s is not on the infra engine %s: %v", cfg.Image, r.infra.name(), err))
		}
	}
	if cfg.BaseImage != "" {
		if _, err := r.infra.Engine.ImageInspect(ctx, cfg.BaseImage); err != nil {
			problems = append(problems, op.Hinted("build it with scripts/build-images.sh cassandra, then copy it to "+r.infra.name()+" (swarmcass lab load --machine infra "+cfg.BaseImage+", or docker save | docker load)",
				"--base-image %s is not on the infra engine %s: %v", cfg.BaseImage, r.infra.name(), err))
		}
	}
	return errors.Join(problems...)
}

// connect asks every engine for its Info, and sets infra, swarm (distinct
// engines by hosts.SameEngine, the one rule, manager first) and manager;
// two of them that answer as one daemon are refused. An engine that does not answer is
// named in unreached and in the error; infra and the manager are still set
// when they answered (a day-2 operation may go on without a lost machine).
func (r *run) connect(ctx context.Context) error {
	var problems []error
	r.unreached = map[string]error{}
	// Every engine asked at once (each its own TLS handshake and version
	// negotiation), the answers then taken in order.
	all := append([]cluster.Host{r.cfg.Infra}, r.cfg.Swarm...)
	infos := make([]engine.Info, len(all))
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, h := range all {
		wg.Go(func() { infos[i], errs[i] = h.Engine.Info(ctx) })
	}
	wg.Wait()
	asked := 0
	info := func(h cluster.Host) *host {
		i, err := infos[asked], errs[asked]
		asked++
		if err != nil {
			err = op.WithHint(fmt.Errorf("engine %s (%s) does not answer: %w", h.Engine.Name(), h.Engine.Host(), err),
				"check that its Docker daemon runs and that the address and certificates are right (docker --host ... info)")
			r.unreached[h.Engine.Name()] = err
			problems = append(problems, err)
			return nil
		}
		r.p.Debugf("%s: Info: ID %s, API %s, swarm %s", h.Engine.Name(), i.ID, i.APIVersion, i.Swarm.State)
		return &host{Host: h, info: i}
	}
	r.infra = info(r.cfg.Infra)
	for i, h := range r.cfg.Swarm {
		if slices.ContainsFunc(r.cfg.Swarm[:i], func(prev cluster.Host) bool { return hosts.SameEngine(prev.Engine.Host(), h.Engine.Host()) }) {
			continue // listed twice: hosts.Plan.Validate refuses that on the command line
		}
		var sh *host
		if r.infra != nil && hosts.SameEngine(h.Engine.Host(), r.infra.Engine.Host()) {
			sh = r.infra // one engine, one host value (hosts.SameEngine)
		} else if sh = info(h); sh == nil {
			continue
		}
		if i == 0 {
			r.manager = sh
		}
		r.swarm = append(r.swarm, sh)
	}
	problems = append(problems, r.sameDaemons()...)
	return errors.Join(problems...)
}

// sameDaemons refuses two engines (by hosts.SameEngine, different URLs)
// that answer as one daemon: every step would count it twice.
func (r *run) sameDaemons() []error {
	var problems []error
	all := r.allHosts()
	for i, h := range all {
		for _, prev := range all[:i] {
			if h != nil && prev != nil && engine.SameDaemon(prev.info, h.info) {
				problems = append(problems, op.Hinted("give each engine once, by one address (the same --host URL, machine or context for every role it plays)",
					"engines %s (%s) and %s (%s) are one Docker daemon (engine ID %s) reached by two addresses",
					prev.name(), prev.Engine.Host(), h.name(), h.Engine.Host(), h.info.ID))
			}
		}
	}
	return problems
}

// allHosts lists infra and the swarm hosts once each.
func (r *run) allHosts() []*host {
	out := []*host{r.infra}
	for _, h := range r.swarm {
		if h != r.infra {
			out = append(out, h)
		}
	}
	return out
}

// checkAddresses: loopback only on one engine, and the registry pullable
// from every swarm engine.
func (r *run) checkAddresses() []error {
	if len(r.allHosts()) == 1 {
		return nil // one engine pulls from its own registry through loopback
	}
	var problems []error
	loop := isLoopback(r.infra.Addr)
	for _, h := range r.swarm {
		if loop {
			if h != r.infra { // the infra engine itself pulls from its own loopback
				problems = append(problems, op.Hinted("give the infra host an address the other hosts reach (a docker-machine store or --host tcp://ADDR:2376)",
					"the infra host's address %s is loopback, but swarm host %s is another engine", r.infra.Addr, h.name()))
			}
			continue
		}
		if !h.info.PullsOverHTTP(r.pull) {
			problems = append(problems, op.Hinted(fmt.Sprintf("start dockerd on %s with --insecure-registry %s (docker-machine: --engine-insecure-registry %s)", h.name(), r.pull, r.pull),
				"engine %s will not pull from the registry %s over plain HTTP (its insecure registries: %s)", h.name(), r.pull, strings.Join(h.info.InsecureRegistries, ", ")))
		}
		if isLoopback(h.Addr) && len(r.swarm) > 1 {
			problems = append(problems, op.Hinted("give each swarm host an address the others reach",
				"swarm host %s has the loopback address %s, but the swarm has %d hosts", h.name(), h.Addr, len(r.swarm)))
		}
	}
	return problems
}

// checkMemory: the planned nodes fit each host's memory.
func (r *run) checkMemory() []error {
	var problems []error
	per := map[*host]int{}
	for k := 1; k <= r.cfg.Nodes; k++ {
		per[r.placement(k)]++
	}
	capacity := 0
	for _, h := range r.swarm {
		avail := h.info.MemTotal
		if h == r.infra {
			avail -= infraReserve
		}
		capacity += int(max(avail, 0) / r.cfg.Memory)
	}
	for _, h := range r.swarm {
		need := int64(per[h]) * r.cfg.Memory
		if h == r.infra {
			need += infraReserve
		}
		if need > h.info.MemTotal {
			problems = append(problems, op.Hinted(fmt.Sprintf("these hosts hold at most %d nodes of %s each: lower --nodes, --heap or --memory, or add swarm hosts", capacity, FormatBytes(r.cfg.Memory)),
				"%d nodes of %s on %s need %s, but it has %s", per[h], FormatBytes(r.cfg.Memory), h.name(), FormatBytes(need), FormatBytes(h.info.MemTotal)))
		}
	}
	return problems
}

// checkSwarm: no engine in a swarm other than the manager's; names this
// cluster will use are not taken by another cluster or driver.
func (r *run) checkSwarm(ctx context.Context) []error {
	var problems []error
	m := r.manager
	members := map[string]bool{}
	problems = append(problems, r.checkNetwork(ctx)...)
	switch m.info.Swarm.State {
	case "inactive":
	case "active":
		if !m.info.Swarm.Manager {
			return []error{op.Hinted("list a manager of that swarm first, or run `docker swarm leave` on "+m.name(),
				"the first swarm host %s is a worker of a swarm, not its manager", m.name())}
		}
		nodes, err := m.Engine.NodeList(ctx)
		if err != nil {
			return []error{fmt.Errorf("list the swarm's nodes on %s: %w", m.name(), err)}
		}
		for _, n := range nodes {
			members[n.ID] = true
		}
		problems = append(problems, r.checkNames(ctx)...)
	default:
		return []error{op.Hinted("repair it (docker swarm leave --force, or unlock it) and run again",
			"the swarm on %s is %s", m.name(), m.info.Swarm.State)}
	}
	for _, h := range r.swarm[1:] {
		s := h.info.Swarm
		switch {
		case s.State == "inactive":
		case s.State == "active" && members[s.NodeID]:
		case s.State == "active":
			problems = append(problems, op.Hinted("run `docker swarm leave` on "+h.name()+", or leave it out of --swarm",
				"engine %s belongs to a different swarm than %s's", h.name(), m.name()))
		default:
			problems = append(problems, op.Hinted("repair it (docker swarm leave --force) and run again",
				"engine %s is in swarm state %s", h.name(), s.State))
		}
	}
	return problems
}

// checkNetwork: the network name is free or an overlay.
func (r *run) checkNetwork(ctx context.Context) []error {
	var problems []error
	m := r.manager
	n, err := m.Engine.NetworkInspect(ctx, r.cfg.Network)
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		problems = append(problems, fmt.Errorf("inspect network %s: %w", r.cfg.Network, err))
	case n.Driver != "overlay":
		problems = append(problems, op.Hinted("pass another --network name, or remove that network",
			"network %s exists on %s with driver %s, not overlay", n.Name, m.name(), n.Driver))
	}
	return problems
}

// checkNames: the services cass1..casN are free or this cluster's.
func (r *run) checkNames(ctx context.Context) []error {
	var problems []error
	m := r.manager
	for k := 1; k <= r.cfg.Nodes; k++ {
		s, err := m.Engine.ServiceInspect(ctx, nodeName(k))
		if err == nil && s.Labels[engine.LabelCluster] != r.cfg.Cluster {
			owner := s.Labels[engine.LabelCluster]
			if owner == "" {
				owner = "none: swarmcass did not create it"
			}
			problems = append(problems, op.Hinted("remove it (docker service rm "+s.Name+") or use a swarm without it",
				"service %s exists and belongs to another cluster (%s)", s.Name, owner))
		}
	}
	return problems
}

// checkInfra: our containers or free ports, and the images to run them.
func (r *run) checkInfra(ctx context.Context) []error {
	var problems []error
	for _, c := range r.infraContainers() {
		got, err := r.infra.Engine.ContainerInspect(ctx, c.spec.Name)
		switch {
		case err == nil && got.Labels[engine.LabelRole] != c.role:
			problems = append(problems, op.Hinted("remove or rename it (docker rm -f "+c.spec.Name+")",
				"container %s on %s was not created by swarmcass", c.spec.Name, r.infra.name()))
		case err == nil && c.spec.Network == engine.HostNetwork && !onNetwork(got, engine.HostNetwork) && isLoopback(r.infra.Addr) && r.cfg.CQLPort > 0:
			// An earlier swarmcass ran Consul behind the bridge, where
			// 127.0.0.1 is Consul's own container: its checks could never pass.
			problems = append(problems, op.Hinted(fmt.Sprintf("remove it (docker rm -f %s; its data volume stays) and run again: it is recreated on the host's network", c.spec.Name),
				"container %s on %s is not on the host's network, so it cannot check the nodes at 127.0.0.1", c.spec.Name, r.infra.name()))
		case err == nil:
			// ours: ensureInfra starts it if needed
		case errors.Is(err, engine.ErrNotFound):
			addr := net.JoinHostPort(r.infra.Addr, strconv.Itoa(c.port))
			if r.cfg.Remote.Listening(ctx, addr) {
				problems = append(problems, op.Hinted(fmt.Sprintf("free port %d on %s (docker ps --filter publish=%d shows a container holding it)", c.port, r.infra.name(), c.port),
					"port %d on the infra host (%s) is held by something that is not swarmcass's %s", c.port, addr, c.role))
			}
			if _, err := r.infra.Engine.ImageInspect(ctx, c.spec.Image); err != nil {
				r.p.Infof("image %s for the %s is not on %s: it will be pulled", c.spec.Image, c.role, r.infra.name())
			}
		default:
			problems = append(problems, fmt.Errorf("inspect container %s on %s: %w", c.spec.Name, r.infra.name(), err))
		}
	}
	return problems
}

func onNetwork(c engine.Container, network string) bool {
	_, ok := c.Networks[network]
	return ok
}

func isLoopback(addr string) bool {
	ip := net.ParseIP(addr)
	return addr == "localhost" || (ip != nil && ip.IsLoopback())
}

// apiAtLeast compares API versions such as 1.41 and 1.40.
func apiAtLeast(have, want string) bool {
	hm, hn, ok1 := splitVersion(have)
	wm, wn, ok2 := splitVersion(want)
	if !ok1 || !ok2 {
		return false
	}
	return hm > wm || (hm == wm && hn >= wn)
}

func splitVersion(v string) (int, int, bool) {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	return x, y, err1 == nil && err2 == nil
}
