package cassim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timings are how long each start-up phase takes. They come from the
// CASSIM_PROFILE environment variable (fast or realistic) and may be
// overridden one by one with CASSIM_*_MS variables.
type Timings struct {
	// StartDelay: JVM start, commit log replay, schema load, before gossip starts.
	StartDelay time.Duration
	// ShadowRound: how long a starting node asks its seeds before it gives
	// up on them (a seed then goes on alone, a non-seed stops).
	ShadowRound time.Duration
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
	// StreamBytesPerSecond is the streaming throughput (5.0's
	// stream_throughput_outbound, 24 MiB/s): a node that leaves streams
	// its load, a replacing node the old node's, in Bootstrap plus
	// load / throughput.
	StreamBytesPerSecond float64
	// BroadcastInterval is LoadBroadcaster.BROADCAST_INTERVAL (60 s): a
	// replacing node waits the ring delay and this before it checks that
	// the node it replaces is dead.
	BroadcastInterval time.Duration
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
			ShadowRound:    500 * time.Millisecond,
			RingDelay:      500 * time.Millisecond,
			GossipSettle:   0,
			Bootstrap:      1500 * time.Millisecond,
			GossipInterval: 200 * time.Millisecond,
			DownAfter:      2 * time.Second,
			// streaming 24 MiB/s as Cassandra, so that a configured load
			// (CASSIM_LOAD) makes leaving and replacing take their time
			StreamBytesPerSecond: 24 << 20,
			BroadcastInterval:    500 * time.Millisecond,
		}, nil
	case ProfileRealistic:
		// Real Cassandra 5.0.8 with default settings, measured here on the
		// offline base image (scripts/compare-cassim.sh; cassim/README.md has
		// the table), 256M heap, 2 busy cores:
		//   - container start to gossip: ~7-8 s (JVM start ~4 s to the
		//     `Node configuration` line, then commit log, schema load).
		//   - a seed whose other seeds do not answer gives up its shadow
		//     round ~8 s later (`Unable to gossip with any peers but
		//     continuing anyway since node is in its own seed list`).
		//   - ring_delay_ms defaults to 30000 (StorageService.RING_DELAY): a
		//     node alone in the ring waits it before it allocates tokens
		//     (allocate_tokens_for_local_replication_factor: 3, the default),
		//     and a joining node sleeps it for pending range setup.
		//   - waitForGossipToSettle: 8 s each (5 s plus three 1 s polls),
		//     twice before a new node takes its tokens, once more while a
		//     joining node waits for ring information, once after NORMAL.
		//   - streaming into an empty cluster: under a second.
		//   So: a first seed NORMAL at ~60 s, CQL ~68 s; a second seed ~30 s,
		//   ~38 s; a joining node ~70 s, ~80 s (measured 57/65, 29.5/38, 69/80).
		//   - failure detection: phi_convict_threshold 8 at one heartbeat a
		//     second convicts a silent peer after roughly 10 s.
		return Timings{
			StartDelay:     8 * time.Second,
			ShadowRound:    8 * time.Second,
			RingDelay:      30 * time.Second,
			GossipSettle:   8 * time.Second,
			Bootstrap:      1 * time.Second,
			GossipInterval: time.Second,
			DownAfter:      10 * time.Second,
			// 5.0.8 with stream_throughput_outbound: 24MiB/s, the default
			StreamBytesPerSecond: 24 << 20,
			BroadcastInterval:    60 * time.Second,
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
		"CASSIM_START_DELAY_MS":        &t.StartDelay,
		"CASSIM_SHADOW_ROUND_MS":       &t.ShadowRound,
		"CASSIM_RING_DELAY_MS":         &t.RingDelay,
		"CASSIM_GOSSIP_SETTLE_MS":      &t.GossipSettle,
		"CASSIM_BOOTSTRAP_MS":          &t.Bootstrap,
		"CASSIM_GOSSIP_INTERVAL_MS":    &t.GossipInterval,
		"CASSIM_DOWN_AFTER_MS":         &t.DownAfter,
		"CASSIM_BROADCAST_INTERVAL_MS": &t.BroadcastInterval,
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
	if v := env["CASSIM_STREAM_THROUGHPUT"]; v != "" {
		bps, err := ParseSize(strings.TrimSuffix(strings.TrimSuffix(v, "/s"), "ps"))
		if err != nil || bps <= 0 {
			return t, fmt.Errorf("CASSIM_STREAM_THROUGHPUT=%q: want a rate such as 24MiB/s", v)
		}
		t.StreamBytesPerSecond = bps
	}
	if t.GossipInterval <= 0 {
		return t, fmt.Errorf("CASSIM_GOSSIP_INTERVAL_MS must be positive")
	}
	return t, nil
}
