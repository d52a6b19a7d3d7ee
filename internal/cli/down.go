package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newDownCommand) }

type downOptions struct {
	op    opOptions
	cfg   provision.Config
	purge bool
}

func newDownCommand() *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:   "down [--purge]",
		Short: "Stop a cluster without losing data, or remove it with --purge",
		Long: `down runs nodetool drain on every node at once (each flushes its data and
leaves gossip), then removes the node services. The volumes, the network,
Consul, the registry and the record stay, the nodes recorded as down: a
later swarmcass bootstrap (with the cluster's flags) brings the same nodes
back on their volumes, each on the machine its record names, with the same
host IDs.

down --purge removes, instead, everything swarmcass made for the cluster,
found by its swarmcass.cluster label on every engine: the volumes (its data,
for good), the network, the nodes' Consul registrations and the record; and
the infra containers swarmcass-consul and swarmcass-registry with their
volumes, but only when no other cluster keeps a record in that Consul. It
asks for confirmation on a terminal and needs --yes otherwise; --dry-run
shows the plan only. The swarm itself stays.

` + exitCodeHelp,
		Example: `  eval "$(swarmcass lab env)"
  swarmcass down                         # drain and stop every node; data kept
  swarmcass bootstrap --nodes 3 ...      # the same nodes back, same host IDs
  swarmcass down --purge --dry-run       # what a purge would remove
  swarmcass down --purge --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOperation(cmd, &o.op, o.cfg, func(ctx context.Context, cfg provision.Config) (*provision.Result, error) {
				return provision.Down(ctx, cfg, o.purge)
			})
		},
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	o.op.addConfirmFlags(fs)
	fs.StringVar(&o.cfg.Network, "network", provision.DefaultNetwork, "the cluster's overlay network (the record's, when it names one)")
	fs.BoolVar(&o.purge, "purge", false, "remove the cluster for good: volumes, network, record, and infra when no other cluster uses it")
	return cmd
}
