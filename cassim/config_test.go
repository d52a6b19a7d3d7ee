package cassim

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	cassandraimage "github.com/swarmcass/swarmcass/cassandra-image"
)

func TestLoadConfigFastStart(t *testing.T) {
	const settle, ring = "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.ring_delay_ms="
	for _, c := range []struct {
		name     string
		env      map[string]string
		wantOpts []string
		wantRing time.Duration
	}{
		{"realistic", map[string]string{"CASSIM_PROFILE": "realistic", "CASSANDRA_FAST_START": "true"},
			[]string{settle, ring + "5000"}, 5 * time.Second},
		{"fast profile keeps its shorter ring delay", map[string]string{"CASSIM_PROFILE": "fast", "CASSANDRA_FAST_START": "true"},
			[]string{settle, ring + "500"}, 500 * time.Millisecond},
		{"CASSANDRA_RING_DELAY_MS", map[string]string{"CASSIM_PROFILE": "realistic", "CASSANDRA_FAST_START": "true", "CASSANDRA_RING_DELAY_MS": "2000"},
			[]string{settle, ring + "2000"}, 2 * time.Second},
		{"a repeated flag wins", map[string]string{"CASSIM_PROFILE": "realistic", "CASSANDRA_FAST_START": "true",
			"JVM_EXTRA_OPTS": "-Dcassandra.ring_delay_ms=7000 -Dcassandra.consistent.rangemovement=false"},
			[]string{settle, ring + "5000", ring + "7000", "-Dcassandra.consistent.rangemovement=false"}, 7 * time.Second},
		{"off", map[string]string{"CASSIM_PROFILE": "realistic", "CASSANDRA_FAST_START": "false"}, nil, 30 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadConfig(nil, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.JVMOpts, c.wantOpts) {
				t.Errorf("JVM options %q, want %q", cfg.JVMOpts, c.wantOpts)
			}
			if cfg.Timings.RingDelay != c.wantRing {
				t.Errorf("ring delay %v, want %v", cfg.Timings.RingDelay, c.wantRing)
			}
			if on := c.env["CASSANDRA_FAST_START"] == "true"; on != (cfg.Timings.GossipSettle == 0) {
				t.Errorf("fast start %t, gossip settle %v", on, cfg.Timings.GossipSettle)
			}
		})
	}
	for _, bad := range []map[string]string{
		{"CASSANDRA_FAST_START": "yes"},
		{"CASSANDRA_FAST_START": "true", "CASSANDRA_RING_DELAY_MS": "5s"},
	} {
		if _, err := LoadConfig(nil, bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// CASSANDRA_SUPERUSER_SETUP_DELAY_MS becomes the -D flag the real image's
// entrypoint puts first, a flag repeated in JVM_EXTRA_OPTS wins, and a value
// that is not milliseconds is refused.
func TestLoadConfigSuperuserSetupDelay(t *testing.T) {
	const flag = "-Dcassandra.superuser_setup_delay_ms="
	for _, c := range []struct {
		env      map[string]string
		wantOpts []string
		want     time.Duration
	}{
		{map[string]string{"CASSANDRA_SUPERUSER_SETUP_DELAY_MS": "1000", "JVM_EXTRA_OPTS": "-Xss256k"},
			[]string{flag + "1000", "-Xss256k"}, time.Second},
		{map[string]string{"CASSANDRA_SUPERUSER_SETUP_DELAY_MS": "1000", "CASSANDRA_FAST_START": "true", "JVM_EXTRA_OPTS": flag + "3000"},
			[]string{flag + "1000", "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.ring_delay_ms=5000", flag + "3000"}, 3 * time.Second},
		{map[string]string{"CASSIM_PROFILE": "realistic"}, nil, 10 * time.Second},
	} {
		c.env["CASSIM_PROFILE"] = "realistic"
		cfg, err := LoadConfig(nil, c.env)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.JVMOpts, c.wantOpts) {
			t.Errorf("%v: JVM options %q, want %q", c.env, cfg.JVMOpts, c.wantOpts)
		}
		if got := NewNode(cfg, net.ParseIP("127.0.0.1"), &strings.Builder{}).superuserSetupDelay(); got != c.want {
			t.Errorf("%v: superuser setup delay %v, want %v", c.env, got, c.want)
		}
	}
	if _, err := LoadConfig(nil, map[string]string{"CASSANDRA_SUPERUSER_SETUP_DELAY_MS": "1s"}); err == nil {
		t.Error("CASSANDRA_SUPERUSER_SETUP_DELAY_MS=1s: no error")
	}
}

// The JVM Arguments line shows the fast-start flags, as Cassandra echoes
// the ones the real image's entrypoint adds.
func TestJVMArgumentsLineShowsFastStart(t *testing.T) {
	cfg, err := LoadConfig(nil, map[string]string{"CASSANDRA_FAST_START": "true", "JVM_EXTRA_OPTS": "-Xss256k"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	NewNode(cfg, net.ParseIP("127.0.0.1"), &out).logConfig()
	line := ""
	for _, s := range strings.Split(out.String(), "\n") {
		if strings.Contains(s, "JVM Arguments: [") {
			line = s
		}
	}
	want := "JVM Arguments: [-Dcassandra.skip_wait_for_gossip_to_settle=0, -Dcassandra.ring_delay_ms=500, -Xss256k]"
	if !strings.Contains(line, want) {
		t.Errorf("got %q, want it to contain %q", line, want)
	}
}

// cassim reports the release the real image runs, unless told otherwise.
func TestReleaseVersionIsTheImages(t *testing.T) {
	if DefaultReleaseVersion != cassandraimage.DefaultVersion {
		t.Errorf("cassim reports %s, the real image runs %s", DefaultReleaseVersion, cassandraimage.DefaultVersion)
	}
	for env, want := range map[string]string{"": DefaultReleaseVersion, "4.1.11": "4.1.11"} {
		cfg, err := LoadConfig(nil, map[string]string{"CASSIM_RELEASE_VERSION": env})
		if err != nil || cfg.ReleaseVersion != want {
			t.Errorf("CASSIM_RELEASE_VERSION=%q: release %q (%v), want %q", env, cfg.ReleaseVersion, err, want)
		}
	}
}

func TestLoadConfigListeners(t *testing.T) {
	cfg, err := LoadConfig(nil, map[string]string{})
	if err != nil || cfg.RPCAddress != "0.0.0.0" || cfg.NodetoolAddress != "127.0.0.1:7199" || cfg.CQLTrace {
		t.Errorf("defaults: rpc %q, nodetool %q, trace %t, %v", cfg.RPCAddress, cfg.NodetoolAddress, cfg.CQLTrace, err)
	}
	cfg, err = LoadConfig(nil, map[string]string{"CASSANDRA_RPC_ADDRESS": "127.0.0.2",
		"CASSIM_NODETOOL_ADDRESS": "127.0.0.2:7199", "CASSIM_CQL_TRACE": "true"})
	if err != nil || cfg.RPCAddress != "127.0.0.2" || cfg.NodetoolAddress != "127.0.0.2:7199" || !cfg.CQLTrace {
		t.Errorf("set: rpc %q, nodetool %q, trace %t, %v", cfg.RPCAddress, cfg.NodetoolAddress, cfg.CQLTrace, err)
	}
	if _, err := LoadConfig(nil, map[string]string{"CASSIM_CQL_TRACE": "yes please"}); err == nil {
		t.Error("CASSIM_CQL_TRACE=yes please accepted")
	}
	if cfg.NativePort != CQLPort {
		t.Errorf("native port %d by default, want %d", cfg.NativePort, CQLPort)
	}
	if cfg, err := LoadConfig(nil, map[string]string{"CASSANDRA_NATIVE_TRANSPORT_PORT": "9043"}); err != nil || cfg.NativePort != 9043 {
		t.Errorf("CASSANDRA_NATIVE_TRANSPORT_PORT=9043: %d, %v", cfg.NativePort, err)
	}
	for _, bad := range []string{"0", "65536", "cql"} {
		if _, err := LoadConfig(nil, map[string]string{"CASSANDRA_NATIVE_TRANSPORT_PORT": bad}); err == nil {
			t.Errorf("CASSANDRA_NATIVE_TRANSPORT_PORT=%s accepted", bad)
		}
	}
}

func TestLoadConfigDay2(t *testing.T) {
	cfg, err := LoadConfig(nil, map[string]string{
		"CASSANDRA_SEEDS": "s1, s2", "JVM_OPTS": "-Dcassandra.override_decommission=true",
		"JVM_EXTRA_OPTS":       "-Dcassandra.replace_address_first_boot=10.0.9.4 -Dcassandra.allow_unsafe_replace=true",
		"CASSIM_LOAD":          "200MiB",
		"CASSIM_FAIL_AT_START": "1", "CASSIM_STREAM_THROUGHPUT": "10MiB/s", "CASSIM_BROADCAST_INTERVAL_MS": "1500",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Seeds, []string{"s1", "s2"}) || cfg.ReplaceAddress != "10.0.9.4" || !cfg.AllowUnsafeReplace ||
		!cfg.OverrideDecommission || cfg.LoadBytes != 200<<20 || !cfg.FailAtStart ||
		cfg.Timings.StreamBytesPerSecond != 10<<20 || cfg.Timings.BroadcastInterval != 1500*time.Millisecond {
		t.Errorf("%+v", cfg)
	}
	if cfg, _ := LoadConfig([]string{"a1"}, map[string]string{"CASSANDRA_SEEDS": "s1"}); !slices.Equal(cfg.Seeds, []string{"a1"}) {
		t.Errorf("argument 1 wins over CASSANDRA_SEEDS: %q", cfg.Seeds)
	}
	if d := (Timings{Bootstrap: time.Second, StreamBytesPerSecond: 24 << 20}).streamTime(240 << 20); d != 11*time.Second {
		t.Errorf("240 MiB at 24 MiB/s after 1 s: %s", d)
	}
	for env, want := range map[string]string{
		"CASSIM_LOAD=lots":           "CASSIM_LOAD",
		"CASSIM_FAIL_AT_START=maybe": "CASSIM_FAIL_AT_START",
		"CASSIM_STREAM_THROUGHPUT=0": "CASSIM_STREAM_THROUGHPUT",
	} {
		k, v, _ := strings.Cut(env, "=")
		if _, err := LoadConfig(nil, map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", env, err)
		}
	}
}
