package provision

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/op"
)

// record writes the cluster's shared record to Consul KV under
// swarmcass/<cluster>/ (seeds, image, network; nodes are written, and
// registered as Consul services, as each becomes ready) and waits for the
// Consul checks of the services this run registered.
// Nodes left running another image or settings than this run's keep the
// record's image: it is what they run, until upgrade rolls the change out.
func record(ctx context.Context, r *run) error {
	network := consulstore.Network{Name: r.cfg.Network, Subnet: r.res.Subnet, Encrypted: r.cfg.Encrypted, Clients: r.cfg.Clients}
	image := r.res.Image
	if len(r.differing) > 0 {
		r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("%s run another image or settings than this bootstrap asked for and were left as they are; "+
			"to roll the change out one node at a time: swarmcass upgrade --cluster %s with the same image and settings flags", strings.Join(r.differing, ", "), r.cfg.Cluster))
		image = cmp.Or(r.rec.Image, image)
	}
	if err := consulstore.WriteCluster(ctx, r.consul, r.cfg.Cluster, r.res.Seeds, image, network); err != nil {
		return err
	}
	return r.waitChecks(ctx, r.registered)
}

// registerNode registers node n (consulstore.NodeService), unless the agent
// has it already as it is: re-registering would reset its check to
// critical. Nodes are registered as soon as they are UN, so Consul probes
// them while the next nodes start. After this run bootstrapped Consul's
// ACLs, every node is registered again: the agent syncs a registration to
// its catalog with the token it was made with, and one made before had
// none.
func (r *run) registerNode(ctx context.Context, n NodeResult) error {
	s := consulstore.NodeService(r.cfg.Cluster, n.Node)
	if old, ok, err := r.consul.Registered(ctx, s.ID); err != nil {
		return err
	} else if ok && consulstore.Same(old, s) && !r.aclFresh {
		return nil
	}
	if err := r.consul.Register(ctx, s); err != nil {
		return err
	}
	r.p.Debugf("registered %s in Consul", s.ID)
	r.registered = append(r.registered, s)
	return nil
}

// waitChecks waits until Consul's checks of the services just registered
// pass, so that Consul offers them as contact points when bootstrap ends:
// all of them in each look, so that it takes as long as the slowest. A
// check that does not pass means infra cannot reach the node's CQL port.
func (r *run) waitChecks(ctx context.Context, services []consulstore.Service) error {
	type state struct{ status, output string }
	last := map[string]state{}
	var waiting []consulstore.Service
	for _, s := range services {
		if s.Check != "" {
			waiting = append(waiting, s)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	err := op.Poll(ctx, r.cfg.PollInterval/4, r.cfg.InfraTimeout, "Consul's checks of the nodes' CQL ports", func() (bool, error) {
		left := waiting[:0]
		for _, s := range waiting {
			status, output, err := r.consul.CheckStatus(ctx, s.ID)
			last[s.ID] = state{status, output}
			if err != nil || status != "passing" {
				left = append(left, s)
			}
		}
		waiting = left
		return len(waiting) == 0, nil
	})
	if err != nil {
		s := waiting[0]
		return op.WithHint(fmt.Errorf("consul check of %s (CQL on %s) is %s: %s: %w", s.ID, s.Check, cmp.Or(last[s.ID].status, "unknown"), last[s.ID].output, err),
			"Consul on the infra host must reach each node's published CQL port; check firewalls between the hosts")
	}
	return nil
}
