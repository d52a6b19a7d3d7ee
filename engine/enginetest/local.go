package enginetest

import (
	"context"
	"testing"

	"github.com/moby/moby/client"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
)

// Local connects an integration test to the real engine of the docker
// CLI's default context (hosts.Local, swarmcass's one DOCKER_HOST fallback:
// DOCKER_HOST, else the local socket) and closes it when the test ends.
// Under -short it skips the test: unit tests need no engine.
func Local(t testing.TB) *engine.Docker {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a Docker Engine (run scripts/setup-engine.sh)")
	}
	ep, err := hosts.Local()
	if err != nil {
		t.Fatal(err)
	}
	d, err := engine.NewDocker("local", ep.Host, ep.TLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// RemoveImage removes an image a test built on the local engine (the one
// Local connects to). The Engine interface has none, because swarmcass
// never removes images.
func RemoveImage(t testing.TB, ref string) {
	t.Helper()
	ep, err := hosts.Local()
	if err != nil {
		t.Errorf("remove image %s: %v", ref, err)
		return
	}
	opts := []client.Opt{client.WithHost(ep.Host)}
	if ep.TLS != nil {
		opts = append(opts, client.WithTLSClientConfig(ep.TLS.CA, ep.TLS.Cert, ep.TLS.Key))
	}
	cli, err := client.New(opts...)
	if err != nil {
		t.Errorf("remove image %s: %v", ref, err)
		return
	}
	defer cli.Close()
	if _, err := cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
		t.Errorf("remove image %s: %v", ref, err)
	}
}
