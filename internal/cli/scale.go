package cli

import (
	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newScaleCommand) }

type scaleOptions struct {
	op  opOptions
	cfg provision.Config
}

func newScaleCommand() *cobra.Command {
	o := &scaleOptions{}
	cmd := &cobra.Command{
		Use:   "scale --nodes N",
		Short: "Grow a cluster as bootstrap does, or shrink it by decommission, one node at a time",
		Long: `scale brings the cluster to --nodes N nodes.

Growing is bootstrap's own path: nodes are added one at a time, each waited
for until it is Up/Normal, with the settings the cluster's nodes already have
(image, heap, memory, environment).

Shrinking takes the highest-numbered nodes out, one at a time, by nodetool
decommission: each streams its data to the nodes that stay while it is UL,
and once it has left every remaining view its service, Consul registration,
record and volume are removed (a decommissioned node's data cannot rejoin).
Before anything changes, scale refuses when a node is not UN in every view,
when a keyspace's replication factor in a datacenter exceeds the nodes that
would remain there (read from nodetool describecluster), when a remaining
node has less free disk on /var/lib/cassandra than its share of the data
that moves (the loads in nodetool status), or below one node.

When a seed leaves, the seeds are chosen again: the record and every node
created from now on get the new list. Running nodes keep theirs until their
next start (Swarm restarts a task whose spec changes, so scale does not
touch them); Cassandra skips a seed name that no longer resolves.

A shrink asks for confirmation on a terminal and needs --yes otherwise;
--dry-run shows the plan only. After a failure or Ctrl-C, the same command
continues: a node that has left already is cleaned up, not decommissioned
again.

` + exitCodeHelp,
		Example: `  eval "$(swarmcass lab env)"
  swarmcass scale --nodes 3 --dry-run    # what a shrink from 4 would do
  swarmcass scale --nodes 3 --yes        # decommission cass4, then remove what is left of it
  swarmcass scale --nodes 5              # grow, as bootstrap --nodes 5 does`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.cfg.Nodes < 1 {
				return op.Hinted("pass --nodes 1 or more; swarmcass down stops the whole cluster and keeps its data",
					"--nodes %d: a cluster keeps at least one node", o.cfg.Nodes)
			}
			return runOperation(cmd, &o.op, o.cfg, provision.Scale)
		},
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	o.op.addConfirmFlags(fs)
	fs.IntVar(&o.cfg.Nodes, "nodes", 0, "the number of nodes the cluster should have (required)")
	_ = cmd.MarkFlagRequired("nodes")
	return cmd
}
