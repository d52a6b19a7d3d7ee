package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/provision"
	"github.com/swarmcass/swarmcass/ring"
	"github.com/swarmcass/swarmcass/ring/collect"
)

func init() { register(newRingCommand) }

type ringOptions struct {
	hosts    hosts.Options
	cluster  string
	network  string
	output   string
	watch    bool
	interval time.Duration
	timeout  time.Duration
	engineTO time.Duration
	parallel int
	verbose  bool
}

func newRingCommand() *cobra.Command {
	o := &ringOptions{}
	cmd := &cobra.Command{
		Use:   "ring",
		Short: "Judge the ring's health from every node's point of view",
		Long: `ring finds the cluster's nodes (its swarm services by label, the containers
on each engine, the record bootstrap wrote to Consul), runs nodetool status
and nodetool describecluster in every node's container at once, and judges:
every expected node is present and Up/Normal in every node's view and no
other node is; host IDs are unique, match the record and agree across views;
there is one schema version; the nodes' Consul checks pass.

It prints one row per node (its swarm host, address, status, load, ownership,
tokens, host ID, rack, and how many views agree with it), the problems found,
and a one-line verdict. A node whose engine does not answer, whose container
is gone, or whose nodetool fails (the daemon still starting) is reported as
such, and the others are still judged.

Exit codes:
  0  healthy: every node is UN in every view and nothing is amiss
  1  degraded: the ring was judged and something is wrong (the problems say what)
  2  health cannot be judged: no such cluster, or no node answered (engines
     unreachable, every daemon down); and every usage or input error (a bad
     flag or value, a machine store that is not there), so that a monitor
     never reads a mistake on the command line as a sick ring

With --watch the exit code is that of the last round before Ctrl-C; a
single round cut short by Ctrl-C exits 130.`,
		Example: `  # the lab's cluster, with the engines from the lab's machine store
  eval "$(swarmcass lab env)"
  swarmcass ring --cluster swarmcass

  # from a script or a monitor
  if ! swarmcass ring -o json > ring.json; then jq -r '.problems[].text' ring.json; fi

  # keep watching while nodes start or stop
  swarmcass ring --watch --interval 5s

  # how long nodetool takes on each node
  swarmcass ring -v`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRing(cmd, o) },
	}
	withUsageExit(cmd, ring.Unknown.ExitCode())
	fs := cmd.Flags()
	o.hosts.AddFlags(fs)
	fs.StringVar(&o.cluster, "cluster", provision.DefaultCluster, "cluster name, as given to bootstrap")
	fs.StringVar(&o.network, "network", "", "overlay network of the nodes (default the one in the Consul record, else the task's only network)")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	fs.BoolVarP(&o.watch, "watch", "w", false, "redraw every --interval until Ctrl-C")
	fs.DurationVar(&o.interval, "interval", 2*time.Second, "time between rounds with --watch")
	fs.DurationVar(&o.timeout, "timeout", collect.DefaultExecTimeout, "how long each nodetool run may take")
	fs.DurationVar(&o.engineTO, "engine-timeout", 5*time.Second, "how long an engine or Consul may take to answer before it counts as unreachable")
	fs.IntVar(&o.parallel, "parallel", collect.DefaultParallel, "nodes asked at once")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "show how long discovery and each nodetool run took")
	return cmd
}

func runRing(cmd *cobra.Command, o *ringOptions) error {
	ctx := cmd.Context()
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("--output %q: use table or json", o.output)
	}
	if o.interval <= 0 || o.timeout <= 0 || o.engineTO <= 0 || o.parallel < 1 {
		return errors.New("--interval, --timeout and --engine-timeout must be positive durations and --parallel at least 1")
	}
	if err := provision.CheckCluster(o.cluster); err != nil {
		return err
	}
	if o.network != "" {
		if err := provision.CheckNetwork(o.network); err != nil {
			return err
		}
	}
	plan, err := resolveEngines(cmd, o.hosts)
	if err != nil {
		return err
	}
	c := cluster.Open(o.cluster, plan)
	defer c.Close()
	// The swarm's engines come first, the manager leading: Gather asks the
	// first engine that answers as a manager.
	cfg := collect.Config{
		Cluster: o.cluster, Network: o.network, ExecTimeout: o.timeout, EngineTimeout: o.engineTO, Parallel: o.parallel,
		Engines: c.Engines(), Broken: c.Broken,
	}
	consulAddr := c.ConsulAddr()
	if cfg.Consul, err = c.Store(); err != nil {
		return err
	}

	r := &ringRun{o: o, cfg: cfg, plan: plan, consul: consulAddr, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}
	if !o.watch {
		err := r.round(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("ring interrupted: %w", ctx.Err()) // 130, not a verdict
		}
		return err
	}
	return r.watchLoop(ctx)
}

// ringRun is one invocation of ring: one round, or a round per interval.
type ringRun struct {
	o              *ringOptions
	cfg            collect.Config
	plan           *hosts.Plan
	consul         string
	stdout, stderr io.Writer
}

// round gathers, judges and prints once. Its error carries the exit code.
func (r *ringRun) round(ctx context.Context) error {
	res, err := collect.Gather(ctx, r.cfg)
	if err != nil {
		return err
	}
	rep := ring.Judge(res.Input)
	if err := r.print(rep, res); err != nil {
		return err
	}
	switch {
	case !res.Judgeable:
		return &ExitError{Code: ring.Unknown.ExitCode(), Err: fmt.Errorf("cannot find cluster %s's nodes: no engine of the plan (%s) and no Consul at %s answered; check that the machines run (swarmcass lab ls) and the host flags",
			r.cfg.Cluster, r.plan.Source, r.consul)}
	case !res.Found:
		hint := "no swarmcass cluster runs on these engines; check the host flags"
		if len(res.OtherClusters) > 0 {
			hint = "clusters found: " + strings.Join(res.OtherClusters, ", ") + "; pass --cluster NAME"
		}
		return &ExitError{Code: ring.Unknown.ExitCode(), Err: fmt.Errorf("no cluster %q: no service, container or Consul record carries its name (%s)", r.cfg.Cluster, hint)}
	case rep.ExitCode != 0:
		return &ExitError{Code: rep.ExitCode}
	}
	return nil
}

// ringJSON is the report with what Gather noted and its timings.
type ringJSON struct {
	ring.Report
	Notes         []string              `json:"notes"`
	ContactPoints collect.ContactPoints `json:"contactPoints"`
	Timings       collect.Timings       `json:"timings"`
}

func (r *ringRun) print(rep ring.Report, res *collect.Result) error {
	if r.o.output == "json" {
		notes := res.Notes
		if notes == nil {
			notes = []string{}
		}
		if rep.Rows == nil {
			rep.Rows = []ring.Row{} // "nodes": [], never null, for scripts
		}
		return writeJSON(r.stdout, ringJSON{Report: rep, Notes: notes, ContactPoints: res.ContactPoints, Timings: res.Timings})
	}
	if res.Found {
		if err := rep.WriteTable(r.stdout); err != nil {
			return err
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(r.stderr, "note: %s\n", n)
	}
	if r.o.verbose {
		printRingTimings(r.stderr, res.Timings)
	}
	return nil
}

// printRingTimings prints where the round's time went.
func printRingTimings(w io.Writer, t collect.Timings) {
	sum, longest := t.ExecStats()
	fmt.Fprintf(w, "took %.2fs: discovery %.2fs, nodetool %.2fs (%d runs, %.2fs in all, longest %.2fs)\n",
		t.Seconds, t.DiscoverSeconds, t.NodetoolSeconds, len(t.Execs), sum, longest)
	for _, e := range t.Execs {
		mark := ""
		if !e.OK {
			mark = " (failed)"
		}
		fmt.Fprintf(w, "  %-8s %-26s %.2fs%s\n", e.Node, e.Command, e.Seconds, mark)
	}
}

// watchLoop runs a round every interval until ctx ends, redrawing the
// screen when stdout is a terminal, and returns the last round's code.
func (r *ringRun) watchLoop(ctx context.Context) error {
	tty := false
	if f, ok := r.stdout.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	table := r.o.output == "table"
	code := 0
	for {
		if table {
			if tty {
				fmt.Fprint(r.stdout, "\x1b[H\x1b[2J")
			}
			fmt.Fprintf(r.stdout, "Every %s: swarmcass ring --cluster %s    %s\n\n", r.o.interval, r.cfg.Cluster, time.Now().Format("15:04:05"))
		}
		err := r.round(ctx)
		if ctx.Err() != nil {
			break
		}
		code = 0
		if err != nil {
			var ee *ExitError
			if !errors.As(err, &ee) {
				return err
			}
			code = ee.Code
			if ee.Err != nil {
				fmt.Fprintf(r.stderr, "swarmcass: %v\n", ee.Err)
			}
		}
		if table && !tty {
			fmt.Fprintln(r.stdout)
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.o.interval):
			continue
		}
		break
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
