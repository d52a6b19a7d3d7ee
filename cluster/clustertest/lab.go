// Package clustertest is the lab fixture of unit tests: fake machines
// shaped like swarmcass's lab (infra at 10.0.0.2 and swarm-0 .. swarm-N-1
// at 10.0.0.10 and up, in one enginetest.World, each swarm engine trusting
// the infra registry), a fake Consul and a fake ring; and, for tests of
// what runs on a cluster, its nodes as bootstrap leaves them: one service
// per node named cassK, pinned to its host, on the overlay "swarmcass",
// recorded in Consul and registered there, UN in the ring.
package clustertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/consulstore/consultest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodetool/nodetooltest"
)

// Images the fixture's machines hold.
const (
	ConsulImage   = "swarmcass/consul:1.20.6"
	RegistryImage = "swarmcass/registry:3.1.2"
	NodeImage     = "10.0.0.2:5000/swarmcass/cassandra@sha256:abc"
	Network       = "swarmcass"
	Subnet        = "10.0.1.0/24"
)

// Lab is the fixture.
type Lab struct {
	t      testing.TB
	W      *enginetest.World
	Infra  *enginetest.Fake
	Swarm  []*enginetest.Fake
	Consul *consultest.Fake
	// Ring answers nodetool in the nodes' containers (World.Exec), unless
	// a test sets World.Exec itself.
	Ring *nodetooltest.Ring
	// Addrs and HostIDs are the nodes' overlay addresses and host IDs.
	Addrs   map[string]string
	HostIDs map[string]string

	cluster string // the one whose nodes are recorded: the first given
}

// New is a lab of machines swarm machines besides infra, with no swarm yet:
// what bootstrap starts from.
func New(t testing.TB, machines int) *Lab {
	t.Helper()
	l := &Lab{t: t, W: enginetest.NewWorld(), Consul: consultest.New(), Ring: nodetooltest.NewRing(),
		Addrs: map[string]string{}, HostIDs: map[string]string{}}
	l.W.Exec = l.Ring.Exec
	l.Infra = l.W.NewFake("infra", "10.0.0.2")
	l.Infra.AddImage(ConsulImage)
	l.Infra.AddImage(RegistryImage)
	l.Infra.Spec.InsecureRegistries = append(l.Infra.Spec.InsecureRegistries, "10.0.0.2:5000")
	for i := range machines {
		f := l.W.NewFake(fmt.Sprintf("swarm-%d", i), fmt.Sprintf("10.0.0.%d", 10+i))
		f.Spec.InsecureRegistries = append(f.Spec.InsecureRegistries, "10.0.0.2:5000")
		f.AddImage(NodeImage)
		l.Swarm = append(l.Swarm, f)
	}
	return l
}

// Running makes the lab's swarm (swarm-0 the manager) and its overlay, and
// starts nodes cass1..cassN of cluster round-robin on the swarm machines,
// as bootstrap leaves them.
func (l *Lab) Running(cluster string, nodes int) *Lab {
	l.t.Helper()
	ctx := context.Background()
	l.cluster = cluster
	m := l.Swarm[0]
	l.must(m.SwarmInit(ctx, m.Addr(), nil))
	sw, err := m.SwarmInspect(ctx)
	l.must(err)
	for _, f := range l.Swarm[1:] {
		l.must(f.SwarmJoin(ctx, f.Addr(), m.Addr()+":2377", sw.WorkerToken))
	}
	_, err = m.NetworkCreate(ctx, engine.NetworkSpec{Name: Network, Driver: "overlay", Attachable: true, Subnet: Subnet})
	l.must(err)
	l.Consul.SetJSON(consulstore.Key(cluster, "network"), consulstore.Network{Name: Network, Subnet: Subnet})
	for k := 1; k <= nodes; k++ {
		l.AddNode(cluster, k, l.Swarm[(k-1)%len(l.Swarm)], "any")
	}
	return l
}

// AddNode starts node k of cluster on f with the restart condition, as
// bootstrap does: its service (named cassK; another cluster's, which
// bootstrap would refuse to put in the same swarm, <cluster>-cassK), its
// record in Consul, its registration with a passing check on its CQL port,
// and UN in the ring.
func (l *Lab) AddNode(cluster string, k int, f *enginetest.Fake, restart string) {
	l.t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("cass%d", k)
	if l.cluster == "" {
		l.cluster = cluster
	}
	service := name
	if cluster != l.cluster {
		service = cluster + "-" + name
	}
	info, err := f.Info(ctx)
	l.must(err)
	labels := engine.Labels{engine.LabelCluster: cluster, engine.LabelRole: engine.RoleCassandra, engine.LabelNode: name}
	_, err = l.Swarm[0].ServiceCreate(ctx, engine.ServiceSpec{
		Name: service, Image: NodeImage, Labels: labels, ContainerLabels: labels, Hostname: name,
		Networks: []string{Network}, DNSRR: true, Constraints: []string{"node.id==" + info.Swarm.NodeID},
		RestartCondition: restart,
	})
	l.must(err)
	if service != name {
		return
	}
	tasks, err := l.Swarm[0].TaskList(ctx, service)
	l.must(err)
	addr := tasks[0].Addresses[Network]
	id := fmt.Sprintf("%08x-8e0e-4b51-9bb0-4a5b7ed0d1a7", k)
	l.Addrs[name], l.HostIDs[name] = addr, id
	n := consulstore.Node{Name: name, SwarmNode: info.Swarm.NodeID, Host: f.Name(), Address: addr, HostID: id, State: "UN", CQL: f.Addr() + ":9042"}
	l.must(consulstore.WriteNode(ctx, l.Consul, cluster, n, true))
	l.must(l.Consul.Register(ctx, consulstore.NodeService(cluster, n)))
	l.Ring.Set(name, addr, "UN")
	l.Ring.SetHostID(name, id)
}

// Hosts are the swarm machines by swarm node ID.
func (l *Lab) Hosts() map[string]cluster.Host {
	out := map[string]cluster.Host{}
	for _, f := range l.Swarm {
		info, err := f.Info(context.Background())
		l.must(err)
		if info.Swarm.NodeID != "" {
			out[info.Swarm.NodeID] = cluster.Host{Engine: f, Addr: f.Addr()}
		}
	}
	return out
}

func (l *Lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
}
