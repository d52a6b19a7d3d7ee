package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/infracreds"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// infraContainer is the Consul server or the registry.
type infraContainer struct {
	role   string
	port   int
	volume string
	spec   engine.ContainerSpec
	// prepare runs before the container starts (it exists, stopped or
	// just created): what it needs in its volume first.
	prepare func(ctx context.Context, r *run) error
}

// infraContainers describes the two containers on the infra engine. They
// serve every cluster on these hosts, so they carry a role but no cluster
// (see the rule for removing them above ensureInfra).
//
// Consul runs on the infra host's own network (engine.HostNetwork), not
// behind a bridge. Every address swarmcass hands out (a node's CQL contact
// point in the record, in its Consul registration and so in Consul's DNS
// answers, and in the summary) is made of cluster.Host.Addr, the address
// the cluster's hosts and swarmcass itself reach that host at; Consul
// checks those very addresses, so it must check from one of those places.
// From the infra host's network that holds in every topology: with one
// engine alone (the local socket, Addr 127.0.0.1) the infra host is the
// host whose loopback the nodes' host-mode ports listen on; with several
// (--host, contexts, a machine store, the lab) Addr is a network address
// every host reaches. Behind a bridge, 127.0.0.1 was Consul's container.
//
// What else was weighed: the cluster's attachable overlay can be joined
// only from swarm members, and infra often is not one (the lab's is not)
// while serving several clusters, each perhaps its own swarm, and an engine
// belongs to one swarm at most; overlay addresses are also not what clients
// outside the swarm can reach. Checks run on the swarm hosts would need a
// Consul agent on each. Consul's Docker image documents --net=host as the
// way to run it, for its gossip's sake.
//
// On the host's network Consul takes the host's ports: it binds server RPC
// and gossip (8300-8302) to loopback, enough for a single server, and so
// never has to choose among a Docker host's several private addresses,
// which it refuses to do; HTTP (8500) and DNS (8600) answer on every
// address (-client 0.0.0.0). Clients on the overlay that want overlay
// addresses find them in each registration's "overlay_address" meta.
func (r *run) infraContainers() []infraContainer {
	labels := func(role string) engine.Labels { return engine.Labels{engine.LabelRole: role} }
	return []infraContainer{
		{role: engine.RoleConsul, port: consulstore.Port, volume: ConsulContainer + "-data", spec: engine.ContainerSpec{
			Name:  ConsulContainer,
			Image: r.cfg.ConsulImage,
			// The official image's entrypoint and the offline image's
			// (consul itself) both take these arguments. raft_multiplier 1
			// is HashiCorp's production setting (the default 5 suits slow
			// dev machines): the leader is elected in about 1 s, not 9.
			// ACLs on, default deny (infrasecure.go).
			Cmd: []string{"agent", "-server", "-bootstrap-expect", "1", "-data-dir", infracreds.ConsulDataDir,
				"-bind", "127.0.0.1", "-client", "0.0.0.0",
				"-ui=false", "-node", "swarmcass", "-hcl", "performance { raft_multiplier = 1 }",
				"-hcl", consulstore.ACLConfig},
			Labels:  labels(engine.RoleConsul),
			Network: engine.HostNetwork,
			Ports:   []engine.PortBinding{{HostPort: consulstore.Port, ContainerPort: consulstore.Port}},
			Mounts:  []engine.Mount{{Type: "volume", Source: ConsulContainer + "-data", Target: infracreds.ConsulDataDir}},
			Restart: "unless-stopped",
		}},
		{role: engine.RoleRegistry, port: registry.Port, volume: RegistryContainer + "-data", prepare: prepareRegistry, spec: engine.ContainerSpec{
			Name:     RegistryContainer,
			Image:    r.cfg.RegistryImage,
			Labels:   labels(engine.RoleRegistry),
			Hostname: RegistryContainer,
			// Every request needs swarmcass's credentials (infrasecure.go).
			Env:     registryAuthEnv,
			Ports:   []engine.PortBinding{{HostPort: registry.Port, ContainerPort: registry.Port}},
			Mounts:  []engine.Mount{{Type: "volume", Source: RegistryContainer + "-data", Target: infracreds.RegistryDataDir}},
			Restart: "unless-stopped",
		}},
	}
}

// ensureInfra makes sure Consul and the registry run on the infra engine,
// then waits until Consul has a leader and the registry answers /v2/.
//
// Removing them: they carry no cluster label, and every cluster on this
// infra host keeps its record in that Consul and its image in that
// registry. Whatever removes a cluster (nothing does yet) removes only what
// carries its swarmcass.cluster label, its services' registrations and its
// keys under swarmcass/<cluster>/, and never these containers or their
// volumes; they may go only when Consul holds no cluster's record any more
// (no key under swarmcass/). `lab down` removes whole lab machines, and
// with them every cluster on them, which is a different thing.
func ensureInfra(ctx context.Context, r *run) error {
	for _, c := range r.infraContainers() {
		if err := r.ensureVolume(ctx, r.infra, c.volume, engine.Labels{engine.LabelRole: c.role}); err != nil {
			return err
		}
		var prepare func(ctx context.Context) error
		if c.prepare != nil {
			prepare = func(ctx context.Context) error { return c.prepare(ctx, r) }
		}
		if err := r.ensureContainer(ctx, r.infra, c.spec, prepare); err != nil {
			return err
		}
	}
	consulAddr := consulstore.Addr(r.infra.Addr)
	admin, err := r.cfg.Remote.ConsulAdmin(consulAddr)
	if err != nil {
		return err
	}
	leaderOnly, err := r.cfg.Remote.Consul(consulAddr, nil)
	if err != nil {
		return err
	}
	err = op.Poll(ctx, r.cfg.PollInterval, r.cfg.InfraTimeout, "Consul at "+consulAddr+" to elect a leader", func() (bool, error) {
		leader, err := leaderOnly.Leader(ctx)
		r.p.Debugf("consul %s: leader %q, %v", consulAddr, leader, err)
		return err == nil && leader != "", nil
	})
	if err != nil {
		return r.infraFailed(ctx, ConsulContainer, err)
	}
	token, err := ensureConsulACL(ctx, r, admin)
	if err != nil {
		return err
	}
	if r.consul, err = r.cfg.Remote.Consul(consulAddr, consulstore.Token(token)); err != nil {
		return err
	}
	err = op.Poll(ctx, r.cfg.PollInterval, r.cfg.InfraTimeout, "the registry at "+r.res.Registry+" to answer /v2/", func() (bool, error) {
		err := r.cfg.Remote.PingRegistry(ctx, r.res.Registry, nil)
		r.p.Debugf("registry %s: %v", r.res.Registry, err)
		return err == nil, nil
	})
	if err != nil {
		return r.infraFailed(ctx, RegistryContainer, err)
	}
	return checkRegistryUser(ctx, r)
}

// infraFailed adds the container's last log lines to a wait that failed.
func (r *run) infraFailed(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	logs, lerr := r.infra.Engine.ContainerLogs(ctx, name, 20)
	if lerr != nil {
		logs = "(no logs: " + lerr.Error() + ")"
	}
	return op.WithHint(fmt.Errorf("%w\nlast log lines of %s:\n%s", err, name, op.Indent(logs)),
		fmt.Sprintf("check that %s is reachable from here and see `docker logs %s` on %s", r.infra.Addr, name, r.infra.name()))
}

// ensureContainer creates and starts a container unless it exists, and
// starts it if it exists but is stopped; prepare, when not nil, runs
// before it starts.
func (r *run) ensureContainer(ctx context.Context, h *host, spec engine.ContainerSpec, prepare func(context.Context) error) error {
	c, err := h.Engine.ContainerInspect(ctx, spec.Name)
	if errors.Is(err, engine.ErrNotFound) {
		pulled, perr := r.ensureImagePulled(ctx, h, spec.Image)
		if perr != nil {
			return perr
		}
		if pulled { // down --purge removes the image with the container
			spec.Labels = maps.Clone(spec.Labels)
			spec.Labels[engine.LabelPulled] = spec.Image
		}
		id, cerr := h.Engine.ContainerCreate(ctx, spec)
		switch {
		case errors.Is(cerr, engine.ErrConflict): // another bootstrap made it just now
			c, err = h.Engine.ContainerInspect(ctx, spec.Name)
		case cerr != nil:
			return fmt.Errorf("create container %s on %s: %w", spec.Name, h.name(), cerr)
		default:
			r.created("container %s on %s", spec.Name, h.name())
			c, err = engine.Container{ID: id, Name: spec.Name}, nil
		}
	}
	if err != nil {
		return fmt.Errorf("inspect container %s on %s: %w", spec.Name, h.name(), err)
	}
	if c.Running {
		return nil
	}
	if prepare != nil {
		if err := prepare(ctx); err != nil {
			return err
		}
	}
	if err := h.Engine.ContainerStart(ctx, c.ID); err != nil {
		return op.WithHint(fmt.Errorf("start container %s on %s: %w", spec.Name, h.name(), err),
			"if a port is taken, free it; `docker logs "+spec.Name+"` tells why it stopped")
	}
	r.p.Debugf("%s: started container %s", h.name(), spec.Name)
	return nil
}

// ensureImagePulled pulls ref on h unless h has it; pulled says it did.
func (r *run) ensureImagePulled(ctx context.Context, h *host, ref string) (pulled bool, err error) {
	if _, err := h.Engine.ImageInspect(ctx, ref); err == nil {
		return false, nil
	}
	r.p.Infof("pulling %s on %s", ref, h.name())
	if err := h.Engine.ImagePull(ctx, ref, nil, debugWriter{r.p}); err != nil {
		return false, op.WithHint(err, fmt.Sprintf("%s cannot pull it: load it there (docker save | docker load, or swarmcass lab load --machine %s %s), or choose another image with --consul-image/--registry-image",
			h.name(), h.name(), ref))
	}
	return true, nil
}
