package provision

import (
	"context"
	"fmt"
	"net"

	"github.com/swarmcass/swarmcass/engine"
)

// ensureSwarm makes the first swarm host a manager (swarm init with its
// address) and joins the others as workers, skipping engines already in
// this swarm (preflight refused engines of another). It then maps each
// swarm node ID to its host.
func ensureSwarm(ctx context.Context, r *run) error {
	m := r.manager
	if m.info.Swarm.State != "active" {
		// The label tells down --purge that swarmcass made this swarm.
		if err := m.Engine.SwarmInit(ctx, advertise(m.Addr), engine.Labels{engine.LabelRole: engine.RoleSwarm}); err != nil {
			return fmt.Errorf("swarm init on %s: %w", m.name(), err)
		}
		r.created("swarm on %s", m.name())
		if err := r.refresh(ctx, m); err != nil {
			return err
		}
	}
	sw, err := m.Engine.SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("read the swarm's join token on %s: %w", m.name(), err)
	}
	managerAddr := m.info.Swarm.NodeAddr
	if managerAddr == "" {
		managerAddr = m.Addr
	}
	remote := net.JoinHostPort(managerAddr, "2377")
	for _, h := range r.swarm[1:] {
		if h.info.Swarm.State == "active" {
			continue
		}
		r.p.Debugf("%s: swarm join %s", h.name(), remote)
		if err := h.Engine.SwarmJoin(ctx, advertise(h.Addr), remote, sw.WorkerToken); err != nil {
			return fmt.Errorf("swarm join of %s to %s: %w", h.name(), remote, err)
		}
		r.created("swarm membership of %s", h.name())
		if err := r.refresh(ctx, h); err != nil {
			return err
		}
	}
	r.byNode = map[string]*host{}
	for _, h := range r.swarm {
		r.byNode[h.info.Swarm.NodeID] = h
	}
	return nil
}

// refresh reads a host's Info again after its swarm membership changed.
func (r *run) refresh(ctx context.Context, h *host) error {
	i, err := h.Engine.Info(ctx)
	if err != nil {
		return fmt.Errorf("info of %s: %w", h.name(), err)
	}
	h.info = i
	return nil
}

// advertise is the swarm advertise address for a host's address: none for
// loopback, which Docker refuses; the engine then picks its own.
func advertise(addr string) string {
	if isLoopback(addr) {
		return ""
	}
	return addr
}
