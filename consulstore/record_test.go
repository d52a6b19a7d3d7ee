package consulstore_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/consulstore/consultest"
)

// What the operations write is what ring reads back: one type, both ways.
func TestRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := consultest.New()
	n := consulstore.Node{Name: "cass1", SwarmNode: "n1", Host: "swarm-0", Address: "10.0.1.2", HostID: "h1", State: "UN", CQL: "10.0.0.10:9042", ReadySeconds: 12.5}
	if err := consulstore.WriteNode(ctx, s, "c", n, true); err != nil {
		t.Fatal(err)
	}
	net := consulstore.Network{Name: "swarmcass", Subnet: "10.0.1.0/24", Encrypted: true}
	if err := consulstore.WriteCluster(ctx, s, "c", []string{"cass1", "cass2"}, "reg/img@sha256:x", net); err != nil {
		t.Fatal(err)
	}
	s.SetValue("swarmcass/c/nodes/broken", []byte("{"))
	s.SetValue("swarmcass/other/nodes/cass9", []byte(`{"name":"cass9"}`))
	rec, err := consulstore.ReadRecord(ctx, s, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Nodes["cass1"]; got != n || len(rec.Nodes) != 1 {
		t.Errorf("nodes %+v, want only %+v", rec.Nodes, n)
	}
	if rec.Network != net || rec.Image != "reg/img@sha256:x" || !reflect.DeepEqual(rec.Seeds, []string{"cass1", "cass2"}) {
		t.Errorf("record %+v", rec)
	}
	if len(rec.Bad) != 1 || !strings.Contains(rec.Bad[0].Error(), "swarmcass/c/nodes/broken") {
		t.Errorf("bad keys %v, want the broken node record", rec.Bad)
	}

	// Written again as it is: no write. A node that was up keeps its time
	// to ready; one created again gets its new time.
	puts := s.Puts()
	if err := consulstore.WriteCluster(ctx, s, "c", []string{"cass1", "cass2"}, "reg/img@sha256:x", net); err != nil {
		t.Fatal(err)
	}
	again := n
	again.ReadySeconds = 0
	if err := consulstore.WriteNode(ctx, s, "c", again, false); err != nil {
		t.Fatal(err)
	}
	if s.Puts() != puts {
		t.Errorf("%d writes of an unchanged record", s.Puts()-puts)
	}
	again.ReadySeconds = 3
	if err := consulstore.WriteNode(ctx, s, "c", again, true); err != nil {
		t.Fatal(err)
	}
	if rec, _ := consulstore.ReadRecord(ctx, s, "c"); rec.Nodes["cass1"].ReadySeconds != 3 {
		t.Errorf("recreated node's time to ready %v, want 3", rec.Nodes["cass1"].ReadySeconds)
	}
}

func TestLockNamesOperationAndHolder(t *testing.T) {
	ctx := context.Background()
	s := consultest.New()
	release, err := consulstore.LockCluster(ctx, s, "c", "bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	_, err = consulstore.LockCluster(ctx, s, "c", "scale")
	if !errors.Is(err, consulstore.ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "cluster c is busy: another bootstrap holds its lock, so scale cannot start") || !strings.Contains(msg, "pid ") {
		t.Errorf("refusal %q does not name both operations and the holder", msg)
	}
	release()
	if s.Locks() != 0 {
		t.Error("release kept the lock")
	}
	// A lock taken by something else than swarmcass.
	s.Hold("swarmcass/c/lock", []byte("x"))
	if _, err := consulstore.LockCluster(ctx, s, "c", "scale"); err == nil || !strings.Contains(err.Error(), "another operation holds its lock") {
		t.Errorf("foreign holder: %v", err)
	}
}

// A node's registration and the check ring reads back name the same node.
func TestNodeServiceAndCheck(t *testing.T) {
	ctx := context.Background()
	s := consultest.New()
	n := consulstore.Node{Name: "cass2", Host: "swarm-1", Address: "10.0.1.3", HostID: "h2", CQL: "10.0.0.11:9043"}
	svc := consulstore.NodeService("c", n)
	if svc.ID != "swarmcass-c-cass2" || svc.Name != consulstore.ServiceName || svc.Address != "10.0.0.11" || svc.Port != 9043 || svc.Check != n.CQL {
		t.Errorf("service %+v", svc)
	}
	if err := s.Register(ctx, svc); err != nil {
		t.Fatal(err)
	}
	got, ok, _ := s.Registered(ctx, svc.ID)
	if !ok || !consulstore.Same(got, svc) {
		t.Errorf("registered %+v reads back as %+v", svc, got)
	}
	checks, err := s.Checks(ctx, consulstore.ServiceName, "c")
	if err != nil || len(checks) != 1 || checks[0].Node("c") != "cass2" || checks[0].Status != "passing" {
		t.Errorf("checks %+v, %v", checks, err)
	}
	// Without meta or tags, the node is what the service ID says.
	if name := (consulstore.Check{ServiceID: "swarmcass-c-cass7"}).Node("c"); name != "cass7" {
		t.Errorf("node of a bare check %q, want cass7", name)
	}
	// No published CQL port: the overlay address, and no check.
	if svc := consulstore.NodeService("c", consulstore.Node{Name: "cass3", Address: "10.0.1.4"}); svc.Check != "" || svc.Address != "10.0.1.4" || svc.Port != 9042 {
		t.Errorf("unpublished node's service %+v", svc)
	}
}

// The image history and a rollout in progress are read back as written;
// the history keeps its last HistoryLen releases.
func TestHistoryAndRollout(t *testing.T) {
	ctx := context.Background()
	s := consultest.New()
	var h []consulstore.Release
	for i := range consulstore.HistoryLen + 2 {
		h = append(h, consulstore.Release{Image: "reg/img@sha256:" + strings.Repeat("a", i+1), Env: []string{"MAX_HEAP_SIZE=256M"}, Memory: 1 << 30, By: "upgrade"})
	}
	if err := consulstore.WriteHistory(ctx, s, "c", h); err != nil {
		t.Fatal(err)
	}
	ro := consulstore.Rollout{Op: "restart", Nodes: []string{"cass1", "cass2"}, Done: []string{"cass1"}}
	if err := consulstore.WriteRollout(ctx, s, "c", ro); err != nil {
		t.Fatal(err)
	}
	rec, err := consulstore.ReadRecord(ctx, s, "c")
	if err != nil || len(rec.Bad) > 0 {
		t.Fatal(err, rec.Bad)
	}
	if len(rec.History) != consulstore.HistoryLen || !rec.History[len(rec.History)-1].Same(h[len(h)-1]) || !rec.History[0].Same(h[2]) {
		t.Errorf("history %+v: want the last %d of what was written", rec.History, consulstore.HistoryLen)
	}
	if rec.History[0].Same(rec.History[1]) {
		t.Error("two different releases are the Same")
	}
	if rec.Rollout == nil || !reflect.DeepEqual(*rec.Rollout, ro) {
		t.Errorf("rollout %+v, want %+v", rec.Rollout, ro)
	}
	if err := consulstore.ClearRollout(ctx, s, "c"); err != nil {
		t.Fatal(err)
	}
	if rec, _ := consulstore.ReadRecord(ctx, s, "c"); rec.Rollout != nil {
		t.Errorf("rollout %+v after ClearRollout", rec.Rollout)
	}
	s.SetValue("swarmcass/c/history", []byte("["))
	if rec, _ := consulstore.ReadRecord(ctx, s, "c"); len(rec.Bad) != 1 || !strings.Contains(rec.Bad[0].Error(), "image history") {
		t.Errorf("bad %v, want the broken history named", rec.Bad)
	}
}
