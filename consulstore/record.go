// Package consulstore is the cluster's shared record in Consul, written and
// read by the same code: the KV keys under swarmcass/<cluster>/ (the nodes,
// seeds, image and network), the cluster's lock naming the operation that
// holds it and its holder, and each node's registration as the Consul service
// "cassandra" with a check on its CQL port.
//
// Store is what swarmcass asks of Consul; Dial is the real one over the
// HTTP API, and consultest.Fake the one unit tests use.
package consulstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Port is the port Consul's HTTP API publishes on the infra host.
const Port = 8500

// Addr is Consul's host:port on the infra host reached at host.
func Addr(host string) string { return net.JoinHostPort(host, strconv.Itoa(Port)) }

// Prefix is where the cluster's record lives in KV: swarmcass/<cluster>/.
func Prefix(cluster string) string { return "swarmcass/" + cluster + "/" }

// Key is a key of the cluster's record: Key("c", "nodes", "cass1") is
// swarmcass/c/nodes/cass1.
func Key(cluster string, parts ...string) string {
	return Prefix(cluster) + strings.Join(parts, "/")
}

// Node is one node's record at swarmcass/<cluster>/nodes/<name>.
type Node struct {
	Name      string `json:"name"`
	SwarmNode string `json:"swarm_node"` // swarm node ID
	Host      string `json:"host"`       // engine name
	Address   string `json:"address"`    // on the overlay network
	HostID    string `json:"host_id"`    // Cassandra's host ID
	State     string `json:"state"`      // UN when ready; failed, or interrupted (Ctrl-C) while it started
	CQL       string `json:"cql,omitempty"`
	// ReadySeconds is how long the node took to become UN after its
	// service was created; 0 for nodes that were already up.
	ReadySeconds float64 `json:"seconds_to_ready"`
}

// Network is the record of the cluster's overlay network at
// swarmcass/<cluster>/network.
type Network struct {
	Name      string `json:"name"`
	Subnet    string `json:"subnet"`
	Encrypted bool   `json:"encrypted"`
	// Clients is what the nodes tell drivers (bootstrap --clients):
	// "overlay" (their overlay addresses; "" in older records) or "host"
	// (their host's address and published CQL port).
	Clients string `json:"clients,omitempty"`
}

// ContactPoints are the addresses drivers connect to, from the nodes'
// records: overlay for a client that is a service on the cluster's
// attachable network, outside for one outside the swarm (the hosts'
// published CQL ports). With clients "host" the nodes tell every driver
// their host ports, so both lists are those; otherwise a driver outside
// reaches only the contact point it was given (the nodes tell drivers
// their overlay addresses).
func ContactPoints(clients string, nodes []Node) (overlay, outside []string) {
	for _, n := range nodes {
		if n.Address != "" {
			overlay = append(overlay, net.JoinHostPort(n.Address, "9042"))
		}
		if n.CQL != "" {
			outside = append(outside, n.CQL)
		}
	}
	if clients == "host" {
		overlay = outside
	}
	return overlay, outside
}

// Record is what Consul holds about a cluster.
type Record struct {
	Nodes   map[string]Node
	Network Network
	Seeds   []string
	Image   string
	// Bad are the keys under the prefix that could not be read, with why.
	Bad []error
}

// ReadRecord reads the cluster's whole record in one request. A key that
// does not parse is listed in Bad and the rest is still read.
func ReadRecord(ctx context.Context, s Store, cluster string) (Record, error) {
	rec := Record{Nodes: map[string]Node{}}
	prefix := Prefix(cluster)
	kv, err := s.List(ctx, prefix)
	if err != nil {
		return rec, err
	}
	for key, value := range kv {
		rest := strings.TrimPrefix(key, prefix)
		switch {
		case rest == "network":
			if err := json.Unmarshal(value, &rec.Network); err != nil {
				rec.Bad = append(rec.Bad, fmt.Errorf("consul key %s is not a network record: %w", key, err))
			}
		case rest == "seeds":
			if len(value) > 0 {
				rec.Seeds = strings.Split(string(value), ",")
			}
		case rest == "image":
			rec.Image = string(value)
		case strings.HasPrefix(rest, "nodes/"):
			var n Node
			if err := json.Unmarshal(value, &n); err != nil {
				rec.Bad = append(rec.Bad, fmt.Errorf("consul key %s is not a node record: %w", key, err))
				continue
			}
			if n.Name == "" {
				n.Name = strings.TrimPrefix(rest, "nodes/")
			}
			rec.Nodes[n.Name] = n
		}
	}
	return rec, nil
}

// WriteCluster writes the cluster-wide part of the record (seeds, image,
// network), leaving keys that already hold the same value alone.
func WriteCluster(ctx context.Context, s Store, cluster string, seeds []string, image string, network Network) error {
	nb, err := json.Marshal(network)
	if err != nil {
		return err
	}
	for _, kv := range []struct {
		key   string
		value []byte
	}{
		{Key(cluster, "seeds"), []byte(strings.Join(seeds, ","))},
		{Key(cluster, "image"), []byte(image)},
		{Key(cluster, "network"), nb},
	} {
		if err := putIfChanged(ctx, s, kv.key, kv.value); err != nil {
			return err
		}
	}
	return nil
}

// WriteNode writes node n's record unless an identical one is there. A node
// that was already up (not created by this operation, and UN) keeps its
// recorded seconds to ready.
func WriteNode(ctx context.Context, s Store, cluster string, n Node, created bool) error {
	key := Key(cluster, "nodes", n.Name)
	old, ok, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	var prev Node
	if ok && json.Unmarshal(old, &prev) == nil && !created && n.State == "UN" {
		n.ReadySeconds = prev.ReadySeconds
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if ok && string(old) == string(b) {
		return nil
	}
	return s.Put(ctx, key, b)
}

func putIfChanged(ctx context.Context, s Store, key string, value []byte) error {
	old, ok, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	if ok && string(old) == string(value) {
		return nil
	}
	return s.Put(ctx, key, value)
}
