package provision

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// record writes the cluster's shared record to Consul KV under
// swarmcass/<cluster>/ (seeds, image, network; nodes are written, and
// registered as Consul services, as each becomes ready) and waits for the
// Consul checks of the services this run registered.
func record(ctx context.Context, r *run) error {
	network, err := json.Marshal(map[string]any{"name": r.cfg.Network, "subnet": r.res.Subnet, "encrypted": r.cfg.Encrypted})
	if err != nil {
		return err
	}
	kv := map[string][]byte{
		r.kvKey("seeds"):   []byte(strings.Join(r.res.Seeds, ",")),
		r.kvKey("image"):   []byte(r.res.Image),
		r.kvKey("network"): network,
	}
	for key, value := range kv {
		old, ok, err := r.consul.Get(ctx, key)
		if err != nil {
			return err
		}
		if ok && string(old) == string(value) {
			continue
		}
		if err := r.consul.Put(ctx, key, value); err != nil {
			return err
		}
	}
	return r.waitChecks(ctx, r.registered)
}

// registerNode registers node n as the Consul service "cassandra", tagged
// with the cluster and node names, with a TCP check on its published CQL
// port (<cluster>.cassandra.service.consul then offers healthy contact
// points), unless the agent has it already as it is: re-registering
// would reset its check to critical. Nodes are registered as soon as they are
// UN, so Consul probes them while the next nodes start.
func (r *run) registerNode(ctx context.Context, n NodeResult) error {
	s := Service{
		ID:      "swarmcass-" + r.cfg.Cluster + "-" + n.Name,
		Name:    "cassandra",
		Tags:    []string{r.cfg.Cluster, n.Name},
		Address: n.Address,
		Port:    9042,
		Meta:    map[string]string{"cluster": r.cfg.Cluster, "node": n.Name, "host": n.Host, "host_id": n.HostID, "overlay_address": n.Address},
	}
	if host, port, err := net.SplitHostPort(n.CQL); err == nil {
		s.Address = host
		s.Port, _ = strconv.Atoi(port)
		s.Check = n.CQL
	}
	if old, ok, err := r.consul.Registered(ctx, s.ID); err != nil {
		return err
	} else if ok && sameService(old, s) {
		return nil
	}
	if err := r.consul.Register(ctx, s); err != nil {
		return err
	}
	r.p.Debugf("registered %s in Consul", s.ID)
	r.registered = append(r.registered, s)
	return nil
}

func sameService(a, b Service) bool {
	return a.Name == b.Name && a.Address == b.Address && a.Port == b.Port && a.Check == b.Check &&
		slices.Equal(a.Tags, b.Tags) && maps.Equal(a.Meta, b.Meta)
}

// waitChecks waits until Consul's checks of the services just registered
// pass, so that Consul offers them as contact points when bootstrap ends.
// A check that does not pass means infra cannot reach the node's CQL port.
func (r *run) waitChecks(ctx context.Context, services []Service) error {
	for _, s := range services {
		if s.Check == "" {
			continue
		}
		var status, output string
		err := r.poll(ctx, r.cfg.InfraTimeout, "Consul's check of "+s.ID, func() (bool, error) {
			var err error
			status, output, err = r.consul.CheckStatus(ctx, s.ID)
			return err == nil && status == "passing", nil
		})
		if err != nil {
			return withHint(fmt.Errorf("consul check of %s (CQL on %s) is %s: %s: %w", s.ID, s.Check, cmp.Or(status, "unknown"), output, err),
				"Consul on the infra host must reach each node's published CQL port; check firewalls between the hosts")
		}
	}
	return nil
}
