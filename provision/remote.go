package provision

import (
	"context"
	"net"
	"time"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/registry"
)

// Remote is how bootstrap reaches what runs on the infra host from where
// swarmcass runs. NetRemote is the real network; tests supply their own.
type Remote interface {
	// Consul is the cluster's store in the Consul server at addr (host:port).
	Consul(addr string) (consulstore.Store, error)
	// PingRegistry checks that the registry at addr answers GET /v2/.
	PingRegistry(ctx context.Context, addr string) error
	// Listening reports whether something accepts TCP connections at addr.
	Listening(ctx context.Context, addr string) bool
}

// NetRemote reaches Consul, the registry and ports over the network.
type NetRemote struct{}

func (NetRemote) Consul(addr string) (consulstore.Store, error) { return consulstore.Dial(addr) }

func (NetRemote) PingRegistry(ctx context.Context, addr string) error {
	return registry.Ping(ctx, addr)
}

func (NetRemote) Listening(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
