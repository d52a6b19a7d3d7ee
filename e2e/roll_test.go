package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cassimVariant is a copy of the cassim build context whose Dockerfile
// ends with extra lines: a release of its own (CASSIM_RELEASE_VERSION and
// the version label upgrade reads), or a setting that makes every node of
// it fail at start as a broken upgrade does.
func (e *env) cassimVariant(name string, extra ...string) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(e.imageDir, "bin", "cassim"))
	if err != nil {
		e.t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(e.imageDir, "Dockerfile"))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "cassim"), bin, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Symlink("cassim", filepath.Join(dir, "bin", "nodetool")); err != nil {
		e.t.Fatal(err)
	}
	df = append(df, []byte("\n"+strings.Join(extra, "\n")+"\n")...)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// versions are the releases the running nodes report (nodetool version).
func (e *env) versions(ctx context.Context) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	ns := e.nodes(ctx)
	all := e.inEach(ctx, ns, "nodetool", "version")
	for i, n := range ns {
		res, err := all[i].res, all[i].err
		if err != nil || res.ExitCode != 0 {
			e.t.Fatalf("%s: nodetool version: %v %+v", n.node, err, res)
		}
		out[n.node] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(res.Stdout), "ReleaseVersion:"))
	}
	return out
}

func (e *env) requireVersions(ctx context.Context, want string) {
	e.t.Helper()
	for n, v := range e.versions(ctx) {
		if v != want {
			e.t.Errorf("%s reports %s, want %s", n, v, want)
		}
	}
}

// TestIntegrationRolling, on a 3-node cassim ring: a rolling restart, the
// ring healthy after; an upgrade to a new cassim release with a canary;
// an upgrade to an image whose nodes fail at start, its canary rolled
// back automatically, the others untouched, the ring healthy on the old
// release; then rollback to the release before.
func TestIntegrationRolling(t *testing.T) {
	t.Parallel() // its own lab: see newEnv
	e := newEnv(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e.must(e.bootstrapArgs(3)...)
	e.requireRing(ctx, 3)
	base := e.versions(ctx)["cass1"]
	common := []string{"--cluster", "e2e", "--node-timeout", e.timeout}

	r := e.must(append([]string{"restart"}, common...)...)
	t.Logf("restart of 3 nodes: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	for _, want := range []string{"cass1: drain", "cass3: back after", "DOWN"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("restart did not say %q", want)
		}
	}
	e.requireRing(ctx, 3)
	e.must("ring", "--cluster", "e2e")

	next := e.cassimVariant("next", "ENV CASSIM_RELEASE_VERSION=5.0.99", "LABEL io.swarmcass.cassandra.version=5.0.99")
	r = e.must(append([]string{"upgrade", "--image-dir", next, "--yes"}, common...)...)
	t.Logf("upgrade to cassim 5.0.99: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	if !strings.Contains(r.out, "canary cass1 is back on 5.0.99: rolling the other 2 nodes") {
		t.Errorf("no canary step in the upgrade's output")
	}
	e.requireRing(ctx, 3)
	e.requireVersions(ctx, "5.0.99")
	e.must("ring", "--cluster", "e2e")

	// Every node of this image stops in its start-up checks, as Cassandra
	// meeting data files it cannot read does (cassim's CASSIM_FAIL_AT_START,
	// exit status 3). The run must see the canary's task fail and roll it
	// back then, not wait out the node timeout: an image setting such as
	// CASSANDRA_NUM_TOKENS would not do, since the service's own settings
	// (the planned tokens) override it and the node would start.
	broken := e.cassimVariant("broken", "ENV CASSIM_FAIL_AT_START=1", "LABEL io.swarmcass.cassandra.version=5.0.100")
	r = e.run(append([]string{"upgrade", "--image-dir", broken, "--yes"}, common...)...)
	t.Logf("upgrade to a broken image (exit %d): %s\n%s", r.code, r.duration.Round(100*time.Millisecond), r.out)
	if r.code != 1 || !strings.Contains(r.out, "cass1 was put back on its previous image and settings") {
		t.Errorf("exit %d; want 1 and cass1 put back", r.code)
	}
	if !strings.Contains(r.out, "Detected unreadable sstables") || strings.Contains(r.out, "gave up waiting") {
		t.Errorf("the canary's failure at start (its start-up check's message) was not what stopped the upgrade")
	}
	if strings.Contains(r.out, "cass2: drain") {
		t.Errorf("the upgrade touched cass2 after its canary failed")
	}
	e.requireRing(ctx, 3)
	e.requireVersions(ctx, "5.0.99")
	e.must("ring", "--cluster", "e2e")

	r = e.must(append([]string{"rollback", "--yes"}, common...)...)
	t.Logf("rollback: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireRing(ctx, 3)
	e.requireVersions(ctx, base)
	e.must("ring", "--cluster", "e2e")
}
