package cassimimage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/cassim"
	"github.com/swarmcass/swarmcass/cassim/cassimimage"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

// TestIntegrationCassimDay2 runs the day-2 rules in containers of images
// built with build arguments, as swarmcass's upgrade and rollback tests
// will: a keyspace created with the image's cqlsh and shown by
// describecluster on another node; drain (DN at once) and a restart on the
// volume (same host ID); decommission (refused by RF, then --force; a
// restart on its data exits 1); a replacement of a stopped node (new host
// ID, the old one gone); an image of another release (nodetool version,
// system.local) and one that fails at start (exit 3) on a node's volume,
// then the old image again on it (same host ID).
func TestIntegrationCassimDay2(t *testing.T) {
	e := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suffix := fmt.Sprintf("%06x", rand.IntN(1<<24))
	name := "cassim-d2-" + suffix
	labels := engine.Labels{"swarmcass.test": name}
	tag, next, broken := "swarmcass/cassim:d2-"+suffix, "swarmcass/cassim:d2-next-"+suffix, "swarmcass/cassim:d2-broken-"+suffix
	t.Cleanup(func() {
		cleanup(t, e, labels, tag)
		enginetest.RemoveImage(t, next)
		enginetest.RemoveImage(t, broken)
	})
	for img, o := range map[string]cassimimage.Options{tag: {Profile: cassim.ProfileFast},
		next:   {Profile: cassim.ProfileFast, Version: "5.0.9"},
		broken: {Profile: cassim.ProfileFast, Version: "5.0.9", FailAtStart: true}} {
		if err := cassimimage.BuildWith(ctx, e, img, o, labels); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Driver: "bridge", Labels: labels}); err != nil {
		t.Fatal(err)
	}
	// run starts node on its volume from image; the seed is c1.
	run := func(node, volume, image string, env ...string) string {
		t.Helper()
		if err := e.VolumeCreate(ctx, name+"-"+volume, labels); err != nil {
			t.Fatal(err)
		}
		id, err := e.ContainerCreate(ctx, engine.ContainerSpec{
			Name: name + "-" + node, Image: image, Cmd: []string{"c1"}, Env: env, Labels: labels,
			Hostname: node, Network: name, Aliases: []string{node},
			Mounts: []engine.Mount{{Type: "volume", Source: name + "-" + volume, Target: "/var/lib/cassandra"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.ContainerStart(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	exec := func(id string, cmd ...string) (string, int) {
		t.Helper()
		r, err := e.Exec(ctx, id, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r.Stdout + r.Stderr, r.ExitCode
	}
	// rows returns node id's status lines as "UN address".
	rows := func(id string) []string {
		out, _ := exec(id, "nodetool", "status")
		var rs []string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 2 && stateRE.MatchString(f[0]) {
				rs = append(rs, f[0]+" "+f[1])
			}
		}
		return rs
	}
	ip := func(id string) string {
		c, err := e.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a := c.Networks[name]; a != "" {
			return a
		}
		t.Fatalf("no address for %s on %s", id, name)
		return ""
	}
	waitRows := func(id, what string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			if got = rows(id); sameSet(got, want) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		logs, _ := e.ContainerLogs(ctx, id, 30)
		t.Fatalf("%s: status %v, want %v\n%s", what, got, want, logs)
	}
	info := func(id, key string) string {
		out, _ := exec(id, "nodetool", "info")
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no %s in nodetool info:\n%s", key, out)
		return ""
	}
	exited := func(id string) (int, string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			c, err := e.ContainerInspect(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Running && c.State == "exited" {
				logs, _ := e.ContainerLogs(ctx, id, 20)
				return c.ExitCode, logs
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("container %s did not exit", id)
		return 0, ""
	}

	ids := map[string]string{}
	var want []string
	for _, node := range []string{"c1", "c2", "c3"} {
		ids[node] = run(node, node, tag)
		want = append(want, "UN "+ip(ids[node]))
		waitRows(ids["c1"], node+" joined", want...)
	}
	c1, c2, c3 := ip(ids["c1"]), ip(ids["c2"]), ip(ids["c3"])

	// A keyspace made with the image's cqlsh, seen by another node.
	if out, code := exec(ids["c1"], "cqlsh", "-e", "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}"); code != 0 {
		t.Fatalf("cqlsh create keyspace (%d): %s", code, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for out, _ := exec(ids["c3"], "nodetool", "describecluster"); !strings.Contains(out, "\tks -> Replication class: SimpleStrategy {replication_factor=2}\n"); out, _ = exec(ids["c3"], "nodetool", "describecluster") {
		if time.Now().After(deadline) {
			t.Fatalf("c3's describecluster does not list ks:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Drain: DN on the others at once (the fast profile's failure detector
	// would take 2 s), the container keeps running; a restart keeps the host ID.
	id3 := info(ids["c3"], "ID")
	if out, code := exec(ids["c3"], "nodetool", "drain"); code != 0 {
		t.Fatalf("drain (%d): %s", code, out)
	}
	waitRows(ids["c1"], "c3 drained", "UN "+c1, "UN "+c2, "DN "+c3)
	if g := info(ids["c3"], "Gossip active"); g != "false" {
		t.Errorf("Gossip active after drain: %s", g)
	}
	if err := e.ContainerStop(ctx, ids["c3"], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerStart(ctx, ids["c3"]); err != nil {
		t.Fatal(err)
	}
	c3 = ip(ids["c3"])
	waitRows(ids["c1"], "c3 back", "UN "+c1, "UN "+c2, "UN "+c3)
	if id := info(ids["c3"], "ID"); id != id3 {
		t.Errorf("host ID after drain and restart: %s, was %s", id, id3)
	}

	// Decommission: refused by system_distributed's RF 3, then forced.
	if out, code := exec(ids["c3"], "nodetool", "decommission"); code != 1 || !strings.Contains(out, cassim.MsgNotEnoughReplicas("system_distributed", 3, 3)) {
		t.Errorf("decommission (%d): %s", code, out)
	}
	if out, code := exec(ids["c3"], "nodetool", "decommission", "--force"); code != 0 {
		t.Fatalf("decommission --force (%d): %s", code, out)
	}
	waitRows(ids["c1"], "c3 left", "UN "+c1, "UN "+c2)
	if err := e.ContainerStop(ctx, ids["c3"], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerStart(ctx, ids["c3"]); err != nil {
		t.Fatal(err)
	}
	if code, logs := exited(ids["c3"]); code != 1 || !strings.Contains(logs, cassim.MsgDecommissioned) {
		t.Errorf("a decommissioned node restarted: exit %d\n%s", code, logs)
	}

	// Replace c2, stopped for good, with c4 on a new volume.
	id2 := info(ids["c2"], "ID")
	if err := e.ContainerStop(ctx, ids["c2"], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitRows(ids["c1"], "c2 down", "UN "+c1, "DN "+c2)
	ids["c4"] = run("c4", "c4", tag, "JVM_EXTRA_OPTS=-Dcassandra.replace_address_first_boot="+c2)
	c4 := ip(ids["c4"])
	waitRows(ids["c1"], "c4 replaced c2", "UN "+c1, "UN "+c4)
	// Docker may give c4 the address c2 had: then it keeps c2's host ID,
	// as Cassandra does; at another address it gets a new one.
	if id := info(ids["c4"], "ID"); (id == id2) != (c4 == c2) {
		t.Errorf("the replacement at %s has host ID %s; c2 at %s had %s", c4, id, c2, id2)
	}

	// Another release on c1's volume, then a broken one, then back.
	id1 := info(ids["c1"], "ID")
	if err := e.ContainerRemove(ctx, ids["c1"]); err != nil {
		t.Fatal(err)
	}
	up := run("c1", "c1", next)
	// Its own view too: Docker may give it the old c1's address, which c4
	// still lists UN until its failure detector notices the old one gone,
	// while the new process has not opened its nodetool port yet.
	waitRows(up, "c1 on 5.0.9, in its own view", "UN "+ip(up), "UN "+c4)
	waitRows(ids["c4"], "c1 on 5.0.9", "UN "+ip(up), "UN "+c4)
	if out, _ := exec(up, "nodetool", "version"); out != "ReleaseVersion: 5.0.9\n" {
		t.Errorf("nodetool version: %q", out)
	}
	if out, _ := exec(up, "cqlsh", "-e", "SELECT release_version FROM system.local"); !strings.Contains(out, "5.0.9") {
		t.Errorf("system.local on 5.0.9:\n%s", out)
	}
	if id := info(up, "ID"); id != id1 {
		t.Errorf("host ID across the image change: %s, was %s", id, id1)
	}
	if err := e.ContainerRemove(ctx, up); err != nil {
		t.Fatal(err)
	}
	bad := run("c1", "c1", broken)
	if code, logs := exited(bad); code != 3 || !strings.Contains(logs, "Detected unreadable sstables") {
		t.Errorf("the broken image: exit %d\n%s", code, logs)
	}
	if err := e.ContainerRemove(ctx, bad); err != nil {
		t.Fatal(err)
	}
	back := run("c1", "c1", tag)
	waitRows(back, "c1 rolled back, in its own view", "UN "+ip(back), "UN "+c4) // as for 5.0.9 above
	waitRows(ids["c4"], "c1 rolled back", "UN "+ip(back), "UN "+c4)
	if id := info(back, "ID"); id != id1 {
		t.Errorf("host ID after the rollback: %s, was %s", id, id1)
	}
}

// sameSet: a and b hold the same lines, as many times each, in any order.
func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
