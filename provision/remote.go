package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/swarmcass/swarmcass/internal/consulhttp"
	"github.com/swarmcass/swarmcass/registry"
)

// Remote is how bootstrap reaches what runs on the infra host from where
// swarmcass runs. NetRemote is the real network; tests supply their own.
type Remote interface {
	// Consul is a client of the Consul HTTP API at addr (host:port).
	Consul(addr string) (Consul, error)
	// PingRegistry checks that the registry at addr answers GET /v2/.
	PingRegistry(ctx context.Context, addr string) error
	// Listening reports whether something accepts TCP connections at addr.
	Listening(ctx context.Context, addr string) bool
}

// Consul is what bootstrap needs of the Consul server.
type Consul interface {
	// Leader is the raft leader's address; empty while there is none.
	Leader(ctx context.Context) (string, error)
	// Lock takes the lock at key at once, storing value in it, or fails
	// with a *LockedError naming the holder. release gives it back.
	Lock(ctx context.Context, key string, value []byte) (release func(), err error)
	// Get reads a key; ok is false when it does not exist.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	Put(ctx context.Context, key string, value []byte) error
	// Register registers (or replaces) a service with the agent.
	Register(ctx context.Context, s Service) error
	// Registered returns the agent's registration of service id, if any.
	Registered(ctx context.Context, id string) (Service, bool, error)
	// CheckStatus is the status ("passing", "warning", "critical") and
	// output of service id's check.
	CheckStatus(ctx context.Context, id string) (status, output string, err error)
}

// Service is a Cassandra node as Consul's catalog offers it.
type Service struct {
	ID      string
	Name    string
	Tags    []string
	Address string
	Port    int
	Meta    map[string]string
	// Check is a TCP address Consul probes every 10 s; empty: no check.
	Check string
}

// Holder says who holds the bootstrap lock; it is the lock's value.
type Holder struct {
	Hostname string    `json:"hostname"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d on %s, started %s", h.PID, h.Hostname, h.Started.Local().Format("2006-01-02 15:04:05"))
}

// ErrLocked matches a *LockedError.
var ErrLocked = errors.New("locked")

// LockedError: another bootstrap holds the cluster's lock.
type LockedError struct {
	Key    string
	Holder []byte // the lock's value, a JSON Holder when swarmcass took it
}

func (e *LockedError) Error() string {
	var h Holder
	if json.Unmarshal(e.Holder, &h) == nil && h.PID != 0 {
		return fmt.Sprintf("%s is held by %s", e.Key, h)
	}
	return fmt.Sprintf("%s is held by another session (%q)", e.Key, e.Holder)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

func thisHolder() Holder {
	host, _ := os.Hostname()
	return Holder{Hostname: host, PID: os.Getpid(), Started: time.Now()}
}

// NetRemote reaches Consul, the registry and ports over the network.
type NetRemote struct{}

func (NetRemote) Consul(addr string) (Consul, error) {
	c, err := consulhttp.New(addr)
	if err != nil {
		return nil, err
	}
	return &consulAPI{c: c}, nil
}

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

// consulAPI is Consul over github.com/hashicorp/consul/api.
type consulAPI struct{ c *api.Client }

func (a *consulAPI) Leader(ctx context.Context) (string, error) {
	return a.c.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
}

func (a *consulAPI) Lock(ctx context.Context, key string, value []byte) (func(), error) {
	l, err := a.c.LockOpts(&api.LockOptions{
		Key:          key,
		Value:        value,
		SessionName:  "swarmcass bootstrap",
		SessionTTL:   "15s",
		LockTryOnce:  true,
		LockWaitTime: 500 * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	// stop aborts the attempt when ctx ends. It is closed once, by
	// whichever comes first: ctx ending, the refusal, or the release.
	stop := make(chan struct{})
	closeStop := sync.OnceFunc(func() { close(stop) })
	unwatch := context.AfterFunc(ctx, closeStop)
	done := func() { unwatch(); closeStop() }
	lost, err := l.Lock(stop)
	if err != nil {
		done()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if lost == nil {
		done()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		pair, _, err := a.c.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("lock %s is held; reading its holder: %w", key, err)
		}
		var holder []byte
		if pair != nil {
			holder = pair.Value
		}
		return nil, &LockedError{Key: key, Holder: holder}
	}
	// Given back with requests of its own: ctx may have ended (Ctrl-C).
	return func() {
		done()
		_ = l.Unlock()
		_ = l.Destroy()
	}, nil
}

func (a *consulAPI) Get(ctx context.Context, key string) ([]byte, bool, error) {
	pair, _, err := a.c.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, false, fmt.Errorf("consul get %s: %w", key, err)
	}
	if pair == nil {
		return nil, false, nil
	}
	return pair.Value, true, nil
}

func (a *consulAPI) Put(ctx context.Context, key string, value []byte) error {
	_, err := a.c.KV().Put(&api.KVPair{Key: key, Value: value}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("consul put %s: %w", key, err)
	}
	return nil
}

func (a *consulAPI) Register(ctx context.Context, s Service) error {
	reg := &api.AgentServiceRegistration{ID: s.ID, Name: s.Name, Tags: s.Tags, Address: s.Address, Port: s.Port, Meta: s.Meta}
	if s.Check != "" {
		reg.Check = &api.AgentServiceCheck{
			Name: "CQL on " + s.Check, TCP: s.Check, Interval: checkInterval, Timeout: "2s",
			DeregisterCriticalServiceAfter: "", // keep failed nodes visible as critical
		}
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := a.c.Agent().ServiceRegisterOpts(reg, opts); err != nil {
		return fmt.Errorf("consul register %s: %w", s.ID, err)
	}
	return nil
}

// checkInterval is how often Consul probes a node's CQL port.
const checkInterval = "5s"

// service is the agent's service id with its checks, in one request; nil
// when the agent does not have it.
func (a *consulAPI) service(ctx context.Context, id string) (*api.AgentServiceChecksInfo, error) {
	_, info, err := a.c.Agent().AgentHealthServiceByIDOpts(id, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul service %s: %w", id, err)
	}
	return info, nil
}

func (a *consulAPI) Registered(ctx context.Context, id string) (Service, bool, error) {
	info, err := a.service(ctx, id)
	if err != nil || info == nil || info.Service == nil {
		return Service{}, false, err
	}
	svc := info.Service
	out := Service{ID: svc.ID, Name: svc.Service, Tags: svc.Tags, Address: svc.Address, Port: svc.Port, Meta: svc.Meta}
	for _, c := range info.Checks {
		if c.Type == "tcp" || strings.HasPrefix(c.Name, "CQL on ") {
			out.Check = strings.TrimPrefix(c.Name, "CQL on ")
		}
	}
	return out, true, nil
}

func (a *consulAPI) CheckStatus(ctx context.Context, id string) (string, string, error) {
	info, err := a.service(ctx, id)
	if err != nil {
		return "", "", err
	}
	if info == nil || len(info.Checks) == 0 {
		return "", "", fmt.Errorf("consul: service %s has no check", id)
	}
	return info.Checks[0].Status, info.Checks[0].Output, nil
}
