package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/provision"
)

// Node commands reach one node's container, like ccm's `ccm node1 ...`:
// the engine is found the way ring finds it, and the exit code is the
// command's own.
func init() {
	register(newNodetoolCommand)
	register(newExecCommand)
	register(newCqlshCommand)
	register(newLogsCommand)
}

// findTimeout bounds finding a node's container; what runs in it afterwards
// (a nodetool repair) may take as long as it takes.
const findTimeout = 15 * time.Second

type nodeOptions struct {
	hosts   hosts.Options
	cluster string
}

// newNodeCommand is a command on NODE: the host flags, --cluster, flags
// after NODE left to the command run in the node, and completion of node
// names.
func newNodeCommand(o *nodeOptions, c *cobra.Command) *cobra.Command {
	fs := c.Flags()
	fs.SetInterspersed(false) // swarmcass nodetool cass1 status -r: -r is nodetool's
	o.hosts.AddFlags(fs)
	fs.StringVar(&o.cluster, "cluster", provision.DefaultCluster, "cluster name, as given to bootstrap")
	c.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		names, _ := o.nodeNames(cmd.Context())
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	return c
}

// open resolves the engines (saying which, as every command does) and
// opens the cluster.
func (o *nodeOptions) open(cmd *cobra.Command) (*cluster.Cluster, error) {
	if err := provision.CheckCluster(o.cluster); err != nil {
		return nil, err
	}
	plan, err := resolveEngines(cmd, o.hosts)
	if err != nil {
		return nil, err
	}
	return cluster.Open(o.cluster, plan), nil
}

// nodeNames are the cluster's nodes, for completion: quietly, and quickly.
func (o *nodeOptions) nodeNames(ctx context.Context) ([]string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	plan, err := hosts.Resolve(o.hosts)
	if err != nil {
		return nil, err
	}
	c := cluster.Open(o.cluster, plan)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return nodewait.Nodes(ctx, c.Engines(), o.cluster)
}

// run opens the cluster and runs fn on its engines.
func (o *nodeOptions) run(cmd *cobra.Command, fn func(ctx context.Context, engines []engine.Engine) error) error {
	c, err := o.open(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(cmd.Context(), c.Engines())
}

// findNode finds node's running container, within findTimeout.
func findNode(ctx context.Context, engines []engine.Engine, clusterName, node string) (nodewait.Found, error) {
	fctx, cancel := context.WithTimeout(ctx, findTimeout)
	defer cancel()
	return nodewait.Find(fctx, engines, clusterName, node)
}

// execIn runs argv in node's container, copies its output, and returns its
// exit code as the command's.
func execIn(ctx context.Context, engines []engine.Engine, clusterName, node string, argv []string, stdout, stderr io.Writer) error {
	f, err := findNode(ctx, engines, clusterName, node)
	if err != nil {
		return err
	}
	res, err := f.Engine.Exec(ctx, f.Container.ID, argv)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", f.Node, f.Engine.Name(), err)
	}
	io.WriteString(stdout, res.Stdout)
	io.WriteString(stderr, res.Stderr)
	if res.ExitCode != 0 {
		return &ExitError{Code: res.ExitCode}
	}
	return nil
}

const nodeArgHelp = `NODE is a node name (cass2) or one of its addresses. Its engine is found
the way ring finds it, from the same host flags; the exit code is that of
the command run in the node. Flags after NODE are the command's own.`

func newNodetoolCommand() *cobra.Command {
	o := &nodeOptions{}
	return newNodeCommand(o, &cobra.Command{
		Use:   "nodetool NODE [ARGS...]",
		Short: "Run nodetool in a node's container (like ccm's `ccm node1 nodetool`)",
		Long:  "nodetool runs nodetool ARGS in NODE's container.\n\n" + nodeArgHelp,
		Example: `  swarmcass nodetool cass1 status
  swarmcass nodetool cass2 info
  swarmcass nodetool --cluster prod 10.0.1.4 describecluster`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, engines []engine.Engine) error {
				return execIn(ctx, engines, o.cluster, args[0], append([]string{"nodetool"}, args[1:]...), cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	})
}

func newExecCommand() *cobra.Command {
	o := &nodeOptions{}
	return newNodeCommand(o, &cobra.Command{
		Use:   "exec NODE -- CMD [ARGS...]",
		Short: "Run a command in a node's container",
		Long:  "exec runs CMD in NODE's container, without a TTY or stdin, and prints its\noutput.\n\n" + nodeArgHelp,
		Example: `  swarmcass exec cass1 -- cat /etc/cassandra/cassandra.yaml
  swarmcass exec cass2 -- ls -l /var/lib/cassandra`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			argv := args[1:]
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return op.Hinted("swarmcass exec "+args[0]+" -- CMD [ARGS...]", "exec %s: no command given", args[0])
			}
			return o.run(cmd, func(ctx context.Context, engines []engine.Engine) error {
				return execIn(ctx, engines, o.cluster, args[0], argv, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	})
}

func newCqlshCommand() *cobra.Command {
	o := &nodeOptions{}
	return newNodeCommand(o, &cobra.Command{
		Use:   "cqlsh NODE [ARGS...]",
		Short: "Run cqlsh in a node's container (like ccm's `ccm node1 cqlsh`)",
		Long: "cqlsh runs cqlsh ARGS in NODE's container, connecting to the node itself.\n" +
			"It runs without a TTY: give the statements with -e (or -f FILE in the\ncontainer).\n\n" + nodeArgHelp,
		Example: `  swarmcass cqlsh cass1 -e 'DESCRIBE KEYSPACES'
  swarmcass cqlsh cass2 -e "SELECT peer, rpc_address FROM system.peers"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && isTerminal(cmd.InOrStdin()) {
				return op.Hinted("pass the statements with -e: swarmcass cqlsh "+args[0]+" -e 'DESCRIBE KEYSPACES'",
					"an interactive cqlsh needs a TTY, which swarmcass does not attach to nodes yet")
			}
			return o.run(cmd, func(ctx context.Context, engines []engine.Engine) error {
				return execIn(ctx, engines, o.cluster, args[0], append([]string{"cqlsh"}, args[1:]...), cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	})
}

func newLogsCommand() *cobra.Command {
	o := &nodeOptions{}
	var tail int
	c := newNodeCommand(o, &cobra.Command{
		Use:   "logs NODE",
		Short: "Print a node's log (like ccm's `ccm node1 showlog`)",
		Long:  "logs prints the log of NODE's running container: Cassandra's output and the\nwrapper's line.\n\n" + nodeArgHelp,
		Example: `  swarmcass logs cass1
  swarmcass logs cass3 --tail 50`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, engines []engine.Engine) error {
				return logsOf(ctx, engines, o.cluster, args[0], tail, cmd.OutOrStdout())
			})
		},
	})
	c.Flags().SetInterspersed(true) // logs takes no arguments of its own after NODE
	c.Flags().IntVar(&tail, "tail", -1, "print only the last N lines (default all)")
	return c
}

// logsOf prints the last tail lines of node's log, all when tail < 0.
func logsOf(ctx context.Context, engines []engine.Engine, clusterName, node string, tail int, stdout io.Writer) error {
	f, err := findNode(ctx, engines, clusterName, node)
	if err != nil {
		return err
	}
	out, err := f.Engine.ContainerLogs(ctx, f.Container.ID, tail)
	io.WriteString(stdout, out)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", f.Node, f.Engine.Name(), err)
	}
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
