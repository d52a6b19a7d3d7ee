package machinestore

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/pki"
)

type labCerts struct {
	ca     *pki.CA
	client *pki.KeyPair
}

func newLabCerts(t *testing.T) labCerts {
	t.Helper()
	ca, err := pki.NewCA("swarmcass-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("swarmcass")
	if err != nil {
		t.Fatal(err)
	}
	return labCerts{ca, client}
}

func (c labCerts) machine(t *testing.T, name, ip string) NewMachine {
	t.Helper()
	srv, err := c.ca.IssueServer(name, []net.IP{net.ParseIP(ip)}, []string{name, "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return NewMachine{Name: name, IP: ip, CA: c.ca, Client: c.client, Server: srv,
		InsecureRegistries: []string{"172.30.0.10:5000"}}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSaveThenLoad(t *testing.T) {
	certs := newLabCerts(t)
	store := New(t.TempDir())
	saved, err := store.Save(certs.machine(t, "swarm-0", "172.30.0.11"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Load("swarm-0")
	if err != nil {
		t.Fatal(err)
	}
	if got.IP != "172.30.0.11" || got.URL != "tcp://172.30.0.11:2376" {
		t.Errorf("IP, URL = %q, %q", got.IP, got.URL)
	}
	if !slices.Equal(got.InsecureRegistries, []string{"172.30.0.10:5000"}) {
		t.Errorf("InsecureRegistries = %v", got.InsecureRegistries)
	}
	if got.Config.DriverName != "none" || got.Config.ConfigVersion != ConfigVersion {
		t.Errorf("DriverName %q, ConfigVersion %d", got.Config.DriverName, got.Config.ConfigVersion)
	}
	if saved.CACert != got.CACert {
		t.Errorf("Save returned CA %q, Load %q", saved.CACert, got.CACert)
	}
	dir := store.MachineDir("swarm-0")
	for path, want := range map[string]string{got.CACert: filepath.Join(dir, "ca.pem"), got.ClientCert: filepath.Join(dir, "cert.pem"), got.ClientKey: filepath.Join(dir, "key.pem")} {
		if path != want {
			t.Errorf("cert path %q, want %q", path, want)
		}
	}
	caPEM, certPEM := readFile(t, got.CACert), readFile(t, got.ClientCert)
	if err := pki.Verify(caPEM, certPEM, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("client cert from the store: %v", err)
	}
	if err := pki.MatchKey(certPEM, readFile(t, got.ClientKey)); err != nil {
		t.Error(err)
	}
	serverPEM := readFile(t, got.Config.HostOptions.AuthOptions.ServerCertPath)
	if err := pki.Verify(caPEM, serverPEM, x509.ExtKeyUsageServerAuth, "172.30.0.11"); err != nil {
		t.Errorf("server cert from the store: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode: %v, %v", fi.Mode(), err)
	}
	// The recorded paths follow docker-machine's layout: CA and client under certs/.
	auth := got.Config.HostOptions.AuthOptions
	if auth.CaCertPath != filepath.Join(store.Path, "certs", "ca.pem") || auth.StorePath != dir {
		t.Errorf("AuthOptions = %+v", auth)
	}
}

func TestSaveTwoMachinesSharesOneCA(t *testing.T) {
	certs := newLabCerts(t)
	store := New(t.TempDir())
	for name, ip := range map[string]string{"infra": "172.30.0.1", "swarm-0": "172.30.0.2"} {
		if _, err := store.Save(certs.machine(t, name, ip)); err != nil {
			t.Fatal(err)
		}
	}
	names, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"infra", "swarm-0"}) {
		t.Errorf("List = %v", names)
	}
	// Saving again (a re-run of lab up) is fine.
	if _, err := store.Save(certs.machine(t, "infra", "172.30.0.1")); err != nil {
		t.Errorf("save again: %v", err)
	}
	other := newLabCerts(t)
	_, err = store.Save(other.machine(t, "swarm-1", "172.30.0.3"))
	if err == nil || !strings.Contains(err.Error(), "another CA") {
		t.Errorf("save with another CA = %v, want refusal", err)
	}
}

// The written config.json carries every key a real docker-machine config
// has, except the VirtualBox driver's own.
func TestSavedConfigHasDockerMachineShape(t *testing.T) {
	certs := newLabCerts(t)
	store := New(t.TempDir())
	if _, err := store.Save(certs.machine(t, "infra", "172.30.0.10")); err != nil {
		t.Fatal(err)
	}
	var written, real map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join(store.MachineDir("infra"), "config.json")), &written); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(readFile(t, "testdata/store/machines/infra/config.json"), &real); err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]string{{}, {"HostOptions"}, {"HostOptions", "EngineOptions"}, {"HostOptions", "SwarmOptions"}, {"HostOptions", "AuthOptions"}} {
		w, r := dig(t, written, path), dig(t, real, path)
		for k := range r {
			if _, ok := w[k]; !ok {
				t.Errorf("written config lacks %s.%s", strings.Join(path, "."), k)
			}
		}
	}
	drv := dig(t, written, []string{"Driver"})
	for _, k := range []string{"IPAddress", "MachineName", "StorePath", "URL"} {
		if _, ok := drv[k]; !ok {
			t.Errorf("written Driver lacks %s", k)
		}
	}
}

func dig(t *testing.T, m map[string]any, path []string) map[string]any {
	t.Helper()
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("no object at %v", path)
		}
		m = next
	}
	return m
}

// testdata/store is shaped like a real docker-machine store on a Mac: its
// recorded paths are under /Users/alice, which does not exist here.
func TestLoadRealDockerMachineFixture(t *testing.T) {
	store := New("testdata/store")
	names, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"infra", "swarm-0"}) {
		t.Fatalf("List = %v", names)
	}
	m, err := store.Load("swarm-0")
	if err != nil {
		t.Fatal(err)
	}
	if m.IP != "192.168.99.101" || m.URL != "tcp://192.168.99.101:2376" {
		t.Errorf("IP %q URL %q", m.IP, m.URL)
	}
	if m.Config.DriverName != "virtualbox" || m.Config.Driver.SSHUser != "docker" || !m.Config.HostOptions.EngineOptions.TLSVerify {
		t.Errorf("config = %+v", m.Config)
	}
	if !slices.Equal(m.InsecureRegistries, []string{"192.168.99.100:5000"}) {
		t.Errorf("InsecureRegistries = %v", m.InsecureRegistries)
	}
	if m.CACert != filepath.Join("testdata/store/machines/swarm-0/ca.pem") {
		t.Errorf("CACert = %q, want the file beside config.json", m.CACert)
	}
	caPEM, certPEM := readFile(t, m.CACert), readFile(t, m.ClientCert)
	if err := pki.Verify(caPEM, certPEM, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("fixture client cert: %v", err)
	}
	if err := pki.MatchKey(certPEM, readFile(t, m.ClientKey)); err != nil {
		t.Errorf("fixture client key: %v", err)
	}
	// The RSA CA docker-machine made can issue more certificates.
	ca, err := pki.LoadCAFiles("testdata/store/certs/ca.pem", "testdata/store/certs/ca-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueClient("more"); err != nil {
		t.Error(err)
	}
	server := readFile(t, filepath.Join(m.Dir, "server.pem"))
	if err := pki.Verify(caPEM, server, x509.ExtKeyUsageServerAuth, m.IP); err != nil {
		t.Errorf("fixture server cert: %v", err)
	}
}

func TestLoadMovedStore(t *testing.T) {
	certs := newLabCerts(t)
	parent := t.TempDir()
	oldPath, newPath := filepath.Join(parent, "old"), filepath.Join(parent, "new")
	if _, err := New(oldPath).Save(certs.machine(t, "infra", "172.30.0.10")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(oldPath, newPath); err != nil {
		t.Fatal(err)
	}
	m, err := New(newPath).Load("infra")
	if err != nil {
		t.Fatalf("load moved store: %v", err)
	}
	for _, p := range []string{m.CACert, m.ClientCert, m.ClientKey} {
		if !strings.HasPrefix(p, newPath) {
			t.Errorf("cert path %q is outside the moved store", p)
		}
	}
}

// A file missing beside config.json is taken from the recorded path.
func TestLoadFallsBackToRecordedPaths(t *testing.T) {
	certs := newLabCerts(t)
	store := New(t.TempDir())
	if _, err := store.Save(certs.machine(t, "infra", "172.30.0.10")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(store.MachineDir("infra"), "ca.pem")); err != nil {
		t.Fatal(err)
	}
	m, err := store.Load("infra")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(store.CertsDir(), "ca.pem"); m.CACert != want {
		t.Errorf("CACert = %q, want %q", m.CACert, want)
	}
}

func TestLoadErrors(t *testing.T) {
	certs := newLabCerts(t)
	setup := func(t *testing.T) *Store {
		store := New(t.TempDir())
		for _, n := range []string{"infra", "swarm-0"} {
			if _, err := store.Save(certs.machine(t, n, "172.30.0.10")); err != nil {
				t.Fatal(err)
			}
		}
		return store
	}
	tests := []struct {
		name    string
		edit    func(t *testing.T, s *Store) *Store
		machine string
		want    []string
	}{
		{"unknown machine lists the known ones", nil, "swarm-9",
			[]string{`machine "swarm-9" not found`, "infra, swarm-0"}},
		{"store that does not exist", func(t *testing.T, s *Store) *Store { return New(filepath.Join(s.Path, "nope")) }, "infra",
			[]string{"does not exist", "MACHINE_STORAGE_PATH"}},
		{"store that is a file", func(t *testing.T, s *Store) *Store {
			f := filepath.Join(s.Path, "file")
			os.WriteFile(f, []byte("x"), 0o644)
			return New(f)
		}, "infra", []string{"read machine store", "not a directory"}},
		{"empty store", func(t *testing.T, s *Store) *Store { return New(t.TempDir()) }, "infra",
			[]string{"it holds no machines"}},
		{"missing certificates", func(t *testing.T, s *Store) *Store {
			os.Remove(filepath.Join(s.MachineDir("infra"), "key.pem"))
			os.Remove(filepath.Join(s.CertsDir(), "key.pem"))
			return s
		}, "infra", []string{"certificate files missing", "key.pem", "regenerate-certs"}},
		{"corrupt config", func(t *testing.T, s *Store) *Store {
			os.WriteFile(filepath.Join(s.MachineDir("infra"), "config.json"), []byte("{"), 0o600)
			return s
		}, "infra", []string{"parse", "config.json"}},
		{"newer config version", func(t *testing.T, s *Store) *Store {
			os.WriteFile(filepath.Join(s.MachineDir("infra"), "config.json"), []byte(`{"ConfigVersion": 4}`), 0o600)
			return s
		}, "infra", []string{"config version 4"}},
		{"machine without address", func(t *testing.T, s *Store) *Store {
			os.WriteFile(filepath.Join(s.MachineDir("infra"), "config.json"), []byte(`{"ConfigVersion": 3, "Name": "infra"}`), 0o600)
			return s
		}, "infra", []string{"no IP address", "docker-machine start infra"}},
		{"path in the name", nil, "../infra", []string{"invalid machine name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := setup(t)
			if tt.edit != nil {
				store = tt.edit(t, store)
			}
			_, err := store.Load(tt.machine)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestUnknownMachineErrorIsTyped(t *testing.T) {
	_, err := New("testdata/store").Load("default")
	var um *UnknownMachineError
	if !errors.As(err, &um) {
		t.Fatalf("error %v is not an UnknownMachineError", err)
	}
	if !slices.Equal(um.Known, []string{"infra", "swarm-0"}) {
		t.Errorf("Known = %v", um.Known)
	}
}

func TestListOrdersNumbersNumerically(t *testing.T) {
	store := New(t.TempDir())
	for _, n := range []string{"swarm-10", "swarm-2", "infra", "swarm-1", "half-made"} {
		os.MkdirAll(store.MachineDir(n), 0o700)
		if n != "half-made" {
			os.WriteFile(filepath.Join(store.MachineDir(n), "config.json"), []byte("{}"), 0o600)
		}
	}
	names, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"infra", "swarm-1", "swarm-2", "swarm-10"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
}

func TestStorePath(t *testing.T) {
	t.Setenv("HOME", "/home/alice")
	t.Setenv(EnvStoragePath, "")
	tests := []struct{ flag, env, want string }{
		{"/flag", "/env", "/flag"},
		{"", "/env", "/env"},
		{"", "", "/home/alice/.docker/machine"},
	}
	for _, tt := range tests {
		t.Setenv(EnvStoragePath, tt.env)
		got, err := StorePath(tt.flag)
		if err != nil || got != tt.want {
			t.Errorf("StorePath(%q) with env %q = %q, %v; want %q", tt.flag, tt.env, got, err, tt.want)
		}
	}
}

func TestSaveRefusesIncompleteMachines(t *testing.T) {
	certs := newLabCerts(t)
	store := New(t.TempDir())
	m := certs.machine(t, "infra", "172.30.0.10")
	m.Server = nil
	if _, err := store.Save(m); err == nil {
		t.Error("Save accepted a machine without a server certificate")
	}
	m = certs.machine(t, "bad/name", "172.30.0.10")
	if _, err := store.Save(m); err == nil {
		t.Error("Save accepted a name with a slash")
	}
}
