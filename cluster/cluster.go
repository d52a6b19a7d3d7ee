// Package cluster is the model of a cluster that every command opens from
// the host flags: its engines, one client each (an engine playing several
// roles is one client), which is infra and which form the swarm (the
// first the manager), where its Consul record is, and which host runs
// which node once the engines have answered.
//
// Where the engines come from is package hosts; Open turns its plan into
// clients by one rule: two endpoints are the same engine when their URLs
// are (hosts.SameEngine).
package cluster

import (
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/infracreds"
)

// Host is one Docker Engine with the address it is reached at from the
// other hosts and from where swarmcass runs (the swarm advertise address,
// and for infra the registry's and Consul's address). A loopback Addr is
// only valid when one engine plays every role.
type Host struct {
	Engine engine.Engine
	Addr   string
}

// Name is the engine's name: a machine or context name, or an address.
func (h Host) Name() string { return h.Engine.Name() }

// Cluster is a cluster's engines and record, as the host flags give them.
type Cluster struct {
	Name string
	Plan *hosts.Plan
	// Infra runs Consul and the registry; Swarm are the swarm's hosts in
	// the plan's order, the manager first. Infra's engine may be among them.
	// A host no client could be made for is missing here and named in Broken.
	Infra  Host
	Swarm  []Host
	Broken map[string]error // engine name -> why no client was made

	clients map[string]engine.Engine // by hosts.EngineKey
	order   []string                 // keys in the order the clients were made
}

// Option changes how Open makes clients.
type Option func(*options)

type options struct {
	trace func(format string, args ...any)
}

// WithTrace has every engine call reported to trace (-v).
func WithTrace(trace func(format string, args ...any)) Option {
	return func(o *options) { o.trace = trace }
}

// Open makes one client per distinct engine of plan. It contacts no
// engine; an engine no client can be made for is named in Broken.
func Open(name string, plan *hosts.Plan, opts ...Option) *Cluster {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	c := &Cluster{Name: name, Plan: plan, Broken: map[string]error{}, clients: map[string]engine.Engine{}}
	connect := func(ep hosts.Endpoint) (Host, bool) {
		key := hosts.EngineKey(ep.Host)
		if e, ok := c.clients[key]; ok {
			return Host{Engine: e, Addr: ep.Addr}, true
		}
		var eopts []engine.Option
		if o.trace != nil {
			eopts = append(eopts, engine.WithTrace(o.trace))
		}
		d, err := engine.NewDocker(ep.Name, ep.Host, ep.TLS, eopts...)
		if err != nil {
			c.Broken[ep.Name] = err // it names the engine
			return Host{}, false
		}
		c.clients[key] = d
		c.order = append(c.order, key)
		return Host{Engine: d, Addr: ep.Addr}, true
	}
	// The swarm's first, the manager leading: Engines lists them so.
	for _, ep := range plan.Swarm {
		if h, ok := connect(ep); ok {
			c.Swarm = append(c.Swarm, h)
		}
	}
	if h, ok := connect(plan.Infra); ok {
		c.Infra = h
	}
	return c
}

// Err is the first engine no client could be made for, or nil.
func (c *Cluster) Err() error {
	for _, ep := range append([]hosts.Endpoint{c.Plan.Infra}, c.Plan.Swarm...) {
		if err := c.Broken[ep.Name]; err != nil {
			return err
		}
	}
	return nil
}

// Engines lists each distinct engine once: the swarm's in order, the
// manager first, then infra's when it is not among them.
func (c *Cluster) Engines() []engine.Engine {
	out := make([]engine.Engine, 0, len(c.order))
	for _, k := range c.order {
		out = append(out, c.clients[k])
	}
	return out
}

// ConsulAddr is where the cluster's Consul record is: on infra.
func (c *Cluster) ConsulAddr() string { return consulstore.Addr(c.Plan.Infra.Addr) }

// Store is the cluster's Consul record, sending the ACL token swarmcass
// keeps for infra's Consul (infracreds.ConsulTokens: the local file, else
// the copy in the Consul container, read through infra's engine). It
// contacts neither Consul nor the engine until its first request.
func (c *Cluster) Store() (consulstore.Store, error) {
	return consulstore.Dial(c.ConsulAddr(), infracreds.ConsulTokens(c.Infra.Engine, c.Plan.Infra.Addr, nil))
}

// Close closes every client made.
func (c *Cluster) Close() {
	for _, e := range c.clients {
		e.Close()
	}
}
