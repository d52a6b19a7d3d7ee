package consulstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Store is what swarmcass asks of the Consul server on the infra host.
type Store interface {
	// Leader is the raft leader's address; empty while there is none.
	Leader(ctx context.Context) (string, error)
	// Lock takes the lock at key at once, storing holder in it, or fails
	// with a *LockedError naming the holder. release gives it back.
	Lock(ctx context.Context, key string, holder Holder) (release func(), err error)
	// Get reads a key; ok is false when it does not exist.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	Put(ctx context.Context, key string, value []byte) error
	// List returns every key under prefix with its value.
	List(ctx context.Context, prefix string) (map[string][]byte, error)
	// Delete removes key, and with a prefix ending in "/" every key under
	// it; removing what does not exist is not an error.
	Delete(ctx context.Context, key string) error
	// Register registers (or replaces) a service with the agent.
	Register(ctx context.Context, s Service) error
	// Deregister removes service id and its check from the agent;
	// removing one that is not registered is not an error.
	Deregister(ctx context.Context, id string) error
	// Registered returns the agent's registration of service id, if any.
	Registered(ctx context.Context, id string) (Service, bool, error)
	// CheckStatus is the status ("passing", "warning", "critical") and
	// output of service id's check.
	CheckStatus(ctx context.Context, id string) (status, output string, err error)
	// Checks returns the checks of service's instances tagged tag, passing
	// or not.
	Checks(ctx context.Context, service, tag string) ([]Check, error)
}

// ServiceName is the Consul service every node is registered as:
// <cluster>.cassandra.service.consul offers healthy contact points.
const ServiceName = "cassandra"

// ServiceID is node's Consul service ID.
func ServiceID(cluster, node string) string { return "swarmcass-" + cluster + "-" + node }

// Service is a Cassandra node as Consul's catalog offers it.
type Service struct {
	ID      string
	Name    string
	Tags    []string
	Address string
	Port    int
	Meta    map[string]string
	// Check is a TCP address Consul probes every 5 s; empty: no check.
	Check string
}

// NodeService is node n's registration: the service "cassandra" tagged with
// the cluster and node names, at its published CQL port with a TCP check on
// it, or at its overlay address when it publishes none (no check then).
func NodeService(cluster string, n Node) Service {
	s := Service{
		ID:      ServiceID(cluster, n.Name),
		Name:    ServiceName,
		Tags:    []string{cluster, n.Name},
		Address: n.Address,
		Port:    9042,
		Meta:    map[string]string{"cluster": cluster, "node": n.Name, "host": n.Host, "host_id": n.HostID, "overlay_address": n.Address},
	}
	if host, port, err := net.SplitHostPort(n.CQL); err == nil {
		s.Address = host
		s.Port, _ = strconv.Atoi(port)
		s.Check = n.CQL
	}
	return s
}

// Same reports whether two registrations are the same: re-registering a
// service that is already as it should be would reset its check to critical.
func Same(a, b Service) bool {
	return a.Name == b.Name && a.Address == b.Address && a.Port == b.Port && a.Check == b.Check &&
		slices.Equal(a.Tags, b.Tags) && maps.Equal(a.Meta, b.Meta)
}

// Check is one check of one service instance.
type Check struct {
	ServiceID string
	Tags      []string          // the instance's tags: cluster and node names
	Meta      map[string]string // the instance's meta: "node" names the node
	Name      string
	Status    string // passing, warning, critical
	Output    string
}

// Node names the node a check belongs to: its service's "node" meta, else
// its tag that is not the cluster's name, else what its service ID says.
func (c Check) Node(cluster string) string {
	if name := c.Meta["node"]; name != "" {
		return name
	}
	for _, tag := range c.Tags {
		if tag != cluster {
			return tag
		}
	}
	return strings.TrimPrefix(c.ServiceID, ServiceID(cluster, ""))
}

// Holder says which operation holds a cluster's lock, and who runs it; it
// is the lock's value.
type Holder struct {
	Operation string    `json:"operation,omitempty"` // bootstrap, scale, ...
	Hostname  string    `json:"hostname"`
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
}

// This is operation op run by this process.
func This(op string) Holder {
	host, _ := os.Hostname()
	return Holder{Operation: op, Hostname: host, PID: os.Getpid(), Started: time.Now()}
}

func (h Holder) String() string {
	who := fmt.Sprintf("pid %d on %s, started %s", h.PID, h.Hostname, h.Started.Local().Format("2006-01-02 15:04:05"))
	if h.Operation == "" {
		return who
	}
	return h.Operation + " (" + who + ")"
}

// ErrLocked matches a *LockedError.
var ErrLocked = errors.New("locked")

// LockedError: another operation holds the cluster's lock.
type LockedError struct {
	Key    string
	Holder []byte // the lock's value, a JSON Holder when swarmcass took it
}

// Held is the holder, when swarmcass took the lock.
func (e *LockedError) Held() (Holder, bool) {
	var h Holder
	if json.Unmarshal(e.Holder, &h) == nil && h.PID != 0 {
		return h, true
	}
	return Holder{}, false
}

func (e *LockedError) Error() string {
	if h, ok := e.Held(); ok {
		return fmt.Sprintf("%s is held by %s", e.Key, h)
	}
	return fmt.Sprintf("%s is held by another session (%q)", e.Key, e.Holder)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockExpiry bounds how long a lock outlives a holder that died without
// giving it back: Consul ends its session within twice the session TTL
// (15 s), then keeps the lock for its lock delay (15 s): 45 s, and 46-47 s
// measured here (TestIntegrationConsulLockExpiresAfterCrash).
const LockExpiry = 50 * time.Second

// LockCluster takes cluster's lock for operation op run by this process,
// so that a second operation on the cluster fails at once, naming the
// holder. The lock's session dies with this process (TTL 15 s).
func LockCluster(ctx context.Context, s Store, cluster, op string) (release func(), err error) {
	release, err = s.Lock(ctx, Key(cluster, "lock"), This(op))
	if errors.Is(err, ErrLocked) {
		what := "another operation"
		var le *LockedError
		if errors.As(err, &le) {
			if h, ok := le.Held(); ok && h.Operation != "" {
				what = "another " + h.Operation
			}
		}
		return nil, fmt.Errorf("cluster %s is busy: %s holds its lock, so %s cannot start: %w", cluster, what, op, err)
	}
	if err != nil {
		return nil, fmt.Errorf("take the lock of cluster %s: %w", cluster, err)
	}
	return release, nil
}
