package lab_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/lab"
	"github.com/swarmcass/swarmcass/machinestore"
)

// testConfig gives each run its own name and subnet, so tests can run next
// to a user's lab.
func testConfig(t *testing.T, machines int) lab.Config {
	b := make([]byte, 3)
	rand.Read(b)
	n, _ := rand.Int(rand.Reader, big.NewInt(200))
	return lab.Config{
		Name: "t" + hex.EncodeToString(b), Machines: machines,
		MachineImage: lab.DefaultMachineImage,
		Subnet:       fmt.Sprintf("10.232.%d.0/24", n.Int64()+20),
		StoreDir:     t.TempDir() + "/store",
	}
}

func TestIntegrationLabUpConnectDown(t *testing.T) {
	host := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := testConfig(t, 2)
	l := lab.New(cfg, host, nil)
	t.Cleanup(func() { l.Down(context.Background()) })

	start := time.Now()
	plan, err := l.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lab up, %d machines: %s", len(plan), time.Since(start).Round(time.Millisecond))

	// Connect to every engine over TLS with only the store's files, through
	// the same reader bootstrap uses for docker-machine machines.
	store := machinestore.New(cfg.StoreDir)
	names, err := store.List()
	if err != nil || len(names) != 3 {
		t.Fatalf("store lists %v, %v; want infra and 2 swarm machines", names, err)
	}
	ids := map[string]string{}
	for _, name := range names {
		m, err := store.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.NewDocker(m.Name, m.URL, &engine.TLSFiles{CA: m.CACert, Cert: m.ClientCert, Key: m.ClientKey})
		if err != nil {
			t.Fatal(err)
		}
		info, err := e.Info(ctx)
		e.Close()
		if err != nil {
			t.Fatalf("machine %s over TLS: %v", name, err)
		}
		if info.Hostname != name {
			t.Errorf("machine %s: engine hostname %q", name, info.Hostname)
		}
		if other, dup := ids[info.ID]; dup {
			t.Errorf("machines %s and %s share engine ID %s", other, name, info.ID)
		}
		ids[info.ID] = name
		want := plan[0].Addr + ":5000"
		found := false
		for _, r := range info.InsecureRegistries {
			found = found || r == want
		}
		if !found {
			t.Errorf("machine %s trusts %v, not the infra registry %s", name, info.InsecureRegistries, want)
		}
	}

	// Without the client certificate the engine refuses.
	m, _ := store.Load("infra")
	e, _ := engine.NewDocker("infra", m.URL, &engine.TLSFiles{CA: m.CACert})
	if _, err := e.Info(ctx); err == nil {
		t.Error("infra answered a client without a certificate")
	}
	e.Close()

	// A re-run changes nothing and is quick.
	start = time.Now()
	if _, err := l.Up(ctx); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	t.Logf("lab up again: %s", time.Since(start).Round(time.Millisecond))

	st, err := l.List(ctx)
	if err != nil || len(st) != 3 || st[0].Name != "infra" {
		t.Fatalf("list = %+v, %v", st, err)
	}
	for _, s := range st {
		if !s.Answers {
			t.Errorf("lab ls: %s does not answer: %s", s.Name, s.Engine)
		}
	}

	// A machine stopped and started again answers at its own address.
	if _, err := l.Stop(ctx, "swarm-1"); err != nil {
		t.Fatal(err)
	}
	ms, err := l.Start(ctx, "swarm-1")
	if err != nil {
		t.Fatalf("start a stopped machine: %v", err)
	}
	if len(ms) != 1 || ms[0].Addr == "" || ms[0].Host != "tcp://"+ms[0].Addr+":2376" {
		t.Errorf("started machine = %+v, want its address", ms)
	}

	// A name taken by a lab is not taken over by another lab's store.
	other := cfg
	other.StoreDir = t.TempDir()
	os.WriteFile(other.StoreDir+"/keep", []byte("x"), 0o644)
	if _, err := lab.New(other, host, nil).Up(ctx); err == nil {
		t.Error("lab up into a non-empty foreign store succeeded")
	}
	if _, err := os.Stat(other.StoreDir + "/keep"); err != nil {
		t.Error("a refused lab up touched the foreign store")
	}

	r, err := l.Down(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Containers != 3 || r.Volumes != 3 || r.Networks != 1 || !r.Store {
		t.Errorf("down removed %+v", r)
	}
	sel := engine.Labels{engine.LabelLab: cfg.Name}
	cs, _ := host.ContainerList(ctx, sel)
	vs, _ := host.VolumeList(ctx, sel)
	ns, _ := host.NetworkList(ctx, sel)
	if len(cs)+len(vs)+len(ns) != 0 {
		t.Errorf("left behind: %d containers, %d volumes, %d networks", len(cs), len(vs), len(ns))
	}
	if _, err := os.Stat(cfg.StoreDir); !os.IsNotExist(err) {
		t.Errorf("store %s still exists", cfg.StoreDir)
	}
}
