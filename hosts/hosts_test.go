package hosts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/machinestore"
	"github.com/swarmcass/swarmcass/pki"
)

// fixture is a lab on disk: a machine store, a docker config directory with
// contexts, and a directory of client certificates, all from one CA.
type fixture struct {
	store   string
	config  string
	certDir string
	ca      *pki.CA
	client  *pki.KeyPair
}

var storeIPs = map[string]string{
	"infra": "172.30.0.10", "swarm-0": "172.30.0.11", "swarm-1": "172.30.0.12",
	"swarm-2": "172.30.0.13", "swarm-10": "172.30.0.20",
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ca, err := pki.NewCA("hosts-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("swarmcass")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	f := &fixture{store: filepath.Join(root, "machine"), config: filepath.Join(root, "docker"),
		certDir: filepath.Join(root, "certs"), ca: ca, client: client}
	store := machinestore.New(f.store)
	for name, ip := range storeIPs {
		srv, err := ca.IssueServer(name, []net.IP{net.ParseIP(ip)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = store.Save(machinestore.NewMachine{Name: name, IP: ip, CA: ca, Client: client, Server: srv,
			InsecureRegistries: []string{"172.30.0.10:5000"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(f.certDir, "ca.pem"), ca.CertPEM)
	if err := client.WriteFiles(filepath.Join(f.certDir, "cert.pem"), filepath.Join(f.certDir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	f.context(t, "ctx-a", "tcp://172.30.0.21:2376", false, true)
	f.context(t, "ctx-b", "tcp://172.30.0.22:2376", false, true)
	f.context(t, "ctx-c", "tcp://172.30.0.23:2376", false, true)
	f.context(t, "insecure", "tcp://172.30.0.24:2376", true, false)
	f.context(t, "over-ssh", "ssh://me@172.30.0.25", false, false)
	return f
}

// context writes a context the way the docker CLI stores it.
func (f *fixture) context(t *testing.T, name, host string, skipVerify, withTLS bool) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	write(t, filepath.Join(f.config, "contexts", "meta", id, "meta.json"), []byte(fmt.Sprintf(
		`{"Name":%q,"Metadata":{},"Endpoints":{"docker":{"Host":%q,"SkipTLSVerify":%v}}}`, name, host, skipVerify)))
	if withTLS {
		dir := filepath.Join(f.config, "contexts", "tls", id, "docker")
		write(t, filepath.Join(dir, "ca.pem"), f.ca.CertPEM)
		write(t, filepath.Join(dir, "cert.pem"), f.client.CertPEM)
		write(t, filepath.Join(dir, "key.pem"), f.client.KeyPEM)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := pki.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture) (Options, map[string]string)
		check func(t *testing.T, f *fixture, p *Plan)
	}{
		{"nothing given: the local engine plays every role",
			func(t *testing.T, f *fixture) (Options, map[string]string) { return Options{}, nil },
			func(t *testing.T, f *fixture, p *Plan) {
				want := Endpoint{Name: "local", Host: "unix:///var/run/docker.sock", Addr: "127.0.0.1"}
				if !equal(p.Infra, want) || len(p.Swarm) != 1 || !equal(p.Swarm[0], want) {
					t.Errorf("plan = %+v", p)
				}
				if len(p.Engines()) != 1 {
					t.Errorf("%d engines, want one", len(p.Engines()))
				}
			}},
		{"DOCKER_HOST with TLS, as docker-machine env sets it",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{}, map[string]string{"DOCKER_HOST": "tcp://172.30.0.11:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": f.certDir}
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if p.Infra.Addr != "172.30.0.11" || p.Swarm[0].Host != "tcp://172.30.0.11:2376" || p.Infra.TLS == nil ||
					p.Infra.TLS.CA != filepath.Join(f.certDir, "ca.pem") {
					t.Errorf("plan = %+v", p)
				}
				if len(p.Engines()) != 1 || p.Source != "DOCKER_HOST" {
					t.Errorf("%d engines, source %q; want one, DOCKER_HOST", len(p.Engines()), p.Source)
				}
			}},
		{"nothing given: the docker CLI's current context",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				write(t, filepath.Join(f.config, "config.json"), []byte(`{"currentContext": "ctx-b"}`))
				return Options{}, nil
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if p.Infra.Name != "ctx-b" || names(p.Swarm)[0] != "ctx-b" || p.Source != "docker context ctx-b" {
					t.Errorf("plan = %+v", p)
				}
			}},
		{"MACHINE_STORAGE_PATH: infra and every swarm-* machine in number order",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{}, map[string]string{"MACHINE_STORAGE_PATH": f.store}
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if got := names(p.Swarm); !slices.Equal(got, []string{"swarm-0", "swarm-1", "swarm-2", "swarm-10"}) {
					t.Errorf("swarm = %v", got)
				}
				if p.Infra.Name != "infra" || p.Infra.Addr != "172.30.0.10" || p.Infra.Host != "tcp://172.30.0.10:2376" {
					t.Errorf("infra = %+v", p.Infra)
				}
				if p.Swarm[0].Name != "swarm-0" || len(p.Engines()) == 1 {
					t.Errorf("manager %s, %d engines", p.Swarm[0].Name, len(p.Engines()))
				}
				m := p.Swarm[1]
				if m.TLS == nil || m.TLS.CA != filepath.Join(f.store, "machines", "swarm-1", "ca.pem") ||
					!slices.Equal(m.InsecureRegistries, []string{"172.30.0.10:5000"}) {
					t.Errorf("swarm-1 = %+v", m)
				}
			}},
		{"--swarm keeps the given order, --infra names infra",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{MachineStoragePath: f.store, Infra: "swarm-10", Swarm: []string{"swarm-2", "swarm-0"}}, nil
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if p.Infra.Name != "swarm-10" || !slices.Equal(names(p.Swarm), []string{"swarm-2", "swarm-0"}) {
					t.Errorf("plan = %+v", p)
				}
				if got := names(p.Engines()); !slices.Equal(got, []string{"swarm-10", "swarm-2", "swarm-0"}) {
					t.Errorf("Engines = %v", got)
				}
			}},
		{"infra may also be in the swarm; Engines lists it once",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{MachineStoragePath: f.store, Infra: "swarm-0", Swarm: []string{"swarm-0", "swarm-1"}}, nil
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if got := names(p.Engines()); !slices.Equal(got, []string{"swarm-0", "swarm-1"}) {
					t.Errorf("Engines = %v", got)
				}
			}},
		{"one --context for every role",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{Contexts: []string{"ctx-a"}}, nil
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if p.Infra.Name != "ctx-a" || p.Infra.Addr != "172.30.0.21" || len(p.Engines()) != 1 || p.Infra.TLS == nil {
					t.Errorf("plan = %+v", p)
				}
			}},
		{"--context per role",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{Contexts: []string{"swarm=ctx-b", "infra=ctx-a", "swarm=ctx-c"}}, nil
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if p.Infra.Name != "ctx-a" || !slices.Equal(names(p.Swarm), []string{"ctx-b", "ctx-c"}) {
					t.Errorf("plan = %+v", p)
				}
				if p.Infra.Addr != "172.30.0.21" {
					t.Errorf("infra address = %s", p.Infra.Addr)
				}
			}},
		{"one --host with certificates",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{Hosts: []string{"tcp://172.30.0.11:2376"}, TLSCACert: filepath.Join(f.certDir, "ca.pem"),
					TLSCert: filepath.Join(f.certDir, "cert.pem"), TLSKey: filepath.Join(f.certDir, "key.pem")}, nil
			},
			func(t *testing.T, f *fixture, p *Plan) {
				want := engine.TLSFiles{CA: filepath.Join(f.certDir, "ca.pem"), Cert: filepath.Join(f.certDir, "cert.pem"), Key: filepath.Join(f.certDir, "key.pem")}
				if p.Infra.TLS == nil || *p.Infra.TLS != want || p.Infra.Addr != "172.30.0.11" || len(p.Engines()) != 1 {
					t.Errorf("plan = %+v", p)
				}
			}},
		{"--host per role",
			func(t *testing.T, f *fixture) (Options, map[string]string) {
				return Options{Hosts: []string{"infra=tcp://172.30.0.10:2376", "swarm=tcp://172.30.0.11:2376", "swarm=tcp://172.30.0.12:2376"},
					TLSCACert: filepath.Join(f.certDir, "ca.pem")}, nil
			},
			func(t *testing.T, f *fixture, p *Plan) {
				if p.Infra.Addr != "172.30.0.10" || !slices.Equal(names(p.Swarm), []string{"172.30.0.11", "172.30.0.12"}) {
					t.Errorf("plan = %+v", p)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			opts, env := tt.setup(t, f)
			isolate(t, f, env)
			plan, err := Resolve(opts)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f, plan)
		})
	}
}

// isolate points HOME and DOCKER_CONFIG at the fixture and clears the
// other variables Resolve reads, then sets env.
func isolate(t *testing.T, f *fixture, env map[string]string) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("DOCKER_CONFIG", f.config)
	for _, k := range []string{"MACHINE_STORAGE_PATH", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		t.Setenv(k, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func equal(a, b Endpoint) bool {
	return a.Name == b.Name && a.Host == b.Host && a.Addr == b.Addr && (a.TLS == nil) == (b.TLS == nil) &&
		slices.Equal(a.InsecureRegistries, b.InsecureRegistries)
}

func TestResolveRefusesBadInput(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture) Options
		want  []string
	}{
		{"two sources", func(t *testing.T, f *fixture) Options {
			return Options{Hosts: []string{"tcp://172.30.0.11:2376"}, Contexts: []string{"ctx-a"}}
		}, []string{"--host and --context", "choose one"}},
		{"TLS flags without --host", func(t *testing.T, f *fixture) Options {
			return Options{Contexts: []string{"ctx-a"}, TLSCACert: "/x/ca.pem"}
		}, []string{"go with --host"}},
		{"unknown machine lists the known ones", func(t *testing.T, f *fixture) Options {
			return Options{MachineStoragePath: f.store, Swarm: []string{"swarm-0", "swarm-7"}}
		}, []string{`"swarm-7" not found`, "infra, swarm-0, swarm-1, swarm-2, swarm-10"}},
		{"store that does not exist", func(t *testing.T, f *fixture) Options {
			return Options{MachineStoragePath: filepath.Join(f.store, "nope")}
		}, []string{"does not exist", "--machine-storage-path"}},
		{"store without swarm machines", func(t *testing.T, f *fixture) Options {
			for n := range storeIPs {
				if n != "infra" {
					os.RemoveAll(machinestore.New(f.store).MachineDir(n))
				}
			}
			return Options{MachineStoragePath: f.store}
		}, []string{"no machine named swarm-*", "it holds infra", "--swarm"}},
		{"client certificate from another CA", func(t *testing.T, f *fixture) Options {
			other, _ := pki.NewCA("other", time.Hour)
			cl, _ := other.IssueClient("intruder")
			dir := filepath.Join(f.store, "machines", "swarm-1")
			cl.WriteFiles(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
			return Options{MachineStoragePath: f.store}
		}, []string{"engine swarm-1", "not signed by the CA", "unknown authority"}},
		{"key that is not the certificate's", func(t *testing.T, f *fixture) Options {
			cl, _ := f.ca.IssueClient("another")
			write(t, filepath.Join(f.store, "machines", "infra", "key.pem"), cl.KeyPEM)
			return Options{MachineStoragePath: f.store}
		}, []string{"engine infra", "key does not match"}},
		{"CA file that is not a certificate", func(t *testing.T, f *fixture) Options {
			write(t, filepath.Join(f.certDir, "ca.pem"), []byte("not a pem"))
			return Options{Hosts: []string{"tcp://172.30.0.11:2376"}, TLSCACert: filepath.Join(f.certDir, "ca.pem")}
		}, []string{"CA certificate", "no PEM certificate"}},
		{"missing certificate files", func(t *testing.T, f *fixture) Options {
			return Options{Hosts: []string{"tcp://172.30.0.11:2376"}, TLSCACert: filepath.Join(f.certDir, "nope.pem")}
		}, []string{"CA certificate", "nope.pem", "no such file"}},
		{"--tlscert without --tlskey", func(t *testing.T, f *fixture) Options {
			return Options{Hosts: []string{"tcp://172.30.0.11:2376"}, TLSCert: filepath.Join(f.certDir, "cert.pem")}
		}, []string{"--tlscert and --tlskey together"}},
		{"the same engine twice", func(t *testing.T, f *fixture) Options {
			return Options{MachineStoragePath: f.store, Swarm: []string{"swarm-0", "swarm-1", "swarm-0"}}
		}, []string{"engine swarm-0 (tcp://172.30.0.11:2376) is in the swarm twice"}},
		{"the same URL written twice", func(t *testing.T, f *fixture) Options {
			return Options{Hosts: []string{"infra=tcp://172.30.0.10:2376", "swarm=tcp://172.30.0.11:2376", "swarm=TCP://172.30.0.11:2376/"}}
		}, []string{"(TCP://172.30.0.11:2376/) is in the swarm twice"}},
		{"the same engine under two machine names", func(t *testing.T, f *fixture) Options {
			srv, _ := f.ca.IssueServer("copy", []net.IP{net.ParseIP("172.30.0.11")}, nil)
			_, err := machinestore.New(f.store).Save(machinestore.NewMachine{Name: "copy", IP: "172.30.0.11", CA: f.ca, Client: f.client, Server: srv})
			if err != nil {
				t.Fatal(err)
			}
			return Options{MachineStoragePath: f.store, Swarm: []string{"swarm-0", "copy"}}
		}, []string{"engine tcp://172.30.0.11:2376 is in the swarm twice (as swarm-0 and copy)"}},
		{"loopback among several engines", func(t *testing.T, f *fixture) Options {
			return Options{Hosts: []string{"infra=unix:///var/run/docker.sock", "swarm=tcp://172.30.0.11:2376"}}
		}, []string{"engine local is reached at 127.0.0.1, which the other engines cannot reach"}},
		{"ssh engines", func(t *testing.T, f *fixture) Options { return Options{Contexts: []string{"over-ssh"}} },
			[]string{"ssh:// is not supported"}},
		{"URL without scheme", func(t *testing.T, f *fixture) Options { return Options{Hosts: []string{"172.30.0.11:2376"}} },
			[]string{"tcp://ADDR:2376"}},
		{"several contexts without roles", func(t *testing.T, f *fixture) Options { return Options{Contexts: []string{"ctx-a", "ctx-b"}} },
			[]string{"role=VALUE pairs"}},
		{"swarm contexts without infra", func(t *testing.T, f *fixture) Options { return Options{Contexts: []string{"swarm=ctx-b"}} },
			[]string{"--context infra=VALUE"}},
		{"infra context without swarm", func(t *testing.T, f *fixture) Options { return Options{Contexts: []string{"infra=ctx-b"}} },
			[]string{"--context swarm=VALUE"}},
		{"infra twice", func(t *testing.T, f *fixture) Options {
			return Options{Contexts: []string{"infra=ctx-a", "infra=ctx-b", "swarm=ctx-c"}}
		}, []string{"infra given twice"}},
		{"unknown context", func(t *testing.T, f *fixture) Options { return Options{Contexts: []string{"ctx-z"}} },
			[]string{`"ctx-z" not found`, "ctx-a, ctx-b, ctx-c"}},
		{"context that skips verification without a CA", func(t *testing.T, f *fixture) Options {
			return Options{Contexts: []string{"insecure"}}
		}, []string{"skips TLS verification", "docker context update insecure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			opts := tt.setup(t, f)
			isolate(t, f, nil)
			_, err := Resolve(opts)
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Validate reports every problem at once, so one run tells the user all
// there is to fix.
func TestValidateReportsEveryProblem(t *testing.T) {
	f := newFixture(t)
	isolate(t, f, nil)
	for _, n := range []string{"swarm-0", "swarm-1"} {
		write(t, filepath.Join(f.store, "machines", n, "key.pem"), []byte("junk"))
	}
	_, err := Resolve(Options{MachineStoragePath: f.store, Swarm: []string{"swarm-0", "swarm-1"}})
	if err == nil {
		t.Fatal("Resolve succeeded")
	}
	for _, n := range []string{"engine swarm-0", "engine swarm-1"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not mention %q", err, n)
		}
	}
}

func TestAddFlags(t *testing.T) {
	var o Options
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{"--machine-storage-path", "/s", "--infra", "i", "--swarm", "a,b", "--swarm", "c",
		"--context", "infra=x,swarm=y", "--host", "tcp://1.2.3.4:2376", "--tlscacert", "ca", "--tlscert", "c", "--tlskey", "k"})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{MachineStoragePath: "/s", Infra: "i", Swarm: []string{"a", "b", "c"}, Contexts: []string{"infra=x", "swarm=y"},
		Hosts: []string{"tcp://1.2.3.4:2376"}, TLSCACert: "ca", TLSCert: "c", TLSKey: "k"}
	if fmt.Sprint(o) != fmt.Sprint(want) {
		t.Errorf("parsed %+v, want %+v", o, want)
	}
}

func TestCheckTLSAcceptsCAOnly(t *testing.T) {
	f := newFixture(t)
	if err := CheckTLS(engine.TLSFiles{CA: filepath.Join(f.certDir, "ca.pem")}); err != nil {
		t.Error(err)
	}
	if err := CheckTLS(engine.TLSFiles{CA: filepath.Join(f.certDir, "ca.pem"), Cert: filepath.Join(f.certDir, "cert.pem")}); err == nil {
		t.Error("CheckTLS accepted a certificate without its key")
	}
}

// A store made by docker-machine itself (VirtualBox, RSA certificates,
// recorded paths under a home directory that is not here) resolves like a
// lab's.
func TestResolveRealDockerMachineStore(t *testing.T) {
	f := newFixture(t)
	isolate(t, f, nil)
	p, err := Resolve(Options{MachineStoragePath: "../machinestore/testdata/store"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Infra.Host != "tcp://192.168.99.100:2376" || !slices.Equal(names(p.Swarm), []string{"swarm-0"}) ||
		p.Infra.Addr != "192.168.99.100" {
		t.Errorf("plan = %+v", p)
	}
	if p.Swarm[0].TLS == nil || p.Swarm[0].TLS.Key != "../machinestore/testdata/store/machines/swarm-0/key.pem" {
		t.Errorf("manager TLS = %+v", p.Swarm[0].TLS)
	}
}

// Local is the docker CLI's default engine: with DOCKER_TLS_VERIFY and no
// DOCKER_CERT_PATH the certificates are the docker config directory's, not
// files relative to the working directory.
func TestLocal(t *testing.T) {
	config := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(config, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DOCKER_CONFIG", config)
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_HOST", "")
	ep, err := Local()
	if err != nil || ep.Host != "unix:///var/run/docker.sock" || ep.TLS != nil || ep.Name != "local" {
		t.Errorf("nothing set: %+v, %v; want the local socket without TLS", ep, err)
	}
	t.Setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	t.Chdir(t.TempDir())
	ep, err = Local()
	if err != nil || ep.Host != "tcp://10.0.0.5:2376" || ep.Addr != "10.0.0.5" || ep.TLS == nil || ep.TLS.CA != filepath.Join(config, "ca.pem") {
		t.Errorf("DOCKER_TLS_VERIFY without DOCKER_CERT_PATH: %+v (TLS %+v), %v; want the certificates in %s", ep, ep.TLS, err, config)
	}
}

// homeStore copies the real docker-machine store of machinestore/testdata
// (infra and swarm-0, VirtualBox) to HOME's .docker/machine, without the
// machines not in keep when keep is given.
func homeStore(t *testing.T, keep ...string) string {
	t.Helper()
	dst := filepath.Join(os.Getenv("HOME"), ".docker", "machine")
	if err := os.CopyFS(dst, os.DirFS("../machinestore/testdata/store")); err != nil {
		t.Fatal(err)
	}
	if len(keep) > 0 {
		for _, m := range []string{"infra", "swarm-0"} {
			if !slices.Contains(keep, m) {
				if err := os.RemoveAll(filepath.Join(dst, "machines", m)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return dst
}

// With no engine flag and no MACHINE_STORAGE_PATH, the default store is
// used when it holds infra; else the docker CLI's engine. The plan says
// which and why.
func TestResolveDefaultStore(t *testing.T) {
	for _, c := range []struct {
		name       string
		keep       []string // machines of the HOME store; nil: no store at all
		env        map[string]string
		opts       func(f *fixture) Options
		source     string // with {store} for HOME's store, {fixture} for the fixture's
		reason     string
		infra      string
		swarm      []string
		noHomeRead bool
	}{
		{name: "the default store holds infra", keep: []string{"infra", "swarm-0"},
			source: "machine store {store}", reason: "no engine flag, and the default docker-machine store holds machine infra",
			infra: "infra", swarm: []string{"swarm-0"}},
		{name: "it wins over DOCKER_HOST", keep: []string{"infra", "swarm-0"}, env: map[string]string{"DOCKER_HOST": "tcp://10.0.0.5:2376"},
			source: "machine store {store}", reason: "the default docker-machine store holds machine infra",
			infra: "infra", swarm: []string{"swarm-0"}},
		{name: "a default store without infra", keep: []string{"swarm-0"},
			source: "the local engine", reason: "no engine flag, and no machine infra in the default docker-machine store {store}",
			infra: "local", swarm: []string{"local"}},
		{name: "no default store, DOCKER_HOST", env: map[string]string{"DOCKER_HOST": "tcp://10.0.0.5:2376"},
			source: "DOCKER_HOST", reason: "no machine infra in the default docker-machine store {store}",
			infra: "default", swarm: []string{"default"}},
		{name: "no default store, DOCKER_CONTEXT", env: map[string]string{"DOCKER_CONTEXT": "ctx-a"},
			source: "docker context ctx-a", reason: "no machine infra in the default docker-machine store",
			infra: "ctx-a", swarm: []string{"ctx-a"}},
		{name: "MACHINE_STORAGE_PATH", keep: []string{"infra", "swarm-0"}, env: map[string]string{"MACHINE_STORAGE_PATH": "{fixture}"},
			source: "machine store {fixture}", reason: "MACHINE_STORAGE_PATH is set",
			infra: "infra", swarm: []string{"swarm-0", "swarm-1", "swarm-2", "swarm-10"}},
		{name: "store flags", keep: []string{"infra", "swarm-0"},
			opts:   func(f *fixture) Options { return Options{MachineStoragePath: f.store, Swarm: []string{"swarm-1"}} },
			source: "machine store {fixture}", reason: "--machine-storage-path, --swarm given",
			infra: "infra", swarm: []string{"swarm-1"}},
		{name: "--context", keep: []string{"infra", "swarm-0"},
			opts:   func(f *fixture) Options { return Options{Contexts: []string{"ctx-b"}} },
			source: "docker contexts in {config}", reason: "--context given", infra: "ctx-b", swarm: []string{"ctx-b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			isolate(t, f, nil)
			store := filepath.Join(os.Getenv("HOME"), ".docker", "machine")
			if c.keep != nil {
				homeStore(t, c.keep...)
			}
			fill := strings.NewReplacer("{store}", store, "{fixture}", f.store, "{config}", f.config).Replace
			for k, v := range c.env {
				t.Setenv(k, fill(v))
			}
			var opts Options
			if c.opts != nil {
				opts = c.opts(f)
			}
			p, err := Resolve(opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Source != fill(c.source) || !strings.Contains(p.Reason, fill(c.reason)) || p.Infra.Name != c.infra || !slices.Equal(names(p.Swarm), c.swarm) {
				t.Errorf("plan from %q (%q): infra %s, swarm %v\nwant from %q (%q): infra %s, swarm %v",
					p.Source, p.Reason, p.Infra.Name, names(p.Swarm), fill(c.source), fill(c.reason), c.infra, c.swarm)
			}
			want := fmt.Sprintf("engines from %s (%s): infra %s, swarm %s", p.Source, p.Reason, c.infra, strings.Join(c.swarm, ", "))
			if got := p.Describe(); got != want {
				t.Errorf("Describe = %q, want %q", got, want)
			}
		})
	}
}

// The default store found is read like any store: what is wrong in it is
// reported, not skipped for the local engine.
func TestResolveDefaultStoreWithoutSwarm(t *testing.T) {
	f := newFixture(t)
	isolate(t, f, nil)
	store := homeStore(t, "infra")
	_, err := Resolve(Options{})
	if err == nil || !strings.Contains(err.Error(), "machine store "+store+" has no machine named swarm-*") {
		t.Errorf("err = %v", err)
	}
}

// SameEngine: the daemon URL but for case and a trailing slash.
func TestSameEngine(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"tcp://10.0.0.2:2376", "tcp://10.0.0.2:2376", true},
		{"tcp://10.0.0.2:2376", "TCP://10.0.0.2:2376/", true},
		{"unix:///var/run/docker.sock", "unix:///var/run/docker.sock/", true},
		{"tcp://10.0.0.2:2376", "tcp://10.0.0.3:2376", false},
		{"tcp://10.0.0.2:2376", "tcp://10.0.0.2:2377", false},
		{"tcp://127.0.0.1:2376", "unix:///var/run/docker.sock", false},
	} {
		if got := SameEngine(c.a, c.b); got != c.same || SameEngine(c.b, c.a) != c.same || (EngineKey(c.a) == EngineKey(c.b)) != c.same {
			t.Errorf("SameEngine(%q, %q) = %t, want %t", c.a, c.b, got, c.same)
		}
	}
}
