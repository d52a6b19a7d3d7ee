// Package lab makes swarmcass's lab: several Docker hosts on one machine,
// each a container of the lab machine image running its own dockerd (Docker
// in Docker), on one bridge network with fixed addresses. Each engine
// listens on 2376 with TLS, like a docker-machine VM, and every machine is
// written to a docker-machine-compatible store of the lab's own, so the code
// that reads real docker-machine machines reads lab machines too.
//
// Up is an ordered list of idempotent steps; a re-run completes an
// interrupted lab. Everything the lab creates on the host engine carries the
// label swarmcass.lab=NAME, and Down removes exactly that and the store.
package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/images"
)

// DefaultMachineImage is the machine image scripts/build-images.sh builds.
var DefaultMachineImage = images.Machine

// Defaults.
const (
	DefaultName   = "swarmcass"
	DefaultSubnet = "10.231.0.0/24"
	// MachineMemory is what swarmcass plans per machine (dockerd, containerd
	// and a few small containers); Up refuses labs that would not fit.
	MachineMemory = 768 << 20
	InfraName     = "infra"
)

// Capabilities a lab machine's dockerd needs on top of Docker's defaults.
// --privileged would grant all of them and more, but fails on hosts that
// lack some capability (CAP_SYS_RESOURCE here) or whose runc does not know
// the newest ones (PERFMON, BPF, CHECKPOINT_RESTORE); naming them one by
// one works on both. See PLATFORM.md.
var machineCaps = []string{
	"SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "NET_RAW", "MKNOD", "SYS_CHROOT",
	"DAC_READ_SEARCH", "IPC_LOCK", "SYS_NICE", "AUDIT_CONTROL", "AUDIT_READ",
	"LINUX_IMMUTABLE", "NET_BROADCAST", "SYSLOG", "SYS_TIME", "SYS_RAWIO",
	"SYS_PACCT", "SYS_BOOT", "SYS_TTY_CONFIG", "LEASE", "WAKE_ALARM",
	"BLOCK_SUSPEND", "MAC_ADMIN", "MAC_OVERRIDE", "IPC_OWNER", "SYS_MODULE",
}

// With these and UnmaskPaths (systempaths=unconfined).
var machineSecurityOpts = []string{"seccomp=unconfined", "apparmor=unconfined"}

// Config describes a lab.
type Config struct {
	Name         string // lab name; prefixes every container, volume and network
	Machines     int    // swarm machines; the lab has one more: infra
	MachineImage string
	// Subnet is the lab network; machines take .10 (infra), .11, ... Empty:
	// Up takes the lab network's, else the first free /24 of SubnetRange.
	Subnet   string
	StoreDir string // the lab's own docker-machine store
	// Load names images of the host engine to load into every machine.
	Load []string
}

// Machine is one lab machine as the host engine and the store know it.
type Machine struct {
	Name      string // infra, swarm-0, ...
	Container string // the host engine's container: LAB-NAME
	Addr      string // fixed address on the lab network
	Host      string // tcp://ADDR:2376
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)

// Validate checks a Config before anything is created.
func (c *Config) Validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("lab name %q: use lowercase letters, digits and dashes, at most 31 characters", c.Name)
	}
	if c.Machines < 1 {
		return fmt.Errorf("--machines %d: a lab needs at least 1 swarm machine (it also gets an infra machine)", c.Machines)
	}
	subnet := c.Subnet
	if subnet == "" {
		subnet = DefaultSubnet // Up chooses a /24 of SubnetRange: of this size
	}
	p, err := netip.ParsePrefix(subnet)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("--subnet %q: want an IPv4 CIDR such as %s", c.Subnet, DefaultSubnet)
	}
	if hosts := 1<<(32-p.Bits()) - 12; c.Machines+1 > hosts {
		what := "--subnet " + subnet
		if c.Subnet == "" {
			what = "the /24 a lab takes without --subnet"
		}
		return fmt.Errorf("%s holds %d machines, not %d: choose a larger subnet", what, max(hosts, 0), c.Machines+1)
	}
	if c.StoreDir == "" {
		return errors.New("lab store directory is empty")
	}
	return nil
}

// DefaultStoreDir is where a lab keeps its store: never the user's real
// ~/.docker/machine. SWARMCASS_HOME moves it.
func DefaultStoreDir(name string) string {
	base := os.Getenv("SWARMCASS_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		base = filepath.Join(home, ".swarmcass")
	}
	return filepath.Join(base, "labs", name)
}

// Plan lists the lab's machines with their addresses: infra first.
func (c *Config) Plan() []Machine {
	p := netip.MustParsePrefix(c.Subnet).Masked()
	addr := p.Addr()
	for range 10 {
		addr = addr.Next()
	}
	var ms []Machine
	for i := 0; i <= c.Machines; i++ {
		name := InfraName
		if i > 0 {
			name = fmt.Sprintf("swarm-%d", i-1)
		}
		ms = append(ms, Machine{
			Name: name, Container: c.Name + "-" + name, Addr: addr.String(),
			Host: fmt.Sprintf("tcp://%s:2376", addr),
		})
		addr = addr.Next()
	}
	return ms
}

// NetworkName is the lab's bridge network on the host engine.
func (c *Config) NetworkName() string { return c.Name + "-net" }

func (c *Config) labels(extra ...string) engine.Labels {
	l := engine.Labels{engine.LabelLab: c.Name}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// Reporter receives progress: kind's Status.Start/End in miniature.
type Reporter interface {
	Start(step string)
	End(ok bool)
	// Infof says something the user should know, such as a choice made.
	Infof(format string, args ...any)
}

// nopReporter discards progress.
type nopReporter struct{}

func (nopReporter) Start(string)         {}
func (nopReporter) End(bool)             {}
func (nopReporter) Infof(string, ...any) {}

// Lab works on one lab through the host engine.
type Lab struct {
	cfg  Config
	host engine.Engine
	out  Reporter
	// dial connects to a machine's engine with the store's files; tests on
	// the host engine use it as it is.
	dial func(m Machine, tls *engine.TLSFiles) (engine.Engine, error)
}

// New returns a Lab for cfg on the host engine.
func New(cfg Config, host engine.Engine, out Reporter) *Lab {
	if out == nil {
		out = nopReporter{}
	}
	return &Lab{cfg: cfg, host: host, out: out, dial: dialMachine}
}

func dialMachine(m Machine, tls *engine.TLSFiles) (engine.Engine, error) {
	return engine.NewDocker(m.Name, m.Host, tls)
}

// step runs one named step with progress.
func (l *Lab) step(name string, fn func() error) error {
	l.out.Start(name)
	err := fn()
	l.out.End(err == nil)
	return err
}

// hint wraps err with what the user can do.
func hint(err error, how string) error {
	return fmt.Errorf("%w\n  hint: %s", err, how)
}
