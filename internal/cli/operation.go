package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/internal/status"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/provision"
)

// opOptions are the flags every command that changes a cluster shares
// (bootstrap and the day-2 operations): where the engines are, which
// cluster, how to poll, and what to report.
type opOptions struct {
	hosts   hosts.Options
	verbose bool
	timings string
	// dryRun and yes: day-2 operations only (addConfirmFlags).
	dryRun, yes bool
}

func (o *opOptions) addFlags(fs *pflag.FlagSet, cfg *provision.Config) {
	o.hosts.AddFlags(fs)
	fs.StringVar(&cfg.Cluster, "cluster", provision.DefaultCluster, "cluster name: CASSANDRA_CLUSTER_NAME, labels and the Consul KV prefix")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", provision.DefaultPollInterval, "how often to poll nodetool status")
	fs.DurationVar(&cfg.NodeTimeout, "node-timeout", provision.DefaultNodeTimeout, "how long a node may take to become Up/Normal")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "show engine calls and polls")
	fs.StringVar(&o.timings, "timings", "", "write the steps' timings as JSON to this file")
}

// addConfirmFlags adds --dry-run and --yes, for operations that can
// remove or replace something.
func (o *opOptions) addConfirmFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.dryRun, "dry-run", false, "show the plan and change nothing")
	fs.BoolVarP(&o.yes, "yes", "y", false, "go ahead without asking (needed when not on a terminal)")
}

// runOperation opens the cluster's engines from the host flags, runs
// operate with cfg filled (engines, progress, confirmation), writes the
// timings, and prints the summary; a failure exits 1, Ctrl-C 130.
func runOperation(cmd *cobra.Command, o *opOptions, cfg provision.Config,
	operate func(ctx context.Context, cfg provision.Config) (*provision.Result, error)) error {
	ctx := cmd.Context()
	plan, err := resolveEngines(cmd, o.hosts)
	if err != nil {
		return err
	}
	st := status.New(cmd.ErrOrStderr(), o.verbose)
	var opts []cluster.Option
	if o.verbose {
		opts = append(opts, cluster.WithTrace(st.Debugf))
	}
	c := cluster.Open(cfg.Cluster, plan, opts...)
	defer c.Close()
	if err := c.Err(); err != nil {
		return err
	}
	cfg.Infra, cfg.Swarm = c.Infra, c.Swarm
	cfg.Progress = st
	cfg.DryRun = o.dryRun
	cfg.Confirm = confirmer(cmd, o.yes)

	res, err := operate(ctx, cfg)
	if o.timings != "" && res != nil {
		if werr := writeTimings(o.timings, res); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		code := ExitFailure
		if ctx.Err() != nil {
			code = ExitInterrupted
		}
		return &ExitError{Code: code, Err: explained{err}}
	}
	res.Summary(cmd.OutOrStdout())
	return nil
}

// confirmer is how a destructive plan is confirmed: --yes, or a yes typed
// on the terminal; without either (a script, CI) there is no confirmer and
// the operation refuses, pointing at --yes.
func confirmer(cmd *cobra.Command, yes bool) func(context.Context, []string) error {
	if yes {
		return func(context.Context, []string) error { return nil }
	}
	if !isTerminal(cmd.InOrStdin()) || !isTerminal(cmd.ErrOrStderr()) {
		return nil
	}
	return func(_ context.Context, plan []string) error {
		return askYes(cmd.InOrStdin(), cmd.ErrOrStderr(), plan)
	}
}

// askYes prints the plan and reads an answer; only y or yes goes on.
func askYes(in io.Reader, out io.Writer, plan []string) error {
	fmt.Fprintln(out, "This will:")
	for _, line := range plan {
		fmt.Fprintf(out, "  - %s\n", line)
	}
	fmt.Fprint(out, "Go ahead? [y/N] ")
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return op.Hinted("answer y to go ahead, or pass --yes", "not confirmed: nothing was changed")
}
