package cassimimage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cassim"
	"github.com/swarmcass/swarmcass/cassim/cassimimage"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

// TestIntegrationCassimCluster builds the cassim image on the local engine
// and checks the acceptance: three nodes started one after another
// all see UN for all three; a node started while another joins exits with
// the range movement message; a stopped node is DN on the others within
// the failure-detection time; a restarted node keeps its host ID.
func TestIntegrationCassimCluster(t *testing.T) {
	e := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	suffix := fmt.Sprintf("%06x", rand.IntN(1<<24))
	name := "cassim-it-" + suffix
	labels := engine.Labels{"swarmcass.test": name}
	tag := "swarmcass/cassim:it-" + suffix
	t.Cleanup(func() { cleanup(t, e, labels, tag) })

	start := time.Now()
	if err := cassimimage.Build(ctx, e, tag, cassim.ProfileFast, labels); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	img, err := e.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %.1f MB, built in %s", tag, float64(img.Size)/1e6, took.Round(time.Millisecond))
	if img.Size > 20e6 || took > time.Minute {
		t.Errorf("image is %d bytes and took %s; want under 20 MB and a minute", img.Size, took)
	}

	if _, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Driver: "bridge", Labels: labels}); err != nil {
		t.Fatal(err)
	}
	run := func(node string, env ...string) string {
		t.Helper()
		if err := e.VolumeCreate(ctx, name+"-"+node, labels); err != nil {
			t.Fatal(err)
		}
		id, err := e.ContainerCreate(ctx, engine.ContainerSpec{
			Name: name + "-" + node, Image: tag, Cmd: []string{"c1,c2"}, Env: env, Labels: labels,
			Hostname: node, Network: name, Aliases: []string{node},
			Mounts: []engine.Mount{{Type: "volume", Source: name + "-" + node, Target: "/var/lib/cassandra"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.ContainerStart(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// status returns "UN c1-address"-style lines as state -> count, plus the raw output.
	status := func(id string) (map[string]int, string) {
		r, err := e.Exec(ctx, id, []string{"nodetool", "status"})
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]int{}
		for _, l := range strings.Split(r.Stdout, "\n") {
			if f := strings.Fields(l); len(f) > 1 && stateRE.MatchString(f[0]) {
				states[f[0]]++
			}
		}
		return states, r.Stdout + r.Stderr
	}
	waitFor := func(id, what string, within time.Duration, ok func(map[string]int) bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		var out string
		for time.Now().Before(deadline) {
			var st map[string]int
			st, out = status(id)
			if ok(st) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		logs, _ := e.ContainerLogs(ctx, id, 30)
		t.Fatalf("%s: not within %s; nodetool status:\n%s\nlogs:\n%s", what, within, out, logs)
	}
	allUN := func(n int) func(map[string]int) bool {
		return func(st map[string]int) bool { return st["UN"] == n && len(st) == 1 }
	}

	ids := map[string]string{}
	for i, node := range []string{"c1", "c2", "c3"} {
		ids[node] = run(node)
		waitFor(ids[node], node+" sees "+fmt.Sprint(i+1)+" UN", 20*time.Second, allUN(i+1))
	}
	for node, id := range ids {
		waitFor(id, node+" sees all three UN", 10*time.Second, allUN(3))
	}

	// A node started while another is joining exits with Cassandra's message.
	ids["c4"] = run("c4", "CASSIM_BOOTSTRAP_MS=10000")
	waitFor(ids["c1"], "c4 joining", 10*time.Second, func(st map[string]int) bool { return st["UJ"] == 1 })
	c5 := run("c5")
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := e.ContainerInspect(ctx, c5)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Running && c.State == "exited" {
			logs, _ := e.ContainerLogs(ctx, c5, 20)
			if c.ExitCode != 3 || !strings.Contains(logs, cassim.MsgRangeMovement) {
				t.Errorf("c5 exited %d; want 3 and the range movement message in:\n%s", c.ExitCode, logs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("c5 started while c4 was joining and did not exit")
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitFor(ids["c1"], "c4 normal", 20*time.Second, allUN(4))

	// A stopped node is DN on the others within the failure-detection time
	// (fast profile: 2 s of silence), and keeps its host ID across a restart.
	hostID := func(id string) string {
		r, err := e.Exec(ctx, id, []string{"nodetool", "info"})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(r.Stdout, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "ID" {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no ID in nodetool info:\n%s%s", r.Stdout, r.Stderr)
		return ""
	}
	before := hostID(ids["c3"])
	if err := e.ContainerStop(ctx, ids["c3"], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(ids["c1"], "c3 down on c1", 5*time.Second, func(st map[string]int) bool { return st["DN"] == 1 && st["UN"] == 3 })
	t.Logf("c3 shown DN on c1 %s after it stopped", time.Since(stopped).Round(100*time.Millisecond))
	waitFor(ids["c2"], "c3 down on c2", 3*time.Second, func(st map[string]int) bool { return st["DN"] == 1 })

	if err := e.ContainerStart(ctx, ids["c3"]); err != nil {
		t.Fatal(err)
	}
	waitFor(ids["c1"], "c3 back up", 15*time.Second, allUN(4))
	waitFor(ids["c3"], "c3 sees the ring", 15*time.Second, allUN(4))
	if after := hostID(ids["c3"]); after != before {
		t.Errorf("c3's host ID changed across a restart: %s -> %s", before, after)
	}
	logs, _ := e.ContainerLogs(ctx, ids["c3"], 200)
	if !strings.Contains(logs, "Loaded host ID "+before) {
		t.Errorf("restarted c3 did not load its saved identity:\n%s", logs)
	}
}

var stateRE = regexp.MustCompile(`^[UD?][NLJM]$`)

// cleanup removes what the test created, found by its label.
func cleanup(t *testing.T, e engine.Engine, labels engine.Labels, tag string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := e.ContainerList(ctx, labels)
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, c := range cs {
		if err := e.ContainerRemove(ctx, c.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	vs, _ := e.VolumeList(ctx, labels)
	for _, v := range vs {
		if err := e.VolumeRemove(ctx, v); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if err := e.NetworkRemove(ctx, labels["swarmcass.test"]); err != nil {
		t.Logf("cleanup: %v", err)
	}
	enginetest.RemoveImage(t, tag)
}
