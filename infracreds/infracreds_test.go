package infracreds

import (
	"context"
	"os"
	"testing"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

// consul is a Consul container on a fake infra engine, its data in a volume.
func consul(t *testing.T) *enginetest.Fake {
	t.Helper()
	t.Setenv("SWARMCASS_HOME", t.TempDir())
	w := enginetest.NewWorld()
	infra := w.NewFake("infra", "10.0.0.2")
	infra.AddImage("consul")
	if _, err := infra.ContainerCreate(context.Background(), engine.ContainerSpec{Name: ConsulContainer, Image: "consul",
		Mounts: []engine.Mount{{Type: "volume", Source: "swarmcass-consul-data", Target: ConsulDataDir}}}); err != nil {
		t.Fatal(err)
	}
	return infra
}

// The token every command sends: the local file's; the copy's when the
// file is missing or Consul knows not the file's (and the file is then
// set right, 0600); none when neither exists.
func TestConsulTokens(t *testing.T) {
	ctx := context.Background()
	infra := consul(t)
	tokens := ConsulTokens(infra, "10.0.0.2", nil)
	if got, err := tokens(ctx, ""); err != nil || got != "" {
		t.Fatalf("no file, no copy: %q, %v; want no token", got, err)
	}
	if err := WriteCopy(ctx, infra, ConsulToken, "copy-token"); err != nil {
		t.Fatal(err)
	}
	if got, err := tokens(ctx, ""); err != nil || got != "copy-token" {
		t.Fatalf("no file: %q, %v; want the copy's", got, err)
	}
	path, _ := LocalPath(ConsulToken, "10.0.0.2")
	if b, err := os.ReadFile(path); err != nil || string(b) != "copy-token\n" {
		t.Fatalf("the local file after recovery: %q, %v", b, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", path, st.Mode().Perm())
	}
	if err := WriteLocal(ConsulToken, "10.0.0.2", "stale-token"); err != nil {
		t.Fatal(err)
	}
	if got, _ := tokens(ctx, ""); got != "stale-token" {
		t.Errorf("first ask: %q, want the file's", got)
	}
	if got, err := tokens(ctx, "stale-token"); err != nil || got != "copy-token" {
		t.Errorf("the file's token is unknown to Consul: %q, %v; want the copy's", got, err)
	}
	if got, _, _ := ReadLocal(ConsulToken, "10.0.0.2"); got != "copy-token" {
		t.Errorf("the local file holds %q after the stale token was replaced", got)
	}
	// The copy is stale too: nothing better to offer.
	if got, _ := tokens(ctx, "copy-token"); got != "copy-token" {
		t.Errorf("both stale: %q, want the stale one back (so the request is not retried)", got)
	}
	// The copy lives in Consul's volume: a new container on it has it.
	if err := infra.ContainerRemove(ctx, ConsulContainer); err != nil {
		t.Fatal(err)
	}
	if _, err := infra.ContainerCreate(ctx, engine.ContainerSpec{Name: ConsulContainer, Image: "consul",
		Mounts: []engine.Mount{{Type: "volume", Source: "swarmcass-consul-data", Target: ConsulDataDir}}}); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if got, _ := tokens(ctx, ""); got != "copy-token" {
		t.Errorf("after the container was recreated on its volume: %q, want the copy's", got)
	}
}
