package collect

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"

	"github.com/swarmcass/swarmcass/internal/consulhttp"
)

// Consul is what ring reads from the Consul agent bootstrap runs on the
// infra host.
type Consul interface {
	// KV returns every key under prefix with its value.
	KV(ctx context.Context, prefix string) (map[string][]byte, error)
	// Checks returns the checks of service's instances tagged tag, passing
	// or not.
	Checks(ctx context.Context, service, tag string) ([]ConsulCheck, error)
}

// ConsulCheck is one check of one service instance.
type ConsulCheck struct {
	ServiceID string
	Tags      []string          // the instance's tags: cluster and node names
	Meta      map[string]string // the instance's meta: "node" names the node
	Name      string
	Status    string // passing, warning, critical
	Output    string
}

// NewConsul is a client of the Consul HTTP API at addr (host:port). It
// does not contact the agent.
func NewConsul(addr string) (Consul, error) {
	c, err := consulhttp.New(addr)
	if err != nil {
		return nil, err
	}
	return &consulHTTP{c: c, addr: addr}, nil
}

type consulHTTP struct {
	c    *api.Client
	addr string
}

func (h *consulHTTP) KV(ctx context.Context, prefix string) (map[string][]byte, error) {
	pairs, _, err := h.c.KV().List(prefix, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul at %s: list %s: %w", h.addr, prefix, err)
	}
	out := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		out[p.Key] = p.Value
	}
	return out, nil
}

func (h *consulHTTP) Checks(ctx context.Context, service, tag string) ([]ConsulCheck, error) {
	entries, _, err := h.c.Health().Service(service, tag, false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul at %s: health of %s: %w", h.addr, service, err)
	}
	var out []ConsulCheck
	for _, e := range entries {
		for _, ch := range e.Checks {
			// The agent's own serfHealth check is about Consul, not the node.
			if ch.ServiceID == "" || e.Service == nil {
				continue
			}
			out = append(out, ConsulCheck{
				ServiceID: ch.ServiceID, Tags: e.Service.Tags, Meta: e.Service.Meta,
				Name: ch.Name, Status: ch.Status, Output: ch.Output,
			})
		}
	}
	return out, nil
}
