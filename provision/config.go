package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"

	cassandraimage "github.com/swarmcass/swarmcass/cassandra-image"
	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/infracreds"
	"github.com/swarmcass/swarmcass/op"
)

// Defaults for Config's zero fields.
const (
	DefaultCluster       = "swarmcass"
	DefaultNetwork       = "swarmcass"
	DefaultConsulImage   = "hashicorp/consul:1.20"
	DefaultRegistryImage = "registry:3"
	DefaultHeap          = 512 << 20
	// NodeToolRoom is the memory a node's limit leaves, beyond twice its
	// heap, for what runs inside its container besides Cassandra: nodetool
	// is a JVM of its own (bootstrap and ring run it in every node, the
	// image's health check runs cqlsh). Measured on real Cassandra 5.0.8
	// with a 256M heap: the node idles at ~440 MiB, and two nodetool runs
	// and a cqlsh at once in a 512 MiB limit got Cassandra OOM-killed.
	NodeToolRoom        = 512 << 20
	DefaultCQLPort      = 9042
	DefaultPollInterval = time.Second
	DefaultNodeTimeout  = 10 * time.Minute
	DefaultInfraTimeout = 2 * time.Minute
	// DefaultOverlaySettle: see Config.OverlaySettle.
	DefaultOverlaySettle = 15 * time.Second
)

// What nodes tell drivers (Config.Clients).
const (
	ClientsOverlay = "overlay"
	ClientsHost    = "host"
)

// Names of what bootstrap creates on the infra engine; the ports it
// publishes there are consulstore.Port and registry.Port.
const (
	ConsulContainer   = infracreds.ConsulContainer
	RegistryContainer = infracreds.RegistryContainer
	// ImageRepo is the repository nodes' image is pushed to in the registry.
	ImageRepo = "swarmcass/cassandra"
	// ProbeRepo is the repository the overlay check's probe image (the
	// Consul image) is pushed to, so that every swarm host can pull it.
	ProbeRepo = "swarmcass/probe"
)

// Config is one bootstrap. Zero fields take the Default values.
type Config struct {
	Cluster string
	Nodes   int
	Infra   cluster.Host
	// Swarm are the swarm's hosts; the first is (or becomes) the manager.
	// Infra's engine may be among them.
	Swarm []cluster.Host

	Network       string
	Encrypted     bool
	ConsulImage   string
	RegistryImage string
	// ImageDir is the build context of the Cassandra image; empty means
	// swarmcass's own cassandra-image/ (embedded in the binary) at
	// CassandraVersion. BaseImage, when set, is the image on the infra
	// engine that the built-in image builds on instead of the official
	// cassandra:CassandraVersion (the offline base of images/cassandra-base/).
	// Image, when set, is an image present on the infra engine used instead.
	ImageDir         string
	CassandraVersion string
	BaseImage        string
	Image            string
	// Heap is MAX_HEAP_SIZE in bytes (HEAP_NEWSIZE is a quarter of it);
	// Memory is each node's memory limit; when zero, twice the heap plus
	// NodeToolRoom.
	Heap   int64
	Memory int64
	// NodeEnv are extra KEY=VALUE pairs for every node.
	NodeEnv []string
	// CQLPort is published in host mode for node K on its host as CQLPort
	// plus the number of earlier nodes on that host, and checked by Consul;
	// -1 publishes nothing (Consul then gets no check).
	CQLPort int
	// Clients is what nodes tell drivers about themselves: ClientsOverlay
	// (the default: their overlay addresses, for clients that are services
	// on the attachable overlay) or ClientsHost (their host's address and
	// published CQL port, for clients outside the swarm; each node then
	// listens for CQL on that port itself, so that the port drivers learn
	// from the ring is the one published).
	Clients string

	// OneAtATime starts the nodes of a brand-new cluster one after
	// another, as for a cluster that exists, instead of all at once.
	OneAtATime bool
	// NoAuth starts the nodes open (AllowAllAuthenticator), as --auth=false;
	// by default they authenticate clients (auth.go).
	NoAuth bool
	// TLS is --tls: TLSOn encrypts internode and client connections with
	// a certificate per node from the cluster's CA (tls.go); TLSOff keeps
	// them plain; TLSAuto (no flag) follows the cluster's nodes, plain
	// for a new cluster.
	TLS TLSMode
	// Home is where the CLI keeps its copy of the credentials
	// (credentials.LocalPath); empty means the user's home directory.
	Home string

	PollInterval time.Duration
	NodeTimeout  time.Duration
	InfraTimeout time.Duration
	// OverlaySettle is how long the overlay check keeps asking a probe
	// that does not answer before it calls the pair cut off: a host that
	// has just (re)joined the overlay (its last container on it went, as
	// when the node services are recreated) is reached by the others only
	// once Swarm's gossip has told them where its probe is, which under
	// load takes seconds.
	OverlaySettle time.Duration

	// Canary is how many nodes an upgrade or rollback does first, each
	// waited for and its release checked, before the others (0: 1).
	// UpgradeSSTables has an upgrade run nodetool upgradesstables on each
	// node in turn after a major version upgrade.
	Canary          int
	UpgradeSSTables bool
	// AuthPrepare has auth enable stop once the credentials secret exists
	// and system_auth is replicated, before any node authenticates, so that
	// clients can be given the credentials first.
	AuthPrepare bool

	// DryRun has a day-2 operation show its plan and change nothing.
	DryRun bool
	// Confirm is asked before a day-2 operation's destructive plan is
	// carried out; nil (no terminal, no --yes) refuses it. An error stops
	// the operation before any change.
	Confirm func(ctx context.Context, plan []string) error

	// Progress hears about steps; nil is silent.
	Progress op.Progress
	// Remote reaches Consul, the registry and ports on the infra host;
	// nil is the real network.
	Remote Remote
}

var (
	clusterName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	// networkName is a DNS label (RFC 1123) and so a valid Docker name too.
	networkName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// CheckCluster refuses a cluster name that cannot name services, volumes
// and Consul keys: it must be a short lowercase DNS label.
func CheckCluster(name string) error {
	if !clusterName.MatchString(name) {
		return op.Hinted("use 1 to 40 lowercase letters, digits and dashes, starting and ending with a letter or digit",
			"invalid cluster name %q", name)
	}
	return nil
}

// CheckNetwork refuses an overlay network name that is not both a DNS label
// and a Docker name.
func CheckNetwork(name string) error {
	if !networkName.MatchString(name) {
		return op.Hinted("use 1 to 63 letters, digits and dashes, starting and ending with a letter or digit, e.g. "+DefaultNetwork,
			"invalid --network %q", name)
	}
	return nil
}

// checkImage refuses what cannot name an image: a reference (repo:tag,
// repo@digest) or an image ID.
func checkImage(flag, ref string) error {
	if _, err := reference.ParseAnyReference(ref); err != nil {
		return op.Hinted("write an image reference such as "+DefaultConsulImage+" or an image ID",
			"invalid %s %q: %w", flag, ref, err)
	}
	return nil
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Cluster, DefaultCluster)
	def(&c.Network, DefaultNetwork)
	def(&c.ConsulImage, DefaultConsulImage)
	def(&c.RegistryImage, DefaultRegistryImage)
	if c.Heap == 0 {
		c.Heap = DefaultHeap
	}
	if c.Memory == 0 {
		c.Memory = 2*c.Heap + NodeToolRoom
	}
	if c.CQLPort == 0 {
		c.CQLPort = DefaultCQLPort
	}
	def(&c.Clients, ClientsOverlay)
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = DefaultNodeTimeout
	}
	if c.InfraTimeout == 0 {
		c.InfraTimeout = DefaultInfraTimeout
	}
	if c.OverlaySettle == 0 {
		c.OverlaySettle = DefaultOverlaySettle
	}
	if c.Home == "" {
		c.Home = credentials.DefaultHome()
	}
	if c.Progress == nil {
		c.Progress = op.Silent{}
	}
	if c.Remote == nil {
		c.Remote = NetRemote{}
	}
	return c
}

// validate checks the input that needs no engine; each problem carries a hint.
func (c Config) validate() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(CheckCluster(c.Cluster))
	switch c.Clients {
	case ClientsOverlay:
	case ClientsHost:
		if c.CQLPort == -1 {
			errs = append(errs, op.Hinted("publish the CQL ports (--cql-port 9042), or use --clients overlay",
				"--clients host needs published CQL ports, but --cql-port 0 publishes none"))
		}
	default:
		errs = append(errs, op.Hinted("use --clients overlay (drivers that are services on the overlay) or --clients host (drivers outside the swarm)",
			"--clients %q is neither overlay nor host", c.Clients))
	}
	add(CheckNetwork(c.Network))
	add(checkImage("--consul-image", c.ConsulImage))
	add(checkImage("--registry-image", c.RegistryImage))
	if c.Image != "" {
		add(checkImage("--image", c.Image))
	}
	if c.BaseImage != "" {
		add(checkImage("--base-image", c.BaseImage))
	}
	if c.CQLPort != -1 {
		last := c.CQLPort
		if c.Nodes > 0 && len(c.Swarm) > 0 {
			last += (c.Nodes - 1) / len(c.Swarm) // nodes.go: cqlPort
		}
		switch {
		case c.CQLPort < 1 || c.CQLPort > 65535:
			errs = append(errs, op.Hinted("use a port from 1 to 65535, or 0 to publish none",
				"--cql-port %d is not a port", c.CQLPort))
		case last > 65535:
			errs = append(errs, op.Hinted(fmt.Sprintf("use --cql-port %d or lower, or add swarm hosts", 65535-(last-c.CQLPort)),
				"--cql-port %d: %d nodes on %d hosts publish up to port %d, past 65535", c.CQLPort, c.Nodes, len(c.Swarm), last))
		}
	}
	if c.Nodes < 1 {
		errs = append(errs, op.Hinted("pass --nodes 1 or more", "--nodes is %d: a cluster needs at least one node", c.Nodes))
	}
	if c.Infra.Engine == nil {
		errs = append(errs, op.Hinted("name the infra host (--infra, --context or --host)", "no infra engine"))
	}
	if len(c.Swarm) == 0 {
		errs = append(errs, op.Hinted("name the swarm hosts (--swarm, --context or --host)", "no swarm engines"))
	}
	if c.Heap < 64<<20 {
		errs = append(errs, op.Hinted("pass --heap 256M or more", "heap %s is too small for Cassandra", FormatBytes(c.Heap)))
	}
	if c.Memory < c.Heap {
		errs = append(errs, op.Hinted("give each node at least its heap: raise --memory or lower --heap",
			"memory limit %s is below the heap %s", FormatBytes(c.Memory), FormatBytes(c.Heap)))
	}
	for _, kv := range c.NodeEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, op.Hinted("write each --node-env as KEY=VALUE", "invalid --node-env %q", kv))
		}
	}
	if c.Image == "" && c.ImageDir == "" {
		if err := cassandraimage.CheckVersion(c.CassandraVersion); c.CassandraVersion != "" && err != nil {
			errs = append(errs, op.WithHint(err, "pass --cassandra-version 5.0 or 4.1 (or a full tag such as "+cassandraimage.DefaultVersion+")"))
		}
	}
	if c.BaseImage != "" && (c.Image != "" || c.ImageDir != "") {
		errs = append(errs, op.Hinted("--base-image is what the built-in image builds on: drop it, or drop --image/--image-dir",
			"--base-image %s goes with neither --image nor --image-dir", c.BaseImage))
	}
	if c.Image == "" && c.ImageDir != "" {
		if st, err := os.Stat(filepath.Join(c.ImageDir, "Dockerfile")); err != nil || st.IsDir() {
			errs = append(errs, op.Hinted("pass --image-dir a directory holding a Dockerfile, or --image REF for an image on the infra host",
				"image dir %s has no Dockerfile", c.ImageDir))
		}
	}
	if c.PollInterval < 0 || c.NodeTimeout < 0 {
		errs = append(errs, op.Hinted("use positive durations such as 1s and 10m", "negative --poll-interval or --node-timeout"))
	}
	return errs
}

// ParseBytes reads sizes such as 512M, 1G, 1.5g, 1024 (bytes) or 256MiB.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional K, M or G suffix", s)
	}
	return int64(v * float64(mult)), nil
}

// ParseMemory reads a memory size for flag (--heap, --memory), which must
// carry a unit: 10 is far more likely a forgotten M than ten bytes.
func ParseMemory(flag, s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t != "" && t[len(t)-1] >= '0' && t[len(t)-1] <= '9' {
		return 0, op.Hinted("write the size with a unit, e.g. "+flag+" 256M or "+flag+" 1G",
			"%s %s has no unit", flag, s)
	}
	n, err := ParseBytes(s)
	if err != nil {
		return 0, op.WithHint(fmt.Errorf("%s: %w", flag, err), "write a size such as 256M or 1G")
	}
	return n, nil
}

// heapEnv is the node environment that sets heap: MAX_HEAP_SIZE, and
// HEAP_NEWSIZE a quarter of it.
func heapEnv(heap int64) []string {
	return []string{"MAX_HEAP_SIZE=" + FormatBytes(heap), "HEAP_NEWSIZE=" + FormatBytes(max(heap/4, 16<<20))}
}

// FormatBytes prints a size the way MAX_HEAP_SIZE wants it: whole
// mebibytes, e.g. 512M; or G when a whole number of gibibytes.
func FormatBytes(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%dG", n>>30)
	}
	return fmt.Sprintf("%dM", n>>20)
}
