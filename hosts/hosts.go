// Package hosts decides which Docker engines swarmcass works with and what
// each one does: the infra engine (Consul and the registry) and the swarm
// engines (the first one the manager). The engines come from one source:
//
//   - explicit --host URLs with --tlscacert/--tlscert/--tlskey;
//   - docker contexts (--context);
//   - a docker-machine store (--machine-storage-path, --infra, --swarm, or
//     MACHINE_STORAGE_PATH set, as `swarmcass lab env` does);
//   - with nothing given, the default docker-machine store (~/.docker/machine)
//     when it holds the infra machine, as docker-machine users expect;
//   - else the engine the docker CLI would use (DOCKER_HOST, DOCKER_CONTEXT,
//     config.json's currentContext, else the local socket) alone plays
//     every role.
//
// The plan says which source was chosen and why (Plan.Describe).
//
// Resolve checks everything it can without contacting an engine (names,
// files, certificates, duplicates) before anything is created.
package hosts

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/swarmcass/swarmcass/dockercontext"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/machinestore"
	"github.com/swarmcass/swarmcass/pki"
)

// Defaults for the machine store.
const (
	DefaultInfra       = "infra"
	DefaultSwarmPrefix = "swarm-"
)

// Role prefixes in --context and --host values: infra=NAME, swarm=NAME.
const (
	RoleInfra = "infra"
	RoleSwarm = "swarm"
)

// Endpoint is one Docker engine and how to reach it.
type Endpoint struct {
	// Name is what the user calls it: a machine or context name, the
	// address of a --host, or "local".
	Name string
	// Host is the daemon's URL: tcp://ADDR:2376 or unix:///var/run/docker.sock.
	Host string
	// Addr is the address other engines and containers reach this host at:
	// the swarm advertise address and the registry's host. 127.0.0.1 for
	// the local socket.
	Addr string
	// TLS are the client's files; nil for a plain connection.
	TLS *engine.TLSFiles
	// InsecureRegistries the engine was configured with, when the source
	// records them (docker-machine does); nil when unknown.
	InsecureRegistries []string
}

// Plan is the engines of one swarmcass run and their roles.
type Plan struct {
	// Source says where the engines came from, for messages; Reason why
	// that source was chosen.
	Source string
	Reason string
	Infra  Endpoint
	// Swarm are the swarm's engines; Swarm[0] is the manager.
	Swarm []Endpoint
}

// Describe is the one line every command prints about its engines: which
// source, why, and the roles.
func (p *Plan) Describe() string {
	return fmt.Sprintf("engines from %s (%s): infra %s, swarm %s", p.Source, p.Reason, p.Infra.Name, strings.Join(names(p.Swarm), ", "))
}

func names(es []Endpoint) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

// Engines lists each distinct engine once (by Host): infra first, then the
// swarm's in order. Make one client for each.
func (p *Plan) Engines() []Endpoint {
	out := []Endpoint{p.Infra}
	for _, e := range p.Swarm {
		if !slices.ContainsFunc(out, func(o Endpoint) bool { return SameEngine(o.Host, e.Host) }) {
			out = append(out, e)
		}
	}
	return out
}

// Options are the command-line choices of engines, shared by the commands
// that need engines.
type Options struct {
	MachineStoragePath string
	Infra              string
	Swarm              []string
	Contexts           []string
	Hosts              []string
	TLSCACert          string
	TLSCert            string
	TLSKey             string
}

// AddFlags registers the options' flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.MachineStoragePath, "machine-storage-path", "",
		"docker-machine store to take engines from (default $"+machinestore.EnvStoragePath+", else ~/.docker/machine when it holds the infra machine)")
	fs.StringVar(&o.Infra, "infra", "",
		"machine that runs Consul and the registry (default \""+DefaultInfra+"\")")
	fs.StringSliceVar(&o.Swarm, "swarm", nil,
		"machines that form the swarm, the first one the manager (default every machine named "+DefaultSwarmPrefix+"*)")
	fs.StringSliceVar(&o.Contexts, "context", nil,
		"docker context for every role, or role=NAME pairs: infra=NAME and swarm=NAME (repeat swarm=, the first is the manager)")
	fs.StringSliceVar(&o.Hosts, "host", nil,
		"engine URL (tcp://ADDR:2376) for every role, or role=URL pairs: infra=URL and swarm=URL")
	fs.StringVar(&o.TLSCACert, "tlscacert", "", "CA certificate the --host engines' certificates are signed by")
	fs.StringVar(&o.TLSCert, "tlscert", "", "client certificate for the --host engines")
	fs.StringVar(&o.TLSKey, "tlskey", "", "client key for the --host engines")
}

// Resolve turns the options and the environment into a validated plan.
func Resolve(o Options) (*Plan, error) {
	storeFlags := o.MachineStoragePath != "" || o.Infra != "" || len(o.Swarm) > 0
	var given []string
	if len(o.Hosts) > 0 {
		given = append(given, "--host")
	}
	if len(o.Contexts) > 0 {
		given = append(given, "--context")
	}
	if storeFlags {
		given = append(given, "the machine store (--machine-storage-path, --infra, --swarm)")
	}
	if len(given) > 1 {
		return nil, fmt.Errorf("engines given by %s: choose one source", strings.Join(given, " and "))
	}
	if len(o.Hosts) == 0 && (o.TLSCACert != "" || o.TLSCert != "" || o.TLSKey != "") {
		return nil, errors.New("--tlscacert, --tlscert and --tlskey go with --host; docker contexts and machines bring their own certificates")
	}

	var (
		plan   *Plan
		reason string
		err    error
	)
	switch {
	case len(o.Hosts) > 0:
		plan, err = fromHosts(o)
		reason = "--host given"
	case len(o.Contexts) > 0:
		plan, err = fromContexts(o.Contexts)
		reason = "--context given"
	case storeFlags:
		plan, err = fromStore(o)
		reason = strings.Join(storeGiven(o), ", ") + " given"
	case os.Getenv(machinestore.EnvStoragePath) != "":
		plan, err = fromStore(o)
		reason = machinestore.EnvStoragePath + " is set"
	default:
		path, holds := defaultStoreHoldsInfra()
		if holds {
			plan, err = fromStore(Options{MachineStoragePath: path})
			reason = "no engine flag, and the default docker-machine store holds machine " + DefaultInfra
			break
		}
		plan, err = fromDockerCLI()
		reason = "no engine flag, and no machine " + DefaultInfra + " in the default docker-machine store"
		if path != "" {
			reason += " " + path
		}
	}
	if err != nil {
		return nil, err
	}
	plan.Reason = reason
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	return plan, nil
}

// storeGiven names the machine store flags given.
func storeGiven(o Options) []string {
	var given []string
	if o.MachineStoragePath != "" {
		given = append(given, "--machine-storage-path")
	}
	if o.Infra != "" {
		given = append(given, "--infra")
	}
	if len(o.Swarm) > 0 {
		given = append(given, "--swarm")
	}
	return given
}

// defaultStoreHoldsInfra is the default docker-machine store
// (~/.docker/machine) and whether it holds the infra machine. A store that
// is missing or cannot be read holds nothing: the docker CLI's engine is
// used then, as before there was a store.
func defaultStoreHoldsInfra() (path string, holds bool) {
	path, err := machinestore.StorePath("")
	if err != nil {
		return "", false
	}
	known, err := machinestore.New(path).List()
	return path, err == nil && slices.Contains(known, DefaultInfra)
}

// roles splits "infra=X" and "swarm=Y" values; a single value without a
// role plays every role.
func roles(flag string, values []string) (infra string, swarm []string, err error) {
	var bare []string
	for _, v := range values {
		role, name, ok := strings.Cut(v, "=")
		switch {
		case ok && role == RoleInfra:
			if infra != "" {
				return "", nil, fmt.Errorf("--%s: infra given twice (%s and %s)", flag, infra, name)
			}
			infra = name
		case ok && role == RoleSwarm:
			swarm = append(swarm, name)
		default:
			bare = append(bare, v)
		}
	}
	switch {
	case len(bare) == 1 && infra == "" && len(swarm) == 0:
		return bare[0], bare, nil
	case len(bare) > 0:
		return "", nil, fmt.Errorf("--%s %s: give one value for every role, or role=VALUE pairs (--%s infra=A --%s swarm=B,swarm=C)",
			flag, strings.Join(values, ","), flag, flag)
	case infra == "":
		return "", nil, fmt.Errorf("--%s: say which engine runs infra with --%s infra=VALUE", flag, flag)
	case len(swarm) == 0:
		return "", nil, fmt.Errorf("--%s: say which engines form the swarm with --%s swarm=VALUE", flag, flag)
	}
	return infra, swarm, nil
}

func fromHosts(o Options) (*Plan, error) {
	infraHost, swarmHosts, err := roles("host", o.Hosts)
	if err != nil {
		return nil, err
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("give --tlscert and --tlskey together")
	}
	var tls *engine.TLSFiles
	if o.TLSCACert != "" || o.TLSCert != "" {
		tls = &engine.TLSFiles{CA: o.TLSCACert, Cert: o.TLSCert, Key: o.TLSKey}
	}
	mk := func(host string) (Endpoint, error) {
		addr, err := hostAddr(host)
		if err != nil {
			return Endpoint{}, fmt.Errorf("--host %s: %w", host, err)
		}
		name := addr
		if strings.HasPrefix(host, "unix://") {
			name = "local"
		}
		return Endpoint{Name: name, Host: host, Addr: addr, TLS: tls}, nil
	}
	plan := &Plan{Source: "--host"}
	if plan.Infra, err = mk(infraHost); err != nil {
		return nil, err
	}
	for _, h := range swarmHosts {
		e, err := mk(h)
		if err != nil {
			return nil, err
		}
		plan.Swarm = append(plan.Swarm, e)
	}
	return plan, nil
}

func fromContexts(values []string) (*Plan, error) {
	infraName, swarmNames, err := roles("context", values)
	if err != nil {
		return nil, err
	}
	dir, err := dockercontext.ConfigDir()
	if err != nil {
		return nil, err
	}
	plan := &Plan{Source: "docker contexts in " + dir}
	if plan.Infra, err = contextEndpoint(dir, infraName); err != nil {
		return nil, err
	}
	for _, n := range swarmNames {
		e, err := contextEndpoint(dir, n)
		if err != nil {
			return nil, err
		}
		plan.Swarm = append(plan.Swarm, e)
	}
	return plan, nil
}

func contextEndpoint(dir, name string) (Endpoint, error) {
	c, err := dockercontext.Load(dir, name)
	if err != nil {
		return Endpoint{}, err
	}
	addr, err := hostAddr(c.Host)
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	e := Endpoint{Name: c.Name, Host: c.Host, Addr: addr}
	if c.HasTLS() {
		if c.CA == "" {
			return Endpoint{}, fmt.Errorf("docker context %q skips TLS verification without a CA, which swarmcass does not do; give it the engine's CA (docker context update %s --docker ca=...)", name, name)
		}
		// With a CA at hand swarmcass verifies the engine even when the
		// context says not to.
		e.TLS = &engine.TLSFiles{CA: c.CA, Cert: c.Cert, Key: c.Key}
	}
	if e.Host == dockercontext.DefaultHost {
		e.Name = "local"
	}
	return e, nil
}

// Local is the engine of the docker CLI's default context: DOCKER_HOST
// (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, read as the docker CLI reads
// them, ~/.docker the certificates' default directory), else the local
// socket. It is swarmcass's one DOCKER_HOST fallback.
func Local() (Endpoint, error) {
	dir, err := dockercontext.ConfigDir()
	if err != nil {
		return Endpoint{}, err
	}
	return contextEndpoint(dir, dockercontext.DefaultName)
}

func fromDockerCLI() (*Plan, error) {
	dir, err := dockercontext.ConfigDir()
	if err != nil {
		return nil, err
	}
	name, err := dockercontext.Current(dir)
	if err != nil {
		return nil, err
	}
	e, err := contextEndpoint(dir, name)
	if err != nil {
		return nil, err
	}
	source := "the local engine"
	switch {
	case name != dockercontext.DefaultName:
		source = "docker context " + name
	case os.Getenv(dockercontext.EnvHost) != "":
		source = dockercontext.EnvHost
	}
	return &Plan{Source: source, Infra: e, Swarm: []Endpoint{e}}, nil
}

func fromStore(o Options) (*Plan, error) {
	path, err := machinestore.StorePath(o.MachineStoragePath)
	if err != nil {
		return nil, err
	}
	store := machinestore.New(path)
	known, err := store.List()
	if err != nil {
		return nil, err
	}
	infraName := o.Infra
	if infraName == "" {
		infraName = DefaultInfra
	}
	swarmNames := o.Swarm
	if len(swarmNames) == 0 {
		for _, n := range known {
			if strings.HasPrefix(n, DefaultSwarmPrefix) {
				swarmNames = append(swarmNames, n)
			}
		}
		if len(swarmNames) == 0 {
			held := "no machines"
			if len(known) > 0 {
				held = strings.Join(known, ", ")
			}
			return nil, fmt.Errorf("machine store %s has no machine named %s* (it holds %s); name the swarm's machines with --swarm",
				path, DefaultSwarmPrefix, held)
		}
	}
	plan := &Plan{Source: "machine store " + path}
	var errs []error
	load := func(name string) Endpoint {
		m, err := store.Load(name)
		if err != nil {
			errs = append(errs, err)
			return Endpoint{Name: name}
		}
		return Endpoint{
			Name:               m.Name,
			Host:               m.URL,
			Addr:               m.IP,
			TLS:                &engine.TLSFiles{CA: m.CACert, Cert: m.ClientCert, Key: m.ClientKey},
			InsecureRegistries: m.InsecureRegistries,
		}
	}
	plan.Infra = load(infraName)
	for _, n := range swarmNames {
		plan.Swarm = append(plan.Swarm, load(n))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return plan, nil
}

// Validate checks the plan without contacting any engine: a swarm to
// form, supported URLs, every engine at most once in the swarm, addresses
// the other engines can reach, and TLS files that exist and belong
// together. It reports every problem it finds, one per line.
func (p *Plan) Validate() error {
	if len(p.Swarm) == 0 {
		return errors.New("no swarm engines given")
	}
	var errs []error
	all := append([]Endpoint{p.Infra}, p.Swarm...)
	for _, e := range all {
		if _, err := hostAddr(e.Host); err != nil {
			errs = append(errs, fmt.Errorf("engine %s: %w", e.Name, err))
		}
		if e.Addr == "" {
			errs = append(errs, fmt.Errorf("engine %s (%s) has no address other engines can reach it at", e.Name, e.Host))
		}
	}
	for i, e := range p.Swarm {
		for _, prev := range p.Swarm[:i] {
			switch {
			case !SameEngine(prev.Host, e.Host):
			case prev.Name == e.Name:
				errs = append(errs, fmt.Errorf("engine %s (%s) is in the swarm twice: list each engine once", e.Name, e.Host))
			default:
				errs = append(errs, fmt.Errorf("engine %s is in the swarm twice (as %s and %s): list each engine once", e.Host, prev.Name, e.Name))
			}
		}
	}
	engines := p.Engines()
	if len(engines) > 1 {
		for _, e := range engines {
			if ip := net.ParseIP(e.Addr); ip != nil && ip.IsLoopback() {
				errs = append(errs, fmt.Errorf("engine %s is reached at %s, which the other engines cannot reach: use its network address (tcp://ADDR:2376)", e.Name, e.Addr))
			}
		}
	}
	checked := map[engine.TLSFiles]error{}
	for _, e := range engines {
		if e.TLS == nil {
			continue
		}
		err, done := checked[*e.TLS]
		if !done {
			err = CheckTLS(*e.TLS)
			checked[*e.TLS] = err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("engine %s: %w", e.Name, err))
		}
	}
	return errors.Join(errs...)
}

// CheckTLS checks a client's TLS files: each one given exists and parses,
// the key is the certificate's, and the certificate is signed by the CA
// for client authentication (an engine trusting that CA accepts it).
func CheckTLS(f engine.TLSFiles) error {
	read := func(what, path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return b, nil
	}
	if (f.Cert == "") != (f.Key == "") {
		return fmt.Errorf("TLS client certificate and key go together (cert %q, key %q)", f.Cert, f.Key)
	}
	var caPEM, certPEM, keyPEM []byte
	var err error
	if f.CA != "" {
		if caPEM, err = read("CA certificate", f.CA); err != nil {
			return err
		}
		if _, err := pki.ParseCert(caPEM); err != nil {
			return fmt.Errorf("CA certificate %s: %w", f.CA, err)
		}
	}
	if f.Cert == "" {
		return nil
	}
	if certPEM, err = read("client certificate", f.Cert); err != nil {
		return err
	}
	if keyPEM, err = read("client key", f.Key); err != nil {
		return err
	}
	if err := pki.MatchKey(certPEM, keyPEM); err != nil {
		return fmt.Errorf("%s and %s: %w", f.Cert, f.Key, err)
	}
	if caPEM != nil {
		if err := pki.Verify(caPEM, certPEM, x509.ExtKeyUsageClientAuth, ""); err != nil {
			return fmt.Errorf("client certificate %s is not signed by the CA %s: %w", f.Cert, f.CA, err)
		}
	}
	return nil
}

// hostAddr is the address of a daemon URL's host as other engines reach
// it: the URL's host for tcp, 127.0.0.1 for a unix socket.
func hostAddr(host string) (string, error) {
	u, err := url.Parse(host)
	if err != nil {
		return "", fmt.Errorf("engine URL %q: write tcp://ADDR:2376 or unix:///var/run/docker.sock: %w", host, err)
	}
	switch u.Scheme {
	case "unix":
		return "127.0.0.1", nil
	case "tcp", "http", "https":
		h := u.Hostname()
		if h == "" {
			return "", fmt.Errorf("engine URL %q has no host: write tcp://ADDR:2376", host)
		}
		if h == "localhost" {
			return "127.0.0.1", nil
		}
		return h, nil
	case "":
		return "", fmt.Errorf("engine URL %q has no scheme: write tcp://ADDR:2376 or unix:///var/run/docker.sock", host)
	default:
		return "", fmt.Errorf("engine URL %q: %s:// is not supported; use tcp:// (with TLS) or unix://", host, u.Scheme)
	}
}

// SameEngine is swarmcass's one rule for "the same engine", whichever way
// the engines were given (machines, contexts, --host, DOCKER_HOST): two
// endpoints are one engine when their daemon URLs are the same but for
// case and a trailing slash. Every command makes one client per engine by
// it (cluster.Open, keyed by EngineKey), and the host flags, preflight and
// the lab decide by it. Two different URLs that turn out to reach one
// daemon are not merged but refused (engine.SameDaemon).
func SameEngine(a, b string) bool { return EngineKey(a) == EngineKey(b) }

// EngineKey is SameEngine's key: make one client per key.
func EngineKey(host string) string { return strings.TrimSuffix(strings.ToLower(host), "/") }
