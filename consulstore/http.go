package consulstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Dial is a Store over the Consul HTTP API at addr (host:port): plain HTTP,
// without pooled connections (an operation makes few calls, and a CLI
// should leave no idle sockets behind). It does not contact the agent.
func Dial(addr string) (Store, error) {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = addr
	cfg.Scheme = "http"
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul %s: %w", addr, err)
	}
	return &httpStore{c: c, addr: addr}, nil
}

type httpStore struct {
	c    *api.Client
	addr string
}

func (h *httpStore) Leader(ctx context.Context) (string, error) {
	return h.c.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
}

func (h *httpStore) Lock(ctx context.Context, key string, holder Holder) (func(), error) {
	value, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	l, err := h.c.LockOpts(&api.LockOptions{
		Key:          key,
		Value:        value,
		SessionName:  strings.TrimSpace("swarmcass " + holder.Operation),
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
		pair, _, err := h.c.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("lock %s is held; reading its holder: %w", key, err)
		}
		var held []byte
		if pair != nil {
			held = pair.Value
		}
		return nil, &LockedError{Key: key, Holder: held}
	}
	// Given back with requests of its own: ctx may have ended (Ctrl-C).
	return func() {
		done()
		_ = l.Unlock()
		_ = l.Destroy()
	}, nil
}

func (h *httpStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	pair, _, err := h.c.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, false, fmt.Errorf("consul get %s: %w", key, err)
	}
	if pair == nil {
		return nil, false, nil
	}
	return pair.Value, true, nil
}

func (h *httpStore) Put(ctx context.Context, key string, value []byte) error {
	_, err := h.c.KV().Put(&api.KVPair{Key: key, Value: value}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("consul put %s: %w", key, err)
	}
	return nil
}

func (h *httpStore) List(ctx context.Context, prefix string) (map[string][]byte, error) {
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

func (h *httpStore) Delete(ctx context.Context, key string) error {
	opts := (&api.WriteOptions{}).WithContext(ctx)
	var err error
	if strings.HasSuffix(key, "/") {
		_, err = h.c.KV().DeleteTree(key, opts)
	} else {
		_, err = h.c.KV().Delete(key, opts)
	}
	if err != nil {
		return fmt.Errorf("consul delete %s: %w", key, err)
	}
	return nil
}

func (h *httpStore) Deregister(ctx context.Context, id string) error {
	info, err := h.service(ctx, id)
	if err != nil || info == nil {
		return err // not registered: nothing to do
	}
	if err := h.c.Agent().ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("consul deregister %s: %w", id, err)
	}
	return nil
}

// checkInterval is how often Consul probes a node's CQL port.
const checkInterval = "5s"

// checkPrefix starts the name of a node's check; the rest is its address.
const checkPrefix = "CQL on "

func (h *httpStore) Register(ctx context.Context, s Service) error {
	reg := &api.AgentServiceRegistration{ID: s.ID, Name: s.Name, Tags: s.Tags, Address: s.Address, Port: s.Port, Meta: s.Meta}
	if s.Check != "" {
		reg.Check = &api.AgentServiceCheck{
			Name: checkPrefix + s.Check, TCP: s.Check, Interval: checkInterval, Timeout: "2s",
			DeregisterCriticalServiceAfter: "", // keep failed nodes visible as critical
		}
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := h.c.Agent().ServiceRegisterOpts(reg, opts); err != nil {
		return fmt.Errorf("consul register %s: %w", s.ID, err)
	}
	return nil
}

// service is the agent's service id with its checks, in one request; nil
// when the agent does not have it.
func (h *httpStore) service(ctx context.Context, id string) (*api.AgentServiceChecksInfo, error) {
	_, info, err := h.c.Agent().AgentHealthServiceByIDOpts(id, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul service %s: %w", id, err)
	}
	return info, nil
}

func (h *httpStore) Registered(ctx context.Context, id string) (Service, bool, error) {
	info, err := h.service(ctx, id)
	if err != nil || info == nil || info.Service == nil {
		return Service{}, false, err
	}
	svc := info.Service
	out := Service{ID: svc.ID, Name: svc.Service, Tags: svc.Tags, Address: svc.Address, Port: svc.Port, Meta: svc.Meta}
	for _, c := range info.Checks {
		if c.Type == "tcp" || strings.HasPrefix(c.Name, checkPrefix) {
			out.Check = strings.TrimPrefix(c.Name, checkPrefix)
		}
	}
	return out, true, nil
}

func (h *httpStore) CheckStatus(ctx context.Context, id string) (string, string, error) {
	info, err := h.service(ctx, id)
	if err != nil {
		return "", "", err
	}
	if info == nil || len(info.Checks) == 0 {
		return "", "", fmt.Errorf("consul: service %s has no check", id)
	}
	return info.Checks[0].Status, info.Checks[0].Output, nil
}

func (h *httpStore) Checks(ctx context.Context, service, tag string) ([]Check, error) {
	entries, _, err := h.c.Health().Service(service, tag, false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul at %s: health of %s: %w", h.addr, service, err)
	}
	var out []Check
	for _, e := range entries {
		for _, ch := range e.Checks {
			// The agent's own serfHealth check is about Consul, not the node.
			if ch.ServiceID == "" || e.Service == nil {
				continue
			}
			out = append(out, Check{
				ServiceID: ch.ServiceID, Tags: e.Service.Tags, Meta: e.Service.Meta,
				Name: ch.Name, Status: ch.Status, Output: ch.Output,
			})
		}
	}
	return out, nil
}
