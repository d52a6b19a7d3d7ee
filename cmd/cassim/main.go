// Command cassim stands in for an Apache Cassandra node in tests and labs.
// It is NOT Cassandra: it stores no data. It gossips, joins and fails the
// way Cassandra does, so that a provisioner can be tested end to end.
// Run as nodetool (by argv[0], or `cassim nodetool ...`) it is the node's
// nodetool.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/swarmcass/swarmcass/cassim"
)

const help = `cassim: a stand-in for an Apache Cassandra node, for tests and labs.
It is NOT Apache Cassandra and stores no data. It gossips on 7000, answers
SELECTs on the system tables over CQL on 9042 once NORMAL (enough for probes
and drivers), and answers nodetool on 127.0.0.1:7199,
enforcing Cassandra's start-up rules with Cassandra's messages.

Usage:
  cassim [SEEDS]            run a node; SEEDS is a comma-separated seed list
                            (default: the node itself)
  cassim nodetool ARGS...   nodetool (also when invoked as "nodetool")
  cassim cqlsh [HOST [PORT]] [-e STATEMENTS]
                            run statements (-e, or stdin) as cqlsh does, no
                            interactive shell (also when invoked as "cqlsh")
  cassim healthcheck        exit 0 when the local node answers CQL as bootstrapped
                            (or, with authentication on, refuses the login)
  cassim cqlsh ARGS...      a stand-in for cqlsh (also when invoked as "cqlsh"):
                            -u, -p, --credentials, -e, statements on stdin
  cassim cat FILE...        print files (also as "cat")

Environment: CASSANDRA_CLUSTER_NAME, CASSANDRA_DC, CASSANDRA_RACK,
CASSANDRA_NUM_TOKENS, CASSANDRA_LISTEN_ADDRESS, CASSANDRA_LISTEN_SUBNET,
CASSANDRA_BROADCAST_ADDRESS, CASSANDRA_BROADCAST_RPC_ADDRESS,
CASSANDRA_RPC_ADDRESS (where CQL listens, default 0.0.0.0),
CASSANDRA_AUTO_BOOTSTRAP, CASSANDRA_INITIAL_TOKENS, CASSANDRA_FAST_START,
MAX_HEAP_SIZE with HEAP_NEWSIZE, JVM_OPTS and JVM_EXTRA_OPTS (-Dcassandra.*
flags, among them replace_address_first_boot, override_decommission),
CASSANDRA_SEEDS (when SEEDS is absent), CASSIM_PROFILE (fast or realistic),
CASSIM_*_MS timing overrides, CASSIM_STREAM_THROUGHPUT (24MiB/s),
CASSIM_LOAD (the node's load, e.g. 200MiB: leaving and replacing stream it),
CASSIM_RELEASE_VERSION (the Cassandra release it reports), CASSIM_FAIL_AT_START=1
(fail at start as a broken upgrade does), CASSIM_DATA_DIR (default /var/lib/cassandra),
CASSIM_NODETOOL_ADDRESS (default 127.0.0.1:7199), CASSIM_CQL_TRACE=true (log
every CQL request and answer at DEBUG), SWARMCASS_WAIT_FOR and
SWARMCASS_WAIT_SECONDS (wait for a running seed before starting),
SWARMCASS_AUTH and SWARMCASS_CREDENTIALS_FILE (PasswordAuthenticator, the
node contract's authentication).
`

func main() {
	debug.SetMemoryLimit(24 << 20) // a node should stay at a few MiB
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args))
}

func run(ctx context.Context, argv []string) int {
	args := argv[1:]
	switch filepath.Base(argv[0]) {
	case "nodetool":
		return cassim.NodetoolMain(ctx, args, os.Stdout, os.Stderr)
	case "cqlsh":
		return cassim.CqlshMain(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	}
	if filepath.Base(argv[0]) == "df" {
		return cassim.DfMain(args, os.Stdout, os.Stderr)
	}
	if filepath.Base(argv[0]) == "cat" {
		return cat(args)
	}
	if len(args) > 0 {
		switch args[0] {
		case "nodetool":
			return cassim.NodetoolMain(ctx, args[1:], os.Stdout, os.Stderr)
		case "cqlsh":
			return cassim.CqlshMain(ctx, args[1:], os.Stdin, os.Stdout, os.Stderr)
		case "cat":
			return cat(args[1:])
		case "healthcheck":
			// The node's own CQL listener: loopback when it listens on every address.
			host := os.Getenv("CASSANDRA_RPC_ADDRESS")
			if host == "" || host == "0.0.0.0" {
				host = "127.0.0.1"
			}
			// Its own CQL port: native_transport_port when the node listens on
			// its published host port (bootstrap --clients host).
			port := cmp.Or(os.Getenv("CASSANDRA_NATIVE_TRANSPORT_PORT"), fmt.Sprint(cassim.CQLPort))
			_, err := cassim.Probe(net.JoinHostPort(host, port), 3*time.Second)
			var ae *cassim.AuthError
			switch {
			case errors.As(err, &ae):
				// As the image's health check: only a node that joined the
				// ring runs its CQL server, and bootstrap creates the role
				// these credentials name only once the first node is up.
				fmt.Fprintln(os.Stderr, "cassim healthcheck: CQL answers and asks for other credentials (authentication on):", ae.Error())
				return 0
			case err != nil:
				fmt.Fprintln(os.Stderr, "cassim healthcheck:", err)
				return 1
			}
			return 0
		case "-h", "--help", "help":
			fmt.Print(help)
			return 0
		}
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg, err := cassim.LoadConfig(args, env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cassim:", err)
		return 1
	}
	if id, err := cassim.LoadIdentity(cfg.DataDir); err == nil {
		seed, warning, err := cfg.SeedWait.Wait(ctx, cassim.GossipPort, id.HostID != "")
		if err != nil {
			fmt.Fprintln(os.Stderr, "cassim:", err)
			return 1
		}
		if warning != "" {
			fmt.Fprintln(os.Stderr, "cassim:", warning)
		}
		if seed != "" {
			fmt.Fprintf(os.Stderr, "cassim: running seed %s answers on port %d\n", seed, cassim.GossipPort)
		}
		cfg.AddSeedByAddress(seed)
	}
	if cfg.Auth {
		// The node image's entrypoint does the same: cqlsh in the container
		// then logs in with the mounted credentials on its own.
		if err := cassim.LinkCredentials(cfg.CredentialsFile); err != nil {
			fmt.Fprintln(os.Stderr, "cassim: could not link the credentials file for cqlsh:", err)
		}
	}
	if cfg.TLS {
		// As the entrypoint: cqlsh in the container connects with TLS.
		if err := cassim.WriteCqlshrc(cfg.TLSTruststore); err != nil {
			fmt.Fprintln(os.Stderr, "cassim: could not write cqlsh's cqlshrc:", err)
		}
	}
	ip, err := cfg.ResolveListen(cassim.InterfaceAddrs())
	if err != nil {
		fmt.Fprintln(os.Stderr, "cassim:", err)
		return 1
	}
	err = cassim.NewNode(cfg, ip, os.Stdout).Run(ctx)
	var se *cassim.StartupError
	var fe *cassim.FatalConfigError
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.As(err, &fe):
		return 1 // CassandraDaemon on a fatal configuration error
	case errors.As(err, &se):
		return 3 // CassandraDaemon exits with 3 when start-up fails
	default:
		fmt.Fprintln(os.Stderr, "cassim:", err)
		return 1
	}
}

// cat prints files, for the node commands that read a file in the
// container (swarmcass credentials reads the mounted secret): cassim's
// image has no other programs.
func cat(files []string) int {
	code := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cat: %s: %v\n", f, errors.Unwrap(err))
			code = 1
			continue
		}
		os.Stdout.Write(b)
	}
	return code
}
