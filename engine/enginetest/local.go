package enginetest

import (
	"context"
	"testing"

	"github.com/moby/moby/client"

	"github.com/swarmcass/swarmcass/dockercontext"
	"github.com/swarmcass/swarmcass/engine"
)

// Local connects an integration test to the real engine of the docker
// CLI's default context (dockercontext.Default: DOCKER_HOST, else the local
// socket) and closes it when the test ends. Under -short it skips the test:
// unit tests need no engine.
func Local(t testing.TB) *engine.Docker {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs a Docker Engine (run scripts/setup-engine.sh)")
	}
	dir, err := dockercontext.ConfigDir()
	if err != nil {
		t.Fatal(err)
	}
	c, err := dockercontext.Default(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tls *engine.TLSFiles
	if c.HasTLS() {
		tls = &engine.TLSFiles{CA: c.CA, Cert: c.Cert, Key: c.Key}
	}
	d, err := engine.NewDocker("local", c.Host, tls)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// RemoveImage removes an image a test built on the local engine. The Engine
// interface has none, because swarmcass never removes images.
func RemoveImage(t testing.TB, ref string) {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Errorf("remove image %s: %v", ref, err)
		return
	}
	defer cli.Close()
	if _, err := cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
		t.Errorf("remove image %s: %v", ref, err)
	}
}
