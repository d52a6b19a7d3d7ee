// Package provision bootstraps a Cassandra cluster on Docker Swarm through
// the Docker Engine API. Bootstrap runs the steps below in order; each
// inspects before it creates, so a re-run changes nothing on a healthy
// cluster and continues from the first missing or unhealthy piece after a
// failure or Ctrl-C. Everything created carries engine.Label* labels; Consul
// KV under swarmcass/<cluster>/ is the shared record (package consulstore).
package provision

import (
	"context"
	"fmt"
	"time"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
)

// Step is one named stage of a bootstrap.
type Step struct {
	Name string
	Run  func(ctx context.Context, r *run) error
}

// steps is the whole flow.
var steps = []Step{
	{"Preflight", preflight},             // preflight.go: check everything, create nothing
	{"Consul and registry", ensureInfra}, // infra.go: containers on the infra engine, wait until they answer
	{"Lock", acquireLock},                // lock.go: one bootstrap per cluster at a time
	{"Swarm", ensureSwarm},               // swarm.go: init the manager, join the others
	{"Network", ensureNetwork},           // network.go: the attachable overlay
	{"Image", ensureImage},               // image.go: build or take, tag, push, pin by digest
	{"Nodes", ensureNodes},               // nodes.go: one service per node, one at a time, each waited for
	{"Record", record},                   // record.go: Consul KV and service registrations
}

// Result is what a bootstrap did and found.
type Result struct {
	Cluster  string
	Registry string // host:port
	Image    string // registry/repo@sha256:... that every node runs
	Network  string
	Subnet   string
	Seeds    []string
	Nodes    []NodeResult
	Steps    []StepTiming
	// Created lists what this run created ("service cass4", "volume
	// cass4-data on swarm-1", ...); empty when it changed nothing.
	Created []string
}

// NodeResult is one Cassandra node: its record in Consul, and whether this
// run created it.
type NodeResult struct {
	consulstore.Node
	Created bool `json:"-"`
}

// StepTiming is how long a step took.
type StepTiming struct {
	Name    string  `json:"step"`
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
}

// run is one bootstrap in progress: the config and what steps learn.
type run struct {
	cfg     Config
	p       Progress
	infra   *host
	swarm   []*host          // distinct engines, manager first
	manager *host            // swarm[0]
	byNode  map[string]*host // swarm node ID -> host
	consul  consulstore.Store
	release func()
	pull    string // host:port the swarm engines pull nodes' image from (res.Registry: where swarmcass reaches it)
	res     *Result
	// registered are the Consul services this run (re)registered; Record
	// waits for their checks.
	registered []consulstore.Service
}

// host is a cluster host with what its engine reported.
type host struct {
	cluster.Host
	info engine.Info
}

func (h *host) name() string { return h.Engine.Name() }

// Bootstrap runs every step in order and stops at the first that fails.
// The Result is filled as far as the run got, also on error.
func Bootstrap(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, p: cfg.Progress, res: &Result{Cluster: cfg.Cluster, Network: cfg.Network}}
	defer func() {
		if r.release != nil {
			r.release()
		}
	}()
	for _, s := range steps {
		start := time.Now()
		r.p.Start(s.Name)
		err := s.Run(ctx, r)
		r.p.End(err == nil)
		r.res.Steps = append(r.res.Steps, StepTiming{Name: s.Name, Seconds: time.Since(start).Seconds(), OK: err == nil})
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("interrupted (a re-run continues from here): %w", err)
			}
			return r.res, &StepError{Step: s.Name, Err: err}
		}
	}
	return r.res, nil
}

// created notes something this run created.
func (r *run) created(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	r.res.Created = append(r.res.Created, what)
	r.p.Debugf("created %s", what)
}

// labels are the labels of a thing of role, of node when not empty.
func (r *run) labels(role, node string) engine.Labels {
	l := engine.Labels{engine.LabelCluster: r.cfg.Cluster, engine.LabelRole: role}
	if node != "" {
		l[engine.LabelNode] = node
	}
	return l
}
