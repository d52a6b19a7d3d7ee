package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	cassandraimage "github.com/swarmcass/swarmcass/cassandra-image"
	"github.com/swarmcass/swarmcass/images"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newBootstrapCommand) }

type bootstrapOptions struct {
	op       opOptions
	cfg      provision.Config
	heap     string
	memory   string
	cqlPort  int
	imageDir string
	auth     bool
	tls      bool
}

func newBootstrapCommand() *cobra.Command {
	o := &bootstrapOptions{}
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Provision a Cassandra cluster on Docker Swarm (a new one all at once, growth one node at a time)",
		Long: `bootstrap runs, in order: preflight checks; a Consul server and an image
registry on the infra host; a lock on the cluster in Consul; the swarm (init
on the first swarm host, join the others); an attachable overlay network; the
Cassandra image (built from --image-dir, or --image), pushed to the registry
and pinned by digest; then the nodes cass1..casN, one swarm service each,
started one after another, each waited for until nodetool status shows it Up
and Normal; then authentication (unless --auth=false): the superuser from
the cluster's Swarm secret, Cassandra's default role disabled, system_auth
replicated to min(3, N) nodes; finally the record in Consul KV under
swarmcass/CLUSTER/ and a Consul service per node.

A brand-new cluster (no node service and no node volume of it yet) starts
all at once, as ccm starts one: every node together (the others waiting
for the first at its overlay address), each with its own balanced tokens
(num_tokens evenly interleaved over Murmur3's range) and auto_bootstrap
false, so no node streams and no range-movement conflict can arise;
bootstrap then checks every node UN in every view, with unique host IDs and
the planned tokens. --one-at-a-time starts it the old way. Nodes without a
service that bootstrapped before (host ID in the record, volume on their
host) restart together once a seed is up.

Consul runs with ACLs, default deny (without a token only nodes and services
can be read, for discovery and DNS), and the registry wants a password for
every request. bootstrap makes both credentials and keeps them in 0600 files
under ~/.swarmcass/infra/INFRA-ADDRESS/ (SWARMCASS_HOME moves them) and in
the infra containers' volumes, from which any command reads them back when
the files are lost. Every command uses them; nobody types a password.

With --tls every node encrypts internode connections (all of them, the
peers authenticating each other) and client connections (its CQL port then
speaks TLS only), with a certificate of its own issued from the cluster's
CA. bootstrap makes that CA once and keeps it under ~/.swarmcass/tls/ (the
key 0600); the CA certificate and each node's key and certificate reach the
nodes as Swarm secrets. cqlsh inside the nodes, swarmcass cqlsh and ring
work as before; swarmcass credentials names the CA file clients trust. A
cluster made with --tls keeps it on a re-run without the flag.

Every step inspects before it creates: re-running on a healthy cluster
changes nothing, a re-run after a failure or Ctrl-C continues from the first
missing or unhealthy node, and a larger --nodes adds nodes one at a time.

` + exitCodeHelp + `: the lock is given back, and the node
       being started keeps starting and is recorded as interrupted`,
		Example: withPins(`  # the lab: infra + swarm-* machines from the lab's store
  eval "$(swarmcass lab env)"
  swarmcass bootstrap --nodes 3 --consul-image {consul} --registry-image {registry}

  # a new cluster, its nodes joining one after another as on a live cluster
  swarmcass bootstrap --nodes 3 --one-at-a-time

  # the local engine alone plays every role
  swarmcass bootstrap --nodes 1 --heap 256M

  # a throwaway lab ring that needs no login (the summary says it is open)
  swarmcass bootstrap --nodes 3 --auth=false

  # internode and client TLS; clients trust the CA that swarmcass credentials names
  swarmcass bootstrap --nodes 3 --tls`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBootstrap(cmd, o) },
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	fs.IntVar(&o.cfg.Nodes, "nodes", 3, "number of Cassandra nodes")
	fs.StringVar(&o.cfg.Network, "network", provision.DefaultNetwork, "attachable overlay network of the nodes")
	fs.BoolVar(&o.cfg.Encrypted, "encrypted", false, "encrypt the overlay network (when it is created): IPsec ESP between the hosts, which needs IP protocol 50 open and kernels with ESP and AES-GCM; the overlay check fails at once where they lack it")
	fs.BoolVar(&o.auth, "auth", true, "authenticate CQL clients: a generated superuser kept in a Swarm secret (swarmcass credentials); --auth=false leaves every keyspace open to anyone who reaches a CQL port")
	fs.BoolVar(&o.tls, "tls", false, "encrypt internode and client connections (TLS only on the CQL port), each node with its own certificate from the cluster's CA, kept under ~/.swarmcass/tls/ and delivered as Swarm secrets; clients trust the CA file swarmcass credentials names. A cluster keeps what it was created with")
	fs.StringVar(&o.cfg.ConsulImage, "consul-image", provision.DefaultConsulImage, "Consul image on the infra host")
	fs.StringVar(&o.cfg.RegistryImage, "registry-image", provision.DefaultRegistryImage, "registry image on the infra host")
	fs.StringVar(&o.imageDir, "image-dir", "", "build context of the Cassandra image (default: swarmcass's cassandra-image/, built in)")
	fs.StringVar(&o.cfg.CassandraVersion, "cassandra-version", "", "official cassandra image tag the built-in image builds on: 5.0 or 4.1 series (default "+cassandraimage.DefaultVersion+")")
	fs.StringVar(&o.cfg.BaseImage, "base-image", "", "image on the infra host the built-in image builds on instead of the official cassandra image, e.g. the offline base "+images.CassandraBase+" (scripts/build-images.sh cassandra)")
	fs.StringVar(&o.cfg.Image, "image", "", "use this image on the infra host instead of building one")
	fs.StringVar(&o.heap, "heap", "512M", "MAX_HEAP_SIZE of each node (HEAP_NEWSIZE is a quarter)")
	fs.StringVar(&o.memory, "memory", "", "memory limit of each node (default twice the heap plus 512M for nodetool and cqlsh inside it)")
	fs.StringArrayVar(&o.cfg.NodeEnv, "node-env", nil, "extra KEY=VALUE environment for every node (repeatable)")
	fs.StringVar(&o.cfg.Clients, "clients", provision.ClientsOverlay, "what nodes tell drivers: overlay (their overlay addresses, for clients that are services on the network) or host (their host's address and published CQL port, for clients outside the swarm)")
	fs.IntVar(&o.cqlPort, "cql-port", provision.DefaultCQLPort, "host port for node K's CQL, plus one per earlier node on the same host; 0 publishes none")
	fs.BoolVar(&o.cfg.OneAtATime, "one-at-a-time", false, "start the nodes of a brand-new cluster one after another too, instead of all at once with balanced tokens")
	return cmd
}

func runBootstrap(cmd *cobra.Command, o *bootstrapOptions) error {
	cfg := o.cfg
	var err error
	if cfg.Heap, err = provision.ParseMemory("--heap", o.heap); err != nil {
		return err
	}
	if o.memory != "" {
		if cfg.Memory, err = provision.ParseMemory("--memory", o.memory); err != nil {
			return err
		}
	}
	switch {
	case o.cqlPort < 0:
		return op.Hinted("use a port from 1 to 65535, or 0 to publish none", "--cql-port %d is not a port", o.cqlPort)
	case o.cqlPort == 0:
		cfg.CQLPort = -1
	default:
		cfg.CQLPort = o.cqlPort
	}
	cfg.ImageDir = o.imageDir
	cfg.NoAuth = !o.auth
	if cmd.Flags().Changed("tls") {
		cfg.TLS = provision.TLSOff
		if o.tls {
			cfg.TLS = provision.TLSOn
		}
	}

	return runOperation(cmd, &o.op, cfg, provision.Bootstrap)
}

// explained prints an error with its hints, and keeps it for errors.Is.
type explained struct{ err error }

func (e explained) Error() string { return op.Explain(e.err) }
func (e explained) Unwrap() error { return e.err }

// writeTimings writes the steps' timings and the nodes' times to ready.
func writeTimings(path string, res *provision.Result) error {
	type node struct {
		Name    string  `json:"name"`
		Seconds float64 `json:"seconds_to_ready"`
		Created bool    `json:"created"`
	}
	out := struct {
		Cluster string      `json:"cluster"`
		At      time.Time   `json:"at"`
		Steps   []op.Timing `json:"steps"`
		Total   float64     `json:"total_seconds"`
		Nodes   []node      `json:"nodes"`
	}{Cluster: res.Cluster, At: time.Now().UTC(), Steps: res.Steps}
	for _, s := range res.Steps {
		out.Total += s.Seconds
	}
	for _, n := range res.Nodes {
		out.Nodes = append(out.Nodes, node{n.Name, n.ReadySeconds, n.Created})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--timings: %w", err)
	}
	return nil
}
