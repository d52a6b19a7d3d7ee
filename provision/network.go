package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// ensureNetwork makes sure the attachable overlay network exists, reusing
// one of that name when it is an overlay, and notes its subnet: nodes get
// it as CASSANDRA_LISTEN_SUBNET so that they listen on the overlay.
func ensureNetwork(ctx context.Context, r *run) error {
	m := r.manager
	name := r.cfg.Network
	n, err := m.Engine.NetworkInspect(ctx, name)
	if errors.Is(err, engine.ErrNotFound) {
		_, err = m.Engine.NetworkCreate(ctx, engine.NetworkSpec{
			Name: name, Driver: "overlay", Attachable: true, Encrypted: r.cfg.Encrypted,
			Labels: r.labels(engine.RoleNetwork, ""),
		})
		if err != nil && !errors.Is(err, engine.ErrConflict) {
			return fmt.Errorf("create overlay network %s on %s: %w", name, m.name(), err)
		}
		if err == nil {
			r.created("network %s", name)
		}
		n, err = m.Engine.NetworkInspect(ctx, name)
	}
	// Just after its creation a swarm network may be reported without its
	// driver and subnet, until the manager has allocated it: ask again.
	if err == nil && n.Scope == "swarm" && (n.Driver == "" || len(n.Subnets) == 0) {
		err = op.Poll(ctx, r.cfg.PollInterval, 10*time.Second, "network "+name+" to be allocated", func() (bool, error) {
			var ierr error
			n, ierr = m.Engine.NetworkInspect(ctx, name)
			return ierr == nil && n.Driver != "" && len(n.Subnets) > 0, ierr
		})
	}
	if err != nil {
		return fmt.Errorf("inspect network %s on %s: %w", name, m.name(), err)
	}
	if n.Driver != "overlay" {
		return op.Hinted("pass another --network name, or remove that network",
			"network %s has driver %s, not overlay", name, n.Driver)
	}
	if r.cfg.Encrypted && !n.Encrypted {
		r.p.Infof("network %s exists without encryption; --encrypted applies only when it is created", name)
	}
	if len(n.Subnets) == 0 || n.Subnets[0] == "" {
		return fmt.Errorf("network %s reports no subnet", name)
	}
	r.res.Subnet = n.Subnets[0]
	return nil
}
