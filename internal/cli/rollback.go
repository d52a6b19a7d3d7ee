package cli

import (
	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newRollbackCommand) }

type rollbackOptions struct {
	op  opOptions
	cfg provision.Config
}

func newRollbackCommand() *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Roll every node back to the previous image and settings, one node at a time",
		Long: `rollback takes every node back to the image digest and settings (heap,
memory limit, environment) that ran before the last upgrade, from the
cluster's image history in Consul, the same careful way upgrade rolls them
out: canaries first, one node at a time, each waited for until it is
Up/Normal in every view with CQL and one schema, a node that does not come
back put back as it was. After an upgrade that stopped part way, it takes
the nodes that upgrade changed back first.

It refuses to go back across a major version: Cassandra cannot read files a
newer major version rewrote.

` + exitCodeHelp,
		Example: `  eval "$(swarmcass lab env)"
  swarmcass rollback --dry-run
  swarmcass rollback --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOperation(cmd, &o.op, o.cfg, provision.Rollback)
		},
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	o.op.addConfirmFlags(fs)
	fs.IntVar(&o.cfg.Canary, "canary", 1, "nodes rolled back, waited for and checked before the others")
	return cmd
}
