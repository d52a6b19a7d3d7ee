package provision

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/op"
)

// callsFor are the nodetool calls of cmd, in order.
func (r *ring) callsFor(cmd string) []string {
	var out []string
	for _, c := range r.callsOf() {
		if strings.HasPrefix(c, cmd+" ") {
			out = append(out, c)
		}
	}
	return out
}

// upgradeLab is a bootstrapped 3-node lab, its config, the bootstrap's
// result, and the config of an upgrade (confirmed) to set an image on.
func upgradeLab(t *testing.T) (l *lab, cfg, up Config, boot *Result) {
	t.Helper()
	l = newLab(t, 3)
	cfg = l.config(3)
	boot = bootstrap(t, cfg)
	up = cfg
	up.Confirm = confirmYes
	return l, cfg, up, boot
}

// requireCanaryPutBack: cass1 went to the new image and back, no other
// node was drained or updated, every node runs image, the ring is healthy.
func requireCanaryPutBack(ctx context.Context, t *testing.T, l *lab, cfg Config, image string) {
	t.Helper()
	if err := ringOK(ctx, l, cfg); err != nil {
		t.Errorf("ring after the canary was put back: %v", err)
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass1" {
		t.Errorf("updates %s, want cass1 to the new image and back", got)
	}
	if d := l.ring.callsFor("drain"); len(d) != 1 || d[0] != "drain cass1" {
		t.Errorf("drains %v, want the canary's alone", d)
	}
	for n, img := range l.images(t) {
		if img != image {
			t.Errorf("%s runs %s, want %s", n, img, image)
		}
	}
}

// The canary's release is checked with nodetool version before any other
// node: a canary that comes back UN but reports another release than its
// image says (a wrapper built on the wrong base) is not back; it is put
// back on its previous image and the run stops there.
func TestUpgradeCanaryReportsAnotherRelease(t *testing.T) {
	ctx := context.Background()
	l, cfg, up, boot := upgradeLab(t)
	up.ImageDir = l.imageDir("mislabelled", VersionLabel+"=5.0.9", "test.release="+defaultRelease)
	res, err := Upgrade(ctx, up)
	if err == nil || !strings.Contains(op.Explain(err), "it reports release "+defaultRelease+", not 5.0.9") ||
		!strings.Contains(op.Explain(err), "cass1 was put back on its previous image and settings") {
		t.Fatalf("err %v, want cass1's release refused and cass1 put back", op.Explain(err))
	}
	requireCanaryPutBack(ctx, t, l, cfg, boot.Image)
	if len(res.Rolled) != 1 || !res.Rolled[0].Undone {
		t.Errorf("rolled %+v, want cass1 undone", res.Rolled)
	}
}

// An image that does not say its release (no version label): the release
// the canary reports is judged by the same rules as a known one, before
// the other nodes are touched; a release the rules refuse undoes the
// canary, one they allow goes on and is the history's.
func TestUpgradeCanaryReleaseJudgedOnceKnown(t *testing.T) {
	ctx := context.Background()
	l, cfg, up, boot := upgradeLab(t)
	up.ImageDir = l.imageDir("seven", "test.release=7.0.0")
	_, err := Upgrade(ctx, up)
	var ne *op.NodeError
	if err == nil || !strings.Contains(op.Explain(err), "canary cass1 reports 7.0.0") ||
		!strings.Contains(op.Explain(err), defaultRelease+" to 7.0.0 skips major version 6") ||
		!errors.As(err, &ne) || ne.Stage != op.StageCanary || ne.Undo != nil {
		t.Fatalf("err %v, want the canary's 7.0.0 refused and cass1 undone", op.Explain(err))
	}
	requireCanaryPutBack(ctx, t, l, cfg, boot.Image)
	if rec := l.record(t); rec.Image != boot.Image || len(rec.History) != 1 {
		t.Errorf("record image %s, history %+v: the refused release must not be the cluster's", rec.Image, rec.History)
	}

	p := &infos{}
	up.Progress = p
	up.ImageDir = l.imageDir("patch", "test.release=5.0.9")
	if _, err := Upgrade(ctx, up); err != nil {
		t.Fatal(op.Explain(err))
	}
	if !p.has("canary cass1 is back on 5.0.9: rolling the other 2 nodes") {
		t.Errorf("no canary line: %v", p.lines)
	}
	if h := l.record(t).History; len(h) != 2 || h[1].Version != "5.0.9" {
		t.Errorf("history %+v, want the release the nodes report last", h)
	}
}

// A major upgrade without --upgradesstables says how to rewrite the
// SSTables and does not; rollback across the major version is refused
// before anything changes; --upgradesstables alone then rewrites them one
// node at a time, each gated on a healthy ring, with no restart.
func TestUpgradeMajorThenSSTablesAndNoRollback(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 3)
	cfg := l.config(3)
	cfg.ImageDir = l.imageDir("v4", VersionLabel+"=4.1.10")
	bootstrap(t, cfg)
	up := cfg
	up.Confirm = confirmYes
	p := &infos{}
	up.Progress = p
	up.ImageDir = l.imageDir("v5", VersionLabel+"=5.0.8")
	if _, err := Upgrade(ctx, up); err != nil {
		t.Fatal(op.Explain(err))
	}
	if !p.has("a major upgrade (4.1.10 to 5.0.8): rewrite the SSTables in the new format with swarmcass upgrade --cluster test --upgradesstables") {
		t.Errorf("no upgradesstables advice: %v", p.lines)
	}
	if us := l.ring.callsFor("upgradesstables"); len(us) != 0 {
		t.Errorf("upgradesstables run without --upgradesstables: %v", us)
	}
	updates := len(l.updates())

	rb := cfg
	rb.Confirm = confirmYes
	_, err := Rollback(ctx, rb)
	if err == nil || !strings.Contains(op.Explain(err), "5.0.8 to 4.1.10 is a downgrade across major versions") {
		t.Errorf("rollback across the major: %v, want it refused", err)
	}
	if n := len(l.updates()); n != updates {
		t.Errorf("the refused rollback updated %d services", n-updates)
	}

	ss := cfg
	ss.ImageDir, ss.UpgradeSSTables, ss.Confirm = "", true, confirmYes
	if _, err := Upgrade(ctx, ss); err != nil {
		t.Fatal(op.Explain(err))
	}
	if us := l.ring.callsFor("upgradesstables"); strings.Join(us, ",") != "upgradesstables cass1,upgradesstables cass2,upgradesstables cass3" {
		t.Errorf("upgradesstables %v, want each node once, in order", us)
	}
	if n := len(l.updates()); n != updates {
		t.Errorf("--upgradesstables alone updated %d services", n-updates)
	}
}

// Ctrl-C while rollback waits for its second node: a re-run continues
// with it, then the last; every node ends on the release before.
func TestRollbackInterruptedThenResumes(t *testing.T) {
	l, cfg, up, boot := upgradeLab(t)
	up.ImageDir = l.imageDir("next", VersionLabel+"=5.0.9")
	if _, err := Upgrade(context.Background(), up); err != nil {
		t.Fatal(op.Explain(err))
	}
	upgraded := len(l.updates())
	rb := cfg
	rb.Confirm = confirmYes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.ring.mu.Lock()
	l.ring.onLook = func(node string) {
		if node == "cass2" && len(l.updates()) == upgraded+2 {
			cancel()
		}
	}
	l.ring.mu.Unlock()
	if _, err := Rollback(ctx, rb); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want interrupted", err)
	}
	l.ring.mu.Lock()
	l.ring.onLook = nil
	l.ring.mu.Unlock()
	if ro := l.record(t).Rollout; ro == nil || ro.Op != "rollback" || ro.Current != "cass2" || !slices.Equal(ro.Done, []string{"cass1"}) {
		t.Fatalf("rollout recorded %+v, want rollback at cass2 after cass1", ro)
	}
	res, err := Rollback(context.Background(), rb)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates()[upgraded:], ","); got != "cass1,cass2,cass3" {
		t.Errorf("rollback updates %s, want each node once", got)
	}
	if len(res.Rolled) != 2 || res.Rolled[0].Name != "cass2" || res.Rolled[1].Name != "cass3" {
		t.Errorf("rolled %+v, want cass2 waited for, then cass3", res.Rolled)
	}
	for n, img := range l.images(t) {
		if img != boot.Image {
			t.Errorf("%s runs %s after the rollback, want %s", n, img, boot.Image)
		}
	}
	if rec := l.record(t); rec.Rollout != nil || rec.Image != boot.Image || len(rec.History) != 1 {
		t.Errorf("record after the resumed rollback: rollout %+v, image %s, history %+v", rec.Rollout, rec.Image, rec.History)
	}
}

// A bootstrap re-run on nodes an upgrade changed, with the flags of the
// first bootstrap: each node's difference is named with a pointer to
// upgrade, no node is touched, and the record keeps the image the nodes
// run (new nodes of a later scale are made like them).
func TestBootstrapAfterUpgradePointsToUpgrade(t *testing.T) {
	ctx := context.Background()
	l, cfg, up, boot := upgradeLab(t)
	up.ImageDir = l.imageDir("next", VersionLabel+"=5.0.9")
	if _, err := Upgrade(ctx, up); err != nil {
		t.Fatal(op.Explain(err))
	}
	upgraded := l.images(t)["cass1"]
	updates := len(l.updates())

	p := &infos{}
	again := cfg
	again.Progress = p
	res := bootstrap(t, again)
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		if !p.has(n + " differs from this run: image " + shortImage(upgraded) + " -> " + shortImage(boot.Image)) {
			t.Errorf("bootstrap did not name %s's image: %v", n, p.lines)
		}
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "cass1, cass2, cass3 run another image") ||
		!strings.Contains(res.Warnings[0], "swarmcass upgrade --cluster test") {
		t.Errorf("warnings %q, want the nodes named and upgrade pointed to", res.Warnings)
	}
	if n := len(l.updates()); n != updates {
		t.Errorf("bootstrap updated %d services", n-updates)
	}
	if rec := l.record(t); rec.Image != upgraded {
		t.Errorf("record image %s after the bootstrap, want the nodes' %s", rec.Image, upgraded)
	}
}

// upgrade and rollback print their plan and change nothing with
// --dry-run, and neither starts while another operation holds the
// cluster's lock.
func TestUpgradeRollbackDryRunAndLock(t *testing.T) {
	ctx := context.Background()
	l, cfg, up, _ := upgradeLab(t)
	up.ImageDir = l.imageDir("next", VersionLabel+"=5.0.9")
	dry := up
	dry.DryRun = true
	res, err := Upgrade(ctx, dry)
	if err != nil || !res.DryRun || len(res.Plan) != 3 || !strings.HasPrefix(res.Plan[0], "cass1 (canary): image ") || len(l.updates()) != 0 {
		t.Errorf("upgrade --dry-run: err %v, plan %q, %d updates", err, res.Plan, len(l.updates()))
	}
	if _, err := Upgrade(ctx, up); err != nil {
		t.Fatal(op.Explain(err))
	}
	updates := len(l.updates())
	rb := cfg
	rb.Confirm, rb.DryRun = confirmYes, true
	res, err = Rollback(ctx, rb)
	if err != nil || !res.DryRun || len(res.Plan) != 3 || !strings.Contains(res.Plan[0], "back to Cassandra "+defaultRelease) || len(l.updates()) != updates {
		t.Errorf("rollback --dry-run: err %v, plan %q, %d updates", err, res.Plan, len(l.updates())-updates)
	}

	l.consul().Hold("swarmcass/test/lock", []byte(`{"operation":"scale","hostname":"laptop","pid":4242,"started":"2025-01-01T10:00:00Z"}`))
	rb.DryRun = false
	for name, run := range map[string]func() error{
		"upgrade":  func() error { _, err := Upgrade(ctx, up); return err },
		"rollback": func() error { _, err := Rollback(ctx, rb); return err },
	} {
		if err := run(); !errors.Is(err, consulstore.ErrLocked) || !strings.Contains(err.Error(), "another scale holds its lock, so "+name+" cannot start") {
			t.Errorf("%s with the lock held: %v", name, err)
		}
	}
	if n := len(l.updates()); n != updates {
		t.Errorf("%d services updated with the lock held", n-updates)
	}
}
