package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// infraContainer is the Consul server or the registry.
type infraContainer struct {
	role   string
	port   int
	volume string
	spec   engine.ContainerSpec
}

// infraContainers describes the two containers on the infra engine. They
// serve every cluster on these hosts, so they carry a role but no cluster.
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
			Cmd: []string{"agent", "-server", "-bootstrap-expect", "1", "-data-dir", "/consul/data", "-client", "0.0.0.0",
				"-ui=false", "-node", "swarmcass", "-hcl", "performance { raft_multiplier = 1 }"},
			Labels:   labels(engine.RoleConsul),
			Hostname: ConsulContainer,
			Ports:    []engine.PortBinding{{HostPort: consulstore.Port, ContainerPort: consulstore.Port}},
			Mounts:   []engine.Mount{{Type: "volume", Source: ConsulContainer + "-data", Target: "/consul/data"}},
			Restart:  "unless-stopped",
		}},
		{role: engine.RoleRegistry, port: registry.Port, volume: RegistryContainer + "-data", spec: engine.ContainerSpec{
			Name:     RegistryContainer,
			Image:    r.cfg.RegistryImage,
			Labels:   labels(engine.RoleRegistry),
			Hostname: RegistryContainer,
			Ports:    []engine.PortBinding{{HostPort: registry.Port, ContainerPort: registry.Port}},
			Mounts:   []engine.Mount{{Type: "volume", Source: RegistryContainer + "-data", Target: "/var/lib/registry"}},
			Restart:  "unless-stopped",
		}},
	}
}

// ensureInfra makes sure Consul and the registry run on the infra engine,
// then waits until Consul has a leader and the registry answers /v2/.
func ensureInfra(ctx context.Context, r *run) error {
	for _, c := range r.infraContainers() {
		if err := r.ensureVolume(ctx, r.infra, c.volume, engine.Labels{engine.LabelRole: c.role}); err != nil {
			return err
		}
		if err := r.ensureContainer(ctx, r.infra, c.spec); err != nil {
			return err
		}
	}
	consulAddr := consulstore.Addr(r.infra.Addr)
	consul, err := r.cfg.Remote.Consul(consulAddr)
	if err != nil {
		return err
	}
	err = op.Poll(ctx, r.cfg.PollInterval, r.cfg.InfraTimeout, "Consul at "+consulAddr+" to elect a leader", func() (bool, error) {
		leader, err := consul.Leader(ctx)
		r.p.Debugf("consul %s: leader %q, %v", consulAddr, leader, err)
		return err == nil && leader != "", nil
	})
	if err != nil {
		return r.infraFailed(ctx, ConsulContainer, err)
	}
	r.consul = consul
	err = op.Poll(ctx, r.cfg.PollInterval, r.cfg.InfraTimeout, "the registry at "+r.res.Registry+" to answer /v2/", func() (bool, error) {
		err := r.cfg.Remote.PingRegistry(ctx, r.res.Registry)
		r.p.Debugf("registry %s: %v", r.res.Registry, err)
		return err == nil, nil
	})
	if err != nil {
		return r.infraFailed(ctx, RegistryContainer, err)
	}
	return nil
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
// starts it if it exists but is stopped.
func (r *run) ensureContainer(ctx context.Context, h *host, spec engine.ContainerSpec) error {
	c, err := h.Engine.ContainerInspect(ctx, spec.Name)
	if errors.Is(err, engine.ErrNotFound) {
		if err := r.ensureImagePulled(ctx, h, spec.Image); err != nil {
			return err
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
	if err := h.Engine.ContainerStart(ctx, c.ID); err != nil {
		return op.WithHint(fmt.Errorf("start container %s on %s: %w", spec.Name, h.name(), err),
			"if a port is taken, free it; `docker logs "+spec.Name+"` tells why it stopped")
	}
	r.p.Debugf("%s: started container %s", h.name(), spec.Name)
	return nil
}

// ensureImagePulled pulls ref on h unless h has it.
func (r *run) ensureImagePulled(ctx context.Context, h *host, ref string) error {
	if _, err := h.Engine.ImageInspect(ctx, ref); err == nil {
		return nil
	}
	r.p.Infof("pulling %s on %s", ref, h.name())
	if err := h.Engine.ImagePull(ctx, ref, debugWriter{r.p}); err != nil {
		return op.WithHint(err, fmt.Sprintf("%s cannot pull it: load it there (docker save | docker load, or swarmcass lab load --machine %s %s), or choose another image with --consul-image/--registry-image",
			h.name(), h.name(), ref))
	}
	return nil
}
