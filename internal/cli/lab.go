package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/internal/status"
	"github.com/swarmcass/swarmcass/lab"
	"github.com/swarmcass/swarmcass/op"
)

func init() { register(newLabCommand) }

type labOptions struct {
	name     string
	storeDir string
}

func (o *labOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.name, "name", lab.DefaultName, "lab name: prefixes its containers, volumes and network")
	fs.StringVar(&o.storeDir, "store", "", "the lab's docker-machine store (default ~/.swarmcass/labs/NAME; SWARMCASS_HOME moves it)")
}

func (o *labOptions) config() lab.Config {
	c := lab.Config{Name: o.name, StoreDir: o.storeDir, MachineImage: lab.DefaultMachineImage}
	if c.StoreDir == "" {
		c.StoreDir = lab.DefaultStoreDir(o.name)
	}
	if abs, err := filepath.Abs(c.StoreDir); err == nil {
		c.StoreDir = abs
	}
	return c
}

func newLabCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "A lab of Docker hosts on this machine (Docker-in-Docker machines)",
		Long: `A lab is several Docker hosts on one machine: containers of a Debian image,
each running its own dockerd with TLS on 2376, on one bridge network with
fixed addresses. Machines are infra and swarm-0 .. swarm-(N-1), written to a
docker-machine-compatible store of the lab's own, so bootstrap reads them as
it reads real docker-machine machines.`,
		Example: withPins(`  # a lab of infra + 3 swarm machines, then a ring on it
  swarmcass lab up --machines 3 --load {consul},{registry}
  eval "$(swarmcass lab env)"
  swarmcass bootstrap --nodes 3

  # point the docker CLI at one machine, like docker-machine env
  eval "$(swarmcass lab env --machine swarm-0)"; docker info

  swarmcass lab ls
  swarmcass lab down`),
	}
	cmd.AddCommand(newLabUpCommand(), newLabDownCommand(), newLabLsCommand(), newLabEnvCommand(), newLabLoadCommand(),
		newLabPowerCommand("stop"), newLabPowerCommand("start"))
	return cmd
}

// hostEngine is the engine the lab's machines run on: the one its store
// records, else the docker CLI's default engine (hosts.Local: DOCKER_HOST,
// else the local socket). The record wins because `lab env --machine`
// points DOCKER_HOST at a machine.
//
// A recorded tcp:// engine needs DOCKER_HOST's TLS files, so DOCKER_HOST
// must then be that engine (hosts.SameEngine): one pointed at a machine is
// refused rather than taken for the host.
func hostEngine(cfg lab.Config) (*engine.Docker, error) {
	rec, rerr := lab.ReadRecord(cfg.StoreDir)
	recorded := ""
	if rerr == nil {
		recorded = rec.HostEngine
	}
	if recorded != "" && !strings.HasPrefix(recorded, "tcp://") {
		return engine.NewDocker("host", recorded, nil)
	}
	ep, err := hosts.Local()
	if err != nil {
		return nil, err
	}
	if recorded != "" && !hosts.SameEngine(recorded, ep.Host) {
		return nil, op.Hinted("point DOCKER_HOST (with DOCKER_CERT_PATH and DOCKER_TLS_VERIFY) at "+recorded+", e.g. in a shell without `swarmcass lab env --machine`",
			"the lab in %s runs on the engine %s, but DOCKER_HOST is %s", cfg.StoreDir, recorded, ep.Host)
	}
	return engine.NewDocker("host", ep.Host, ep.TLS)
}

// withLab runs fn on the lab of opts through the host engine.
func withLab(ctx context.Context, cfg lab.Config, out lab.Reporter, fn func(*lab.Lab) error) error {
	host, err := hostEngine(cfg)
	if err != nil {
		return err
	}
	defer host.Close()
	return fn(lab.New(cfg, host, out))
}

func newLabUpCommand() *cobra.Command {
	var o labOptions
	var machines int
	var subnet, image string
	var load []string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the lab, or complete it (a re-run finishes an interrupted one)",
		Long: `Create infra and swarm-0 .. swarm-(N-1): each a container running dockerd
with TLS on 2376 (certificates made by swarmcass), trusting the infra
registry INFRA:5000 over HTTP, written to the lab's docker-machine store.

Machines are started with a list of capabilities, seccomp/apparmor
unconfined, the host's /sys/fs/cgroup and a volume on /var/lib/docker,
not with --privileged: --privileged fails on hosts that lack a capability or
whose runc does not know the newest ones. The default machine image is built
offline by scripts/build-images.sh; with internet, an image with dockerd and
iptables works too (e.g. docker:dind, with --machine-image).`,
		Example: withPins(`  swarmcass lab up --machines 3
  swarmcass lab up --machines 6 --load {consul},{registry}

  # a second lab beside the first: it takes the next free subnet
  swarmcass lab up --name lab2 --machines 2`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := o.config()
			cfg.Machines, cfg.Subnet, cfg.MachineImage, cfg.Load = machines, subnet, image, load
			if err := cfg.Validate(); err != nil {
				return err
			}
			return withLab(cmd.Context(), cfg, status.New(cmd.ErrOrStderr(), false), func(l *lab.Lab) error {
				ms, err := l.Up(cmd.Context())
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "Lab %s is up: %d machines on %s.\n", cfg.Name, len(ms), l.Subnet())
				printMachines(w, ms)
				fmt.Fprintf(w, "\nNext:\n  eval \"$(swarmcass lab env --name %s)\"\n  swarmcass bootstrap --nodes %d\n", cfg.Name, len(ms)-1)
				return nil
			})
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().IntVar(&machines, "machines", 3, "swarm machines (the lab also gets an infra machine)")
	cmd.Flags().StringVar(&subnet, "subnet", "", "the lab network's subnet; machines take .10 (infra), .11, ... (default the lab network's, else the first /24 of "+lab.SubnetRange+" no network of the host engine uses)")
	cmd.Flags().StringVar(&image, "machine-image", lab.DefaultMachineImage, "image of a machine: it must run dockerd and have iptables")
	cmd.Flags().StringSliceVar(&load, "load", nil, "images of the host engine to load into every machine (machines cannot pull)")
	return cmd
}

func printMachines(w interface{ Write([]byte) (int, error) }, ms []lab.Machine) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tADDRESS\tENGINE")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, m.Addr, m.Host)
	}
	tw.Flush()
}

func newLabDownCommand() *cobra.Command {
	var o labOptions
	cmd := &cobra.Command{
		Use:     "down",
		Short:   "Remove everything the lab created (containers, volumes, network, store) and nothing else",
		Example: `  swarmcass lab down`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := o.config()
			return withLab(cmd.Context(), cfg, nil, func(l *lab.Lab) error {
				r, err := l.Down(cmd.Context())
				if err != nil {
					return err
				}
				store := "kept (not a lab store)"
				if r.Store {
					store = "removed"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Lab %s removed: %d containers, %d volumes, %d networks; store %s %s.\n",
					cfg.Name, r.Containers, r.Volumes, r.Networks, cfg.StoreDir, store)
				return nil
			})
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func newLabLsCommand() *cobra.Command {
	var o labOptions
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List the lab's machines with their address and engine state",
		Example: `  swarmcass lab ls`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLab(cmd.Context(), o.config(), nil, func(l *lab.Lab) error {
				st, err := l.List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MACHINE\tADDRESS\tCONTAINER\tENGINE")
				for _, s := range st {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Addr, s.Container, s.Engine)
				}
				return tw.Flush()
			})
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func newLabEnvCommand() *cobra.Command {
	var o labOptions
	var machine string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the shell lines that point swarmcass (and, with --machine, docker) at the lab",
		Example: `  eval "$(swarmcass lab env)"                    # MACHINE_STORAGE_PATH for bootstrap and ring
  eval "$(swarmcass lab env --machine swarm-0)"  # also DOCKER_HOST, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := o.config()
			lines, err := lab.New(cfg, nil, nil).Env(machine)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(lines, "\n"))
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&machine, "machine", "", "also point the docker CLI at this machine")
	return cmd
}

func newLabLoadCommand() *cobra.Command {
	var o labOptions
	var machines []string
	cmd := &cobra.Command{
		Use:   "load IMAGE...",
		Short: "Copy images from the host engine into lab machines (they cannot pull)",
		Example: withPins(`  swarmcass lab load {consul} {registry} --machine infra
  swarmcass lab load myimage:1`),
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, images []string) error {
			return withLab(cmd.Context(), o.config(), nil, func(l *lab.Lab) error {
				ms, err := l.Machines(cmd.Context(), machines...)
				if err != nil {
					return err
				}
				if err := l.LoadImages(cmd.Context(), images, ms); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Loaded %s into %d machines.\n", strings.Join(images, ", "), len(ms))
				return nil
			})
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().StringSliceVar(&machines, "machine", nil, "machines to load into (default: all)")
	return cmd
}

// newLabPowerCommand is `lab stop` or `lab start`: a machine going down or
// coming back, for trying what swarmcass does when a host is lost.
func newLabPowerCommand(verb string) *cobra.Command {
	var o labOptions
	short := map[string]string{
		"stop":  "Stop machines, as hosts that go down (all when none are named)",
		"start": "Start stopped machines and wait for their engines",
	}[verb]
	cmd := &cobra.Command{
		Use:     verb + " [MACHINE...]",
		Short:   short,
		Example: fmt.Sprintf("  swarmcass lab %s swarm-2", verb),
		RunE: func(cmd *cobra.Command, names []string) error {
			return withLab(cmd.Context(), o.config(), nil, func(l *lab.Lab) error {
				power := l.Stop
				if verb == "start" {
					power = l.Start
				}
				ms, err := power(cmd.Context(), names...)
				if err != nil {
					return err
				}
				var done []string
				for _, m := range ms {
					done = append(done, m.Name)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", map[string]string{"stop": "Stopped", "start": "Started"}[verb], strings.Join(done, ", "))
				return nil
			})
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}
