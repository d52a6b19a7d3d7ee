package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cassandraimage "github.com/swarmcass/swarmcass/cassandra-image"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// VersionLabel is the image label that says which Cassandra release an
// image runs (the offline base sets it; the wrapper image inherits it).
const VersionLabel = "io.swarmcass.cassandra.version"

// change is what an upgrade changes on every node: a new image (built or
// taken as bootstrap does), the heap, the memory limit, extra environment.
type change struct {
	image  bool  // cfg names a new image (Image, ImageDir, CassandraVersion or BaseImage)
	heap   int64 // 0: unchanged
	memory int64 // 0: unchanged (or following the heap, when it did so)
	env    []string
}

// Upgrade rolls a new image, heap, memory limit or node environment out
// to every node, one at a time, as Restart restarts them: the canaries
// first (cfg.Canary, default 1), each waited for and its release checked
// (nodetool version); a node that does not come back is put back on its
// previous image and settings and the run stops there. It refuses what
// Cassandra does not support: a downgrade across major versions, or
// skipping one. Once every node is done the new release is the newest of
// the cluster's image history, which Rollback goes back from.
func Upgrade(ctx context.Context, cfg Config) (*Result, error) {
	ch := change{heap: cfg.Heap, memory: cfg.Memory, env: cfg.NodeEnv,
		image: cfg.Image != "" || cfg.ImageDir != "" || cfg.CassandraVersion != "" || cfg.BaseImage != ""}
	if errs := validateUpgrade(cfg, ch); len(errs) > 0 {
		return &Result{Operation: "upgrade", Cluster: cfg.Cluster}, errors.Join(errs...)
	}
	return operate(ctx, "upgrade", cfg, []op.Step[*run]{
		{Name: "Preflight", Run: attach},        // operation.go: the engines, the swarm, Consul, the record, the nodes
		{Name: "Lock", Run: lockFor("upgrade")}, // operation.go: one operation per cluster at a time
		{Name: "Image", Run: upgradeImage(ch)},  // image.go's ensureImage, when a new image is asked for
		{Name: "Check", Run: checkUpgrade(ch)},  // what changes on each node, the version rules, the plan
		{Name: "Plan", Run: showPlan(true)},     // operation.go: print it; stop on --dry-run; ask
		{Name: "Roll", Run: rollNodes},          // rolling.go: canaries, then the others; undo a node that fails
	})
}

// validateUpgrade checks the input before any engine is asked.
func validateUpgrade(cfg Config, ch change) []error {
	var errs []error
	if err := CheckCluster(cfg.Cluster); err != nil {
		errs = append(errs, err)
	}
	if !ch.image && ch.heap == 0 && ch.memory == 0 && len(ch.env) == 0 && !cfg.UpgradeSSTables {
		errs = append(errs, op.Hinted("pass --cassandra-version, --image, --image-dir, --heap, --memory or --node-env",
			"nothing to upgrade: no new image and no new setting"))
	}
	if cfg.Image != "" {
		if err := checkImage("--image", cfg.Image); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Image == "" && cfg.ImageDir != "" {
		if st, err := os.Stat(filepath.Join(cfg.ImageDir, "Dockerfile")); err != nil || st.IsDir() {
			errs = append(errs, op.Hinted("pass --image-dir a directory holding a Dockerfile", "image dir %s has no Dockerfile", cfg.ImageDir))
		}
	}
	if cfg.Image == "" && cfg.ImageDir == "" && cfg.CassandraVersion != "" {
		if err := cassandraimage.CheckVersion(cfg.CassandraVersion); err != nil {
			errs = append(errs, op.WithHint(err, "pass --cassandra-version 5.0 or 4.1 (or a full tag such as "+cassandraimage.DefaultVersion+")"))
		}
	}
	if n := btoi(cfg.Image != "") + btoi(cfg.ImageDir != "") + btoi(cfg.CassandraVersion != "" || cfg.BaseImage != ""); n > 1 {
		errs = append(errs, op.Hinted("pass one of them", "--image, --image-dir and --cassandra-version/--base-image each name the new image"))
	}
	if ch.heap != 0 && ch.heap < 64<<20 {
		errs = append(errs, op.Hinted("pass --heap 256M or more", "heap %s is too small for Cassandra", FormatBytes(ch.heap)))
	}
	if ch.memory != 0 && ch.heap != 0 && ch.memory < ch.heap {
		errs = append(errs, op.Hinted("give each node at least its heap", "memory limit %s is below the heap %s", FormatBytes(ch.memory), FormatBytes(ch.heap)))
	}
	for _, kv := range ch.env {
		k, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			errs = append(errs, op.Hinted("write each --node-env as KEY=VALUE", "invalid --node-env %q", kv))
		case k == "MAX_HEAP_SIZE" || k == "HEAP_NEWSIZE":
			errs = append(errs, op.Hinted("use --heap", "--node-env %s: the heap is --heap's", kv))
		case slices.Contains(ownedEnv, k):
			errs = append(errs, op.Hinted("leave it out: swarmcass sets it from the node's place in the cluster", "--node-env %s cannot be changed", kv))
		}
	}
	if cfg.Canary < 0 {
		errs = append(errs, op.Hinted("pass --canary 1 or more", "--canary %d", cfg.Canary))
	}
	return errs
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// upgradeImage builds and pushes the new image as bootstrap does
// (ensureImage), when there is one.
func upgradeImage(ch change) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		if !ch.image {
			return nil
		}
		if r.cfg.Image != "" {
			if _, err := r.infra.Engine.ImageInspect(ctx, r.cfg.Image); err != nil {
				return op.Hinted("load or pull it on "+r.infra.name()+" first (docker pull, or swarmcass lab load)",
					"--image %s is not on the infra engine %s: %v", r.cfg.Image, r.infra.name(), err)
			}
		}
		r.pull = r.pullAddr()
		return ensureImage(ctx, r)
	}
}

// checkUpgrade works out each node's new spec and what changes on it,
// refuses a version jump Cassandra does not support, and plans the
// nodes: canaries first, nodes already on the new release (an earlier,
// interrupted run) left out.
func checkUpgrade(ch change) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		pending, from, err := r.startRoll(ctx, "upgrade")
		if err != nil {
			return err
		}
		to := r.imageLabels[VersionLabel]
		if to == "" && strings.Count(r.cfg.CassandraVersion, ".") == 2 {
			to = r.cfg.CassandraVersion
		}
		if !ch.image {
			to = from
		}
		if err := checkVersionStep(from, to); err != nil {
			return err
		}
		ro := &rollout{op: "upgrade", undo: true, version: to, canary: max(r.cfg.Canary, 1),
			target: map[string]engine.ServiceSpec{}, before: map[string]engine.ServiceSpec{}}
		if to == "" {
			ro.check = func(reported string) error { return checkVersionStep(from, reported) }
		}
		ro.history = r.rec.History
		var rel consulstore.Release
		for _, n := range r.nodeNames() {
			cur := r.services[n].Spec
			t := ch.apply(cur, r.res.Image)
			rel = releaseOf(t)
			if len(ro.history) == 0 && n != pending && !sameRelease(cur, t) {
				// The history starts with what the nodes ran before.
				first := releaseOf(cur)
				first.Version, first.By, first.At = from, "bootstrap", time.Now().UTC()
				ro.history = []consulstore.Release{first}
			}
			if n == pending {
				ro.pending, ro.acted, ro.target[n] = n, r.resumeActed, t
				continue
			}
			if sameRelease(cur, t) {
				ro.done = append(ro.done, n)
				continue
			}
			r.plan = append(r.plan, ro.add(n, cur, t, ""))
		}
		rel.Version, rel.By = to, "upgrade"
		ro.release = &rel
		if len(ro.done) > 0 && len(ro.nodes) > 0 {
			r.p.Infof("%s run the new release already (an earlier run): left as they are", strings.Join(ro.done, ", "))
		}
		if pending != "" {
			r.plan = append([]string{fmt.Sprintf("wait for %s, which an interrupted run was acting on", pending)}, r.plan...)
		}
		only := len(ro.nodes) == 0 && pending == "" // every node is on the release: --upgradesstables alone
		ro.after = afterUpgrade(from, only)
		switch {
		case r.cfg.UpgradeSSTables && only:
			r.plan = append(r.plan, "nodetool upgradesstables on each node in turn")
		case r.cfg.UpgradeSSTables:
			r.plan = append(r.plan, "then nodetool upgradesstables on each node in turn, if the major version changed")
		}
		r.roll = ro
		return nil
	}
}

// apply is spec with the change: the new image when there is one, the
// heap (and the memory limit with it when it followed the heap), the
// memory limit, the extra environment.
func (ch change) apply(s engine.ServiceSpec, image string) engine.ServiceSpec {
	t := cloneSpec(s)
	if ch.image {
		t.Image = image
	}
	if ch.heap != 0 {
		old := heapOf(s)
		for _, kv := range heapEnv(ch.heap) {
			t.Env = setEnv(t.Env, kv)
		}
		if ch.memory == 0 && old != 0 && s.MemoryLimit == 2*old+NodeToolRoom {
			t.MemoryLimit = 2*ch.heap + NodeToolRoom
		}
	}
	if ch.memory != 0 {
		t.MemoryLimit = ch.memory
	}
	for _, kv := range ch.env {
		t.Env = setEnv(t.Env, kv)
	}
	return t
}

// pullAddr is where the swarm's engines pull nodes' image from: the
// registry's address; when one engine plays every role, loopback, which
// every engine trusts, whatever address it is reached at.
func (r *run) pullAddr() string {
	if len(r.allHosts()) == 1 {
		return registry.Addr("127.0.0.1")
	}
	return registry.Addr(r.infra.Addr)
}

// clusterVersion is the release the nodes report (nodetool version); the
// nodes must agree, but for skip (a node an interrupted run acted on).
func (r *run) clusterVersion(ctx context.Context, skip string) (string, error) {
	seen := map[string][]string{}
	var first string
	for _, n := range r.nodeNames() {
		if n == skip {
			continue
		}
		v, err := r.nodeVersion(ctx, n)
		if err != nil {
			return "", fmt.Errorf("%s: %w", n, err)
		}
		if first == "" {
			first = v
		}
		seen[v] = append(seen[v], n)
	}
	if len(seen) > 1 {
		var parts []string
		for v, ns := range seen {
			parts = append(parts, v+" on "+strings.Join(ns, ", "))
		}
		slices.Sort(parts)
		r.p.Infof("the nodes run different releases: %s", strings.Join(parts, "; "))
	}
	return first, nil
}

// checkVersionStep refuses what Cassandra does not support between two
// releases: going back across a major version, or skipping one (3.11 to
// 5.0: 5.0 talks to 4.0 and later only). Unknown releases pass.
func checkVersionStep(from, to string) error {
	fm, _, ok1 := majorMinor(from)
	tm, _, ok2 := majorMinor(to)
	if !ok1 || !ok2 {
		return nil
	}
	switch {
	case tm < fm:
		return op.Hinted(fmt.Sprintf("stay on %d.x: a node of %d.x cannot read what %s wrote; restore a backup onto a new cluster to go back", fm, tm, from),
			"%s to %s is a downgrade across major versions, which Cassandra does not support", from, to)
	case tm > fm+1:
		return op.Hinted(fmt.Sprintf("upgrade to %d.x first, then to %s", fm+1, to),
			"%s to %s skips major version %d, which Cassandra does not support", from, to, fm+1)
	}
	return nil
}

// afterUpgrade: after a major upgrade (or always, with only: nothing
// else to do), nodetool upgradesstables on each node in turn
// (--upgradesstables), or the advice to run it.
func afterUpgrade(from string, only bool) func(ctx context.Context, r *run) error {
	return func(ctx context.Context, r *run) error {
		fm, _, ok := majorMinor(from)
		var to string
		for _, v := range r.versions {
			to = v
		}
		tm, _, ok2 := majorMinor(to)
		if !only && (!ok || !ok2 || tm <= fm) {
			return nil
		}
		if !r.cfg.UpgradeSSTables {
			if only {
				return nil
			}
			r.p.Infof("a major upgrade (%s to %s): rewrite the SSTables in the new format with swarmcass upgrade --cluster %s --upgradesstables", from, to, r.cfg.Cluster)
			return nil
		}
		_, err := op.Rolling{
			Nodes: r.nodeNames(),
			Gate:  r.rollGate,
			Act: func(ctx context.Context, node string) error {
				t, h, ok, err := r.wait.Container(ctx, node)
				if err != nil || !ok {
					return fmt.Errorf("%s does not run (%v)", node, err)
				}
				r.p.Infof("%s: nodetool upgradesstables", node)
				if _, out, err := nodewait.Nodetool(ctx, h.Engine, t.ContainerID, "upgradesstables"); err != nil {
					return fmt.Errorf("nodetool upgradesstables in %s: %w\n%s", node, err, op.Indent(out))
				}
				return nil
			},
			Progress: r.p,
		}.Run(ctx)
		return err
	}
}

// differs says how an existing node's spec differs from what this
// bootstrap would create (image, heap, memory limit, --node-env), or "".
func (r *run) differs(s engine.ServiceSpec) string {
	want := consulstore.Release{Image: r.res.Image, Memory: r.cfg.Memory,
		Env: append(heapEnv(r.cfg.Heap), r.cfg.NodeEnv...)}
	have := releaseOf(s)
	if have.Same(want) {
		return ""
	}
	return strings.Join(describeChange(have, want), ", ")
}

// describeChange says what differs from a to b, one phrase each.
func describeChange(a, b consulstore.Release) []string {
	var out []string
	if a.Image != b.Image {
		out = append(out, fmt.Sprintf("image %s -> %s", shortImage(a.Image), shortImage(b.Image)))
	}
	if a.Memory != b.Memory {
		out = append(out, fmt.Sprintf("memory limit %s -> %s", FormatBytes(a.Memory), FormatBytes(b.Memory)))
	}
	av, bv := envMap(a.Env), envMap(b.Env)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range av {
			if !yield(k) {
				return
			}
		}
		for k := range bv {
			if _, ok := av[k]; !ok && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		x, inA := av[k]
		y, inB := bv[k]
		switch {
		case inA && inB && x != y:
			out = append(out, fmt.Sprintf("%s %s -> %s", k, x, y))
		case inA && !inB:
			out = append(out, k+" removed")
		case !inA && inB:
			out = append(out, fmt.Sprintf("%s=%s added", k, y))
		}
	}
	if len(out) == 0 {
		out = append(out, "no change")
	}
	return out
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// shortImage is an image reference with its digest cut to 12 digits.
func shortImage(ref string) string {
	if i := strings.Index(ref, "@sha256:"); i >= 0 && len(ref) > i+8+12 {
		return ref[:i+8+12]
	}
	return ref
}
