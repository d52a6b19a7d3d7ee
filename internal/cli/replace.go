package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newReplaceCommand) }

type replaceOptions struct {
	op  opOptions
	cfg provision.Config
	to  string
}

func newReplaceCommand() *cobra.Command {
	o := &replaceOptions{}
	cmd := &cobra.Command{
		Use:   "replace NODE [--to MACHINE]",
		Short: "Replace a node that is down for good by a new one of the same name",
		Long: `replace is for a node that is down for good: its machine is gone, or its
data is lost. It refuses unless the node is DN in the view of every other
node that runs (Cassandra refuses to replace a live node), and unless the
target machine is in the swarm and has memory for one more node.

It then removes the dead node's service (and its volume, where that engine
answers), creates a fresh volume and a node of the same name on the target
with the settings of its peers, started with
-Dcassandra.replace_address_first_boot=<the dead node's address> (its
record keeps the address), and waits until it is Up/Normal and the dead
node's host ID has left every view. The record and the Consul registration
then name the new host ID, host and address.

--to chooses the machine (a name as in --swarm, e.g. swarm-1); without it,
the node's own machine when it answers, else the one with the fewest nodes.
A replace asks for confirmation on a terminal and needs --yes otherwise;
--dry-run shows the plan only. After a failure or Ctrl-C the same command
continues with the replacing node.

` + exitCodeHelp,
		Example: `  eval "$(swarmcass lab env)"
  swarmcass lab stop swarm-2                               # cass3's machine is gone
  swarmcass replace cass3 --to swarm-1 --dry-run
  swarmcass replace cass3 --to swarm-1 --yes`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			n := nodeOptions{hosts: o.op.hosts, cluster: o.cfg.Cluster}
			names, _ := n.nodeNames(cmd.Context())
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			node := args[0]
			return runOperation(cmd, &o.op, o.cfg, func(ctx context.Context, cfg provision.Config) (*provision.Result, error) {
				return provision.Replace(ctx, cfg, node, o.to)
			})
		},
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	o.op.addConfirmFlags(fs)
	fs.StringVar(&o.to, "to", "", "the machine the new node runs on (default: its own when it answers, else the one with the fewest nodes)")
	return cmd
}
