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
	// Consul is the cluster's store in the Consul server at addr
	// (host:port), sending the tokens given.
	Consul(addr string, tokens consulstore.Tokens) (consulstore.Store, error)
	// ConsulAdmin sets up the ACL system of the Consul server at addr.
	ConsulAdmin(addr string) (consulstore.Admin, error)
	// PingRegistry checks that the registry at addr answers GET /v2/, and
	// with user set that it takes user's credentials (registry.Ping).
	PingRegistry(ctx context.Context, addr string, user *registry.User) error
	// RegistryWantsAuth reports whether the registry at addr refuses GET
	// /v2/ without credentials.
	RegistryWantsAuth(ctx context.Context, addr string) (bool, error)
	// RegistryHas reports whether the registry at addr holds the manifest
	// repo@digest (registry.HasManifest).
	RegistryHas(ctx context.Context, addr string, user *registry.User, repo, digest string) (bool, error)
	// Listening reports whether something accepts TCP connections at addr.
	Listening(ctx context.Context, addr string) bool
}

// NetRemote reaches Consul, the registry and ports over the network.
type NetRemote struct{}

func (NetRemote) Consul(addr string, tokens consulstore.Tokens) (consulstore.Store, error) {
	return consulstore.Dial(addr, tokens)
}

func (NetRemote) ConsulAdmin(addr string) (consulstore.Admin, error) {
	return consulstore.DialAdmin(addr)
}

func (NetRemote) PingRegistry(ctx context.Context, addr string, user *registry.User) error {
	return registry.Ping(ctx, addr, user)
}

func (NetRemote) RegistryWantsAuth(ctx context.Context, addr string) (bool, error) {
	return registry.WantsAuth(ctx, addr)
}

func (NetRemote) RegistryHas(ctx context.Context, addr string, user *registry.User, repo, digest string) (bool, error) {
	return registry.HasManifest(ctx, addr, user, repo, digest)
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
