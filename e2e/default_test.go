package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/swarmcass/swarmcass/cassim/cassimimage"
	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/lab"
	"github.com/swarmcass/swarmcass/provision"
)

// TestIntegrationEndToEndDefaultEngine is the true default: swarmcass run
// with nothing set (no DOCKER_HOST, no context, no machine store, HOME an
// empty directory) on a machine whose only engine is its own, on the unix
// socket. It runs inside the lab's infra machine, which has its own dockerd
// and the offline images, so that the host engine is never put in swarm
// mode: the binary and the cassim build context are copied in and run there
// with `docker exec`, as a user of that machine would run them. Consul, the
// registry, the one swarm node and both nodes then share one engine, every
// address handed out is 127.0.0.1, and Consul must check the nodes at those
// addresses. swarm-0 stays idle.
func TestIntegrationEndToEndDefaultEngine(t *testing.T) {
	t.Parallel() // its own lab: see newEnv
	e := newEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	in := e.inMachine(ctx, lab.InfraName)
	bootstrap := []string{"bootstrap", "--nodes", "2", "--heap", e.heap, "--node-timeout", e.timeout,
		"--consul-image", consulImage, "--registry-image", registryImage, "--image-dir", in.dir + "/cassim"}
	for _, kv := range e.nodeEnv {
		bootstrap = append(bootstrap, "--node-env", kv)
	}

	// 1. Two nodes from nothing on the local engine, which plays every role.
	r := in.must(ctx, bootstrap...)
	t.Logf("bootstrap --nodes 2 on the local engine alone: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	if !strings.Contains(r.out, "Image 127.0.0.1:5000/") || !strings.Contains(r.out, " local ") {
		t.Errorf("summary does not show the local engine and the image pulled from 127.0.0.1:5000:\n%s", r.out)
	}
	requireSoloRing(ctx, t, e.machine(lab.InfraName), provision.DefaultCluster, 2)

	// 2. Every contact point handed out answers where swarmcass runs, and
	// Consul, which checks the same addresses, finds each node passing.
	store := e.consul(ctx)
	rec, err := consulstore.ReadRecord(ctx, store, provision.DefaultCluster)
	if err != nil {
		t.Fatalf("read the record from Consul: %v", err)
	}
	if len(rec.Nodes) != 2 {
		t.Fatalf("record %+v: want 2 nodes", rec)
	}
	for _, n := range rec.Nodes {
		host, port, err := net.SplitHostPort(n.CQL)
		if err != nil || host != "127.0.0.1" || !strings.Contains(r.out, n.CQL) {
			t.Errorf("%s: contact point %q, want 127.0.0.1:PORT as the summary shows it", n.Name, n.CQL)
			continue
		}
		res, err := in.exec(ctx, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port))
		if err != nil || res.ExitCode != 0 {
			t.Errorf("%s: contact point %s does not answer where swarmcass runs: %v %+v", n.Name, n.CQL, err, res)
		}
	}
	checks, err := store.Checks(ctx, consulstore.ServiceName, provision.DefaultCluster)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 2 {
		t.Errorf("Consul has %d checks of the cluster's nodes, want 2: %+v", len(checks), checks)
	}
	for _, c := range checks {
		if c.Status != "passing" {
			t.Errorf("Consul's check of %s is %s: %s", c.ServiceID, c.Status, c.Output)
		}
	}

	// 3. ring, with nothing set either, finds the ring healthy.
	r = in.must(ctx, "ring")
	t.Logf("ring: %s\n%s", r.duration.Round(10*time.Millisecond), r.out)

	// 4. A re-run changes nothing.
	r = in.must(ctx, bootstrap...)
	if !strings.Contains(r.out, "nothing to do") {
		t.Errorf("re-run changed something:\n%s", r.out)
	}
	t.Logf("re-run: %s", r.duration.Round(10*time.Millisecond))
}

// machineUser runs commands inside a lab machine's own container, as a
// user logged in to that machine would.
type machineUser struct {
	t         *testing.T
	host      engine.Engine // the engine the lab's machines run on
	container string
	dir       string // where swarmcass and the cassim build context are
	home      string // HOME: an empty directory
}

// inMachine copies a static swarmcass binary and the cassim build context
// into machine's container and makes an empty HOME there.
func (e *env) inMachine(ctx context.Context, machine string) *machineUser {
	e.t.Helper()
	rec, err := lab.ReadRecord(e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	host, err := engine.NewDocker("host", rec.HostEngine, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { host.Close() })
	u := &machineUser{t: e.t, host: host, container: e.lab + "-" + machine, dir: "/opt/swarmcass-e2e", home: "/tmp/swarmcass-home"}

	// The machine's libc need not be this one's: build without cgo.
	stage := e.t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(stage, "swarmcass"), "./cmd/swarmcass")
	build.Dir, build.Env = moduleDir(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		e.t.Fatalf("build a static swarmcass: %v\n%s", err, out)
	}
	if err := cassimimage.Context(ctx, filepath.Join(stage, "cassim")); err != nil {
		e.t.Fatal(err)
	}
	if _, err := u.mustExec(ctx, "mkdir", "-p", u.dir, u.home); err != nil {
		e.t.Fatal(err)
	}
	// engine.Engine has no copy: the one call swarmcass itself never makes.
	cli, err := client.New(client.WithHost(rec.HostEngine))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cli.Close()
	content := engine.DirContext(stage)
	defer content.Close()
	if _, err := cli.CopyToContainer(ctx, u.container, client.CopyToContainerOptions{DestinationPath: u.dir, Content: content}); err != nil {
		e.t.Fatalf("copy swarmcass into %s: %v", u.container, err)
	}
	return u
}

// exec runs cmd in the machine's container.
func (u *machineUser) exec(ctx context.Context, cmd ...string) (engine.ExecResult, error) {
	return u.host.Exec(ctx, u.container, cmd)
}

// mustExec runs cmd in the machine and fails unless it exits 0.
func (u *machineUser) mustExec(ctx context.Context, cmd ...string) (engine.ExecResult, error) {
	res, err := u.exec(ctx, cmd...)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("%s: exit %d: %s", strings.Join(cmd, " "), res.ExitCode, res.Stderr)
	}
	return res, err
}

// must runs swarmcass in the machine with nothing set but PATH and HOME
// (the machine's container carries its TLS files in its environment), and
// fails the test unless it exits 0.
func (u *machineUser) must(ctx context.Context, args ...string) result {
	u.t.Helper()
	cmd := append([]string{"env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + u.home,
		u.dir + "/swarmcass"}, args...)
	start := time.Now()
	res, err := u.exec(ctx, cmd...)
	r := result{args: args, out: res.Stdout + res.Stderr, code: res.ExitCode, duration: time.Since(start)}
	if err == nil && r.code != 0 {
		err = fmt.Errorf("exit %d", r.code)
	}
	if err != nil {
		u.t.Fatalf("swarmcass %s in %s: %v\n%s", strings.Join(args, " "), u.container, err, r.out)
	}
	return r
}
