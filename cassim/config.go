package cassim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/images"
)

// Config is what one cassim node was given: the node contract's entrypoint
// argument (the seed list) and environment, as the real image reads them.
type Config struct {
	Seeds            []string // hostnames or addresses; empty means the node itself
	ClusterName      string
	DC, Rack         string
	NumTokens        int
	ListenAddress    string // "auto" or an address
	ListenSubnet     string // CIDR that an auto listen address must lie in
	BroadcastAddress string // "" means the listen address
	BroadcastRPC     string // "" means the broadcast address
	RPCAddress       string // where CQL listens (rpc_address); 0.0.0.0 by default, as in the official image
	// NativePort is native_transport_port, the CQL port (CQLPort unless
	// CASSANDRA_NATIVE_TRANSPORT_PORT says otherwise); drivers are told it
	// with the broadcast RPC address, through gossip and system.peers_v2.
	NativePort    int
	AutoBootstrap bool
	InitialTokens []int64
	// ConsistentRangeMovement is -Dcassandra.consistent.rangemovement (default true).
	ConsistentRangeMovement bool
	ReleaseVersion          string
	DataDir                 string
	Timings                 Timings
	// JVMOpts are the -D flags as given, for the configuration log line.
	JVMOpts []string
	// NodetoolAddress is where the daemon answers nodetool (cassim's
	// stand-in for JMX, local only: 127.0.0.1:7199); CASSIM_NODETOOL_ADDRESS
	// moves it, so that several nodes can run on one host.
	NodetoolAddress string
	// CQLTrace logs every CQL request and its answer at DEBUG
	// (CASSIM_CQL_TRACE=true), to see what a client sends.
	CQLTrace bool
	// SeedWait is the first-boot wait for seeds that already run.
	SeedWait SeedWait
	// holdStream, set by tests only, keeps a node streaming (JOINING while
	// it bootstraps or replaces, LEAVING while it decommissions) until it
	// is closed: a window exactly as long as the test needs, where a timing
	// would have to guess one long enough under load.
	holdStream <-chan struct{}
	// holdRingInfo, set by tests only, keeps a bootstrapping node waiting
	// for ring information (gossiping, no status yet) until it is closed.
	holdRingInfo <-chan struct{}
	// ReplaceAddress is -Dcassandra.replace_address_first_boot (or
	// -Dcassandra.replace_address): on a first boot, take over the tokens
	// of the dead node at that address.
	ReplaceAddress string
	// AllowUnsafeReplace is -Dcassandra.allow_unsafe_replace.
	AllowUnsafeReplace bool
	// OverrideDecommission is -Dcassandra.override_decommission: a
	// decommissioned node's data may rejoin.
	OverrideDecommission bool
	// FailAtStart (CASSIM_FAIL_AT_START) makes the node fail at start as a
	// broken upgrade does (version.go).
	FailAtStart bool
	// LoadBytes (CASSIM_LOAD, e.g. 200MiB) is the load the node reports and
	// streams when it leaves; 0 keeps the saved one (about 100 KiB, a fresh
	// node's system tables).
	LoadBytes float64
	// Auth is the node contract's SWARMCASS_AUTH (auth.go): true when set
	// so, or when unset and CredentialsFile exists.
	Auth bool
	// CredentialsFile is SWARMCASS_CREDENTIALS_FILE, the cqlsh credentials
	// file bootstrap mounts (linked as ~/.cassandra/credentials).
	CredentialsFile string
	// TLS is the node contract's SWARMCASS_TLS (tls.go): the CQL port
	// speaks TLS only, with the PEM keystore TLSKeystore
	// (SWARMCASS_TLS_KEYSTORE); TLSTruststore (SWARMCASS_TLS_TRUSTSTORE)
	// is the CA certificate cqlsh in the container trusts.
	TLS                        bool
	TLSKeystore, TLSTruststore string
}

// Ports of the node contract.
const (
	GossipPort   = 7000
	CQLPort      = 9042
	NodetoolPort = 7199
)

// DefaultReleaseVersion is the Cassandra release cassim reports unless
// CASSIM_RELEASE_VERSION says otherwise: the one the real image runs.
var DefaultReleaseVersion = images.CassandraVersion

// LoadConfig reads the node contract: args[0] (if any) is the seed list,
// env holds KEY=VALUE pairs.
func LoadConfig(args []string, env map[string]string) (Config, error) {
	get := func(k, def string) string {
		if v, ok := env[k]; ok && v != "" {
			return v
		}
		return def
	}
	c := Config{
		ClusterName:             get("CASSANDRA_CLUSTER_NAME", "Test Cluster"),
		DC:                      get("CASSANDRA_DC", "datacenter1"),
		Rack:                    get("CASSANDRA_RACK", "rack1"),
		ListenAddress:           get("CASSANDRA_LISTEN_ADDRESS", "auto"),
		ListenSubnet:            get("CASSANDRA_LISTEN_SUBNET", ""),
		BroadcastAddress:        get("CASSANDRA_BROADCAST_ADDRESS", ""),
		BroadcastRPC:            get("CASSANDRA_BROADCAST_RPC_ADDRESS", ""),
		RPCAddress:              get("CASSANDRA_RPC_ADDRESS", "0.0.0.0"),
		NodetoolAddress:         get("CASSIM_NODETOOL_ADDRESS", fmt.Sprintf("127.0.0.1:%d", NodetoolPort)),
		AutoBootstrap:           true,
		ConsistentRangeMovement: true,
		ReleaseVersion:          get("CASSIM_RELEASE_VERSION", DefaultReleaseVersion),
		DataDir:                 get("CASSIM_DATA_DIR", "/var/lib/cassandra"),
	}
	seeds := env["CASSANDRA_SEEDS"] // the contract: when argument 1 is absent or empty
	if len(args) > 0 && strings.TrimSpace(args[0]) != "" {
		seeds = args[0]
	}
	if seeds != "" {
		for _, s := range strings.Split(seeds, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Seeds = append(c.Seeds, s)
			}
		}
	}
	port, err := strconv.Atoi(get("CASSANDRA_NATIVE_TRANSPORT_PORT", strconv.Itoa(CQLPort)))
	if err != nil || port < 1 || port > 65535 {
		return c, fmt.Errorf("CASSANDRA_NATIVE_TRANSPORT_PORT=%q: want a port from 1 to 65535", env["CASSANDRA_NATIVE_TRANSPORT_PORT"])
	}
	c.NativePort = port
	n, err := strconv.Atoi(get("CASSANDRA_NUM_TOKENS", "16"))
	if err != nil || n < 1 {
		return c, fmt.Errorf("CASSANDRA_NUM_TOKENS=%q: want a positive number", env["CASSANDRA_NUM_TOKENS"])
	}
	c.NumTokens = n

	// cassandra-env.sh refuses one heap variable without the other.
	if (env["MAX_HEAP_SIZE"] == "") != (env["HEAP_NEWSIZE"] == "") {
		return c, errors.New("please set or unset MAX_HEAP_SIZE and HEAP_NEWSIZE in pairs (see cassandra-env.sh)")
	}

	c.Timings, err = TimingsFromEnv(env)
	if err != nil {
		return c, err
	}
	if v := env["CASSIM_CQL_TRACE"]; v != "" {
		if c.CQLTrace, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("CASSIM_CQL_TRACE=%q: want true or false", v)
		}
	}
	if v := env["CASSIM_FAIL_AT_START"]; v != "" {
		if c.FailAtStart, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("CASSIM_FAIL_AT_START=%q: want 1, true, 0 or false", v)
		}
	}
	if v := env["CASSIM_LOAD"]; v != "" {
		if c.LoadBytes, err = ParseSize(v); err != nil {
			return c, fmt.Errorf("CASSIM_LOAD=%q: %w", v, err)
		}
	}
	c.CredentialsFile = get("SWARMCASS_CREDENTIALS_FILE", DefaultCredentialsFile)
	switch v := env["SWARMCASS_AUTH"]; v {
	case "true", "false":
		c.Auth = v == "true"
	case "":
		_, err := os.Stat(c.CredentialsFile)
		c.Auth = err == nil
	default:
		return c, fmt.Errorf("SWARMCASS_AUTH=%s must be true or false", v)
	}
	c.TLSKeystore = get("SWARMCASS_TLS_KEYSTORE", DefaultKeystoreFile)
	c.TLSTruststore = get("SWARMCASS_TLS_TRUSTSTORE", DefaultTruststoreFile)
	switch v := env["SWARMCASS_TLS"]; v {
	case "true":
		c.TLS = true
		for _, f := range []string{c.TLSKeystore, c.TLSTruststore} {
			if _, err := os.Stat(f); err != nil {
				return c, fmt.Errorf("SWARMCASS_TLS=true, but %s is missing: mount the node's keystore (SWARMCASS_TLS_KEYSTORE) and the CA certificate (SWARMCASS_TLS_TRUSTSTORE), as swarmcass bootstrap --tls does with the cluster's Swarm secrets", f)
			}
		}
	case "false", "":
	default:
		return c, fmt.Errorf("SWARMCASS_TLS=%s must be true or false", v)
	}
	if v := env["CASSANDRA_AUTO_BOOTSTRAP"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("CASSANDRA_AUTO_BOOTSTRAP=%q: want true or false", v)
		}
		c.AutoBootstrap = b
	}
	if v := env["CASSANDRA_INITIAL_TOKENS"]; v != "" {
		if c.InitialTokens, err = parseTokens(v); err != nil {
			return c, fmt.Errorf("CASSANDRA_INITIAL_TOKENS: %w", err)
		}
	}
	opts, err := fastStartOpts(env, c.Timings)
	if err != nil {
		return c, err
	}
	if v := env["CASSANDRA_SUPERUSER_SETUP_DELAY_MS"]; v != "" {
		// As the real image's entrypoint: ours first, a repeated flag wins.
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return c, fmt.Errorf("CASSANDRA_SUPERUSER_SETUP_DELAY_MS=%s is not a number of milliseconds", v)
		}
		opts = strings.TrimSpace("-Dcassandra.superuser_setup_delay_ms=" + v + " " + opts)
	}
	if err := c.applyJVMOpts(opts); err != nil {
		return c, err
	}
	if len(c.InitialTokens) > 0 {
		c.NumTokens = len(c.InitialTokens)
	}
	if c.SeedWait, err = seedWaitFromEnv(env); err != nil {
		return c, err
	}
	return c, nil
}

// fastStartOpts returns JVM_EXTRA_OPTS as the real image's entrypoint
// hands it to Cassandra: with CASSANDRA_FAST_START=true it puts
// -Dcassandra.skip_wait_for_gossip_to_settle=0 and
// -Dcassandra.ring_delay_ms=CASSANDRA_RING_DELAY_MS first, so that a flag
// repeated in JVM_EXTRA_OPTS wins, and Cassandra echoes them on its JVM
// Arguments line. The ring delay defaults to 5000 ms, or to the profile's
// own when that is shorter (the fast profile's 500 ms), so that the opt-in
// never slows a node down.
func fastStartOpts(env map[string]string, t Timings) (string, error) {
	// cassandra-env.sh starts from JVM_OPTS and appends JVM_EXTRA_OPTS last.
	opts := strings.TrimSpace(env["JVM_OPTS"] + " " + env["JVM_EXTRA_OPTS"])
	switch v := env["CASSANDRA_FAST_START"]; v {
	case "", "false":
		return opts, nil
	case "true":
	default:
		return "", fmt.Errorf("CASSANDRA_FAST_START=%s must be true or false", v)
	}
	ms := min(FastStartRingDelay, t.RingDelay).Milliseconds()
	if v := env["CASSANDRA_RING_DELAY_MS"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return "", fmt.Errorf("CASSANDRA_RING_DELAY_MS=%s is not a number of milliseconds", v)
		}
		ms = n
	}
	return strings.TrimSpace(fmt.Sprintf("-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=%d %s", ms, opts)), nil
}

// applyJVMOpts understands the -D flags of the node contract; names as in
// Cassandra's CassandraRelevantProperties: cassandra.consistent.rangemovement,
// cassandra.ring_delay_ms, cassandra.skip_wait_for_gossip_to_settle,
// cassandra.initial_token, cassandra.auto_bootstrap. Other flags are kept
// for the log line and otherwise ignored, as a JVM would.
func (c *Config) applyJVMOpts(opts string) error {
	for _, f := range strings.Fields(opts) {
		c.JVMOpts = append(c.JVMOpts, f)
		name, val, ok := strings.Cut(strings.TrimPrefix(f, "-D"), "=")
		if !strings.HasPrefix(f, "-D") || !ok {
			continue
		}
		var err error
		switch name {
		case "cassandra.consistent.rangemovement":
			c.ConsistentRangeMovement, err = strconv.ParseBool(val)
		case "cassandra.ring_delay_ms":
			var ms int
			if ms, err = strconv.Atoi(val); err == nil {
				c.Timings.RingDelay = time.Duration(ms) * time.Millisecond
			}
		case "cassandra.skip_wait_for_gossip_to_settle":
			// Cassandra waits for at most N polls; 0 skips the wait.
			var polls int
			if polls, err = strconv.Atoi(val); err == nil && polls == 0 {
				c.Timings.GossipSettle = 0
			}
		case "cassandra.initial_token":
			c.InitialTokens, err = parseTokens(val)
		case "cassandra.auto_bootstrap":
			c.AutoBootstrap, err = strconv.ParseBool(val)
		case "cassandra.replace_address_first_boot", "cassandra.replace_address":
			c.ReplaceAddress = val // a name is resolved at start, as Cassandra does
		case "cassandra.allow_unsafe_replace":
			c.AllowUnsafeReplace, err = strconv.ParseBool(val)
		case "cassandra.override_decommission":
			c.OverrideDecommission, err = strconv.ParseBool(val)
		}
		if err != nil {
			return fmt.Errorf("JVM_EXTRA_OPTS %s: %w", f, err)
		}
	}
	return nil
}

func parseTokens(s string) ([]int64, error) {
	var ts []int64
	for _, f := range strings.Split(s, ",") {
		t, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("token %q is not a Murmur3 token (a signed 64-bit integer)", f)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// ResolveListen picks the listen address: the configured one, or with
// "auto" the first non-loopback, non-link-local IPv4 address, inside
// ListenSubnet when that is set (docker-entrypoint.sh's `auto`, plus the
// contract's CASSANDRA_LISTEN_SUBNET).
func (c *Config) ResolveListen(addrs []net.IP) (net.IP, error) {
	if c.ListenAddress != "auto" {
		ip := net.ParseIP(c.ListenAddress)
		if ip == nil {
			ips, err := net.LookupIP(c.ListenAddress)
			if err != nil || len(ips) == 0 {
				return nil, fmt.Errorf("listen address %q does not resolve: %w", c.ListenAddress, err)
			}
			ip = ips[0]
		}
		return ip, nil
	}
	var subnet *net.IPNet
	if c.ListenSubnet != "" {
		_, n, err := net.ParseCIDR(c.ListenSubnet)
		if err != nil {
			return nil, fmt.Errorf("CASSANDRA_LISTEN_SUBNET=%q: %w", c.ListenSubnet, err)
		}
		subnet = n
	}
	var found []string
	for _, ip := range addrs {
		if ip.To4() == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		found = append(found, ip.String())
		if subnet == nil || subnet.Contains(ip) {
			return ip, nil
		}
	}
	if subnet != nil {
		return nil, fmt.Errorf("no address inside CASSANDRA_LISTEN_SUBNET %s; addresses found: [%s]", c.ListenSubnet, strings.Join(found, ", "))
	}
	return nil, errors.New("no non-loopback, non-link-local IPv4 address found; set CASSANDRA_LISTEN_ADDRESS")
}

// InterfaceAddrs lists this machine's addresses.
func InterfaceAddrs() []net.IP {
	as, _ := net.InterfaceAddrs()
	var ips []net.IP
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			ips = append(ips, n.IP)
		}
	}
	return ips
}

// ParseSize reads a size in bytes: a number with an optional binary unit
// (B, KiB, MiB, GiB, TiB; K, M, G, T and KB, MB, GB, TB mean the same).
func ParseSize(v string) (float64, error) {
	v = strings.TrimSpace(v)
	i := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := v, ""
	if i >= 0 {
		num, unit = v[:i], strings.ToUpper(strings.TrimSpace(v[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("want a size such as 200MiB or 1GiB")
	}
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q: want B, KiB, MiB, GiB or TiB", unit)
	}
	return f * m, nil
}
