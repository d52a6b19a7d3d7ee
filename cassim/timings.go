package cassim

import (
	"fmt"
	"strconv"
	"time"
)

// Timings are how long each start-up phase takes. They come from the
// CASSIM_PROFILE environment variable (fast or realistic) and may be
// overridden one by one with CASSIM_*_MS variables.
type Timings struct {
	// StartDelay: JVM start, commit log replay, schema load, before gossip starts.
	StartDelay time.Duration
	// RingDelay: cassandra.ring_delay_ms. A joining node sleeps it once for
	// pending range setup; a node that reaches no seed gives up after it.
	RingDelay time.Duration
	// GossipSettle: CassandraDaemon.waitForGossipToSettle before CQL opens.
	GossipSettle time.Duration
	// Bootstrap: streaming a joining node's ranges.
	Bootstrap time.Duration
	// GossipInterval: one gossip round (Gossiper.intervalInMillis, 1 s).
	GossipInterval time.Duration
	// DownAfter: a peer silent this long is convicted DOWN (the phi accrual
	// detector with phi_convict_threshold 8 convicts after ~8-10 s of silence
	// at one heartbeat a second).
	DownAfter time.Duration
}

// FatClientTimeout is how long an endpoint that never became a ring member
// may stay silent before gossip forgets it: Gossiper.fatClientTimeout,
// QUARANTINE_DELAY / 2, which is the ring delay unless
// cassandra.gossip_quarantine_delay_ms says otherwise. cassim waits at
// least five gossip rounds, so that a ring delay of only a few rounds (the
// fast profile: 0.5 s at 0.2 s a round) cannot remove a live joining node
// whose heartbeat has not reached every peer yet; in Cassandra (1 s rounds,
// ring delay 5 s or more) the floor never applies.
func (t Timings) FatClientTimeout() time.Duration {
	return max(t.RingDelay, 5*t.GossipInterval)
}

// Profile names.
const (
	ProfileFast      = "fast"
	ProfileRealistic = "realistic"
)

// ProfileTimings returns the timings of a named profile.
func ProfileTimings(name string) (Timings, error) {
	switch name {
	case ProfileFast, "":
		// Tests: a seed is ready in well under a second, a joining node in
		// about two, a silent peer is DOWN after two seconds.
		return Timings{
			StartDelay:     100 * time.Millisecond,
			RingDelay:      500 * time.Millisecond,
			GossipSettle:   0,
			Bootstrap:      1500 * time.Millisecond,
			GossipInterval: 200 * time.Millisecond,
			DownAfter:      2 * time.Second,
		}, nil
	case ProfileRealistic:
		// Cassandra 4.x/5.0 with default settings:
		//   - start to gossip: ~6 s; a tuned 4.0 seed is ready in 7.5 s
		//     (ecchronos #569), one untuned 3.11 node in ~33 s, tuned ~11 s
		//     (testcontainers-java #4309).
		//   - ring_delay_ms defaults to 30000 (StorageService.RING_DELAY).
		//   - waitForGossipToSettle: 5 s sleep plus at least three 1 s polls
		//     (CassandraDaemon.java), i.e. at least 8 s.
		//   - joining nodes 2 and 3 of a 4.0 cluster took ~47 s each when
		//     started one after another (ecchronos #569): 6 + 30 + 3 + 8.
		//   - failure detection: phi_convict_threshold 8 at one heartbeat a
		//     second convicts a silent peer after roughly 10 s.
		return Timings{
			StartDelay:     6 * time.Second,
			RingDelay:      30 * time.Second,
			GossipSettle:   8 * time.Second,
			Bootstrap:      3 * time.Second,
			GossipInterval: time.Second,
			DownAfter:      10 * time.Second,
		}, nil
	}
	return Timings{}, fmt.Errorf("CASSIM_PROFILE=%q: want %s or %s", name, ProfileFast, ProfileRealistic)
}

// FastStartRingDelay is the ring delay CASSANDRA_FAST_START=true sets
// unless CASSANDRA_RING_DELAY_MS says otherwise (cassandra-image/CONTRACT.md).
const FastStartRingDelay = 5 * time.Second

// TimingsFromEnv reads CASSIM_PROFILE and the CASSIM_*_MS overrides.
func TimingsFromEnv(env map[string]string) (Timings, error) {
	t, err := ProfileTimings(env["CASSIM_PROFILE"])
	if err != nil {
		return t, err
	}
	for name, d := range map[string]*time.Duration{
		"CASSIM_START_DELAY_MS":     &t.StartDelay,
		"CASSIM_RING_DELAY_MS":      &t.RingDelay,
		"CASSIM_GOSSIP_SETTLE_MS":   &t.GossipSettle,
		"CASSIM_BOOTSTRAP_MS":       &t.Bootstrap,
		"CASSIM_GOSSIP_INTERVAL_MS": &t.GossipInterval,
		"CASSIM_DOWN_AFTER_MS":      &t.DownAfter,
	} {
		v := env[name]
		if v == "" {
			continue
		}
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			return t, fmt.Errorf("%s=%q: want milliseconds", name, v)
		}
		*d = time.Duration(ms) * time.Millisecond
	}
	if t.GossipInterval <= 0 {
		return t, fmt.Errorf("CASSIM_GOSSIP_INTERVAL_MS must be positive")
	}
	return t, nil
}
