package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/machinestore"
	"github.com/swarmcass/swarmcass/nodetool"
)

// TestIntegrationEndToEndSingleEngine is the newcomer's path: one Docker
// engine, given by --host and its TLS files alone, plays every role (Consul,
// the registry, the one swarm node and both Cassandra nodes), and nodes pull
// the image from the registry through loopback. The engine is the lab's
// swarm-0, so no swarm is initialised on the host engine; infra stays idle.
func TestIntegrationEndToEndSingleEngine(t *testing.T) {
	t.Parallel() // its own lab: see newEnv
	e := newEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e.must("lab", "load", "--name", e.lab, "--store", e.store, "--machine", "swarm-0", consulImage, registryImage)

	m, err := machinestore.New(e.store).Load("swarm-0")
	if err != nil {
		t.Fatal(err)
	}
	hostFlags := []string{"--host", m.URL, "--tlscacert", m.CACert, "--tlscert", m.ClientCert, "--tlskey", m.ClientKey}
	bootstrap := []string{"bootstrap", "--nodes", "2", "--cluster", "solo",
		"--consul-image", consulImage, "--registry-image", registryImage,
		"--image-dir", e.imageDir, "--heap", "64M", "--node-timeout", e.timeout}
	for _, kv := range e.nodeEnv {
		bootstrap = append(bootstrap, "--node-env", kv)
	}
	bootstrap = append(bootstrap, hostFlags...)

	// 1. Two nodes from nothing, the image pulled through loopback.
	r := e.mustAlone(ctx, bootstrap...)
	t.Logf("bootstrap --nodes 2 on one engine: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	if !strings.Contains(r.out, "Image 127.0.0.1:5000/") {
		t.Errorf("summary does not show the image pulled from 127.0.0.1:5000:\n%s", r.out)
	}
	requireSoloRing(ctx, t, e.machine("swarm-0"), "solo", 2)

	// 2. A re-run changes nothing.
	r = e.mustAlone(ctx, bootstrap...)
	if !strings.Contains(r.out, "nothing to do") {
		t.Errorf("re-run changed something:\n%s", r.out)
	}
	t.Logf("re-run: %s", r.duration.Round(10*time.Millisecond))

	// 3. ring, given the same engine, finds the ring healthy.
	r = e.mustAlone(ctx, append([]string{"ring", "--cluster", "solo"}, hostFlags...)...)
	t.Logf("ring: %s\n%s", r.duration.Round(10*time.Millisecond), r.out)
}

// mustAlone runs the binary as a newcomer would, with no machine store in
// the environment (so only the --host flags name engines), and fails the
// test unless it exits 0.
func (e *env) mustAlone(ctx context.Context, args ...string) result {
	e.t.Helper()
	environ := append(os.Environ(), "MACHINE_STORAGE_PATH=", "DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_CONTEXT=", "SWARMCASS_HOME="+e.home)
	p, err := startProc(ctx, environ, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := p.wait()
	if err == nil && r.code != 0 {
		err = fmt.Errorf("exit %d", r.code)
	}
	if err != nil {
		e.t.Fatalf("swarmcass %s: %v\n%s", strings.Join(args, " "), err, r.out)
	}
	return r
}

// requireSoloRing checks, from each of cluster's running node containers on
// m, that its own nodetool status shows want nodes, all Up/Normal, and that
// the views agree on want host IDs.
func requireSoloRing(ctx context.Context, t *testing.T, m engine.Engine, cluster string, want int) {
	t.Helper()
	cs, err := m.ContainerList(ctx, engine.Labels{engine.LabelCluster: cluster, engine.LabelRole: engine.RoleCassandra})
	if err != nil {
		t.Fatal(err)
	}
	hostIDs := map[string]bool{}
	running := 0
	for _, c := range cs {
		if !c.Running {
			continue
		}
		running++
		node := c.Labels[engine.LabelNode]
		res, err := m.Exec(ctx, c.ID, []string{"nodetool", "status"})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: nodetool status: %v %+v", node, err, res)
		}
		st, err := nodetool.ParseStatus(res.Stdout)
		if err != nil {
			t.Fatalf("%s: %v\n%s", node, err, res.Stdout)
		}
		if len(st.Nodes()) != want || st.CountUN() != want {
			t.Fatalf("%s sees %d nodes, %d UN; want %d UN:\n%s", node, len(st.Nodes()), st.CountUN(), want, res.Stdout)
		}
		for _, n := range st.Nodes() {
			hostIDs[n.HostID] = true
		}
	}
	if running != want {
		t.Fatalf("%d running node containers of cluster %s on %s, want %d", running, cluster, m.Name(), want)
	}
	if len(hostIDs) != want {
		t.Fatalf("the views name %d host IDs, want %d", len(hostIDs), want)
	}
}
