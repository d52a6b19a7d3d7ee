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
and nothing else:
  - on every engine, what carries its swarmcass.cluster label: the volumes
    (its data, for good), the network, the images (the Cassandra image and
    the overlay probe built on infra, under every tag swarmcass pushed them
    with, and the copies the swarm hosts pulled, which keep the label), and
    the node images its record names; a base image the build pulled (the
    official cassandra image when infra had none);
  - the nodes' Consul registrations and the record;
  - when no other cluster keeps a record in that Consul: the infra
    containers swarmcass-consul and swarmcass-registry, their volumes, and
    their images if swarmcass pulled them (they were not on infra);
  - last, the swarm, when swarmcass made it (swarm init by bootstrap; its
    spec carries swarmcass.role=swarm), no service at all is left in it,
    no other cluster keeps a record in that Consul, and each of its nodes
    is one of the cluster's engines: every engine leaves it.
It keeps whatever it did not make or something else still uses: images
that were on the engines before (loaded or pulled by you), an image
another container uses (the engine refuses, and down says so), a swarm
you made or that runs other services, other clusters' things. It asks for
confirmation on a terminal and needs --yes otherwise; --dry-run shows the
plan only.

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
	fs.BoolVar(&o.purge, "purge", false, "remove the cluster for good: volumes, network, images, record; infra and the swarm when nothing else uses them")
	return cmd
}
