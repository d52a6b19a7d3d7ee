package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
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
	h := o.hosts
	h.Hosts, h.Contexts, h.Swarm = parsedOnce(h.Hosts), parsedOnce(h.Contexts), parsedOnce(h.Swarm)
	plan, err := hosts.Resolve(h)
	if err != nil {
		return nil, err
	}
	c := cluster.Open(o.cluster, plan)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return nodewait.Nodes(ctx, c.Engines(), o.cluster)
}

// parsedOnce undoes cobra's completion parsing a command's flags twice
// (once with "--" appended, to count the arguments): a slice flag then
// holds what was given twice over.
func parsedOnce(v []string) []string {
	if n := len(v); n > 0 && n%2 == 0 && slices.Equal(v[:n/2], v[n/2:]) {
		return v[:n/2]
	}
	return v
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

// execIn runs argv in node's container with the streams of s, and returns
// its exit code as the command's.
func execIn(ctx context.Context, engines []engine.Engine, clusterName, node string, argv []string, s engine.ExecIO) error {
	f, err := findNode(ctx, engines, clusterName, node)
	if err != nil {
		return err
	}
	code, err := f.Engine.ExecStream(ctx, f.Container.ID, argv, s)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", f.Node, f.Engine.Name(), err)
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// streams are the command's streams for an exec: stdin attached when
// asked, and with tty a terminal of stdout's size, stdin put in raw mode
// while it runs (restore puts it back).
func streams(cmd *cobra.Command, stdin, tty bool) (s engine.ExecIO, restore func(), err error) {
	s = engine.ExecIO{Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), TTY: tty}
	restore = func() {}
	if stdin || tty {
		s.Stdin = cmd.InOrStdin()
	}
	if !tty {
		return s, restore, nil
	}
	if f, ok := s.Stdout.(*os.File); ok {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil {
			s.Width, s.Height = uint(w), uint(h)
		}
	}
	if f, ok := s.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		old, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return s, restore, fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		restore = func() { term.Restore(int(f.Fd()), old) }
	}
	return s, restore, nil
}

// runIn runs argv in node with the streams asked for.
func (o *nodeOptions) runIn(cmd *cobra.Command, node string, argv []string, stdin, tty bool) error {
	return o.run(cmd, func(ctx context.Context, engines []engine.Engine) error {
		s, restore, err := streams(cmd, stdin, tty)
		if err != nil {
			return err
		}
		defer restore()
		return execIn(ctx, engines, o.cluster, node, argv, s)
	})
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
			return o.runIn(cmd, args[0], append([]string{"nodetool"}, args[1:]...), false, false)
		},
	})
}

func newExecCommand() *cobra.Command {
	o := &nodeOptions{}
	var stdin, tty bool
	c := newNodeCommand(o, &cobra.Command{
		Use:   "exec [-i] [-t] NODE -- CMD [ARGS...]",
		Short: "Run a command in a node's container",
		Long: "exec runs CMD in NODE's container and prints its output as it comes; -i\n" +
			"gives it swarmcass's stdin, -t a terminal, as docker exec does.\n\n" + nodeArgHelp,
		Example: `  swarmcass exec cass1 -- cat /etc/cassandra/cassandra.yaml
  swarmcass exec cass2 -- ls -l /var/lib/cassandra
  swarmcass exec -it cass1 -- bash`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			argv := args[1:]
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return op.Hinted("swarmcass exec "+args[0]+" -- CMD [ARGS...]", "exec %s: no command given", args[0])
			}
			return o.runIn(cmd, args[0], argv, stdin, tty)
		},
	})
	c.Flags().BoolVarP(&stdin, "interactive", "i", false, "give the command swarmcass's stdin")
	c.Flags().BoolVarP(&tty, "tty", "t", false, "give the command a terminal")
	return c
}

func newCqlshCommand() *cobra.Command {
	o := &nodeOptions{}
	return newNodeCommand(o, &cobra.Command{
		Use:   "cqlsh NODE [ARGS...]",
		Short: "Run cqlsh in a node's container (like ccm's `ccm node1 cqlsh`)",
		Long: "cqlsh runs cqlsh ARGS in NODE's container, connecting to the node itself:\n" +
			"interactive, with a terminal, when swarmcass runs on one; otherwise the\n" +
			"statements come from -e, or from stdin.\n\n" + nodeArgHelp,
		Example: `  swarmcass cqlsh cass1
  swarmcass cqlsh cass1 -e 'DESCRIBE KEYSPACES'
  echo "SELECT peer, rpc_address FROM system.peers;" | swarmcass cqlsh cass2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stdin, tty := cqlshStreams(args[1:], isTerminal(cmd.InOrStdin()) && isTerminal(cmd.OutOrStdout()))
			return o.runIn(cmd, args[0], append([]string{"cqlsh"}, args[1:]...), stdin, tty)
		},
	})
}

// cqlshStreams: with -e or -f cqlsh reads no stdin; else it reads the
// statements from stdin, through a terminal when swarmcass runs on one.
func cqlshStreams(args []string, terminal bool) (stdin, tty bool) {
	for _, a := range args {
		for _, f := range []string{"-e", "--execute", "-f", "--file"} {
			if a == f || strings.HasPrefix(a, f+"=") || (len(f) == 2 && strings.HasPrefix(a, f) && len(a) > 2) {
				return false, false
			}
		}
	}
	return true, terminal
}

func newLogsCommand() *cobra.Command {
	o := &nodeOptions{}
	var tail int
	var follow bool
	c := newNodeCommand(o, &cobra.Command{
		Use:   "logs NODE",
		Short: "Print a node's log (like ccm's `ccm node1 showlog`)",
		Long:  "logs prints the log of NODE's running container: Cassandra's output and the\nwrapper's line.\n\n" + nodeArgHelp,
		Example: `  swarmcass logs cass1
  swarmcass logs cass3 --tail 50 -f`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, engines []engine.Engine) error {
				return logsOf(ctx, engines, o.cluster, args[0], tail, follow, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	})
	c.Flags().SetInterspersed(true) // logs takes no arguments of its own after NODE
	c.Flags().IntVar(&tail, "tail", -1, "print only the last N lines (default all)")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until Ctrl-C")
	return c
}

// logsOf prints the last tail lines of node's log, all when tail < 0, and
// with follow the lines that come after.
func logsOf(ctx context.Context, engines []engine.Engine, clusterName, node string, tail int, follow bool, stdout, stderr io.Writer) error {
	f, err := findNode(ctx, engines, clusterName, node)
	if err != nil {
		return err
	}
	err = f.Engine.ContainerLogsStream(ctx, f.Container.ID, tail, follow, stdout, stderr)
	switch {
	case follow && ctx.Err() != nil:
		return &ExitError{Code: ExitInterrupted} // Ctrl-C is how -f ends: no error to print
	case err != nil:
		return fmt.Errorf("%s on %s: %w", f.Node, f.Engine.Name(), err)
	}
	return nil
}

// isTerminal says whether f (a stream of the command) is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
