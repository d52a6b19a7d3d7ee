package nodewait

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestAllUN(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	looks, err := s.wait.AllUN(ctx, []string{"cass1", "cass2", "cass3"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		if l := looks[n]; !l.Ready || l.Address != s.addrs[n] || l.HostID != s.ids[n] {
			t.Errorf("%s: %+v, want ready at %s with host ID %s", n, l, s.addrs[n], s.ids[n])
		}
	}

	// One still joining: the wait ends at the timeout with a node report
	// (the first node not ready: with cass2 UJ no view counts 3 UN), and
	// cass2's last look says why.
	s = newSwarm(t)
	s.ring.Set("cass2", s.addrs["cass2"], "UJ")
	looks, err = s.wait.AllUN(ctx, []string{"cass1", "cass2", "cass3"}, 3)
	var ne *NodeError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("err = %v, want a node report at the timeout", err)
	}
	if l := looks["cass2"]; l.Ready || !strings.Contains(l.Why, "is UJ") {
		t.Errorf("cass2's last look %+v, want not ready, UJ", l)
	}

	// A node in a ring of its own fails the wait at once, as UN does.
	s = newSwarm(t)
	s.ring.SetView("cass3", "cass1", "-")
	s.ring.SetView("cass3", "cass2", "-")
	s.ring.SetView("cass1", "cass3", "-")
	_, err = s.wait.AllUN(ctx, []string{"cass1", "cass2", "cass3"}, 2)
	var se *SplitError
	if !errors.As(err, &se) || se.Node != "cass3" || strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("err = %v, want cass3's split", err)
	}
}

func TestAddressAndListed(t *testing.T) {
	ctx := context.Background()
	s := newSwarm(t)
	addr, err := s.wait.Address(ctx, "cass2")
	if err != nil || addr != s.addrs["cass2"] {
		t.Errorf("Address = %q, %v; want %s", addr, err, s.addrs["cass2"])
	}
	if err := s.wait.Listed(ctx, "cass2"); err != nil {
		t.Errorf("Listed: %v", err)
	}
	if _, err := s.wait.Address(ctx, "cass9"); err == nil {
		t.Error("Address of a node without a service: no error")
	}
}
