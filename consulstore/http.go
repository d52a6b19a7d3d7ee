package consulstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/swarmcass/swarmcass/op"
)

// Dial is a Store over the Consul HTTP API at addr (host:port): plain HTTP,
// without pooled connections (an operation makes few calls, and a CLI
// should leave no idle sockets behind), sending the ACL token tokens gives
// (see Tokens). It does not contact the agent.
func Dial(addr string, tokens Tokens) (Store, error) {
	if tokens == nil {
		tokens = Token("")
	}
	h := &httpStore{addr: addr, tokens: tokens}
	if err := h.setToken(""); err != nil {
		return nil, err
	}
	return h, nil
}

// Tokens gives the ACL token a Store sends. A Store asks at its first
// request with stale "", and again when Consul does not know the token it
// sent ("ACL not found"), with that token as stale: a source that has
// another one returns it, and the request is retried once with it; else it
// returns stale or "". An error stops the request.
type Tokens func(ctx context.Context, stale string) (string, error)

// Token is a Tokens of one token ("" sends none: Consul's anonymous token).
func Token(t string) Tokens { return func(context.Context, string) (string, error) { return t, nil } }

type httpStore struct {
	addr   string
	tokens Tokens

	mu       sync.Mutex
	resolved bool
	token    string
	c        *api.Client
}

func (h *httpStore) newClient(token string) (*api.Client, error) {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = h.addr
	cfg.Scheme = "http"
	cfg.Token = token
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul %s: %w", h.addr, err)
	}
	return c, nil
}

// client is the client with the current token, asking tokens for it the
// first time.
func (h *httpStore) client(ctx context.Context) (*api.Client, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.resolved {
		t, err := h.tokens(ctx, "")
		if err != nil {
			return nil, "", err
		}
		if err := h.setToken(t); err != nil {
			return nil, "", err
		}
		h.resolved = true
	}
	return h.c, h.token, nil
}

func (h *httpStore) setToken(t string) error {
	c, err := h.newClient(t)
	if err != nil {
		return err
	}
	h.c, h.token = c, t
	return nil
}

// do runs f with the client; when Consul knows not the token sent, it asks
// tokens for another and runs f once more with it. A refusal by Consul's
// ACLs comes back as an *ACLError.
func (h *httpStore) do(ctx context.Context, f func(c *api.Client) error) error {
	c, sent, err := h.client(ctx)
	if err != nil {
		return err
	}
	err = f(c)
	if IsTokenUnknown(err) {
		t, terr := h.tokens(ctx, sent)
		if terr != nil {
			return fmt.Errorf("%w; and no other token: %w", err, terr)
		}
		if t != sent {
			h.mu.Lock()
			serr := h.setToken(t)
			c = h.c
			h.mu.Unlock()
			if serr != nil {
				return serr
			}
			err = f(c)
		}
	}
	if IsDenied(err) {
		return op.WithHint(&ACLError{Addr: h.addr, Anonymous: sent == "", Err: err},
			"Consul runs with ACLs; swarmcass sends the token it keeps in ~/.swarmcass/infra/<infra address>/consul-token (SWARMCASS_HOME moves it), else the copy in the "+
				"swarmcass-consul container's data on the infra host: re-run `swarmcass bootstrap` with the same host flags to set both right, or put the management token in that file")
	}
	return err
}

func (h *httpStore) Leader(ctx context.Context) (string, error) {
	// status/leader needs no token: no Tokens asked yet for it.
	h.mu.Lock()
	c := h.c
	h.mu.Unlock()
	return c.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
}

func (h *httpStore) Lock(ctx context.Context, key string, holder Holder) (func(), error) {
	value, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	var (
		l *api.Lock
		c *api.Client
	)
	err = h.do(ctx, func(client *api.Client) error {
		var err error
		c = client
		l, err = c.LockOpts(&api.LockOptions{
			Key:          key,
			Value:        value,
			SessionName:  strings.TrimSpace("swarmcass " + holder.Operation),
			SessionTTL:   "15s",
			LockTryOnce:  true,
			LockWaitTime: 500 * time.Millisecond,
		})
		if err != nil {
			return err
		}
		// LockOpts makes no request: read the key first, so that a token
		// Consul refuses is found (and replaced) here, not in the session.
		_, _, err = c.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
		return err
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
	// A Consul agent that has just elected itself leader may not have
	// registered its own node yet (hashicorp/consul#819): a session made
	// then is refused. That passes within a second or two; ask again.
	deadline := time.Now().Add(sessionWait)
	for err != nil && sessionNotReady(err) && time.Now().Before(deadline) && sleepOrStop(stop, 250*time.Millisecond) {
		lost, err = l.Lock(stop)
	}
	if err != nil {
		done()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if lost == nil {
		done()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		pair, _, err := c.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
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

// sessionWait bounds how long Lock asks again for a session that a fresh
// agent refuses because it has not registered its own node yet.
const sessionWait = 15 * time.Second

// sleepOrStop waits d and reports true, or false as soon as stop closes.
func sleepOrStop(stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// sessionNotReady tells a session refused because the agent's own node is
// not in its catalog yet, or its serfHealth check not yet passing: both
// pass on their own on an agent that has just started.
func sessionNotReady(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Missing node registration") || strings.Contains(s, "serfHealth")
}

func (h *httpStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var pair *api.KVPair
	err := h.do(ctx, func(c *api.Client) (err error) {
		pair, _, err = c.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("consul get %s: %w", key, err)
	}
	if pair == nil {
		return nil, false, nil
	}
	return pair.Value, true, nil
}

func (h *httpStore) Put(ctx context.Context, key string, value []byte) error {
	err := h.do(ctx, func(c *api.Client) error {
		_, err := c.KV().Put(&api.KVPair{Key: key, Value: value}, (&api.WriteOptions{}).WithContext(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("consul put %s: %w", key, err)
	}
	return nil
}

func (h *httpStore) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	var pairs api.KVPairs
	err := h.do(ctx, func(c *api.Client) (err error) {
		pairs, _, err = c.KV().List(prefix, (&api.QueryOptions{}).WithContext(ctx))
		return err
	})
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

// checkInterval is how often Consul probes a node's CQL port: bootstrap
// waits for each new node's first passing probe, and Consul runs a new
// check first at a random point within one interval (measured: Record took
// 7 to 10 s at 5 s, 2 s at 2 s), so the shortest Consul allows (its
// agent raises anything shorter to 1 s). A TCP connect a second per node
// is nothing to Consul or Cassandra.
const checkInterval = "1s"

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
	if err := h.do(ctx, func(c *api.Client) error { return c.Agent().ServiceRegisterOpts(reg, opts) }); err != nil {
		return fmt.Errorf("consul register %s: %w", s.ID, err)
	}
	return nil
}

// service is the agent's service id with its checks, in one request; nil
// when the agent does not have it.
func (h *httpStore) service(ctx context.Context, id string) (*api.AgentServiceChecksInfo, error) {
	var info *api.AgentServiceChecksInfo
	err := h.do(ctx, func(c *api.Client) (err error) {
		_, info, err = c.Agent().AgentHealthServiceByIDOpts(id, (&api.QueryOptions{}).WithContext(ctx))
		return err
	})
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
	var entries []*api.ServiceEntry
	err := h.do(ctx, func(c *api.Client) (err error) {
		entries, _, err = c.Health().Service(service, tag, false, (&api.QueryOptions{}).WithContext(ctx))
		return err
	})
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
