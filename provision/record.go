package provision

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
)

// record writes the cluster's shared record to Consul KV under
// swarmcass/<cluster>/ (seeds, image, network; nodes are written as each
// becomes ready) and registers every node as the Consul service
// "cassandra" tagged with the cluster and node names, with a TCP check
// on its published CQL port: <cluster>.cassandra.service.consul then
// offers healthy contact points.
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
	for _, n := range r.res.Nodes {
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
		if err := r.consul.Register(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
