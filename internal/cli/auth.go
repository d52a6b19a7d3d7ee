package cli

import (
	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newAuthCommand) }

// newAuthCommand groups what changes how clients log in; enable is its
// one subcommand so far.
func newAuthCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Change a cluster's CQL authentication (enable)",
		Long: `auth changes how clients log in to a cluster. A cluster bootstrapped
with --auth=false lets anyone who reaches a CQL port read, write and drop
every keyspace; swarmcass auth enable turns authentication on for it, one
node at a time, as bootstrap would have made it.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newAuthEnableCommand())
	return cmd
}

type authEnableOptions struct {
	op  opOptions
	cfg provision.Config
}

func newAuthEnableCommand() *cobra.Command {
	o := &authEnableOptions{}
	cmd := &cobra.Command{
		Use:   "enable",
		Short: "Turn authentication on for a cluster bootstrapped with --auth=false, one node at a time",
		Long: `enable turns CQL authentication on for a cluster that runs without it
(bootstrapped with --auth=false), as Cassandra's documentation enables
PasswordAuthenticator across a live cluster:

  1. the credentials secret: Swarm secret CLUSTER-cql-credentials with a
     generated superuser, as bootstrap makes it (one that exists is reused,
     never replaced; swarmcass credentials says where its password is);
  2. system_auth replicated NetworkTopologyStrategy min(3, N) in the nodes'
     datacenter and repaired, while every node is still open, so that a
     login finds its role with a node down;
  3. each node in turn, as restart does: drained, restarted on the same
     host and volume with PasswordAuthenticator and CassandraAuthorizer and
     the secret mounted, and waited for until it is Up/Normal in every view,
     answers CQL and agrees on the schema; before each, every node must be
     Up/Normal;
  4. once the first node authenticates: the superuser created through
     Cassandra's default role cassandra, and cassandra disabled (no login,
     no superuser).

Clients: a node that was restarted refuses clients without credentials,
while the others still take any client. A driver given the superuser's
credentials works against both, so give them to your clients before the
roll: --prepare does steps 1 and 2 only and stops, every node still open;
swarmcass credentials then prints them; run again without --prepare to roll.
Expect refusals from the first node for the seconds until the superuser
exists. swarmcass cqlsh, ring and the other commands log in on
their own.

A re-run after a failure or Ctrl-C continues with the nodes still open;
on a cluster that authenticates already it does nothing.

` + exitCodeHelp,
		Example: `  # see the plan first, then go ahead
  eval "$(swarmcass lab env)"
  swarmcass auth enable --dry-run
  swarmcass auth enable --yes

  # clients first: make the credentials, give them to the clients, then roll
  swarmcass auth enable --prepare --yes
  CQL_PASSWORD=$(swarmcass credentials --password)
  swarmcass auth enable --yes

  # another cluster; then the superuser and where its password is
  swarmcass auth enable --cluster prod --yes
  swarmcass credentials --cluster prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOperation(cmd, &o.op, o.cfg, provision.EnableAuth)
		},
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	o.op.addConfirmFlags(fs)
	fs.BoolVar(&o.cfg.AuthPrepare, "prepare", false, "make the credentials secret and replicate system_auth, then stop before any node authenticates")
	return cmd
}
