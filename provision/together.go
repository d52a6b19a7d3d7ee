package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
)

// A brand-new cluster starts all at once, as ccm starts one: each node
// with its own precomputed, balanced tokens (BalancedTokens) and
// auto_bootstrap false, so that no node bootstraps (streams) and
// Cassandra's rule against concurrent range movements never applies. Only
// the first node goes first: Swarm's DNS lists a task only once its health
// check has passed (Docker activates a container's service binding when it
// becomes healthy), so seeds started at the same moment cannot resolve one
// another, and each would skip the others and found a ring of its own.
// So cass1 starts alone (fast: with its tokens given it skips the ring
// delay of token allocation, and has no other seed to wait for); once it
// is UN, every other node starts at the same time, each waiting on its
// first boot until cass1 resolves and answers (SWARMCASS_WAIT_FOR), and
// joining through it. Only a cluster with nothing yet qualifies: a node
// given tokens without bootstrapping takes its ranges without their data,
// so growing a cluster stays one node at a time.

// DefaultNumTokens is num_tokens when --node-env does not set
// CASSANDRA_NUM_TOKENS: the node image's default (CONTRACT.md).
const DefaultNumTokens = 16

// startPlan is how ensureNodes starts the nodes, and why.
type startPlan struct {
	together bool
	why      string
}

// planStart chooses between all at once and one at a time. It lists the
// cluster's volumes on every swarm host: a volume means a node has (or
// had) data. Whatever it finds, r.brandNew says whether nothing of the
// cluster exists.
func (r *run) planStart(ctx context.Context, existing map[string]engine.Service) (startPlan, error) {
	var volumes []string
	for _, h := range r.swarm {
		vs, err := h.Engine.VolumeList(ctx, r.labels(engine.RoleCassandra, ""))
		if err != nil {
			return startPlan{}, fmt.Errorf("list the cluster's volumes on %s: %w", h.name(), err)
		}
		for _, v := range vs {
			volumes = append(volumes, v+" on "+h.name())
		}
		if r.volumes == nil {
			r.volumes = map[string]bool{}
		}
		for _, v := range vs {
			r.volumes[v+" on "+h.name()] = true
		}
	}
	r.brandNew = len(existing) == 0 && len(volumes) == 0
	if _, _, ok := r.plannedTokens(1); !ok {
		r.brandNew = false // the user's own tokens: swarmcass plans none
	}
	return chooseStart(r.cfg, existing, volumes), nil
}

// chooseStart is planStart's rule: all at once only for a brand-new
// cluster (no service and no volume of it), unless --one-at-a-time, and
// unless --node-env sets the tokens itself.
func chooseStart(cfg Config, existing map[string]engine.Service, volumes []string) startPlan {
	switch {
	case cfg.OneAtATime:
		return startPlan{why: "starting nodes one at a time (--one-at-a-time)"}
	case len(existing) > 0:
		return startPlan{why: fmt.Sprintf("the cluster has %d node services: missing nodes join one at a time", len(existing))}
	case len(volumes) > 0:
		return startPlan{why: fmt.Sprintf("the cluster has data (volumes %s): nodes join one at a time", strings.Join(volumes, ", "))}
	case envSet(cfg.NodeEnv, "CASSANDRA_INITIAL_TOKENS"):
		return startPlan{why: "--node-env sets CASSANDRA_INITIAL_TOKENS: nodes join one at a time"}
	}
	return startPlan{together: true, why: fmt.Sprintf("a brand-new cluster: starting all %d nodes at once with balanced tokens", cfg.Nodes)}
}

// envSet says whether env (KEY=VALUE pairs) sets key.
func envSet(env []string, key string) bool {
	_, ok := envValue(env, key)
	return ok
}

func envValue(env []string, key string) (string, bool) {
	v, ok := "", false
	for _, kv := range env {
		if k, val, found := strings.Cut(kv, "="); found && k == key {
			v, ok = val, true // the last one wins, as in --node-env's order
		}
	}
	return v, ok
}

// plannedTokens are the balanced tokens of n nodes and num_tokens per
// node (CASSANDRA_NUM_TOKENS from --node-env, else DefaultNumTokens); not
// ok when --node-env sets the tokens itself or num_tokens is not a number.
func (r *run) plannedTokens(n int) ([][]int64, int, bool) {
	if envSet(r.cfg.NodeEnv, "CASSANDRA_INITIAL_TOKENS") {
		return nil, 0, false
	}
	per := DefaultNumTokens
	if v, ok := envValue(r.cfg.NodeEnv, "CASSANDRA_NUM_TOKENS"); ok {
		var err error
		if per, err = strconv.Atoi(v); err != nil || per < 1 {
			return nil, 0, false
		}
	}
	tokens, err := BalancedTokens(n, per)
	return tokens, per, err == nil
}

// tokenEnv is the node contract's settings for a node that takes exactly
// tokens without bootstrapping.
func tokenEnv(tokens []int64, per int) []string {
	return []string{
		"CASSANDRA_INITIAL_TOKENS=" + TokenList(tokens),
		"CASSANDRA_NUM_TOKENS=" + strconv.Itoa(per),
		"CASSANDRA_AUTO_BOOTSTRAP=false",
	}
}

// ErrHasData is an all-at-once start refused because the cluster exists.
var ErrHasData = errors.New("the cluster already has nodes or data")

// startTogether creates every node at once and waits until each is UN in
// its own view and a seed's with all nodes UN, then checks that the nodes'
// host IDs differ and that each runs with exactly its planned tokens.
func (r *run) startTogether(ctx context.Context) error {
	n := r.cfg.Nodes
	// Checked again here, right before creating: an all-at-once start on
	// a cluster with data would give nodes ranges without their data.
	list, err := r.manager.Engine.ServiceList(ctx, r.labels(engine.RoleCassandra, ""))
	if err != nil {
		return fmt.Errorf("list the cluster's services on %s: %w", r.manager.name(), err)
	}
	existing := map[string]engine.Service{}
	for _, s := range list {
		existing[s.Name] = s
	}
	if plan, err := r.planStart(ctx, existing); err != nil {
		return err
	} else if !plan.together {
		return op.WithHint(fmt.Errorf("all-at-once start refused: %w (%s)", ErrHasData, plan.why),
			"run bootstrap again: nodes then join one at a time")
	}
	tokens, per, ok := r.plannedTokens(n)
	if !ok {
		return fmt.Errorf("no balanced tokens for %d nodes", n)
	}
	t0 := time.Now()
	results := make([]NodeResult, n)
	create := func(k int, first string) error {
		h, port := r.placement(k), r.newPort(k)
		if err := r.createNode(ctx, k, h, port, r.togetherEnv(k, first, tokens[k-1], per), nil); err != nil {
			return err
		}
		nr := NodeResult{Node: consulstore.Node{Name: nodeName(k)}, Created: true}
		if r.cfg.CQLPort > 0 {
			nr.CQL = net.JoinHostPort(h.Addr, strconv.Itoa(port))
		}
		results[k-1] = nr
		return nil
	}
	if err := create(1, ""); err != nil {
		return err
	}
	var looks map[string]nodewait.Look
	// The others wait for cass1 by its address: Swarm's DNS lists it only
	// once its health check passes, after its CQL port opened.
	addr, werr := "", error(nil)
	if n > 1 {
		addr, werr = r.wait.Address(ctx, "cass1")
	}
	if werr == nil {
		for k := 2; k <= n; k++ {
			if err := create(k, addr); err != nil {
				return err
			}
		}
		r.p.Infof("waiting for %d nodes started together", n)
		names := make([]string, n)
		for k := range results {
			names[k] = results[k].Name
		}
		looks, werr = r.wait.AllUN(ctx, names, n)
	}
	if werr != nil {
		werr = op.WithHint(werr, "the other nodes keep running; fix the cause and run bootstrap again: it continues one node at a time")
	}
	var created []*NodeResult
	for k := range results {
		if results[k].Name == "" {
			break // not created: cass1 did not become UN
		}
		created = append(created, &results[k])
	}
	return r.finishAll(ctx, created, looks, werr, t0, func(k int, nr *NodeResult, l nodewait.Look) error {
		if err := r.checkTokens(ctx, nr, l, tokens[k]); err != nil {
			return err
		}
		return uniqueHostID(results[:k+1])
	})
}

// finishAll records nodes started together (finishNode), each as its last
// look found it; check, when not nil, judges node k (0-based) once UN.
// werr is how waiting for them ended. Every node is recorded, also those
// that did not become UN, so that the record says where each stands.
func (r *run) finishAll(ctx context.Context, nodes []*NodeResult, looks map[string]nodewait.Look, werr error, t0 time.Time,
	check func(k int, nr *NodeResult, l nodewait.Look) error) error {
	var first error
	for k, nr := range nodes {
		l, ok := looks[nr.Name]
		var err error
		if ok && l.Ready {
			fillFromLook(nr, l)
			nr.ReadySeconds = time.Since(t0).Seconds()
			if check != nil {
				err = check(k, nr, l)
			}
		} else {
			err = fmt.Errorf("%s is not UN: %w", nr.Name, werr)
			if l.Host != nil {
				nr.SwarmNode, nr.Host = l.Task.NodeID, l.Host.Name()
			}
		}
		if err != nil {
			nr.State = "failed"
			if ctx.Err() != nil {
				nr.State = "interrupted"
			}
		}
		if err := r.finishNode(ctx, *nr, err); err != nil && first == nil {
			first = err
		}
	}
	if werr != nil {
		return werr
	}
	return first
}

// superuserSetupDelayEnv is the node contract's opt-in for
// cassandra.superuser_setup_delay_ms (cassandra-image/CONTRACT.md).
const superuserSetupDelayEnv = "CASSANDRA_SUPERUSER_SETUP_DELAY_MS"

// newClusterSuperuserSetupDelay is that delay for the nodes of a brand-new
// cluster; a failed try is made again after as long.
const newClusterSuperuserSetupDelay = time.Second

// superuserSetupDelay is the node setting for newClusterSuperuserSetupDelay.
func superuserSetupDelay() string {
	return fmt.Sprintf("%s=%d", superuserSetupDelayEnv, newClusterSuperuserSetupDelay.Milliseconds())
}

// togetherEnv is node k's first-boot settings in an all-at-once start:
// its tokens, the role manager's shorter setup delay when authentication
// is on, and for every node but the first the wait for the first
// node, by its address first (which then joins the node's seed list, see
// CONTRACT.md), or for any seed that answers.
func (r *run) togetherEnv(k int, first string, tokens []int64, per int) []string {
	env := tokenEnv(tokens, per)
	if r.res.Auth.On {
		// Every node of the new ring starts at once and sees the others
		// as it starts serving: no need for the role manager's 10 s wait
		// before it makes the default role the superuser is made through.
		env = append(env, superuserSetupDelay())
	}
	if k > 1 {
		env = append(env, "SWARMCASS_WAIT_FOR="+strings.Join(append([]string{first}, r.res.Seeds...), ","))
	}
	return env
}

// checkTokens: the node runs with exactly the tokens planned for it
// (nodetool info -T in the container last seen UN).
func (r *run) checkTokens(ctx context.Context, nr *NodeResult, l nodewait.Look, want []int64) error {
	if l.Host == nil {
		return fmt.Errorf("tokens of %s: its host is unknown", nr.Name)
	}
	got, err := nodewait.Tokens(ctx, l.Host.Engine, l.Task.ContainerID)
	if err != nil {
		return fmt.Errorf("tokens of %s: %w", nr.Name, err)
	}
	if !slices.Equal(got, want) {
		return op.WithHint(fmt.Errorf("node %s runs with tokens %s, not the planned %s", nr.Name, TokenList(got), TokenList(want)),
			"its volume held an earlier node's state; remove the cluster's volumes and run bootstrap again")
	}
	return nil
}

// uniqueHostID: no two of the nodes share a host ID.
func uniqueHostID(nodes []NodeResult) error {
	seen := map[string]string{}
	for _, n := range nodes {
		if n.HostID == "" {
			continue
		}
		if o, dup := seen[strings.ToLower(n.HostID)]; dup {
			return fmt.Errorf("nodes %s and %s have the same host ID %s", o, n.Name, n.HostID)
		}
		seen[strings.ToLower(n.HostID)] = n.Name
	}
	return nil
}

// returning are the nodes without a service that bootstrapped before:
// the record in Consul has their host ID (they were UN once), and their
// volume is on the host they are placed on, so their data and identity
// are there. Such a node does not bootstrap again when it starts. The
// record is r.rec, which ensureNodes has just read.
func (r *run) returning(ctx context.Context, existing map[string]engine.Service) (map[string]bool, error) {
	out := map[string]bool{}
	for k := 1; k <= r.cfg.Nodes; k++ {
		name := nodeName(k)
		if _, has := existing[name]; has {
			continue
		}
		n, ok := r.rec.Nodes[name]
		if !ok || n.HostID == "" {
			continue
		}
		h, err := r.nodeHost(ctx, k)
		if err != nil {
			return nil, err
		}
		if r.volumes[name+"-data on "+h.name()] {
			out[name] = true
		}
	}
	return out, nil
}

// restartTogether creates the services of nodes that bootstrapped before
// (returning) all at once, each waiting for upSeed (the seed found UN) before
// it starts, and waits until each is UN with at least started UN nodes in
// every view.
func (r *run) restartTogether(ctx context.Context, batch []int, started int, upSeed string) error {
	t0 := time.Now()
	var names []string
	results := map[string]*NodeResult{}
	for _, k := range batch {
		h, err := r.nodeHost(ctx, k) // where its volume is
		if err != nil {
			return err
		}
		port := r.cqlPort(k, h, nil) // its recorded port
		if err := r.createNode(ctx, k, h, port, r.firstBootEnv(k, upSeed), nil); err != nil {
			return err
		}
		nr := &NodeResult{Node: consulstore.Node{Name: nodeName(k)}, Created: true}
		if r.cfg.CQLPort > 0 {
			nr.CQL = net.JoinHostPort(h.Addr, strconv.Itoa(port))
		}
		names = append(names, nr.Name)
		results[nr.Name] = nr
	}
	r.p.Infof("restarting %s together: they bootstrapped before (their host IDs are in the record, their volumes on their hosts)", strings.Join(names, ", "))
	looks, werr := r.wait.AllUN(ctx, names, started)
	if werr != nil {
		werr = op.WithHint(werr, "the other nodes keep running; fix the cause and run bootstrap again")
	}
	var nodes []*NodeResult
	for _, name := range names {
		nodes = append(nodes, results[name])
	}
	return r.finishAll(ctx, nodes, looks, werr, t0, nil)
}
