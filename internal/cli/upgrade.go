package cli

import (
	"github.com/spf13/cobra"

	cassandraimage "github.com/swarmcass/swarmcass/cassandra-image"
	"github.com/swarmcass/swarmcass/images"
	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newUpgradeCommand) }

type upgradeOptions struct {
	op     opOptions
	cfg    provision.Config
	heap   string
	memory string
}

func newUpgradeCommand() *cobra.Command {
	o := &upgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Roll a new Cassandra image or new node settings out, one node at a time",
		Long: `upgrade builds and pushes the new image when one is asked for (as bootstrap
does: --cassandra-version and --base-image for swarmcass's own image,
--image-dir, or --image), shows what changes on each node (image, heap,
memory limit, environment), and rolls it out as restart does: one node at a
time, each drained, started on the new image and settings on the same host
and volume, and waited for until it is Up/Normal in every view, answers CQL
and agrees on the schema.

The canaries go first (--canary, default 1): each is waited for and its
release checked (nodetool version) before any other node is touched. A node
that does not come back Up/Normal is put back on its previous image digest
and settings, waited for, and the run stops there with its last log lines.

upgrade refuses what Cassandra does not support: going back across a major
version, or skipping one (3.11 to 5.0). After a major upgrade it offers
nodetool upgradesstables, run one node at a time with --upgradesstables.

Once every node runs it, the new release is the newest of the cluster's
image history in Consul; swarmcass rollback goes back to the one before.
A re-run after a failure or Ctrl-C continues with the node it stopped at:
the nodes already on the new release are left as they are.

` + exitCodeHelp,
		Example: withPins(`  # a new patch release of the offline base, canary first
  eval "$(swarmcass lab env)"
  swarmcass upgrade --base-image ` + images.CassandraBase + ` --dry-run
  swarmcass upgrade --base-image ` + images.CassandraBase + ` --yes

  # a bigger heap on every node (the memory limit follows it)
  swarmcass upgrade --heap 1G --yes

  # an image of your own, two canaries, then rewrite SSTables after a major upgrade
  swarmcass upgrade --image-dir ./my-cassandra --canary 2 --upgradesstables --yes`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := o.cfg
			var err error
			if o.heap != "" {
				if cfg.Heap, err = provision.ParseMemory("--heap", o.heap); err != nil {
					return err
				}
			}
			if o.memory != "" {
				if cfg.Memory, err = provision.ParseMemory("--memory", o.memory); err != nil {
					return err
				}
			}
			return runOperation(cmd, &o.op, cfg, provision.Upgrade)
		},
	}
	fs := cmd.Flags()
	o.op.addFlags(fs, &o.cfg)
	o.op.addConfirmFlags(fs)
	fs.StringVar(&o.cfg.ImageDir, "image-dir", "", "build context of the new Cassandra image")
	fs.StringVar(&o.cfg.CassandraVersion, "cassandra-version", "", "official cassandra image tag swarmcass's image builds on (5.0 or 4.1 series, e.g. "+cassandraimage.DefaultVersion+")")
	fs.StringVar(&o.cfg.BaseImage, "base-image", "", "image on the infra host swarmcass's image builds on instead, e.g. the offline base "+images.CassandraBase)
	fs.StringVar(&o.cfg.Image, "image", "", "an image on the infra host to roll out as it is")
	fs.StringVar(&o.heap, "heap", "", "new MAX_HEAP_SIZE of each node (HEAP_NEWSIZE is a quarter; a memory limit that followed the heap follows it)")
	fs.StringVar(&o.memory, "memory", "", "new memory limit of each node")
	fs.StringArrayVar(&o.cfg.NodeEnv, "node-env", nil, "KEY=VALUE to set on every node (repeatable)")
	fs.IntVar(&o.cfg.Canary, "canary", 1, "nodes upgraded, waited for and checked before the others")
	fs.BoolVar(&o.cfg.UpgradeSSTables, "upgradesstables", false, "after a major version upgrade, run nodetool upgradesstables on each node in turn")
	return cmd
}
