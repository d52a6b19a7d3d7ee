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

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// steps is the whole flow.
var steps = []op.Step[*run]{
	{Name: "Preflight", Run: preflight},             // preflight.go: check everything, create nothing
	{Name: "Consul and registry", Run: ensureInfra}, // infra.go: containers on the infra engine, wait until they answer
	{Name: "Lock", Run: lockFor("bootstrap")},       // operation.go: one operation per cluster at a time
	{Name: "Swarm", Run: ensureSwarm},               // swarm.go: init the manager, join the others
	{Name: "Network", Run: ensureNetwork},           // network.go: the attachable overlay
	{Name: "Overlay check", Run: checkOverlay},      // overlay.go: a probe per host; every host reaches every other over the overlay
	{Name: "Credentials", Run: ensureCredentials},   // auth.go: the superuser's secret (unless --auth=false)
	{Name: "TLS", Run: ensureTLS},                   // tls.go: the cluster's CA and its secret (with --tls, or when the nodes have TLS)
	{Name: "Image", Run: ensureImage},               // image.go: build or take, tag, push, pin by digest
	{Name: "Nodes", Run: ensureNodes},               // nodes.go: one service per node, one at a time, each waited for
	{Name: "Authentication", Run: ensureAuth},       // auth.go: the superuser, the default role disabled, system_auth replicated
	{Name: "Record", Run: record},                   // record.go: Consul KV and service registrations
}

// Result is what a bootstrap, or a day-2 operation, did and found.
type Result struct {
	// Operation is "bootstrap", "scale", ...
	Operation string
	Cluster   string
	Registry  string // host:port
	Image     string // registry/repo@sha256:... that every node runs
	Network   string
	Subnet    string
	Seeds     []string
	// Clients is what the nodes tell drivers (Config.Clients).
	Clients string
	Nodes   []NodeResult
	Auth    AuthResult
	TLS     TLSResult
	Steps   []op.Timing
	// Created lists what this run created ("service cass4", "volume
	// cass4-data on swarm-1", ...), Removed what it removed; both empty
	// when it changed nothing.
	Created []string
	Removed []string
	// Plan is what a day-2 operation set out to do; DryRun: it stopped
	// there.
	Plan   []string
	DryRun bool
	// Rolled are the nodes a rolling operation (restart, upgrade,
	// rollback) acted on, in order, with how long each was down.
	Rolled []RolledNode
	// ConsulACL and RegistryAuth are "on" or "off" (made by an older
	// swarmcass; Warnings say how to turn them on), "" when not reached.
	ConsulACL, RegistryAuth string
	// Warnings are what the user should act on.
	Warnings []string
}

// NodeResult is one Cassandra node: its record in Consul, and whether this
// run created it.
type NodeResult struct {
	consulstore.Node
	Created bool `json:"-"`
}

// run is one bootstrap in progress: the config and what steps learn.
type run struct {
	op.Held // the lock
	cfg     Config
	p       op.Progress
	infra   *host
	swarm   []*host // distinct engines, manager first
	manager *host   // swarm[0]
	// unreached are the engines that did not answer, by name, with why.
	unreached map[string]error
	byNode    map[string]*host // swarm node ID -> host
	wait      *nodewait.Waiter // for the nodes, once the seeds are chosen
	consul    consulstore.Store
	// Day-2 operations (operation.go: attach) also know the record and
	// the node services found, and say what they will do in plan.
	rec      consulstore.Record
	services map[string]engine.Service // by node name
	plan     []string
	// unlock gives the lock back before the run ends (down --purge, before
	// it removes Consul itself); the run gives it back anyway.
	unlock func()
	// Rolling operations: what the Roll step does (rolling.go), the tasks
	// each node had before it was acted on, the releases nodes reported.
	roll        *rollout
	resumeActed bool // the interrupted rollout had asked for its current node's new task
	tasksBefore map[string]map[string]bool
	versions    map[string]string
	imageLabels engine.Labels // of the image ensureImage pushed
	pull        string        // host:port the swarm engines pull nodes' image from (res.Registry: where swarmcass reaches it)
	res         *Result
	// registryUser is who pushes and pulls the nodes' image (nil: the
	// registry wants no credentials); aclFresh: this run bootstrapped
	// Consul's ACL system, so registrations made before it carry no token.
	registryUser *registry.User
	aclFresh     bool
	secret       engine.SecretRef        // the credentials secret the nodes mount (auth on)
	creds        credentials.Credentials // its content, once known
	authKnown    bool                    // once ensureCredentials has decided r.res.Auth
	enablingAuth bool                    // auth enable: ensureCredentials makes the secret of an open cluster
	superuserOK  bool                    // auth enable: the superuser logs in, the default role is disabled
	tls          *tlsState               // once ensureTLS has looked
	// registered are the Consul services this run (re)registered; Record
	// waits for their checks.
	registered []consulstore.Service
	// brandNew: no service and no volume of the cluster existed when the
	// Nodes step began.
	brandNew bool
	// authReplicatedFirst: the Authentication step set system_auth's
	// replication before it made the superuser (a brand-new cluster), so
	// no row of system_auth needs a repair.
	authReplicatedFirst bool
	// volumes are the cluster's node volumes, as "NAME on HOST".
	volumes map[string]bool
	// differing are the existing nodes whose image or settings differ from
	// this bootstrap's, left as they are (upgrade rolls such changes out).
	differing []string
}

// host is a cluster host with what its engine reported.
type host struct {
	cluster.Host
	info engine.Info
}

func (h *host) name() string { return h.Engine.Name() }

// Bootstrap runs every step in order (op.Run) and stops at the first that
// fails. The Result is filled as far as the run got, also on error.
func Bootstrap(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, p: cfg.Progress, res: &Result{Operation: "bootstrap", Cluster: cfg.Cluster, Network: cfg.Network, Clients: cfg.Clients}}
	var err error
	r.res.Steps, err = op.Run(ctx, r.p, steps, r)
	return r.res, err
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
