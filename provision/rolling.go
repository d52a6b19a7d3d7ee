package provision

// The rolling node loop restart, upgrade and rollback share: one node at a
// time, each gated on a healthy ring with one schema, drained, its service
// task replaced (same host, same volume), and waited for until it is UN in
// every view, answers on its CQL port and agrees on the schema; the record
// is written after each node. upgrade and rollback undo a node that does
// not come back (its previous image and settings), restart leaves it be.
//
// Resume: the rollout in progress is in the record (consulstore.Rollout):
// a re-run first waits for the node an interrupted run was acting on, then
// continues with the nodes not done (restart: by the record; upgrade and
// rollback: by the services' specs, which say which image each runs).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetls"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
)

// rollout is what the Roll step does, as the operation's checks set it.
type rollout struct {
	op    string
	nodes []string // to act on, in order
	// pending is a node an interrupted run was acting on: waited for
	// (and recorded) before the others; acted: its new task was asked
	// for, else it gets one first.
	pending string
	acted   bool
	// target is each node's new spec; force restarts a node whose spec
	// is unchanged (restart).
	target map[string]engine.ServiceSpec
	force  bool
	// undo: a node that does not come back goes back to its spec before.
	undo bool
	// version is the Cassandra release each node must report once back
	// (nodetool version); "" checks none. check judges the release the
	// canaries report when version is not known before (upgrade's rules).
	version string
	check   func(reported string) error
	canary  int
	// release is the cluster's image and settings once every node is done,
	// written to the image history; nil: no new release (restart).
	release *consulstore.Release
	// history is the image history to write once every node is done.
	history []consulstore.Release
	// after runs once every node is done (upgradesstables); back after
	// each node is back and recorded (auth enable: the superuser, once the
	// first node authenticates).
	after func(ctx context.Context, r *run) error
	back  func(ctx context.Context, r *run, node string) error
	// done are the nodes an earlier run did.
	done []string
	// before are the specs of the nodes before this run changed them.
	before map[string]engine.ServiceSpec
}

// RolledNode is one node a rolling operation acted on.
type RolledNode struct {
	Name string
	// Down is how long the node was out: from its drain until it was UN
	// in every view again with its CQL port answering.
	Down    time.Duration
	Version string // nodetool version once back
	// Undone: it did not come back and was put back as it was.
	Undone bool
}

// rollNodes is the Roll step of restart, upgrade and rollback.
func rollNodes(ctx context.Context, r *run) error {
	ro := r.roll
	all := slices.Clone(ro.done)
	if ro.pending != "" {
		all = append(all, ro.pending)
	}
	progress := consulstore.Rollout{Op: ro.op, Nodes: append(all, ro.nodes...), Done: slices.Clone(ro.done), Started: time.Now().UTC(), To: ro.release}
	if ro.pending != "" {
		start := time.Now()
		if ro.acted {
			r.p.Infof("%s: acted on by an interrupted run; waiting for it first", ro.pending)
			tasks, err := r.manager.Engine.TaskList(ctx, ro.pending)
			if err != nil {
				return fmt.Errorf("list tasks of %s: %w", ro.pending, err)
			}
			// Tasks that ended before now (a failed start the earlier run saw)
			// are history: Swarm's restart policy has started another.
			r.tasksBefore = map[string]map[string]bool{ro.pending: nodewait.Ended(tasks)}
		} else {
			// Stopped between its drain and its new task: it may be drained
			// (no drain again), and it needs the new task all the same.
			r.p.Infof("%s: an interrupted run stopped while taking it out; restarting it first", ro.pending)
			if err := r.writeRollout(ctx, progress, ro.pending, false); err != nil {
				return err
			}
			if err := r.replaceTask(ctx, ro.pending, ro.target[ro.pending], true, false); err != nil {
				return err
			}
			if err := r.writeRollout(ctx, progress, ro.pending, true); err != nil {
				return err
			}
		}
		look, err := r.waitBack(ctx, ro.pending, r.tasksBefore[ro.pending], ro.version)
		if err != nil {
			return op.WithHint(err, "fix the cause and run again: it continues with "+ro.pending)
		}
		r.res.Rolled = append(r.res.Rolled, RolledNode{Name: ro.pending, Down: time.Since(start)})
		progress.Done = append(progress.Done, ro.pending)
		if err := r.recordRolled(ctx, ro.pending, look, progress); err != nil {
			return err
		}
		if err := r.rolledBack(ctx, ro.pending); err != nil {
			return err
		}
		if err := r.checkPasses(ctx, ro.pending); err != nil {
			return err
		}
	}
	if len(r.rec.History) == 0 && len(ro.history) > 0 {
		// The release the nodes ran before the first change: what a
		// rollback goes back to, also after this run stops part way.
		if err := consulstore.WriteHistory(ctx, r.consul, r.cfg.Cluster, ro.history); err != nil {
			return err
		}
	}
	var downSince time.Time
	loop := op.Rolling{
		Nodes: ro.nodes,
		Gate:  r.rollGate,
		Act: func(ctx context.Context, node string) error {
			downSince = time.Now()
			cur := progress
			cur.Done = slices.Clone(progress.Done)
			if err := r.writeRollout(ctx, cur, node, false); err != nil {
				return err
			}
			if err := r.replaceTask(ctx, node, ro.target[node], ro.force, true); err != nil {
				return err
			}
			return r.writeRollout(ctx, cur, node, true)
		},
		Wait: func(ctx context.Context, node string) error {
			r.p.Infof("%s: waiting until it is UN in every view, answers CQL and agrees on the schema", node)
			look, err := r.waitBack(ctx, node, r.tasksBefore[node], ro.version)
			if err != nil {
				return err
			}
			down := time.Since(downSince)
			r.p.Infof("%s: back after %.1fs down", node, down.Seconds())
			r.res.Rolled = append(r.res.Rolled, RolledNode{Name: node, Down: down, Version: r.versions[node]})
			progress.Done = append(progress.Done, node)
			if err := r.recordRolled(ctx, node, look, progress); err != nil {
				return err
			}
			if err := r.rolledBack(ctx, node); err != nil {
				return err
			}
			return r.checkPasses(ctx, node)
		},
		KeepOnInterrupt: true,
		Canary:          ro.canary,
		Progress:        r.p,
	}
	if ro.undo {
		loop.Undo = func(ctx context.Context, node string) error {
			prev, ok := ro.before[node]
			if !ok {
				return fmt.Errorf("%s: its spec before is not known", node)
			}
			r.p.Infof("%s: rolling it back to %s", node, prev.Image)
			// No drain: it did not come back, there is nothing to flush.
			if err := r.replaceTask(ctx, node, prev, false, false); err != nil {
				return err
			}
			look, err := r.waitBack(ctx, node, r.tasksBefore[node], "")
			if err != nil {
				return err
			}
			r.res.Rolled = append(r.res.Rolled, RolledNode{Name: node, Down: time.Since(downSince), Version: r.versions[node], Undone: true})
			if err := r.recordRolled(ctx, node, look, progress); err != nil {
				return err
			}
			return r.checkPasses(ctx, node)
		}
	}
	if ro.canary > 0 && ro.canary < len(ro.nodes) {
		loop.AfterCanary = func(ctx context.Context, canaries []string) error {
			for _, c := range canaries {
				v := r.versions[c]
				if ro.check != nil {
					if err := ro.check(v); err != nil {
						return fmt.Errorf("canary %s reports %s: %w", c, v, err)
					}
				}
				r.p.Infof("canary %s is back on %s: rolling the other %d nodes", c, v, len(ro.nodes)-len(canaries))
			}
			return nil
		}
	}
	_, err := loop.Run(ctx)
	if err != nil {
		r.res.Image = r.rec.Image // the new image is not every node's
		var ne *op.NodeError
		hint := "fix the cause and run again: it continues with the node it stopped at"
		if errors.As(err, &ne) && ne.Undo == nil && ro.undo && ctx.Err() == nil && ne.Stage != op.StageGate {
			hint = ne.Node + " was put back on its previous image and settings; the nodes before it keep the new ones (swarmcass rollback takes them back too)"
		}
		return op.WithHint(err, hint)
	}
	if ro.after != nil {
		if err := ro.after(ctx, r); err != nil {
			return err
		}
	}
	return r.finishRollout(ctx)
}

// rolledBack runs the rollout's back hook, if any, for node once it is back.
func (r *run) rolledBack(ctx context.Context, node string) error {
	if r.roll.back == nil {
		return nil
	}
	return r.roll.back(ctx, r, node)
}

// rollGate is the check before each node: the ring healthy in every view
// (ringHealthy) and one schema version.
func (r *run) rollGate(ctx context.Context) error {
	if err := r.ringHealthy(ctx); err != nil {
		return err
	}
	names := r.nodeNames()
	if len(names) == 0 {
		return op.Hinted("swarmcass bootstrap recreates the nodes' services from the record", "cluster %s has no node service", r.cfg.Cluster)
	}
	if why := r.schemaDisagrees(ctx, names[0]); why != "" {
		return op.WithHint(errors.New(why), "wait for the schema to settle (nodetool describecluster) and run again")
	}
	return nil
}

// replaceTask drains node (with drain, when it runs) and has Swarm
// replace its task with one of spec (force: even when spec is unchanged),
// on the same host and volume: the service's constraint pins it there.
// tasksBefore keeps the tasks it had, so the wait knows the new one.
func (r *run) replaceTask(ctx context.Context, node string, spec engine.ServiceSpec, force, drain bool) error {
	tasks, err := r.manager.Engine.TaskList(ctx, node)
	if err != nil {
		return fmt.Errorf("list tasks of %s: %w", node, err)
	}
	if r.tasksBefore == nil {
		r.tasksBefore = map[string]map[string]bool{}
	}
	before := map[string]bool{}
	for _, t := range tasks {
		before[t.ID] = true
	}
	r.tasksBefore[node] = before
	if _, _, ok, _ := r.wait.Container(ctx, node); ok && drain {
		r.p.Infof("%s: drain", node)
		if err := r.drain(ctx, node); err != nil {
			return err
		}
	}
	what := "restart its task"
	if cur, ok := r.services[node]; ok && cur.Spec.Image != spec.Image {
		what = "start it on " + spec.Image
	} else if ok && !reflect.DeepEqual(cur.Spec.Env, spec.Env) || ok && cur.Spec.MemoryLimit != spec.MemoryLimit {
		what = "restart it with the new settings"
	}
	r.p.Infof("%s: %s", node, what)
	if err := r.manager.Engine.ServiceUpdate(ctx, node, spec, force); err != nil {
		return fmt.Errorf("update service %s: %w", node, err)
	}
	s := r.services[node]
	s.Spec, s.Image = spec, spec.Image
	r.services[node] = s
	return nil
}

// waitBack waits until node runs a task not in before, is UN in its own
// view and a seed's (nodewait), then until every view lists every node UN,
// its CQL port answers, the schema agrees and, when version is set, it
// reports that release; it returns the look that saw it UN. On failure
// the error carries its last log lines.
func (r *run) waitBack(ctx context.Context, node string, before map[string]bool, version string) (nodewait.Look, error) {
	if len(before) > 0 {
		t0 := time.Now()
		defer func() { r.p.Debugf("%s: back %.1fs after its new task was asked for", node, time.Since(t0).Seconds()) }()
		err := op.Poll(ctx, r.cfg.PollInterval, r.cfg.NodeTimeout, "Swarm to start a new task of "+node, func() (bool, error) {
			tasks, err := r.manager.Engine.TaskList(ctx, node)
			return err == nil && len(tasks) > 0 && !before[tasks[0].ID], nil
		})
		if err != nil {
			return nodewait.Look{}, fmt.Errorf("%s: %w", node, err)
		}
	}
	start := time.Now()
	look, err := r.wait.UN(ctx, node, len(r.services), before)
	if err != nil {
		return look, err
	}
	r.p.Infof("%s: UN in its own view and a seed's after %.1fs", node, time.Since(start).Seconds())
	var why string
	err = op.Poll(ctx, r.cfg.PollInterval, r.cfg.NodeTimeout, node+" to be UN in every view with CQL and one schema", func() (bool, error) {
		why = r.backWhy(ctx, node, version)
		if why != "" {
			r.p.Debugf("%s: %s", node, why)
		}
		return why == "", nil
	})
	if err != nil {
		return look, r.nodeReport(ctx, node, fmt.Errorf("%w (last: %s)", err, why))
	}
	return look, nil
}

// backWhy says why node is not back yet, or "".
func (r *run) backWhy(ctx context.Context, node, version string) string {
	if err := r.wait.Healthy(ctx, r.nodeNames()); err != nil {
		return err.Error()
	}
	if addr := r.cqlAddr(ctx, node); addr != "" && !r.cfg.Remote.Listening(ctx, addr) {
		return "its CQL port " + addr + " does not answer"
	}
	if why := r.schemaDisagrees(ctx, node); why != "" {
		return why
	}
	v, err := r.nodeVersion(ctx, node)
	if err != nil {
		return err.Error()
	}
	if version != "" && v != version {
		return fmt.Sprintf("it reports release %s, not %s", v, version)
	}
	return ""
}

// nodeVersion is the release node reports (nodetool version), kept in
// r.versions.
func (r *run) nodeVersion(ctx context.Context, node string) (string, error) {
	t, h, ok, err := r.wait.Container(ctx, node)
	if err != nil || !ok {
		return "", fmt.Errorf("%s does not run (%v)", node, err)
	}
	out, _, err := nodewait.Nodetool(ctx, h.Engine, t.ContainerID, "version")
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ReleaseVersion:"); ok {
			if r.versions == nil {
				r.versions = map[string]string{}
			}
			r.versions[node] = strings.TrimSpace(v)
			return r.versions[node], nil
		}
	}
	return "", fmt.Errorf("nodetool version in %s printed no ReleaseVersion: %q", node, out)
}

// cqlAddr is where node's CQL port is published (host:port), or "" when
// it publishes none.
func (r *run) cqlAddr(ctx context.Context, node string) string {
	port := publishedCQL(r.services[node])
	if port == "" {
		return ""
	}
	_, h, ok, err := r.wait.Container(ctx, node)
	if err != nil || !ok {
		return ""
	}
	return net.JoinHostPort(h.Addr, port)
}

// recordRolled writes node's record as look saw it back and the
// rollout's progress: the record says which nodes are done after each one.
func (r *run) recordRolled(ctx context.Context, node string, look nodewait.Look, progress consulstore.Rollout) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	nr := NodeResult{Node: r.rec.Nodes[node]}
	nr.Name, nr.State, nr.Address, nr.HostID = node, "UN", look.Address, look.HostID
	if look.Host != nil {
		nr.SwarmNode, nr.Host = look.Task.NodeID, look.Host.Name()
		if port := publishedCQL(r.services[node]); port != "" {
			nr.CQL = net.JoinHostPort(look.Host.Addr, port)
		}
	}
	if err := r.recordNode(rctx, nr); err != nil {
		return err
	}
	r.rec.Nodes[node] = nr.Node
	if err := r.registerNode(rctx, nr); err != nil {
		return err
	}
	return r.writeRollout(rctx, progress, "", false)
}

// checkPasses waits until Consul's check of node's CQL port passes, so
// that Consul offers it as a contact point again before the next node
// goes out.
func (r *run) checkPasses(ctx context.Context, node string) error {
	return r.waitChecks(ctx, []consulstore.Service{consulstore.NodeService(r.cfg.Cluster, r.rec.Nodes[node])})
}

// recordTimeout bounds the writes to Consul after a node, which go on
// after Ctrl-C so that the record says where the run stopped.
const recordTimeout = 15 * time.Second

// writeRollout records the rollout's progress, with current the node
// being acted on, and acted once its new task was asked for.
func (r *run) writeRollout(ctx context.Context, progress consulstore.Rollout, current string, acted bool) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	progress.Current, progress.Acted = current, acted
	if err := consulstore.WriteRollout(rctx, r.consul, r.cfg.Cluster, progress); err != nil {
		return fmt.Errorf("record the %s's progress in Consul: %w", progress.Op, err)
	}
	return nil
}

// finishRollout: every node is done; the new release becomes the record's
// image and the newest of its history, and the rollout record goes.
func (r *run) finishRollout(ctx context.Context) error {
	ro := r.roll
	if ro.release != nil {
		rel := *ro.release
		if rel.Version == "" && len(ro.nodes) > 0 {
			rel.Version = r.versions[ro.nodes[0]]
		}
		rel.At = time.Now().UTC()
		h := ro.history
		if len(h) == 0 || !h[len(h)-1].Same(rel) {
			h = append(h, rel)
		}
		if err := consulstore.WriteHistory(ctx, r.consul, r.cfg.Cluster, h); err != nil {
			return err
		}
		if err := consulstore.WriteCluster(ctx, r.consul, r.cfg.Cluster, r.res.Seeds, rel.Image, r.rec.Network); err != nil {
			return err
		}
		r.res.Image = rel.Image
	}
	return consulstore.ClearRollout(ctx, r.consul, r.cfg.Cluster)
}

// startRoll begins the checks of upgrade and rollback: the node an
// interrupted run of opName was acting on, if any (the ring is judged
// later then: that node may still be starting), else the gate; and the
// release the nodes report.
func (r *run) startRoll(ctx context.Context, opName string) (pending, from string, err error) {
	pending, _ = r.resumeFrom(opName)
	if pending == "" {
		if err := r.rollGate(ctx); err != nil {
			return "", "", err
		}
	}
	from, err = r.clusterVersion(ctx, pending)
	return pending, from, err
}

// add plans node n to go from spec cur to spec to, and returns the plan's
// line: what changes on it, after what; the first canary nodes say so.
func (ro *rollout) add(n string, cur, to engine.ServiceSpec, what string) string {
	ro.nodes = append(ro.nodes, n)
	ro.target[n], ro.before[n] = to, cur
	role := ""
	if len(ro.nodes) <= ro.canary {
		role = " (canary)"
	}
	return fmt.Sprintf("%s%s: %s%s", n, role, what, strings.Join(describeChange(releaseOf(cur), releaseOf(to)), "; "))
}

// resumeFrom reads the record's rollout: the node an interrupted run was
// acting on (waited for first) and, for a rollout of the same operation,
// the nodes it did.
func (r *run) resumeFrom(opName string) (pending string, done []string) {
	ro := r.rec.Rollout
	if ro == nil {
		return "", nil
	}
	r.resumeActed = ro.Acted
	if _, ok := r.services[ro.Current]; ok {
		pending = ro.Current
	}
	if ro.Op == opName {
		done = ro.Done
	}
	return pending, done
}

// ownedEnv are the environment variables swarmcass sets on a node for
// its place in the cluster; the rest (heap, --node-env) are its settings.
// (CASSANDRA_BROADCAST_RPC_ADDRESS and CASSANDRA_NATIVE_TRANSPORT_PORT
// are a node's host address and port with --clients host; the tokens and
// auto_bootstrap are what it was given to start all at once, and hold for
// as long as its data does; SWARMCASS_AUTH and SWARMCASS_TLS are the
// cluster's, as its secrets, which a re-run keeps and never reports).
var ownedEnv = []string{"CASSANDRA_CLUSTER_NAME", "CASSANDRA_LISTEN_SUBNET", "SWARMCASS_WAIT_FOR",
	"CASSANDRA_BROADCAST_RPC_ADDRESS", "CASSANDRA_NATIVE_TRANSPORT_PORT",
	"CASSANDRA_INITIAL_TOKENS", "CASSANDRA_NUM_TOKENS", "CASSANDRA_AUTO_BOOTSTRAP", "SWARMCASS_AUTH", superuserSetupDelayEnv, nodetls.Env}

func envKey(kv string) string { k, _, _ := strings.Cut(kv, "="); return k }

// releaseOf is the image and settings a node's spec runs.
func releaseOf(s engine.ServiceSpec) consulstore.Release {
	rel := consulstore.Release{Image: s.Image, Memory: s.MemoryLimit}
	for _, kv := range s.Env {
		if !slices.Contains(ownedEnv, envKey(kv)) {
			rel.Env = append(rel.Env, kv)
		}
	}
	return rel
}

// withRelease is spec running rel's image and settings, its own place in
// the cluster kept.
func withRelease(s engine.ServiceSpec, rel consulstore.Release) engine.ServiceSpec {
	t := cloneSpec(s)
	t.Image, t.MemoryLimit = rel.Image, rel.Memory
	t.Env = nil
	for _, kv := range s.Env {
		if slices.Contains(ownedEnv, envKey(kv)) {
			t.Env = append(t.Env, kv)
		}
	}
	t.Env = append(t.Env, rel.Env...)
	return t
}

// setEnv sets KEY=VALUE in env, in place of an earlier value of KEY.
func setEnv(env []string, kv string) []string {
	k := envKey(kv)
	for i, old := range env {
		if envKey(old) == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

func cloneSpec(s engine.ServiceSpec) engine.ServiceSpec {
	t := s
	t.Env = slices.Clone(s.Env)
	t.Args = slices.Clone(s.Args)
	return t
}

// sameRelease: a and b run the same image and settings.
func sameRelease(a, b engine.ServiceSpec) bool { return releaseOf(a).Same(releaseOf(b)) }

// heapOf is the MAX_HEAP_SIZE a spec sets, in bytes; 0 when none.
func heapOf(s engine.ServiceSpec) int64 {
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, "MAX_HEAP_SIZE="); ok {
			n, err := ParseBytes(v)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// majorMinor splits a release such as 5.0.8 into 5 and 0.
func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(parts[0])
	b, err2 := strconv.Atoi(parts[1])
	return a, b, err1 == nil && err2 == nil
}
