package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// infos records what an operation reports to the user.
type infos struct {
	op.Silent
	mu    sync.Mutex
	lines []string
}

func (p *infos) Infof(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

func (p *infos) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.lines, func(l string) bool { return strings.Contains(l, s) })
}

// imageDir is a build context whose Dockerfile carries labels (the fake
// build gives them to the image, and Swarm's containers carry them): the
// harness reports io.swarmcass.cassandra.version as the node's release,
// and never lets a node of an image labelled test.broken=true be UN.
func (l *lab) imageDir(name string, labels ...string) string {
	dir := filepath.Join(l.t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	df := "FROM scratch\nCOPY cassim /\n"
	if len(labels) > 0 {
		df += "LABEL " + strings.Join(labels, " ") + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cassim"), []byte("binary "+name), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return dir
}

// updates are the nodes whose services were updated, in order.
func (l *lab) updates() []string {
	var out []string
	for _, e := range l.w.Log() {
		if _, node, ok := strings.Cut(e, "ServiceUpdate "); ok {
			out = append(out, node)
		}
	}
	return out
}

// images are the images the nodes' services run, by node.
func (l *lab) images(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		s, err := l.swarm[0].ServiceInspect(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = s.Spec.Image
	}
	return out
}

func (l *lab) record(t *testing.T) consulstore.Record {
	t.Helper()
	rec, err := consulstore.ReadRecord(context.Background(), l.consul(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func confirmYes(context.Context, []string) error { return nil }

func TestRestart(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	boot := bootstrap(t, cfg)

	res, err := Restart(ctx, cfg, nil)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("restarted %s, want cass1,cass2,cass3 in order", got)
	}
	// Each node drained, restarted, and waited for (its version asked once
	// back) before the next is drained.
	var order []string
	for _, c := range l.ring.callsOf() {
		if strings.HasPrefix(c, "drain ") || strings.HasPrefix(c, "version ") {
			order = append(order, c)
		}
	}
	if got := strings.Join(order, ","); got != "drain cass1,version cass1,drain cass2,version cass2,drain cass3,version cass3" {
		t.Errorf("nodetool calls %s", got)
	}
	if len(res.Rolled) != 3 || res.Rolled[2].Name != "cass3" || res.Rolled[0].Down <= 0 || res.Rolled[0].Version != defaultRelease {
		t.Errorf("rolled %+v", res.Rolled)
	}
	for n, img := range l.images(t) {
		if img != boot.Image {
			t.Errorf("%s runs %s after a restart, not %s", n, img, boot.Image)
		}
	}
	rec := l.record(t)
	if rec.Rollout != nil || rec.Nodes["cass2"].State != "UN" {
		t.Errorf("record after the restart: rollout %+v, cass2 %+v", rec.Rollout, rec.Nodes["cass2"])
	}
	if l.consul().Locks() != 0 {
		t.Error("the lock was kept")
	}
	if len(l.ring.concurrent) > 0 {
		t.Errorf("nodes started while others were out: %v", l.ring.concurrent)
	}
	var b strings.Builder
	res.Summary(&b)
	if !strings.Contains(b.String(), "cass2  ") || !strings.Contains(b.String(), "DOWN") {
		t.Errorf("summary without each node's down time:\n%s", b.String())
	}

	t.Run("named nodes only", func(t *testing.T) {
		before := len(l.updates())
		if _, err := Restart(ctx, cfg, []string{"cass2"}); err != nil {
			t.Fatal(op.Explain(err))
		}
		if got := l.updates()[before:]; !slices.Equal(got, []string{"cass2"}) {
			t.Errorf("restarted %v, want cass2 only", got)
		}
	})
	t.Run("an unknown node is refused before any change", func(t *testing.T) {
		before := len(l.updates())
		_, err := Restart(ctx, cfg, []string{"cass2", "cass9"})
		if err == nil || !strings.Contains(err.Error(), "has no node cass9") || len(l.updates()) != before {
			t.Errorf("err %v, %d updates", err, len(l.updates())-before)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		before := len(l.updates())
		c := cfg
		c.DryRun = true
		res, err := Restart(ctx, c, nil)
		if err != nil || !res.DryRun || len(res.Plan) != 3 || len(l.updates()) != before {
			t.Errorf("err %v, plan %v, %d updates", err, res.Plan, len(l.updates())-before)
		}
	})
	t.Run("an unhealthy ring is refused before any change", func(t *testing.T) {
		before := len(l.updates())
		l.ring.never["cass3"] = true
		defer delete(l.ring.never, "cass3")
		_, err := Restart(ctx, cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "the ring is not healthy") || len(l.updates()) != before {
			t.Errorf("err %v, %d updates", err, len(l.updates())-before)
		}
	})
}

// A node that does not come back stops the restart with its log lines;
// the nodes after it are left alone; a re-run continues with it.
func TestRestartStopsAtFailedNodeThenResumes(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	l.ring.mu.Lock()
	l.ring.fail["cass2"] = 1 // its next task fails to start
	l.ring.mu.Unlock()
	_, err := Restart(ctx, cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "cass2") || !strings.Contains(err.Error(), "last log lines") {
		t.Fatalf("err %v, want cass2's failure with its log lines", err)
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2" {
		t.Errorf("restarted %s: cass3 must be left alone", got)
	}
	if ro := l.record(t).Rollout; ro == nil || ro.Current != "cass2" || !slices.Equal(ro.Done, []string{"cass1"}) {
		t.Errorf("rollout record %+v, want cass1 done and cass2 current", ro)
	}
	p := &infos{}
	cfg.Progress = p
	if _, err := Restart(ctx, cfg, nil); err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("restarted %s: the re-run must wait for cass2 and restart cass3 only", got)
	}
	if !p.has("cass2: acted on by an interrupted run") {
		t.Errorf("the re-run did not say it waits for cass2: %v", p.lines)
	}
	if ro := l.record(t).Rollout; ro != nil {
		t.Errorf("rollout record %+v left after the end", ro)
	}
}

// Ctrl-C while a node is being waited for: the lock goes, the record
// says where it stopped, and a re-run continues from that node.
func TestRestartInterruptedThenResumes(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.ring.mu.Lock()
	l.ring.onLook = func(node string) {
		if node == "cass2" && slices.Contains(l.updates(), "cass2") {
			cancel()
		}
	}
	l.ring.mu.Unlock()
	_, err := Restart(ctx, cfg, nil)
	l.ring.mu.Lock()
	l.ring.onLook = nil
	l.ring.mu.Unlock()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want interrupted", err)
	}
	if l.consul().Locks() != 0 {
		t.Error("the lock was kept after Ctrl-C")
	}
	if _, err := Restart(context.Background(), cfg, nil); err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("restarted %s, want each node once", got)
	}
}

// Ctrl-C between a node's drain and its new task: the re-run gives that
// node its new task (no second drain: it is drained already), waits for
// it, and goes on.
func TestRestartInterruptedAfterDrainThenResumes(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.ring.mu.Lock()
	l.ring.onNodetool = func(cmd, node string) {
		if cmd == "drain" && node == "cass2" {
			cancel()
		}
	}
	l.ring.mu.Unlock()
	if _, err := Restart(ctx, cfg, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want interrupted", err)
	}
	l.ring.mu.Lock()
	l.ring.onNodetool = nil
	l.ring.mu.Unlock()
	if got := strings.Join(l.updates(), ","); got != "cass1" {
		t.Fatalf("updates %s: cass2 was drained, not restarted", got)
	}
	if ro := l.record(t).Rollout; ro == nil || ro.Current != "cass2" || ro.Acted {
		t.Fatalf("rollout %+v, want cass2 current, its new task not asked for", ro)
	}
	if _, err := Restart(context.Background(), cfg, nil); err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("updates %s, want each node once", got)
	}
	drains := 0
	for _, c := range l.ring.callsOf() {
		if c == "drain cass2" {
			drains++
		}
	}
	if drains != 1 {
		t.Errorf("cass2 drained %d times", drains)
	}
}

func TestUpgradeWithCanary(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	boot := bootstrap(t, cfg)

	up := cfg
	up.ImageDir = l.imageDir("next", VersionLabel+"=5.0.9")
	up.Confirm = confirmYes
	p := &infos{}
	up.Progress = p
	res, err := Upgrade(ctx, up)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	imgs := l.images(t)
	for n, img := range imgs {
		if img == boot.Image || img != imgs["cass1"] {
			t.Errorf("%s runs %s after the upgrade", n, img)
		}
	}
	if !p.has("canary cass1 is back on 5.0.9: rolling the other 2 nodes") {
		t.Errorf("no canary line: %v", p.lines)
	}
	// The canary is waited for and its version checked before cass2 is touched.
	calls := l.ring.callsOf()
	if v, d := slices.Index(calls, "version cass1"), slices.Index(calls, "drain cass2"); v < 0 || d < v {
		t.Errorf("nodetool calls %v: cass1's version must come before cass2's drain", calls)
	}
	if !strings.Contains(strings.Join(res.Plan, "\n"), "cass1 (canary): image ") {
		t.Errorf("plan %v", res.Plan)
	}
	rec := l.record(t)
	if len(rec.History) != 2 || rec.History[0].Image != boot.Image || rec.History[1].Image != imgs["cass1"] ||
		rec.History[1].Version != "5.0.9" || rec.History[0].Version != defaultRelease || rec.Image != imgs["cass1"] {
		t.Errorf("history %+v, image %s", rec.History, rec.Image)
	}

	t.Run("again: nothing to do", func(t *testing.T) {
		before := len(l.updates())
		if _, err := Upgrade(ctx, up); err != nil || len(l.updates()) != before {
			t.Errorf("err %v, %d updates", err, len(l.updates())-before)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		rb := cfg
		rb.Confirm = confirmYes
		if _, err := Rollback(ctx, rb); err != nil {
			t.Fatal(op.Explain(err))
		}
		for n, img := range l.images(t) {
			if img != boot.Image {
				t.Errorf("%s runs %s after the rollback, want %s", n, img, boot.Image)
			}
		}
		if rec := l.record(t); len(rec.History) != 1 || rec.Image != boot.Image {
			t.Errorf("history %+v, image %s after the rollback", rec.History, rec.Image)
		}
		_, err := Rollback(ctx, rb)
		if err == nil || !strings.Contains(err.Error(), "only release") {
			t.Errorf("second rollback: %v, want nothing to roll back to", err)
		}
	})
}

// A canary that does not come back UN on the new image goes back to its
// previous image and settings, is waited for, and the run stops: the
// other nodes are never touched.
func TestUpgradeRollsBackFailedCanary(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	boot := bootstrap(t, cfg)
	up := cfg
	up.ImageDir = l.imageDir("broken", VersionLabel+"=5.0.9", "test.broken=true")
	up.Confirm = confirmYes
	res, err := Upgrade(ctx, up)
	if err == nil || !strings.Contains(op.Explain(err), "put back on its previous image and settings") {
		t.Fatalf("err %v, want the canary put back", err)
	}
	var ne *op.NodeError
	if !errors.As(err, &ne) || ne.Node != "cass1" || ne.Undo != nil {
		t.Errorf("err %v, want cass1's failure, undone", err)
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass1" {
		t.Errorf("updates %s, want cass1 to the new image and back", got)
	}
	for n, img := range l.images(t) {
		if img != boot.Image {
			t.Errorf("%s runs %s, want the old %s", n, img, boot.Image)
		}
	}
	if len(res.Rolled) != 1 || !res.Rolled[0].Undone {
		t.Errorf("rolled %+v, want cass1 undone", res.Rolled)
	}
	if err := ringOK(ctx, l, cfg); err != nil {
		t.Errorf("ring after the rollback: %v", err)
	}
}

// ringOK is the ring healthy, as a day-2 operation's gate sees it.
func ringOK(ctx context.Context, l *lab, cfg Config) error {
	_, err := operate(ctx, "probe", cfg, []op.Step[*run]{
		{Name: "Preflight", Run: attach},
		{Name: "Gate", Run: func(ctx context.Context, r *run) error { return r.rollGate(ctx) }},
	})
	return err
}

// Ctrl-C while the second node is being upgraded: a re-run continues with
// it (the services' specs say cass1 is done).
func TestUpgradeInterruptedThenResumes(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg)
	up := cfg
	up.ImageDir = l.imageDir("next", VersionLabel+"=5.0.9")
	up.Confirm = confirmYes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.ring.mu.Lock()
	l.ring.onLook = func(node string) {
		if node == "cass2" && slices.Contains(l.updates(), "cass2") {
			cancel()
		}
	}
	l.ring.mu.Unlock()
	if _, err := Upgrade(ctx, up); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want interrupted", err)
	}
	l.ring.mu.Lock()
	l.ring.onLook = nil
	l.ring.mu.Unlock()
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2" {
		t.Fatalf("updates %s: Ctrl-C must leave cass2 as it is, not undo it", got)
	}
	res, err := Upgrade(context.Background(), up)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("updates %s, want each node once", got)
	}
	if len(res.Rolled) != 2 || res.Rolled[0].Name != "cass2" || res.Rolled[1].Name != "cass3" {
		t.Errorf("rolled %+v, want cass2 waited for, then cass3", res.Rolled)
	}
	if h := l.record(t).History; len(h) != 2 {
		t.Errorf("history %+v", h)
	}
}

func TestUpgradeSettings(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	bootstrap(t, cfg) // 512M heap, memory 2*512M+512M
	up := cfg
	up.ImageDir = ""
	up.Heap, up.NodeEnv = 256<<20, []string{"EXTRA=1"}
	up.Confirm = confirmYes
	res, err := Upgrade(ctx, up)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	plan := strings.Join(res.Plan, "\n")
	for _, want := range []string{"MAX_HEAP_SIZE 512M -> 256M", "memory limit 1536M -> 1G", "EXTRA=1 added"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	s, _ := l.swarm[0].ServiceInspect(ctx, "cass3")
	if !slices.Contains(s.Spec.Env, "MAX_HEAP_SIZE=256M") || !slices.Contains(s.Spec.Env, "HEAP_NEWSIZE=64M") ||
		!slices.Contains(s.Spec.Env, "EXTRA=1") || s.Spec.MemoryLimit != 1<<30 || !slices.Contains(s.Spec.Env, "CASSANDRA_CLUSTER_NAME=test") {
		t.Errorf("cass3's spec after: env %v, memory %d", s.Spec.Env, s.Spec.MemoryLimit)
	}

	t.Run("bootstrap says what differs and points to upgrade", func(t *testing.T) {
		p := &infos{}
		c := cfg
		c.Progress = p
		bootstrap(t, c)
		if !p.has("cass1 differs from this run: memory limit 1G -> 1536M, EXTRA removed, HEAP_NEWSIZE 64M -> 128M, MAX_HEAP_SIZE 256M -> 512M") || !p.has("swarmcass upgrade") {
			t.Errorf("bootstrap said %v", p.lines)
		}
		if got := len(l.updates()); got != 3 {
			t.Errorf("bootstrap changed the nodes (%d updates)", got)
		}
	})
}

func TestUpgradeRefusals(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	cfg.ImageDir = l.imageDir("v4", VersionLabel+"=4.1.10")
	bootstrap(t, cfg)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"nothing asked", func(c *Config) { c.ImageDir = "" }, "nothing to upgrade"},
		{"the heap through --node-env", func(c *Config) { c.ImageDir, c.NodeEnv = "", []string{"MAX_HEAP_SIZE=1G"} }, "use --heap"},
		{"a setting swarmcass owns", func(c *Config) { c.ImageDir, c.NodeEnv = "", []string{"CASSANDRA_CLUSTER_NAME=x"} }, "cannot be changed"},
		{"two images", func(c *Config) { c.Image = "x:1" }, "each name the new image"},
		{"a downgrade across majors", func(c *Config) { c.ImageDir = l.imageDir("v3", VersionLabel+"=3.11.17") }, "4.1.10 to 3.11.17 is a downgrade across major versions"},
		{"a skipped major", func(c *Config) { c.ImageDir = l.imageDir("v6", VersionLabel+"=6.0.0") }, "4.1.10 to 6.0.0 skips major version 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.NodeEnv = nil
			c.Confirm = confirmYes
			tc.mod(&c)
			_, err := Upgrade(ctx, c)
			if err == nil || !strings.Contains(op.Explain(err), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
			if n := len(l.updates()); n != 0 {
				t.Errorf("%d services updated", n)
			}
		})
	}
	t.Run("the next major is fine, and offers upgradesstables", func(t *testing.T) {
		c := cfg
		c.ImageDir = l.imageDir("v5", VersionLabel+"=5.0.8")
		c.Confirm, c.UpgradeSSTables = confirmYes, true
		if _, err := Upgrade(ctx, c); err != nil {
			t.Fatal(op.Explain(err))
		}
		var us []string
		for _, call := range l.ring.callsOf() {
			if strings.HasPrefix(call, "upgradesstables ") {
				us = append(us, call)
			}
		}
		if strings.Join(us, ",") != "upgradesstables cass1,upgradesstables cass2,upgradesstables cass3" {
			t.Errorf("upgradesstables calls %v, want one node at a time", us)
		}
	})
	t.Run("no rollback without a history", func(t *testing.T) {
		c := l.config(3)
		c.Cluster = "test"
		c.Confirm = confirmYes
		// The history exists now (the upgrade above); a fresh cluster has none.
		l.consul().SetValue("swarmcass/test/history", []byte("[]"))
		_, err := Rollback(ctx, c)
		if err == nil || !strings.Contains(err.Error(), "has no image history") {
			t.Errorf("err %v", err)
		}
	})
}

// A node whose task is still "starting" (its image's health check has not
// passed yet) but which nodetool shows UN counts as running: the gate and
// the wait judge by nodetool, as bootstrap does.
func TestRestartWhileHealthChecksPending(t *testing.T) {
	l := newLab(t, 3)
	l.w.TaskState = func(spec engine.ServiceSpec, node engine.Node) (string, string) {
		if st, msg := l.ring.taskState(spec, node); st != "running" {
			return st, msg
		}
		return "starting", ""
	}
	cfg := l.config(3)
	bootstrap(t, cfg)
	if _, err := Restart(context.Background(), cfg, nil); err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("restarted %s", got)
	}
}
