package cassim

import (
	"slices"
	"testing"
	"time"
)

func kinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind+" "+e.Addr)
	}
	return out
}

func TestViewRemovesSilentFatClient(t *testing.T) {
	const ring = 30 * time.Second
	t0 := time.Unix(1_700_000_000, 0)
	v := NewView("10.0.0.1", 10*time.Second, ring)
	joining := EndpointState{Addr: "10.0.0.3", Generation: 1, Version: 5, HostID: "h3", Tokens: []int64{7}, Status: StatusJoining}
	normal := EndpointState{Addr: "10.0.0.2", Generation: 1, Version: 5, HostID: "h2", Tokens: []int64{9}, Status: StatusNormal}
	shadow := EndpointState{Addr: "10.0.0.4", Generation: 1, Version: 5, HostID: "h4"} // gossiped, never took a status
	v.Merge(t0, []EndpointState{joining, normal, shadow})

	// Silent for exactly the timeout: DOWN, not yet removed.
	evs := v.Tick(t0.Add(ring))
	if got := kinds(evs); len(got) != 3 || slices.Contains(got, "REMOVED 10.0.0.3") {
		t.Fatalf("at the timeout: %v", got)
	}
	evs = v.Tick(t0.Add(ring + time.Millisecond))
	got := kinds(evs)
	slices.Sort(got)
	if want := []string{"REMOVED 10.0.0.3", "REMOVED 10.0.0.4"}; !slices.Equal(got, want) {
		t.Fatalf("after the timeout: got %v, want %v", got, want)
	}
	for _, e := range evs {
		if e.Addr == "10.0.0.3" && e.Text != "FatClient /10.0.0.3:7000 has been silent for 30000ms, removing from gossip" {
			t.Errorf("log text %q", e.Text)
		}
	}
	if _, ok := v.State("10.0.0.3"); ok {
		t.Error("the removed endpoint is still in gossip")
	}
	if ps := v.Peers(); len(ps) != 1 || ps[0].Addr != "10.0.0.2" {
		t.Errorf("ring after removal: %v", ps)
	}
	if owners := NormalTokenOwners(v.Peers()); owners[9] != "10.0.0.2" || len(owners) != 1 {
		t.Errorf("token owners: %v", owners)
	}

	// Quarantine: a peer that still gossips the old state does not bring it back...
	removedAt := t0.Add(ring + time.Millisecond)
	if evs := v.Merge(removedAt.Add(ring), []EndpointState{joining}); len(evs) != 0 {
		t.Errorf("quarantined endpoint came back: %v", kinds(evs))
	}
	// ... until QUARANTINE_DELAY (twice the timeout) has passed.
	again := joining
	again.Generation = 2
	evs = v.Merge(removedAt.Add(2*ring+time.Millisecond), []EndpointState{again})
	if got := kinds(evs); !slices.Contains(got, "NEW 10.0.0.3") {
		t.Errorf("after the quarantine: %v", got)
	}
}

func TestViewKeepsRingMembers(t *testing.T) {
	const ring = time.Second
	t0 := time.Unix(1_700_000_000, 0)
	v := NewView("10.0.0.1", time.Second, ring)
	normal := EndpointState{Addr: "10.0.0.2", Generation: 1, Version: 5, HostID: "h2", Tokens: []int64{9}, Status: StatusNormal}
	v.Merge(t0, []EndpointState{normal})
	// Restarted: a new generation that has not announced NORMAL again yet.
	restarted := EndpointState{Addr: "10.0.0.2", Generation: 2, Version: 1, HostID: "h2"}
	v.Merge(t0.Add(time.Second), []EndpointState{restarted})
	for _, e := range v.Tick(t0.Add(time.Hour)) {
		if e.Kind == "REMOVED" {
			t.Fatalf("a ring member was removed as a fat client: %s", e.Text)
		}
	}
	if _, ok := v.State("10.0.0.2"); !ok {
		t.Error("a silent ring member left gossip")
	}
	// Without a timeout nothing is removed.
	v0 := NewView("10.0.0.1", time.Second, 0)
	v0.Merge(t0, []EndpointState{{Addr: "10.0.0.3", Generation: 1, HostID: "h3", Status: StatusJoining}})
	v0.Tick(t0.Add(time.Hour))
	if _, ok := v0.State("10.0.0.3"); !ok {
		t.Error("removed with a zero fat client timeout")
	}
}

func TestSafeForStartup(t *testing.T) {
	for _, c := range []struct {
		name          string
		prior         *EndpointState
		bootstrapping bool
		want          bool
	}{
		{"nothing known", nil, true, true},
		{"previous owner left", &EndpointState{HostID: "other", Status: StatusLeft}, true, true},
		{"previous owner left, not bootstrapping", &EndpointState{HostID: "other", Status: StatusLeft}, false, true},
		{"a dead joining node's address", &EndpointState{HostID: "other", Status: StatusJoining}, true, true},
		{"a normal node's address", &EndpointState{HostID: "other", Status: StatusNormal}, true, false},
		{"our own normal state, bootstrapping", &EndpointState{HostID: "me", Status: StatusNormal}, true, false},
		{"a failed bootstrap that gossiped", &EndpointState{HostID: "me"}, true, false},
		{"restart with our host ID", &EndpointState{HostID: "me", Status: StatusNormal}, false, true},
		{"another host ID, not bootstrapping", &EndpointState{HostID: "other", Status: StatusNormal}, false, false},
	} {
		if got := safeForStartup(c.prior, "me", c.bootstrapping); got != c.want {
			t.Errorf("%s: got %t, want %t", c.name, got, c.want)
		}
	}
}

func TestFatClientTimeout(t *testing.T) {
	fast, _ := ProfileTimings(ProfileFast)
	real, _ := ProfileTimings(ProfileRealistic)
	realFast := real
	realFast.RingDelay = FastStartRingDelay
	for _, c := range []struct {
		t    Timings
		want time.Duration
	}{
		{real, 30 * time.Second},    // ring_delay
		{realFast, 5 * time.Second}, // -Dcassandra.ring_delay_ms=5000
		{fast, time.Second},         // five 200 ms rounds, more than the 0.5 s ring delay
	} {
		if got := c.t.FatClientTimeout(); got != c.want {
			t.Errorf("%+v: got %v, want %v", c.t, got, c.want)
		}
	}
}
