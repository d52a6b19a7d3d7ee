// Package machinestore reads and writes docker-machine's store:
// STORE/machines/NAME/config.json with the client's ca.pem, cert.pem and
// key.pem beside it (and the engine's server.pem, server-key.pem), and the
// store's CA and client certificate under STORE/certs. Real docker-machine
// machines and swarmcass lab machines are read by the same Load.
package machinestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/swarmcass/swarmcass/pki"
)

// EnvStoragePath names the store, as it does for docker-machine.
const EnvStoragePath = "MACHINE_STORAGE_PATH"

// File names docker-machine uses in a machine's directory and in certs/.
const (
	ConfigFile    = "config.json"
	CACertFile    = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	CertFile      = "cert.pem"
	KeyFile       = "key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

// docker-machine's rule for machine names (libmachine/host.ValidateHostName).
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9\-\.]*$`)

// StorePath is the store to use: flag when it is set, else
// MACHINE_STORAGE_PATH, else ~/.docker/machine.
func StorePath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv(EnvStoragePath); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the machine store: %w; set --machine-storage-path or %s", err, EnvStoragePath)
	}
	return filepath.Join(home, ".docker", "machine"), nil
}

// Store is a docker-machine store at Path.
type Store struct {
	Path string
}

// New returns the store at path. Nothing is read until it is used.
func New(path string) *Store { return &Store{Path: path} }

// MachinesDir is the directory holding one directory per machine.
func (s *Store) MachinesDir() string { return filepath.Join(s.Path, "machines") }

// CertsDir is the store's own certificate directory (CA and client).
func (s *Store) CertsDir() string { return filepath.Join(s.Path, "certs") }

// MachineDir is the directory of machine name.
func (s *Store) MachineDir(name string) string { return filepath.Join(s.MachinesDir(), name) }

// Machine is a machine read from the store, its certificate paths resolved.
type Machine struct {
	Name   string
	Dir    string // the directory holding config.json
	Config Config
	// IP is the address the machine's engine and services are reached at.
	IP string
	// URL is the engine's address: the "none" driver's URL, else tcp://IP:2376.
	URL string
	// InsecureRegistries are the registries the engine pulls from over HTTP.
	InsecureRegistries []string
	// CACert, ClientCert and ClientKey are the files a client of the engine
	// uses (docker --tlsverify --tlscacert CACert --tlscert ClientCert ...).
	CACert, ClientCert, ClientKey string
}

// UnknownMachineError says a machine is not in the store, and which are.
type UnknownMachineError struct {
	Name  string
	Store string
	Known []string
}

func (e *UnknownMachineError) Error() string {
	known := "it holds no machines"
	if len(e.Known) > 0 {
		known = "it holds: " + strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("machine %q not found in store %s (%s); check the name, --machine-storage-path or %s",
		e.Name, e.Store, known, EnvStoragePath)
}

// List returns the names of the machines in the store (directories with a
// config.json), sorted with numbers in order: swarm-2 before swarm-10.
func (s *Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.MachinesDir())
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(s.Path); serr != nil {
			return nil, s.unreadable(serr)
		}
		return nil, nil // a store without machines yet
	}
	if err != nil {
		return nil, s.unreadable(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.MachinesDir(), e.Name(), ConfigFile)); err == nil {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, CompareNames)
	return names, nil
}

func (s *Store) unreadable(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("machine store %s does not exist: set --machine-storage-path or %s to a docker-machine store (for a lab: eval \"$(swarmcass lab env)\"): %w",
			s.Path, EnvStoragePath, err)
	}
	return fmt.Errorf("read machine store %s: %w", s.Path, err)
}

// Load reads machine name. The client's certificates are the ca.pem,
// cert.pem and key.pem beside config.json, as `docker-machine env` uses
// them; a file missing there is looked for at the path recorded in
// AuthOptions. A store that was moved still loads, since its recorded
// absolute paths are only a fallback.
func (s *Store) Load(name string) (*Machine, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("invalid machine name %q: use letters, digits, '-' and '.'", name)
	}
	dir := s.MachineDir(name)
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		known, lerr := s.List()
		if lerr != nil {
			return nil, lerr // the store itself is unreadable: say so
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &UnknownMachineError{Name: name, Store: s.Path, Known: known}
		}
		return nil, fmt.Errorf("machine %q: %w", name, err)
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("machine %q: parse %s: %w", name, filepath.Join(dir, ConfigFile), err)
	}
	if cfg.ConfigVersion > ConfigVersion {
		return nil, fmt.Errorf("machine %q: config version %d is newer than the %d swarmcass reads", name, cfg.ConfigVersion, ConfigVersion)
	}
	m := &Machine{
		Name:               name,
		Dir:                dir,
		Config:             cfg,
		IP:                 cfg.Driver.IPAddress,
		URL:                cfg.Driver.URL,
		InsecureRegistries: cfg.HostOptions.EngineOptions.InsecureRegistry,
	}
	if m.URL == "" && m.IP != "" {
		m.URL = "tcp://" + net.JoinHostPort(m.IP, strconv.Itoa(DockerPort))
	}
	if m.URL == "" {
		return nil, fmt.Errorf("machine %q has no IP address in %s: start it (docker-machine start %s) and try again",
			name, filepath.Join(dir, ConfigFile), name)
	}
	auth := cfg.HostOptions.AuthOptions
	var missing []string
	for _, f := range []struct {
		dst      *string
		base     string
		recorded string
	}{
		{&m.CACert, CACertFile, auth.CaCertPath},
		{&m.ClientCert, CertFile, auth.ClientCertPath},
		{&m.ClientKey, KeyFile, auth.ClientKeyPath},
	} {
		tried := []string{filepath.Join(dir, f.base)}
		if f.recorded != "" && f.recorded != tried[0] {
			tried = append(tried, f.recorded)
		}
		for _, p := range tried {
			if _, err := os.Stat(p); err == nil {
				*f.dst = p
				break
			}
		}
		if *f.dst == "" {
			missing = append(missing, strings.Join(tried, " or "))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("machine %q: certificate files missing: %s; regenerate them with `docker-machine regenerate-certs --client-certs %s` (a lab machine: run `swarmcass lab up` again)",
			name, strings.Join(missing, ", "), name)
	}
	return m, nil
}

// NewMachine is a machine to record in the store, with the certificates
// its engine and its clients use.
type NewMachine struct {
	Name string
	IP   string
	// URL is the engine's address; empty means tcp://IP:2376.
	URL string
	// DriverName is recorded as is; empty means "none", the docker-machine
	// driver for engines it did not create (it reads Driver.URL).
	DriverName         string
	InsecureRegistries []string
	CA                 *pki.CA      // written to certs/ and copied beside config.json
	Client             *pki.KeyPair // the client certificate: certs/ and beside config.json
	Server             *pki.KeyPair // the engine's certificate: server.pem, server-key.pem
}

// Save records m in the store the way docker-machine does: the CA and
// client certificate under certs/ (recorded in AuthOptions), copies of them
// and the server certificate in the machine's directory, then config.json,
// written last and atomically so a half-saved machine is never listed.
// A store keeps one CA: saving a machine with another CA is refused.
func (s *Store) Save(m NewMachine) (*Machine, error) {
	if !validName.MatchString(m.Name) {
		return nil, fmt.Errorf("invalid machine name %q: use letters, digits, '-' and '.'", m.Name)
	}
	if m.IP == "" || m.CA == nil || m.Client == nil || m.Server == nil {
		return nil, fmt.Errorf("save machine %q: IP, CA, client and server certificates are all required", m.Name)
	}
	abs, err := filepath.Abs(s.Path)
	if err != nil {
		return nil, fmt.Errorf("save machine %q: %w", m.Name, err)
	}
	store := &Store{Path: abs}
	certs, dir := store.CertsDir(), store.MachineDir(m.Name)

	if old, err := os.ReadFile(filepath.Join(certs, CACertFile)); err == nil && string(old) != string(m.CA.CertPEM) {
		return nil, fmt.Errorf("save machine %q: store %s already holds another CA in %s; use a new store or remove the old one",
			m.Name, abs, filepath.Join(certs, CACertFile))
	}
	files := []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{filepath.Join(certs, CACertFile), m.CA.CertPEM, 0o644},
		{filepath.Join(certs, CAKeyFile), m.CA.KeyPEM, 0o600},
		{filepath.Join(certs, CertFile), m.Client.CertPEM, 0o644},
		{filepath.Join(certs, KeyFile), m.Client.KeyPEM, 0o600},
		{filepath.Join(dir, CACertFile), m.CA.CertPEM, 0o644},
		{filepath.Join(dir, CertFile), m.Client.CertPEM, 0o644},
		{filepath.Join(dir, KeyFile), m.Client.KeyPEM, 0o600},
		{filepath.Join(dir, ServerFile), m.Server.CertPEM, 0o644},
		{filepath.Join(dir, ServerKeyFile), m.Server.KeyPEM, 0o600},
	}
	for _, f := range files {
		if err := pki.WriteFile(f.path, f.data, f.perm); err != nil {
			return nil, fmt.Errorf("save machine %q: %w", m.Name, err)
		}
	}

	driverName := m.DriverName
	if driverName == "" {
		driverName = "none"
	}
	url := m.URL
	if url == "" {
		url = "tcp://" + net.JoinHostPort(m.IP, strconv.Itoa(DockerPort))
	}
	cfg := Config{
		ConfigVersion: ConfigVersion,
		Driver: Driver{
			IPAddress:   m.IP,
			MachineName: m.Name,
			StorePath:   abs,
			URL:         url,
		},
		DriverName: driverName,
		HostOptions: HostOptions{
			EngineOptions: EngineOptions{
				InsecureRegistry: m.InsecureRegistries,
				TLSVerify:        true,
			},
			AuthOptions: AuthOptions{
				CertDir:          certs,
				CaCertPath:       filepath.Join(certs, CACertFile),
				CaPrivateKeyPath: filepath.Join(certs, CAKeyFile),
				ClientCertPath:   filepath.Join(certs, CertFile),
				ClientKeyPath:    filepath.Join(certs, KeyFile),
				ServerCertPath:   filepath.Join(dir, ServerFile),
				ServerKeyPath:    filepath.Join(dir, ServerKeyFile),
				StorePath:        dir,
			},
		},
		Name: m.Name,
	}
	data, err := json.MarshalIndent(cfg, "", "    ")
	if err != nil {
		return nil, fmt.Errorf("save machine %q: %w", m.Name, err)
	}
	if err := writeAtomic(filepath.Join(dir, ConfigFile), data); err != nil {
		return nil, fmt.Errorf("save machine %q: %w", m.Name, err)
	}
	return store.Load(m.Name)
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CompareNames orders machine names with their trailing numbers compared as
// numbers: swarm-2 before swarm-10. It suits slices.SortFunc.
func CompareNames(a, b string) int {
	pa, na, oka := splitNumber(a)
	pb, nb, okb := splitNumber(b)
	if oka && okb && pa == pb && na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func splitNumber(s string) (prefix string, n int, ok bool) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) {
		return s, 0, false
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, 0, false
	}
	return s[:i], n, true
}
