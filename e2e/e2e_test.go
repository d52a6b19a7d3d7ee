// Package e2e runs swarmcass, the binary, end to end on a real lab: a
// Docker-in-Docker machine for infra and three for the swarm, a real swarm,
// registry and Consul, and cassim standing in for Cassandra (cassim is not
// Cassandra: see cassim/README.md).
//
// The same test runs against a real Cassandra image where one can be had:
// SWARMCASS_E2E_IMAGE_DIR names its build context (e.g. cassandra-image/),
// built on infra by bootstrap as users do, and nodes get a 512M heap; its
// base image must be loadable into the lab (SWARMCASS_E2E_LOAD=cassandra:5.0.8
// copies it from the host engine). See README.md, "Real Cassandra".
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cassim/cassimimage"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/images"
	"github.com/swarmcass/swarmcass/infracreds"
	"github.com/swarmcass/swarmcass/machinestore"
	"github.com/swarmcass/swarmcass/nodetool"
)

// The offline images scripts/build-images.sh makes.
var (
	consulImage   = images.Consul
	registryImage = images.Registry
)

var binary string // the swarmcass binary under test, built once

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "swarmcass-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "swarmcass")
	args := []string{"build", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/swarmcass")...)
	build.Dir = moduleDir()
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build swarmcass: %v\n%s", err, out)
		os.Exit(1)
	}
	fmt.Printf("e2e: built swarmcass (race detector: %v) in %s\n", raceBuild, time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	code := m.Run()
	if n := binaryRuns.Load(); n > 0 {
		fmt.Printf("e2e: %d runs of swarmcass (race detector: %v) took %s of CPU in %s\n",
			n, raceBuild, time.Duration(binaryCPU.Load()).Round(100*time.Millisecond), time.Since(start).Round(time.Second))
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// moduleDir is the swarmcass module's root.
func moduleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// env is one test's lab and cluster.
type env struct {
	t        *testing.T
	lab      string
	store    string
	home     string // SWARMCASS_HOME and HOME of the binary: where it keeps credentials
	userHome string // HOME of the binary when the store is at HOME/.docker/machine (newEnvAt)
	imageDir string
	base     string // --base-image instead of --image-dir (real Cassandra)
	nodeEnv  []string
	timeout  string // --node-timeout
	heap     string // --heap
	// open: bootstrap with --auth=false (until realAuthEnable turns
	// authentication on).
	open bool

	mu      sync.Mutex
	clients map[string]engine.Engine // by machine name
}

func suffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newEnv brings up a lab of infra + machines swarm machines, with the
// offline Consul and registry images loaded into infra, and removes it all
// when the test ends.
//
// Each test's lab is its own (a random name and /24, its own machine store
// and SWARMCASS_HOME, the binary's environment given per command), so the
// cassim tests run beside each other (t.Parallel; go test -parallel, the
// number of cores by default: two at a time on CI's 2 cores). Their waits
// are on conditions with deadlines of minutes, not on timings, so running
// two at once makes them slower, not flaky.
func newEnv(t *testing.T, machines int) *env {
	t.Helper()
	return newEnvAt(t, machines, "")
}

// newEnvAt is newEnv with the lab's machine store in docker-machine's
// default place, userHome/.docker/machine, when userHome is not empty: the
// binary then runs with HOME=userHome and nothing else set, as a
// docker-machine user's shell.
func newEnvAt(t *testing.T, machines int, userHome string) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs a Docker Engine and the offline images (scripts/setup-engine.sh, scripts/build-images.sh)")
	}
	e := &env{t: t, lab: "e2e" + suffix(), store: filepath.Join(t.TempDir(), "store"), home: filepath.Join(t.TempDir(), "home"), timeout: "3m", heap: "64M"}
	if userHome != "" {
		e.userHome, e.store = userHome, filepath.Join(userHome, ".docker", "machine")
	}
	t.Cleanup(func() {
		if t.Failed() {
			e.run("lab", "ls", "--name", e.lab, "--store", e.store)
		}
		e.run("lab", "down", "--name", e.lab, "--store", e.store)
	})
	start := time.Now()
	// A random /24 of 10.233/16: labs of tests running at once (and other
	// engineers' on a shared machine) rarely take the same one, and when
	// they do the engine refuses the second network, so another is tried.
	for try := 1; ; try++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(200))
		subnet := fmt.Sprintf("10.233.%d.0/24", n.Int64()+20)
		r := e.run("lab", "up", "--name", e.lab, "--store", e.store, "--subnet", subnet, "--machines", fmt.Sprint(machines))
		if r.code == 0 {
			break
		}
		if !strings.Contains(r.out, "overlaps") || try == 5 {
			t.Fatalf("swarmcass lab up: exit %d\n%s", r.code, r.out)
		}
		t.Logf("subnet %s is taken (%s), trying another", subnet, lastLine(r.out))
		e.run("lab", "down", "--name", e.lab, "--store", e.store)
	}
	e.must("lab", "load", "--name", e.lab, "--store", e.store, "--machine", "infra", consulImage, registryImage)
	if extra := os.Getenv("SWARMCASS_E2E_LOAD"); extra != "" {
		e.must(append([]string{"lab", "load", "--name", e.lab, "--store", e.store}, strings.Split(extra, ",")...)...)
	}
	t.Logf("lab of %d machines up and loaded in %s", machines+1, time.Since(start).Round(100*time.Millisecond))

	if dir := os.Getenv("SWARMCASS_E2E_IMAGE_DIR"); dir != "" {
		// Real Cassandra: minutes per node, and a heap it can start with.
		e.imageDir, e.timeout, e.heap = dir, "10m", "512M"
	} else {
		e.imageDir = filepath.Join(t.TempDir(), "cassim")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := cassimimage.Context(ctx, e.imageDir); err != nil {
			t.Fatal(err)
		}
		e.nodeEnv = []string{"CASSIM_PROFILE=fast"}
	}
	return e
}

func (e *env) run(args ...string) result {
	return e.runCtx(context.Background(), args...)
}

func (e *env) runCtx(ctx context.Context, args ...string) result {
	e.t.Helper()
	p := e.start(ctx, args...)
	r, err := p.wait()
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// start starts the binary in the background against the lab.
func (e *env) start(ctx context.Context, args ...string) *proc {
	e.t.Helper()
	p, err := startProc(ctx, e.storeEnv(), args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("swarmcass %s: exit %d\n%s", strings.Join(args, " "), r.code, r.out)
	}
	return r
}

func (e *env) bootstrapArgs(nodes int, extraEnv ...string) []string {
	args := []string{"bootstrap", "--nodes", fmt.Sprint(nodes), "--cluster", "e2e",
		"--consul-image", consulImage, "--registry-image", registryImage,
		"--heap", e.heap, "--node-timeout", e.timeout}
	if e.open {
		args = append(args, "--auth=false")
	}
	if e.base != "" {
		args = append(args, "--base-image", e.base)
	} else {
		args = append(args, "--image-dir", e.imageDir)
	}
	for _, kv := range append(append([]string{}, e.nodeEnv...), extraEnv...) {
		args = append(args, "--node-env", kv)
	}
	return args
}

// pinnedImage is the summary's Image line: the infra registry's
// swarmcass/cassandra, pinned by digest.
var pinnedImage = regexp.MustCompile(`(?m)^Image \S+:5000/swarmcass/cassandra@sha256:[0-9a-f]{64}$`)

// requireRecord reads cluster e2e's record from Consul on the infra
// machine, as bootstrap wrote it, and requires cass1..cassN in it, each
// UN with a host ID, and the seeds and the image.
func (e *env) requireRecord(ctx context.Context, n int) {
	e.t.Helper()
	rec := e.record(ctx)
	if len(rec.Nodes) != n || len(rec.Bad) > 0 || len(rec.Seeds) == 0 || !strings.Contains(rec.Image, "@sha256:") {
		e.t.Errorf("record %+v: want %d nodes, the seeds and the pinned image", rec, n)
	}
	for k := 1; k <= n; k++ {
		name := fmt.Sprintf("cass%d", k)
		if node, ok := rec.Nodes[name]; !ok || node.State != "UN" || node.HostID == "" || node.Address == "" {
			e.t.Errorf("record of %s: %+v (listed %v), want UN with its host ID and address", name, node, ok)
		}
	}
}

// record is cluster e2e's record in Consul on the infra machine.
func (e *env) record(ctx context.Context) consulstore.Record {
	e.t.Helper()
	store := e.consul(ctx)
	rec, err := consulstore.ReadRecord(ctx, store, "e2e")
	if err != nil {
		e.t.Fatalf("read the record from Consul on infra: %v", err)
	}
	return rec
}

// consul is a client of Consul on the infra machine with the management
// token, read (as swarmcass recovers a lost local file) from the copy in
// the Consul container's data through infra's engine.
func (e *env) consul(ctx context.Context) consulstore.Store {
	e.t.Helper()
	m, err := machinestore.New(e.store).Load("infra")
	if err != nil {
		e.t.Fatal(err)
	}
	token, ok, err := infracreds.ReadCopy(ctx, e.machine("infra"), infracreds.ConsulToken)
	if err != nil || !ok {
		e.t.Fatalf("Consul's token in its container on infra: %q, %v, %v", token, ok, err)
	}
	store, err := consulstore.Dial(consulstore.Addr(m.IP), consulstore.Token(token))
	if err != nil {
		e.t.Fatal(err)
	}
	return store
}

// machine connects to a lab machine over TLS with the store's files, once
// per machine: the polls below ask for it again and again.
func (e *env) machine(name string) engine.Engine {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if d, ok := e.clients[name]; ok {
		return d
	}
	m, err := machinestore.New(e.store).Load(name)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := engine.NewDocker(name, m.URL, &engine.TLSFiles{CA: m.CACert, Cert: m.ClientCert, Key: m.ClientKey})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	if e.clients == nil {
		e.clients = map[string]engine.Engine{}
	}
	e.clients[name] = d
	return d
}

// swarmMachines are the lab's swarm machines, connected.
func (e *env) swarmMachines() []engine.Engine {
	e.t.Helper()
	names, err := machinestore.New(e.store).List()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []engine.Engine
	for _, name := range names {
		if strings.HasPrefix(name, "swarm-") {
			out = append(out, e.machine(name))
		}
	}
	return out
}

// nodeContainer is a running Cassandra node container on a swarm machine.
type nodeContainer struct {
	node    string
	machine engine.Engine
	id      string
}

// nodes finds the running node containers of cluster e2e on every swarm machine.
// execResult is one command's result in one node container.
type execResult struct {
	res engine.ExecResult
	err error
}

// inEach runs cmd in every one of ns at once, results in ns's order.
func (e *env) inEach(ctx context.Context, ns []nodeContainer, cmd ...string) []execResult {
	out := make([]execResult, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Go(func() { out[i].res, out[i].err = n.machine.Exec(ctx, n.id, cmd) })
	}
	wg.Wait()
	return out
}

func (e *env) nodes(ctx context.Context) []nodeContainer {
	e.t.Helper()
	var out []nodeContainer
	for _, m := range e.swarmMachines() {
		cs, err := m.ContainerList(ctx, engine.Labels{engine.LabelCluster: "e2e", engine.LabelRole: engine.RoleCassandra})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, c := range cs {
			if c.Running {
				out = append(out, nodeContainer{node: c.Labels[engine.LabelNode], machine: m, id: c.ID})
			}
		}
	}
	return out
}

// requireRing checks, from every running node's own nodetool status, that
// the ring has exactly want nodes and all are Up/Normal.
func (e *env) requireRing(ctx context.Context, want int) {
	e.t.Helper()
	ns := e.nodes(ctx)
	if len(ns) != want {
		e.t.Fatalf("%d running node containers, want %d", len(ns), want)
	}
	hostIDs := map[string]bool{}
	all := e.inEach(ctx, ns, "nodetool", "status") // every view at once: each real nodetool is a JVM
	for i, n := range ns {
		res, err := all[i].res, all[i].err
		if err != nil || res.ExitCode != 0 {
			e.t.Fatalf("%s: nodetool status: %v %+v", n.node, err, res)
		}
		st, err := nodetool.ParseStatus(res.Stdout)
		if err != nil {
			e.t.Fatalf("%s: %v\n%s", n.node, err, res.Stdout)
		}
		if len(st.Nodes()) != want || st.CountUN() != want {
			e.t.Fatalf("%s sees %d nodes, %d UN; want %d UN:\n%s", n.node, len(st.Nodes()), st.CountUN(), want, res.Stdout)
		}
		for _, node := range st.Nodes() {
			hostIDs[node.HostID] = true
		}
	}
	if len(hostIDs) != want {
		e.t.Fatalf("the views name %d host IDs, want %d", len(hostIDs), want)
	}
}

func TestIntegrationEndToEndBootstrap(t *testing.T) {
	t.Parallel() // its own lab: see newEnv
	e := newEnv(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	// 1. Three nodes from nothing.
	r := e.must(e.bootstrapArgs(3)...)
	t.Logf("bootstrap --nodes 3: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireRing(ctx, 3)
	e.requireStartedTogether(ctx, r.out, 3)
	if !pinnedImage.MatchString(r.out) {
		t.Errorf("summary does not name the image the nodes run, pinned by digest in the infra registry:\n%s", r.out)
	}

	// 2. A re-run on the healthy ring changes nothing, quickly.
	r = e.must(e.bootstrapArgs(3)...)
	if !strings.Contains(r.out, "nothing to do") {
		t.Errorf("re-run changed something:\n%s", r.out)
	}
	t.Logf("re-run: %s", r.duration.Round(10*time.Millisecond))
	if r.duration > 20*time.Second {
		t.Errorf("re-run took %s; a no-op should take seconds", r.duration)
	}

	// 2b. Ctrl-C while cass4 joins: exit 130, the lock is given back, and
	// what was made stays for the next run to continue from.
	p := e.start(ctx, e.bootstrapArgs(4, "CASSIM_BOOTSTRAP_MS=30000")...)
	e.waitOutput(ctx, p, "waiting for cass4")
	if err := p.interrupt(); err != nil {
		t.Fatal(err)
	}
	r = e.waitProc(p)
	if r.code != 130 || !strings.Contains(r.out, "interrupted") {
		t.Fatalf("bootstrap interrupted: exit %d, want 130 saying so:\n%s", r.code, r.out)
	}
	t.Logf("Ctrl-C while cass4 joined: exit %d\n%s", r.code, r.out)

	// 3. Growing to 5 with a slow-joining cass4: while it joins, a second
	// bootstrap is refused at once, naming the holder; killing cass4's
	// container while the first run waits for it stops that run with a
	// report naming cass4. (Killed before the run looks at cass4, the
	// container would rightly be recreated instead.)
	p = e.start(ctx, e.bootstrapArgs(5, "CASSIM_BOOTSTRAP_MS=30000")...)
	e.waitOutput(ctx, p, "waiting for cass4")
	cass4 := e.waitForNode(ctx, "cass4")
	second := e.run(e.bootstrapArgs(5)...)
	if second.code == 0 || !strings.Contains(second.out, "another bootstrap") || !strings.Contains(second.out, "pid") {
		t.Errorf("concurrent bootstrap: exit %d, want a refusal naming the holder:\n%s", second.code, second.out)
	}
	if second.duration > 10*time.Second {
		t.Errorf("concurrent bootstrap took %s to be refused; want at once", second.duration)
	}
	if err := cass4.machine.ContainerStop(ctx, cass4.id, 0); err != nil {
		t.Fatal(err)
	}
	first := e.waitProc(p)
	if first.code == 0 || !strings.Contains(first.out, "node cass4") || !strings.Contains(first.out, "last log lines") ||
		!strings.Contains(first.out, "Node configuration") {
		t.Fatalf("bootstrap with cass4 killed: exit %d, want a failure naming cass4 with its last log lines:\n%s", first.code, first.out)
	}
	t.Logf("bootstrap stopped as it should:\n%s", first.out)
	for _, n := range e.nodes(ctx) {
		if n.node == "cass5" {
			t.Errorf("cass5 was started although cass4 failed")
		}
	}

	// 4. A re-run completes the ring: cass4 joins, then cass5.
	r = e.must(e.bootstrapArgs(5)...)
	t.Logf("re-run after the failure: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	e.requireRing(ctx, 5)

	// 5. The shared record in Consul names all five, each UN with its host
	// ID; and ring, reading it with the views, finds the ring healthy.
	e.requireRecord(ctx, 5)
	r = e.must("ring", "--cluster", "e2e", "-o", "json")
	var report struct {
		Verdict string `json:"verdict"`
		Rows    []struct {
			Node string `json:"node"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(jsonPart(r.out)), &report); err != nil {
		t.Fatalf("ring -o json: %v\n%s", err, r.out)
	}
	if report.Verdict != "healthy" || len(report.Rows) != 5 {
		t.Errorf("ring: verdict %q with %d rows, want healthy with 5:\n%s", report.Verdict, len(report.Rows), r.out)
	}

	// 5b. The node services removed, the volumes kept: the nodes come back
	// together, each with its identity.
	e.requireRestartTogether(ctx, 5)

	// 6. One node's container stops: ring says degraded (exit 1), naming it.
	var cass5 nodeContainer
	for _, n := range e.nodes(ctx) {
		if n.node == "cass5" {
			cass5 = n
		}
	}
	if err := cass5.machine.ContainerStop(ctx, cass5.id, 0); err != nil {
		t.Fatal(err)
	}
	r = e.waitRing(ctx, 1, "cass5")
	t.Logf("ring with cass5 stopped (exit %d):\n%s", r.code, r.out)
	e.requireNewestTaskFirst(ctx, "cass5", cass5.id)

	// 7. A whole machine goes down: ring still reports on the rest.
	e.must("lab", "stop", "--name", e.lab, "--store", e.store, "swarm-2")
	r = e.waitRing(ctx, 1, "cass3")
	if !strings.Contains(r.out, "engine unreachable") {
		t.Errorf("ring does not say cass3's engine is unreachable:\n%s", r.out)
	}
	for _, node := range []string{"cass1", "cass2", "cass4"} {
		if !strings.Contains(r.out, node) {
			t.Errorf("ring no longer reports %s:\n%s", node, r.out)
		}
	}
	t.Logf("ring with swarm-2 down (exit %d):\n%s", r.code, r.out)
}

// requireNewestTaskFirst waits until Swarm has replaced node's task whose
// container was stopped, and checks that the engine lists the replacement
// first, as bootstrap relies on.
func (e *env) requireNewestTaskFirst(ctx context.Context, node, stopped string) {
	e.t.Helper()
	manager := e.machine("swarm-0")
	deadline := time.Now().Add(time.Minute)
	for {
		tasks, err := manager.TaskList(ctx, node)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(tasks) >= 2 && tasks[0].ContainerID != "" {
			if tasks[0].ContainerID == stopped || tasks[1].ContainerID != stopped || !tasks[0].Created.After(tasks[1].Created) {
				e.t.Fatalf("%s's tasks are not newest first: %+v", node, tasks)
			}
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("Swarm did not replace %s's stopped task: %+v", node, tasks)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitRing runs `swarmcass ring` until it exits with code and names node
// among its problems (gossip needs a few seconds to call a node down).
func (e *env) waitRing(ctx context.Context, code int, node string) result {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := e.runCtx(ctx, "ring", "--cluster", "e2e")
		problems := r.out[strings.Index(r.out, "\n\n")+1:]
		if r.code == code && strings.Contains(problems, node) {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("ring never exited %d naming %s; last (exit %d):\n%s", code, node, r.code, r.out)
		}
		time.Sleep(time.Second)
	}
}

// waitOutput waits until p has printed s.
func (e *env) waitOutput(ctx context.Context, p *proc, s string) {
	e.t.Helper()
	if err := p.waitOutput(ctx, s); err != nil {
		e.t.Fatal(err)
	}
}

// waitProc waits for p to end.
func (e *env) waitProc(p *proc) result {
	e.t.Helper()
	r, err := p.wait()
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// waitForNode waits until node's container runs somewhere in the lab.
func (e *env) waitForNode(ctx context.Context, node string) nodeContainer {
	e.t.Helper()
	for {
		for _, n := range e.nodes(ctx) {
			if n.node == node {
				return n
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("%s never started", node)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// jsonPart skips anything printed before the JSON document.
func jsonPart(s string) string {
	if i := strings.Index(s, "{"); i >= 0 {
		return s[i:]
	}
	return s
}
