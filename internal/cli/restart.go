package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newRestartCommand) }

type restartOptions struct {
	op  opOptions
	cfg provision.Config
}

func newRestartCommand() *cobra.Command {
	o := &restartOptions{}
	cmd := &cobra.Command{
		Use:   "restart [NODE...]",
		Short: "Restart nodes one at a time, each back Up/Normal before the next",
		Long: `restart restarts the named nodes (all when none is named), in node order,
never more than one out at a time. Before each node, every node must be Up
and Normal in every node's view (nodetool status) and agree on one schema
(nodetool describecluster). Then the node is drained (nodetool drain), its
swarm service starts a new task (the same host and volume: its data and host
ID stay), and restart waits until it is Up/Normal in every view, its CQL port
answers and the schema agrees again.

A node that is not back within --node-timeout stops the run with its last
log lines; the nodes after it are left alone. The record in Consul says
after each node which are done: a re-run after a failure or Ctrl-C waits
for the node it stopped at and continues with the rest.

` + exitCodeHelp,
		Example: `  # every node of the lab's cluster, one at a time
  eval "$(swarmcass lab env)"
  swarmcass restart

  # two nodes only, and first see what it would do
  swarmcass restart cass2 cass3 --dry-run
  swarmcass restart cass2 cass3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOperation(cmd, &o.op, o.cfg, func(ctx context.Context, cfg provision.Config) (*provision.Result, error) {
				return provision.Restart(ctx, cfg, args)
			})
		},
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	fs.BoolVar(&o.op.dryRun, "dry-run", false, "show the plan and change nothing")
	return cmd
}
