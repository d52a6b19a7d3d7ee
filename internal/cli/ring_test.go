package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/ring/collect"
)

// oneNode is a swarm of one fake engine running node cass1 of cluster
// "test"; up says whether its nodetool shows it UN or DN.
type oneNode struct {
	mu    sync.Mutex
	up    bool
	execs int
	onRun func(execs int)
}

func newOneNode(t *testing.T) (*oneNode, collect.Config) {
	t.Helper()
	l := clustertest.New(t, 1).Running("test", 1)
	w, f := l.W, l.Swarm[0]
	l.Ring.SetHostID("cass1", "2c0b1b62-8e0e-4b51-9bb0-4a5b7ed0d1a7")
	l.Ring.SetOwns("cass1", "100.0%")
	n := &oneNode{up: true}
	w.Exec = func(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
		n.mu.Lock()
		n.execs++
		code, execs, on := "DN", n.execs, n.onRun
		if n.up {
			code = "UN"
		}
		n.mu.Unlock()
		if on != nil {
			on(execs)
		}
		l.Ring.SetView("cass1", "cass1", code)
		return l.Ring.Exec(f, c, cmd)
	}
	return n, collect.Config{Cluster: "test", Engines: []engine.Engine{f}, EngineTimeout: time.Second, ExecTimeout: time.Second}
}

func newRingRun(cfg collect.Config, output string) (*ringRun, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	o := &ringOptions{output: output, interval: time.Millisecond, verbose: true}
	plan := &hosts.Plan{Source: "test", Infra: hosts.Endpoint{Name: "swarm-0"}}
	return &ringRun{o: o, cfg: cfg, plan: plan, consul: "10.0.0.10:8500", stdout: &out, stderr: &errOut}, &out, &errOut
}

func exitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	}
	return -1
}

func TestRingRound(t *testing.T) {
	ctx := context.Background()
	t.Run("healthy table", func(t *testing.T) {
		_, cfg := newOneNode(t)
		r, out, errOut := newRingRun(cfg, "table")
		if err := r.round(ctx); err != nil {
			t.Fatalf("healthy ring: %v", err)
		}
		if !strings.Contains(out.String(), "cass1") || !strings.Contains(out.String(), "Ring test is healthy") {
			t.Errorf("table:\n%s", out)
		}
		if !strings.Contains(errOut.String(), "nodetool status") || !strings.Contains(errOut.String(), "2 runs") {
			t.Errorf("-v timings:\n%s", errOut)
		}
	})
	t.Run("degraded json", func(t *testing.T) {
		n, cfg := newOneNode(t)
		n.up = false
		r, out, _ := newRingRun(cfg, "json")
		if code := exitCode(r.round(ctx)); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		var got struct {
			Verdict  string
			ExitCode int
			Problems []struct{ Text string }
			Timings  struct {
				Seconds float64
				Execs   []struct{ Node, Command string }
			}
			Notes []string
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v in\n%s", err, out)
		}
		if got.Verdict != "degraded" || got.ExitCode != 1 || len(got.Problems) != 1 || !strings.Contains(got.Problems[0].Text, "cass1 is down") ||
			len(got.Timings.Execs) != 2 || got.Notes == nil {
			t.Errorf("json report %+v", got)
		}
	})
	t.Run("no such cluster", func(t *testing.T) {
		_, cfg := newOneNode(t)
		cfg.Cluster = "prod"
		r, out, _ := newRingRun(cfg, "table")
		err := r.round(ctx)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), `no cluster "prod"`) || !strings.Contains(err.Error(), "clusters found: test; pass --cluster NAME") {
			t.Errorf("exit %d: %v", exitCode(err), err)
		}
		if out.Len() != 0 {
			t.Errorf("a table for a cluster that does not exist:\n%s", out)
		}
		r, out, _ = newRingRun(cfg, "json")
		if code := exitCode(r.round(ctx)); code != 2 || !strings.Contains(out.String(), `"nodes": []`) || !strings.Contains(out.String(), `"verdict": "unknown"`) {
			t.Errorf("exit %d, json:\n%s", code, out)
		}
	})
	t.Run("nothing answers", func(t *testing.T) {
		_, cfg := newOneNode(t)
		cfg.Engines[0].(*enginetest.Fake).Fail("Info", errors.New("no route to host"))
		r, _, errOut := newRingRun(cfg, "table")
		err := r.round(ctx)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), "cannot find cluster test's nodes") {
			t.Errorf("exit %d: %v", exitCode(err), err)
		}
		if !strings.Contains(errOut.String(), "note: engine swarm-0 does not answer: no route to host") {
			t.Errorf("stderr:\n%s", errOut)
		}
	})
}

// --watch redraws until the context ends and exits with the last round's code.
func TestRingWatch(t *testing.T) {
	n, cfg := newOneNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.onRun = func(execs int) {
		// Round 1 sees the node up, round 2 down; round 3 is cut short.
		if execs == 2 {
			n.mu.Lock()
			n.up = false
			n.mu.Unlock()
		}
		if execs == 5 {
			cancel()
		}
	}
	r, out, _ := newRingRun(cfg, "table")
	r.o.watch = true
	err := r.watchLoop(ctx)
	if code := exitCode(err); code != 1 {
		t.Errorf("exit %d (%v), want the second round's 1", code, err)
	}
	if got := strings.Count(out.String(), "Every 1ms: swarmcass ring --cluster test"); got != 3 {
		t.Errorf("%d rounds drawn, want 3:\n%s", got, out)
	}
	if !strings.Contains(out.String(), "is healthy") || !strings.Contains(out.String(), "is DEGRADED") {
		t.Errorf("output:\n%s", out)
	}
}

// A usage or input error of ring exits 2, "cannot judge", never 1, which
// a monitor reads as a sick ring.
func TestRingRefusesBadFlags(t *testing.T) {
	t.Setenv("MACHINE_STORAGE_PATH", "")
	missing := filepath.Join(t.TempDir(), "no-such-store")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ring", "-o", "yaml"}, `--output "yaml": use table or json`},
		{[]string{"ring", "--interval", "0s"}, "must be positive"},
		{[]string{"ring", "extra"}, `unknown command "extra"`},
		{[]string{"ring", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"ring", "--parallel", "many"}, `invalid argument "many"`},
		{[]string{"ring", "--machine-storage-path", missing}, missing},
		{[]string{"ring", "--host", "tcp://10.0.0.1:2376", "--context", "x"}, "choose one source"},
		{[]string{"ring", "--cluster", "Bad!"}, `invalid cluster name "Bad!"`},
		{[]string{"ring", "--network", "bad name!"}, `invalid --network "bad name!"`},
	} {
		var out, errOut bytes.Buffer
		code := Main(c.args, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}

// MACHINE_STORAGE_PATH naming a store that is not there is an input error:
// ring exits 2, another command 1.
func TestMissingStoreExitCodes(t *testing.T) {
	t.Setenv("MACHINE_STORAGE_PATH", filepath.Join(t.TempDir(), "gone"))
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"ring"}, 2},
		{[]string{"bootstrap", "--nodes", "1"}, 1},
	} {
		var out, errOut bytes.Buffer
		if code := Main(c.args, &out, &errOut); code != c.want || !strings.Contains(errOut.String(), "gone") {
			t.Errorf("%v: exit %d, stderr %q; want %d naming the store", c.args, code, errOut.String(), c.want)
		}
	}
}
