package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/consulstore/consultest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodetool/nodetooltest"
	"github.com/swarmcass/swarmcass/ring"
)

// schemaB is a schema version other than the ring's (nodetooltest.Schema).
const schemaB = "86afa796-d883-3932-aa73-6b017cef0d19"

// lab is the lab fixture running cluster "test" (clustertest), whose
// ring (nodetooltest.Ring) a test changes, every node UN in every view
// until then and owning 33.3%.
type lab struct {
	t      *testing.T
	cl     *clustertest.Lab
	w      *enginetest.World
	infra  *enginetest.Fake
	swarm  []*enginetest.Fake
	consul *consultest.Fake
	ring   *nodetooltest.Ring
	addrs  map[string]string // node -> overlay address
	ids    map[string]string // node -> host ID in the record

	mu sync.Mutex
	// answer[node] replaces the ring's answer in node's container.
	answer   map[string]engine.ExecResult
	extra    int // nodes added with addExtra
	inflight int
	most     int
	delay    time.Duration
}

func newLab(t *testing.T, machines, nodes int) *lab {
	t.Helper()
	cl := clustertest.New(t, machines).Running("test", nodes)
	l := &lab{t: t, w: cl.W, infra: cl.Infra, swarm: cl.Swarm, consul: cl.Consul, ring: cl.Ring, addrs: cl.Addrs, ids: cl.HostIDs, cl: cl,
		answer: map[string]engine.ExecResult{}}
	for k := 1; k <= nodes; k++ {
		l.ring.SetOwns(fmt.Sprintf("cass%d", k), "33.3%")
	}
	l.w.Exec = l.exec
	return l
}

// addNode starts node k of cluster on f as bootstrap does
// (clustertest.Lab.AddNode).
func (l *lab) addNode(ctx context.Context, cluster string, k int, f *enginetest.Fake, restart string) {
	l.cl.AddNode(cluster, k, f, restart)
	if cluster == "test" {
		l.ring.SetOwns(fmt.Sprintf("cass%d", k), "33.3%")
	}
}

// addExtra lists a node of no service at addr, UN in every view.
func (l *lab) addExtra(addr string) {
	name := fmt.Sprintf("extra%d", l.extra)
	l.ring.Set(name, addr, "UN")
	l.ring.SetHostID(name, fmt.Sprintf("%08x-0000-4000-8000-000000000000", 100+l.extra))
	l.ring.SetLoad(name, "1 KiB")
	l.ring.SetOwns(name, "0.0%")
	l.extra++
}

func (l *lab) config() Config {
	cfg := Config{Cluster: "test", Consul: l.consul, ExecTimeout: time.Second, EngineTimeout: time.Second}
	for _, f := range l.swarm {
		cfg.Engines = append(cfg.Engines, f)
	}
	cfg.Engines = append(cfg.Engines, l.infra)
	return cfg
}

// setCode makes viewer see subject as code ("-": not listed).
func (l *lab) setCode(viewer, subject, code string) { l.ring.SetView(viewer, subject, code) }

// exec answers in a node's container as the ring does, unless answer says
// otherwise; it counts the execs in flight and waits delay in each.
func (l *lab) exec(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
	viewer := c.Labels[engine.LabelNode]
	l.mu.Lock()
	l.inflight++
	l.most = max(l.most, l.inflight)
	delay := l.delay
	l.mu.Unlock()
	time.Sleep(delay)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	if ans, ok := l.answer[viewer]; ok {
		return ans, nil
	}
	return l.ring.Exec(f, c, cmd)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// judge gathers and judges, as swarmcass ring does.
func judge(t *testing.T, cfg Config) (*Result, ring.Report) {
	t.Helper()
	res, err := Gather(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res, ring.Judge(res.Input)
}

func viewOf(t *testing.T, res *Result, node string) ring.View {
	t.Helper()
	for _, v := range res.Input.Views {
		if v.Node == node {
			return v
		}
	}
	t.Fatalf("no view of %s in %+v", node, res.Input.Views)
	return ring.View{}
}

// problems joins the problems' texts, one a line.
func problems(r ring.Report) string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.Kind + ": " + p.Text + "\n")
	}
	return b.String()
}

func wantReport(t *testing.T, r ring.Report, verdict ring.Verdict, code int, texts ...string) {
	t.Helper()
	if r.Verdict != verdict || r.ExitCode != code {
		t.Errorf("verdict %s exit %d, want %s exit %d; problems:\n%s", r.Verdict, r.ExitCode, verdict, code, problems(r))
	}
	all := problems(r)
	for _, text := range texts {
		if !strings.Contains(all, text) {
			t.Errorf("no problem says %q; problems:\n%s", text, all)
		}
	}
}

func TestHealthyRing(t *testing.T) {
	l := newLab(t, 3, 4)
	res, r := judge(t, l.config())
	wantReport(t, r, ring.Healthy, 0)
	if !res.Found || !res.Judgeable || !res.Input.ChecksKnown || len(res.Input.Checks) != 4 {
		t.Errorf("found %v judgeable %v checks known %v %+v", res.Found, res.Judgeable, res.Input.ChecksKnown, res.Input.Checks)
	}
	if len(res.Notes) != 0 {
		t.Errorf("notes on a healthy lab: %q", res.Notes)
	}
	wantHosts := []string{"swarm-0", "swarm-1", "swarm-2", "swarm-0"}
	for i, e := range res.Input.Expected {
		name := fmt.Sprintf("cass%d", i+1)
		if e.Name != name || e.SwarmHost != wantHosts[i] || e.Address != l.addrs[name] || e.HostID != l.ids[name] {
			t.Errorf("expected node %d = %+v, want %s on %s at %s", i, e, name, wantHosts[i], l.addrs[name])
		}
	}
	for _, row := range r.Rows {
		if row.Code != "UN" || row.Agree != 4 || row.Views != 4 {
			t.Errorf("row %+v", row)
		}
	}
	if len(res.Timings.Execs) != 8 {
		t.Errorf("%d nodetool runs timed, want 8 (status and describecluster on 4 nodes): %+v", len(res.Timings.Execs), res.Timings.Execs)
	}
	for _, e := range res.Timings.Execs {
		if !e.OK || e.Seconds < 0 || (e.Command != "nodetool status" && e.Command != "nodetool describecluster") {
			t.Errorf("exec timing %+v", e)
		}
	}
	if res.Timings.Seconds < res.Timings.NodetoolSeconds {
		t.Errorf("timings %+v", res.Timings)
	}
	// Contact points from the record: the overlay addresses for drivers on
	// the overlay, the published CQL ports for drivers outside.
	cp := res.ContactPoints
	wantOutside := []string{"10.0.0.10:9042", "10.0.0.11:9042", "10.0.0.12:9042", "10.0.0.10:9042"}
	if cp.Clients != "overlay" || len(cp.Overlay) != 4 || cp.Overlay[1] != l.addrs["cass2"]+":9042" || !slices.Equal(cp.Outside, wantOutside) {
		t.Errorf("contact points %+v, want the overlay addresses and %v", cp, wantOutside)
	}
}

func TestDegradedVerdicts(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(l *lab, cfg *Config)
		texts []string
		view  string           // a node whose view is unavailable
		why   ring.Unavailable // and why
	}{
		{"container stopped under a running task", func(l *lab, cfg *Config) {
			tasks, _ := l.swarm[0].TaskList(ctx, "cass3")
			must(l.t, l.swarm[2].ContainerStop(ctx, tasks[0].ContainerID, 0))
			l.setCode("cass1", "cass3", "DN")
			l.setCode("cass2", "cass3", "DN")
		}, []string{"no view from cass3: container gone", "cass3 is down, normal (DN) in the views of cass1, cass2"}, "cass3", ring.ContainerGone},
		{"task failed and not restarted", func(l *lab, cfg *Config) {
			l.addNode(ctx, "test", 4, l.swarm[0], "none")
			must(l.t, l.w.KillTask("cass4", "task: non-zero exit (137)"))
			l.setCode("cass1", "cass4", "DN")
		}, []string{"no view from cass4: container gone: its newest task is failed: task: non-zero exit (137)", "cass4 is down"}, "cass4", ring.ContainerGone},
		{"daemon starting", func(l *lab, cfg *Config) {
			l.answer["cass2"] = engine.ExecResult{ExitCode: 1, Stderr: nodetooltest.ConnectRefused}
			l.setCode("cass1", "cass2", "UJ")
		}, []string{"no view from cass2: nodetool cannot connect", "cass2 is up, joining (UJ) in cass1's view"}, "cass2", ring.DaemonStarting},
		{"nodetool fails", func(l *lab, cfg *Config) {
			l.answer["cass1"] = engine.ExecResult{ExitCode: 2, Stderr: "error: Keyspace does not exist\n-- StackTrace --\nat x"}
		}, []string{"no view from cass1: nodetool failed: nodetool status exited 2: error: Keyspace does not exist"}, "cass1", ring.NodetoolFailed},
		{"nodetool prints what the parser does not know", func(l *lab, cfg *Config) {
			l.answer["cass1"] = engine.ExecResult{Stdout: "Hello\n"}
		}, []string{"no view from cass1: nodetool failed: ", "Hello"}, "cass1", ring.NodetoolFailed},
		{"engine does not answer", func(l *lab, cfg *Config) {
			down := errors.New("engine swarm-2 at tcp://10.0.0.12:2376 does not answer")
			for _, m := range []string{"Info", "ContainerList", "Exec", "ContainerInspect"} {
				l.swarm[2].Fail(m, down)
			}
			l.setCode("cass1", "cass3", "DN")
			l.setCode("cass2", "cass3", "DN")
		}, []string{"no view from cass3: engine unreachable: engine swarm-2", "cass3 is down"}, "cass3", ring.EngineUnreachable},
		{"engine stops answering between discovery and exec", func(l *lab, cfg *Config) {
			down := errors.New("connection refused")
			l.swarm[1].Fail("Exec", down)
			l.swarm[1].Fail("ContainerInspect", down)
		}, []string{"no view from cass2: engine unreachable: connection refused"}, "cass2", ring.EngineUnreachable},
		{"container removed before exec", func(l *lab, cfg *Config) {
			l.swarm[1].Fail("Exec", fmt.Errorf("exec in ctr: %w", engine.ErrNotFound))
		}, []string{"no view from cass2: container gone"}, "cass2", ring.ContainerGone},
		{"nodetool hangs", func(l *lab, cfg *Config) {
			cfg.ExecTimeout = 20 * time.Millisecond
			cfg.Engines[1] = hanging{l.swarm[1]}
		}, []string{"no view from cass2: nodetool failed: nodetool status gave no answer within 20ms"}, "cass2", ring.NodetoolFailed},
		{"schema disagreement", func(l *lab, cfg *Config) {
			l.ring.SetSchema("cass3", schemaB)
		}, []string{"2 schema versions"}, "", ""},
		{"host ID differs from the record", func(l *lab, cfg *Config) {
			l.ring.SetHostID("cass2", "ffffffff-8e0e-4b51-9bb0-4a5b7ed0d1a7")
		}, []string{"cass2 has host ID ffffffff-8e0e-4b51-9bb0-4a5b7ed0d1a7 where the record says 00000002-"}, "", ""},
		{"unexpected node", func(l *lab, cfg *Config) {
			l.addExtra("10.0.1.99")
		}, []string{"unexpected node 10.0.1.99 (UN"}, "", ""},
		{"node missing from a view", func(l *lab, cfg *Config) {
			l.setCode("cass2", "cass1", "-")
		}, []string{"cass1 (" + "10.0.1." /* address */}, "", ""},
		{"consul check failing", func(l *lab, cfg *Config) {
			l.consul.SetCheck("swarmcass-test-cass1", "critical", "dial tcp 10.0.0.10:9042: connect: connection refused")
		}, []string{`of cass1 is critical: dial tcp 10.0.0.10:9042`}, "", ""},
		{"service removed but recorded", func(l *lab, cfg *Config) {
			must(l.t, l.swarm[0].ServiceRemove(ctx, "cass3"))
			l.setCode("cass1", "cass3", "-")
			l.setCode("cass2", "cass3", "-")
		}, []string{"no view from cass3: container gone: the swarm has no service for cass3", "cass3 (10.0.1."}, "cass3", ring.ContainerGone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 3, 3)
			cfg := l.config()
			tc.setup(l, &cfg)
			res, r := judge(t, cfg)
			wantReport(t, r, ring.Degraded, 1, tc.texts...)
			if tc.view != "" {
				if v := viewOf(t, res, tc.view); v.Status != nil || v.Unavailable != tc.why {
					t.Errorf("view of %s: unavailable %q (%v), want %q", tc.view, v.Unavailable, v.Err, tc.why)
				}
			}
		})
	}
}

// hanging is an engine whose nodetool never answers before ctx ends.
type hanging struct{ *enginetest.Fake }

func (h hanging) Exec(ctx context.Context, id string, cmd []string) (engine.ExecResult, error) {
	<-ctx.Done()
	return engine.ExecResult{}, ctx.Err()
}

// With the manager's engine down, nodes are found from the other engines'
// containers and the record; the manager's node is reported unreachable.
func TestManagerDown(t *testing.T) {
	l := newLab(t, 3, 3)
	l.swarm[0].Fail("Info", errors.New("engine swarm-0 does not answer"))
	l.setCode("cass2", "cass1", "DN")
	l.setCode("cass3", "cass1", "DN")
	res, r := judge(t, l.config())
	wantReport(t, r, ring.Degraded, 1, "no view from cass1: engine unreachable: engine swarm-0 does not answer", "cass1 is down, normal (DN) in the views of cass2, cass3")
	if got := strings.Join(res.Notes, "\n"); !strings.Contains(got, "no engine that answered is a swarm manager") {
		t.Errorf("notes %q", got)
	}
	for _, e := range res.Input.Expected {
		if e.Address != l.addrs[e.Name] {
			t.Errorf("%s at %q, want %s", e.Name, e.Address, l.addrs[e.Name])
		}
	}
	if r.ViewsAnswered != 2 {
		t.Errorf("%d views answered", r.ViewsAnswered)
	}
}

// Without Consul the ring is still judged, from the swarm alone.
func TestConsulDown(t *testing.T) {
	l := newLab(t, 3, 3)
	l.consul.SetDown(errors.New("dial tcp 10.0.0.2:8500: connect: connection refused"))
	res, r := judge(t, l.config())
	wantReport(t, r, ring.Healthy, 0)
	if res.Input.ChecksKnown || !strings.Contains(strings.Join(res.Notes, "\n"), "Consul does not answer") {
		t.Errorf("checks known %v, notes %q", res.Input.ChecksKnown, res.Notes)
	}
	for _, e := range res.Input.Expected {
		if e.HostID != "" || e.Address != l.addrs[e.Name] {
			t.Errorf("expected %+v", e)
		}
	}
}

func TestUnknownVerdicts(t *testing.T) {
	t.Run("no such cluster", func(t *testing.T) {
		l := newLab(t, 3, 3)
		l.addNode(context.Background(), "other", 1, l.swarm[1], "any")
		cfg := l.config()
		cfg.Cluster = "nope"
		res, r := judge(t, cfg)
		wantReport(t, r, ring.Unknown, 2, `no nodes found for cluster "nope"`)
		if res.Found || !res.Judgeable || strings.Join(res.OtherClusters, ",") != "other,test" {
			t.Errorf("found %v judgeable %v others %q", res.Found, res.Judgeable, res.OtherClusters)
		}
	})
	t.Run("every engine and Consul down", func(t *testing.T) {
		l := newLab(t, 3, 3)
		for _, f := range append(l.swarm, l.infra) {
			f.Fail("Info", errors.New("no route to host"))
		}
		l.consul.SetDown(errors.New("no route to host"))
		res, r := judge(t, l.config())
		wantReport(t, r, ring.Unknown, 2)
		if res.Judgeable || res.Found {
			t.Errorf("judgeable %v found %v", res.Judgeable, res.Found)
		}
	})
	t.Run("every engine down, Consul up", func(t *testing.T) {
		l := newLab(t, 3, 3)
		for _, f := range append(l.swarm, l.infra) {
			f.Fail("Info", errors.New("no route to host"))
		}
		res, r := judge(t, l.config())
		wantReport(t, r, ring.Unknown, 2, "no view from cass1: engine unreachable: no route to host", "no node answered")
		if !res.Found || len(res.Input.Expected) != 3 {
			t.Errorf("found %v, expected %+v", res.Found, res.Input.Expected)
		}
	})
	t.Run("every daemon starting", func(t *testing.T) {
		l := newLab(t, 2, 2)
		for _, n := range []string{"cass1", "cass2"} {
			l.answer[n] = engine.ExecResult{ExitCode: 1, Stderr: "nodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused'.\n"}
		}
		_, r := judge(t, l.config())
		wantReport(t, r, ring.Unknown, 2, "no view from cass2: nodetool cannot connect")
	})
}

// An engine no client could be made for is reported like one that does
// not answer.
func TestBrokenEngine(t *testing.T) {
	l := newLab(t, 3, 3)
	cfg := l.config()
	cfg.Engines = append(cfg.Engines[:2:2], l.infra)
	cfg.Broken = map[string]error{"swarm-2": errors.New("bad TLS files")}
	_, r := judge(t, cfg)
	wantReport(t, r, ring.Degraded, 1, "no view from cass3: engine unreachable: bad TLS files")
}

// Nodes are asked at once, no more than Parallel at a time.
func TestBoundedConcurrency(t *testing.T) {
	l := newLab(t, 3, 12)
	l.delay = 20 * time.Millisecond
	cfg := l.config()
	cfg.Parallel = 4
	res, r := judge(t, cfg)
	wantReport(t, r, ring.Healthy, 0)
	if l.most < 2 || l.most > 4 {
		t.Errorf("%d nodetool runs at once, want 2 to 4", l.most)
	}
	sum, longest := res.Timings.ExecStats()
	if len(res.Timings.Execs) != 24 || longest < 0.02 || sum < 24*0.02 {
		t.Errorf("%d execs, sum %.3fs, longest %.3fs", len(res.Timings.Execs), sum, longest)
	}
	// cass10 sorts after cass9.
	if got := res.Input.Expected[9].Name; got != "cass10" {
		t.Errorf("tenth node is %s", got)
	}
}

func TestGatherHonoursContext(t *testing.T) {
	l := newLab(t, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Gather(ctx, l.config()); !errors.Is(err, context.Canceled) {
		t.Errorf("Gather on a cancelled context: %v", err)
	}
}

// While a replaced task waits to be scheduled, it already has a new
// address; the ring still knows the node by its old one, and so does ring.
func TestReplacedTaskKeepsTheAddressTheRingKnows(t *testing.T) {
	l := newLab(t, 3, 3)
	l.w.TaskState = func(spec engine.ServiceSpec, _ engine.Node) (string, string) {
		if spec.Labels[engine.LabelNode] == "cass3" {
			return "pending", ""
		}
		return "running", ""
	}
	must(t, l.w.KillTask("cass3", "task: non-zero exit (137)"))
	l.setCode("cass1", "cass3", "DN")
	l.setCode("cass2", "cass3", "DN")
	res, r := judge(t, l.config())
	wantReport(t, r, ring.Degraded, 1, "no view from cass3: container gone: its newest task is pending", "cass3 is down, normal (DN) in the views of cass1, cass2")
	if got := res.Input.Expected[2].Address; got != l.addrs["cass3"] {
		t.Errorf("cass3 expected at %s, want its old address %s", got, l.addrs["cass3"])
	}
	if strings.Contains(problems(r), "unexpected") || len(r.Problems) != 2 {
		t.Errorf("problems:\n%s", problems(r))
	}
	// Once the views list the new address, that is the node's.
	tasks, err := l.swarm[0].TaskList(context.Background(), "cass3")
	must(t, err)
	newAddr := tasks[0].Addresses["swarmcass"]
	if newAddr == l.addrs["cass3"] || newAddr == "" {
		t.Fatalf("the new task has address %q", newAddr)
	}
	l.ring.Set("cass3", newAddr, "UN")
	res, _ = judge(t, l.config())
	if got := res.Input.Expected[2].Address; got != newAddr {
		t.Errorf("cass3 expected at %s, want its new address %s", got, newAddr)
	}
}

// With the manager and a node's engine down, the record's address may be
// stale; the node is found in the views by its recorded host ID.
func TestStaleRecordAddressFoundByHostID(t *testing.T) {
	l := newLab(t, 3, 3)
	l.consul.SetJSON("swarmcass/test/nodes/cass3", consulstore.Node{Name: "cass3", SwarmNode: "x", Host: "swarm-2", Address: "10.0.1.200", HostID: l.ids["cass3"]})
	for _, f := range []*enginetest.Fake{l.swarm[0], l.swarm[2]} {
		f.Fail("Info", errors.New("no route to host"))
	}
	l.setCode("cass2", "cass3", "DN")
	res, r := judge(t, l.config())
	wantReport(t, r, ring.Degraded, 1, "no view from cass3: engine unreachable: no route to host", "cass3 is down, normal (DN) in cass2's view")
	if got := res.Input.Expected[2].Address; got != l.addrs["cass3"] {
		t.Errorf("cass3 expected at %s, want %s where the views list its host ID", got, l.addrs["cass3"])
	}
	if strings.Contains(problems(r), "unexpected") {
		t.Errorf("problems:\n%s", problems(r))
	}
}

// Swarm keeps a task "starting" until the image's HEALTHCHECK first passes;
// its container runs and nodetool answers, so the node is judged by its view.
func TestStartingTaskIsJudgedByItsView(t *testing.T) {
	l := newLab(t, 3, 3)
	l.w.TaskState = func(spec engine.ServiceSpec, _ engine.Node) (string, string) {
		if spec.Labels[engine.LabelNode] == "cass3" {
			return "starting", ""
		}
		return "running", ""
	}
	must(t, l.w.EndTask("cass3", "complete", ""))
	tasks, err := l.swarm[0].TaskList(context.Background(), "cass3")
	must(t, err)
	l.ring.Set("cass3", tasks[0].Addresses["swarmcass"], "UN")
	_, r := judge(t, l.config())
	if tasks[0].State != "starting" {
		t.Fatalf("cass3's newest task is %s", tasks[0].State)
	}
	wantReport(t, r, ring.Healthy, 0)
}
