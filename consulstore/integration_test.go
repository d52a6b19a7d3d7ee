package consulstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/images"
)

// TestIntegrationConsulLock runs the cluster lock against a real Consul
// agent (the offline image scripts/build-images.sh makes, in -dev mode on
// the local engine): a second holder is refused and told who holds it, a
// released lock can be taken again, and giving the lock back while the
// run's context is cancelled (Ctrl-C) neither panics nor keeps the lock.
func TestIntegrationConsulLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	consul, _ := startConsul(ctx, t)

	key := "swarmcass/itest/lock"
	release, err := consul.Lock(ctx, key, Holder{Operation: "test", Hostname: "first", PID: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = consul.Lock(ctx, key, Holder{Operation: "test", Hostname: "second", PID: 2})
	var locked *LockedError
	if !errors.As(err, &locked) || !strings.Contains(string(locked.Holder), "first") {
		t.Fatalf("second lock: %v, want a LockedError naming the first holder", err)
	}
	release()
	release2, err := consul.Lock(ctx, key, This("test"))
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()

	// Ctrl-C: the run's context ends, then bootstrap gives the lock back
	// at once (CI once saw this panic: both closed the same channel); or
	// both happen together. Each round must leave the lock free for the
	// next.
	for i := range 40 {
		runCtx, interrupt := context.WithCancel(ctx)
		release, err := consul.Lock(runCtx, key, This("test"))
		if err != nil {
			interrupt()
			t.Fatalf("round %d: %v", i, err)
		}
		if i%2 == 0 {
			interrupt()
			release()
			continue
		}
		var wg sync.WaitGroup
		wg.Go(interrupt)
		wg.Go(release)
		wg.Wait()
	}
}

// A node's service as bootstrap registers it reads back the same (so a
// re-run leaves it, and its check's state, alone), its check reports a
// status, and an unknown service is simply absent.
func TestIntegrationConsulServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	consul, addr := startConsul(ctx, t)

	if _, ok, err := consul.Registered(ctx, "swarmcass-itest-none"); ok || err != nil {
		t.Fatalf("unknown service: ok %v, err %v; want absent", ok, err)
	}
	s := Service{ID: "swarmcass-itest-cass1", Name: "cassandra", Tags: []string{"itest", "cass1"},
		Address: "10.0.0.11", Port: 9042, Meta: map[string]string{"node": "cass1"}, Check: addr}
	if err := consul.Register(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, ok, err := consul.Registered(ctx, s.ID)
	if err != nil || !ok || !Same(got, s) {
		t.Fatalf("registered %+v reads back as %+v (ok %v, err %v)", s, got, ok, err)
	}
	// The check probes Consul's own HTTP port, which answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, output, err := consul.CheckStatus(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if status == "passing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("check of %s stayed %s: %s", s.ID, status, output)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, _, err := consul.CheckStatus(ctx, "swarmcass-itest-none"); err == nil {
		t.Error("an unknown service's check status was given")
	}
}

// TestIntegrationConsulACL sets up a real Consul's ACLs as bootstrap does
// (ACLConfig, then Admin): before the bootstrap no token is known; after
// it, the management token is valid, a second bootstrap is refused with
// ErrBootstrapped, Setup is idempotent, a store without a token cannot
// write a key or take a lock (an *ACLError) but can list services, and a
// store with a stale token gets the right one from its Tokens.
func TestIntegrationConsulACL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, addr := startConsul(ctx, t, "agent", "-dev", "-client", "0.0.0.0", "-hcl", ACLConfig)
	admin, err := DialAdmin(addr)
	if err != nil {
		t.Fatal(err)
	}
	token, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := admin.Check(ctx, token); err != nil || st != TokenUnknown {
		t.Fatalf("before the bootstrap: %v, %v; want unknown", st, err)
	}
	if err := admin.Bootstrap(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := admin.Bootstrap(ctx, token); !errors.Is(err, ErrBootstrapped) {
		t.Errorf("second bootstrap: %v, want ErrBootstrapped", err)
	}
	if st, err := admin.Check(ctx, token); err != nil || st != TokenValid {
		t.Fatalf("the management token: %v, %v; want valid", st, err)
	}
	for i := range 2 {
		if err := admin.Setup(ctx, token); err != nil {
			t.Fatalf("setup %d: %v", i+1, err)
		}
	}
	anon, _ := Dial(addr, nil)
	var ae *ACLError
	if err := anon.Put(ctx, "swarmcass/itest/k", []byte("v")); !errors.As(err, &ae) || !ae.Anonymous {
		t.Errorf("put without a token: %v, want an ACLError", err)
	}
	if _, err := anon.Lock(ctx, "swarmcass/itest/lock", This("test")); !errors.As(err, &ae) {
		t.Errorf("lock without a token: %v, want an ACLError", err)
	}
	if _, err := anon.Checks(ctx, ServiceName, "itest"); err != nil {
		t.Errorf("service discovery without a token: %v", err)
	}
	stale, _ := Dial(addr, func(_ context.Context, old string) (string, error) {
		if old == "" {
			return "0b5e2c3a-0000-4000-8000-000000000000", nil
		}
		return token, nil
	})
	if err := stale.Put(ctx, "swarmcass/itest/k", []byte("v")); err != nil {
		t.Errorf("put with a stale token, then the right one: %v", err)
	}
	release, err := stale.Lock(ctx, "swarmcass/itest/lock", This("test"))
	if err != nil {
		t.Fatalf("lock with the token: %v", err)
	}
	release()
}

// A bootstrap that dies without giving its lock back (kill -9, a lost
// machine) blocks the next run only for a while: Consul ends the session
// within twice its TTL (15 s), then holds the lock for its lock delay
// (15 s). The hint for a refused run names that bound; this measures it.
func TestIntegrationConsulLockExpiresAfterCrash(t *testing.T) {
	const key = "swarmcass/itest/crash"
	if addr := os.Getenv("SWARMCASS_LOCK_CHILD"); addr != "" {
		consul, err := Dial(addr, nil)
		if err == nil {
			_, err = consul.Lock(context.Background(), key, Holder{Operation: "test", Hostname: "child", PID: 4242})
		}
		if err != nil {
			os.Stdout.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		select {} // until killed
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	consul, addr := startConsul(ctx, t)

	child := exec.Command(os.Args[0], "-test.run=^TestIntegrationConsulLockExpiresAfterCrash$")
	child.Env = append(os.Environ(), "SWARMCASS_LOCK_CHILD="+addr)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line := bufio.NewScanner(out)
	if !line.Scan() || line.Text() != "locked" {
		child.Process.Kill()
		t.Fatalf("the child did not take the lock: %q", line.Text())
	}
	child.Process.Kill()
	child.Wait()
	killed := time.Now()

	_, err = consul.Lock(ctx, key, This("test"))
	var locked *LockedError
	if !errors.As(err, &locked) || !strings.Contains(locked.Error(), "pid 4242 on child") {
		t.Fatalf("right after the crash: %v, want the lock still held by the dead child", err)
	}
	for {
		release, err := consul.Lock(ctx, key, This("test"))
		if err == nil {
			release()
			break
		}
		if !errors.As(err, &locked) {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		time.Sleep(500 * time.Millisecond)
	}
	waited := time.Since(killed)
	t.Logf("the lock was free %.1f s after its holder was killed (bound: %s)", waited.Seconds(), LockExpiry)
	if waited > LockExpiry+10*time.Second {
		t.Errorf("the lock stayed %s after its holder died; the hint promises about %s", waited.Round(time.Second), LockExpiry)
	}
}

// startConsul runs a Consul agent in -dev mode on the local engine's
// default bridge, waits for it to elect itself leader, and returns a
// client of it and its HTTP address.
func startConsul(ctx context.Context, t *testing.T, cmd ...string) (Store, string) {
	t.Helper()
	d := enginetest.Local(t)
	image := images.Consul
	labels := engine.Labels{engine.LabelCluster: "itest", engine.LabelRole: engine.RoleConsul}
	// A run that panicked cannot have cleaned up after itself.
	stale, err := d.ContainerList(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range stale {
		if err := d.ContainerRemove(ctx, c.ID); err != nil {
			t.Fatalf("remove %s, left by an earlier run: %v", c.Name, err)
		}
	}
	name := fmt.Sprintf("swarmcass-itest-consul-%d", os.Getpid())
	id, err := d.ContainerCreate(ctx, engine.ContainerSpec{Name: name, Image: image, Labels: labels, Cmd: cmd})
	if err != nil {
		t.Fatalf("%v (scripts/build-images.sh builds %s)", err, image)
	}
	t.Cleanup(func() {
		if err := d.ContainerRemove(context.Background(), id); err != nil {
			t.Errorf("remove %s: %v", name, err)
		}
	})
	if err := d.ContainerStart(ctx, id); err != nil {
		t.Fatal(err)
	}
	c, err := d.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ip := c.Networks["bridge"]
	if ip == "" {
		t.Fatalf("%s has no address on the default bridge: %+v", name, c.Networks)
	}
	addr := Addr(ip)
	consul, err := Dial(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if leader, err := consul.Leader(ctx); err == nil && leader != "" {
			return consul, addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("Consul at %s elected no leader", addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
