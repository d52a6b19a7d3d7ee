package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/op"
)

// Each bad input is refused before anything is created, with a hint.
func TestPreflightRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(l *lab, cfg *Config)
		want  string
	}{
		{"no nodes", func(l *lab, cfg *Config) { cfg.Nodes = 0 }, "--nodes is 0"},
		{"bad cluster name", func(l *lab, cfg *Config) { cfg.Cluster = "My_Cluster" }, `invalid cluster name "My_Cluster"`},
		{"unsupported cassandra version", func(l *lab, cfg *Config) { cfg.ImageDir = ""; cfg.CassandraVersion = "3.11" }, `cassandra version "3.11" is not supported`},
		{"image dir without Dockerfile", func(l *lab, cfg *Config) { cfg.ImageDir = t.TempDir() }, "has no Dockerfile"},
		{"image not on infra", func(l *lab, cfg *Config) { cfg.Image = "cassandra:5.0" }, "--image cassandra:5.0 is not on the infra engine"},
		{"base image not on infra", func(l *lab, cfg *Config) { cfg.ImageDir = ""; cfg.BaseImage = "swarmcass/cassandra-base:0" }, "--base-image swarmcass/cassandra-base:0 is not on the infra engine"},
		{"base image with image dir", func(l *lab, cfg *Config) { cfg.BaseImage = "swarmcass/cassandra-base:0" }, "--base-image swarmcass/cassandra-base:0 goes with neither --image nor --image-dir"},
		{"bad node env", func(l *lab, cfg *Config) { cfg.NodeEnv = []string{"NOEQUALS"} }, `invalid --node-env "NOEQUALS"`},
		{"old engine", func(l *lab, cfg *Config) { l.swarm[1].Spec.APIVersion = "1.39" }, "engine swarm-1 speaks API 1.39"},
		{"engine down", func(l *lab, cfg *Config) { l.swarm[2].Fail("Info", errors.New("connection refused")) }, "engine swarm-2 (tcp://10.0.0.12:2376) does not answer"},
		{"registry not trusted", func(l *lab, cfg *Config) { l.swarm[2].Spec.InsecureRegistries = []string{"127.0.0.0/8"} }, "engine swarm-2 will not pull from the registry 10.0.0.2:5000"},
		{"too little memory", func(l *lab, cfg *Config) {
			cfg.Nodes = 9
			for _, f := range l.swarm {
				f.Spec.MemTotal = 2 << 30
			}
		}, "3 nodes of 1536M on swarm-0 need 4608M, but it has 2G"},
		{"other swarm", func(l *lab, cfg *Config) { l.swarm[2].SwarmInit(context.Background(), "10.0.0.12", nil) }, "engine swarm-2 belongs to a different swarm"},
		{"worker first", func(l *lab, cfg *Config) {
			l.swarm[1].SwarmInit(context.Background(), "10.0.0.11", nil)
			tok, _ := l.swarm[1].SwarmInspect(context.Background())
			l.swarm[0].SwarmJoin(context.Background(), "10.0.0.10", "10.0.0.11:2377", tok.WorkerToken)
		}, "swarm-0 is a worker of a swarm, not its manager"},
		{"network of another driver", func(l *lab, cfg *Config) {
			l.swarm[0].NetworkCreate(context.Background(), engine.NetworkSpec{Name: "swarmcass", Driver: "bridge"})
		}, "network swarmcass exists on swarm-0 with driver bridge"},
		{"service of another cluster", func(l *lab, cfg *Config) {
			other := l.config(1)
			other.Cluster = "other"
			bootstrap(t, other)
		}, "service cass1 exists and belongs to another cluster (other)"},
		{"port 5000 taken", func(l *lab, cfg *Config) {
			l.infra.AddImage("nginx")
			id, _ := l.infra.ContainerCreate(context.Background(), engine.ContainerSpec{Name: "web", Image: "nginx", Ports: []engine.PortBinding{{HostPort: 5000, ContainerPort: 80}}})
			l.infra.ContainerStart(context.Background(), id)
		}, "port 5000 on the infra host (10.0.0.2:5000) is held by something that is not swarmcass's registry"},
		{"foreign consul container", func(l *lab, cfg *Config) {
			l.infra.ContainerCreate(context.Background(), engine.ContainerSpec{Name: "swarmcass-consul", Image: "swarmcass/consul:1.20.6"})
		}, "container swarmcass-consul on infra was not created by swarmcass"},
		{"loopback infra with other hosts", func(l *lab, cfg *Config) { cfg.Infra.Addr = "127.0.0.1" }, "the infra host's address 127.0.0.1 is loopback"},
		{"one daemon by two addresses in the swarm", func(l *lab, cfg *Config) { l.swarm[2].Spec.ID = l.swarm[1].Spec.ID },
			"engines swarm-1 (tcp://10.0.0.11:2376) and swarm-2 (tcp://10.0.0.12:2376) are one Docker daemon (engine ID ENGINE-SWARM-1) reached by two addresses"},
		{"infra's daemon by another address in the swarm", func(l *lab, cfg *Config) { l.swarm[0].Spec.ID = l.infra.Spec.ID },
			"engines infra (tcp://10.0.0.2:2376) and swarm-0 (tcp://10.0.0.10:2376) are one Docker daemon (engine ID ENGINE-INFRA)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, 3)
			cfg := l.config(3)
			c.setup(l, &cfg)
			before := len(l.w.Log())
			_, err := Bootstrap(context.Background(), cfg)
			if err == nil {
				t.Fatal("Bootstrap succeeded")
			}
			if !strings.HasPrefix(err.Error(), "Preflight: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %s\nwant a preflight error containing %q", op.Explain(err), c.want)
			}
			var pe *op.Error
			if !errors.As(err, &pe) || pe.Hint == "" {
				t.Errorf("no hint in %s", op.Explain(err))
			}
			if after := l.w.Log()[before:]; len(after) != 0 {
				t.Errorf("preflight created %v", after)
			}
		})
	}
}

func TestExplainListsEveryProblem(t *testing.T) {
	l := newLab(t, 2)
	cfg := l.config(0)
	cfg.Cluster = "Bad"
	_, err := Bootstrap(context.Background(), cfg)
	out := op.Explain(err)
	if !strings.Contains(out, "--nodes is 0") || !strings.Contains(out, `invalid cluster name "Bad"`) || strings.Count(out, "hint: ") != 2 {
		t.Errorf("Explain:\n%s", out)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "1G": 1 << 30, "1.5g": 3 << 29, "256MiB": 256 << 20, "1024": 1024, "64m": 64 << 20} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "-1M", "lots"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
	if FormatBytes(1<<30) != "1G" || FormatBytes(512<<20) != "512M" || FormatBytes(1536<<20) != "1536M" {
		t.Error("FormatBytes")
	}
}

// Input that is wrong whatever the engines say is refused, naming the value
// typed, before any engine is asked anything, let alone changed.
func TestBadInputTouchesNoEngine(t *testing.T) {
	cases := []struct {
		name string
		edit func(cfg *Config)
		want string
	}{
		{"port out of range", func(cfg *Config) { cfg.CQLPort = 70000 }, "--cql-port 70000 is not a port"},
		{"last node's port out of range", func(cfg *Config) { cfg.Nodes, cfg.CQLPort = 4, 65535 },
			"--cql-port 65535: 4 nodes on 3 hosts publish up to port 65536"},
		{"network not a name", func(cfg *Config) { cfg.Network = "bad name!" }, `invalid --network "bad name!"`},
		{"network not a DNS label", func(cfg *Config) { cfg.Network = "my_net" }, `invalid --network "my_net"`},
		{"network too long", func(cfg *Config) { cfg.Network = strings.Repeat("n", 64) }, "invalid --network"},
		{"cluster not a name", func(cfg *Config) { cfg.Cluster = "prod ring" }, `invalid cluster name "prod ring"`},
		{"consul image", func(cfg *Config) { cfg.ConsulImage = "Hashicorp/Consul" }, `invalid --consul-image "Hashicorp/Consul"`},
		{"registry image", func(cfg *Config) { cfg.RegistryImage = "registry:" }, `invalid --registry-image "registry:"`},
		{"image", func(cfg *Config) { cfg.Image = "cassandra 5" }, `invalid --image "cassandra 5"`},
		{"heap", func(cfg *Config) { cfg.Heap = 10 << 20 }, "heap 10M is too small"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, 3)
			for _, f := range append([]*enginetest.Fake{l.infra}, l.swarm...) {
				f.Fail("Info", errors.New("asked"))
			}
			cfg := l.config(3)
			c.edit(&cfg)
			_, err := Bootstrap(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "asked") {
				t.Errorf("an engine was asked before the input was refused: %s", op.Explain(err))
			}
			var pe *op.Error
			if !errors.As(err, &pe) || pe.Hint == "" {
				t.Errorf("no hint in %s", op.Explain(err))
			}
			if log := l.w.Log(); len(log) != 0 {
				t.Errorf("created %v", log)
			}
		})
	}
}

func TestGoodNamesPass(t *testing.T) {
	for _, n := range []string{"swarmcass", "a", "Net-1", strings.Repeat("n", 63)} {
		if err := CheckNetwork(n); err != nil {
			t.Errorf("CheckNetwork(%q): %v", n, err)
		}
	}
	for _, ref := range []string{"hashicorp/consul:1.20", "registry:3", "10.0.0.2:5000/swarmcass/cassandra@sha256:" + strings.Repeat("a", 64), strings.Repeat("b", 64)} {
		if err := checkImage("--image", ref); err != nil {
			t.Errorf("checkImage(%q): %v", ref, err)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"256M": 256 << 20, "1G": 1 << 30, "512MiB": 512 << 20, "1.5g": 3 << 29} {
		if got, err := ParseMemory("--heap", in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"10":   "--heap 10 has no unit",
		"1024": "--heap 1024 has no unit",
		"lots": `--heap: invalid size "lots"`,
	} {
		_, err := ParseMemory("--heap", in)
		var pe *op.Error
		if err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, &pe) || !strings.Contains(pe.Hint, "256M") {
			t.Errorf("ParseMemory(%q) = %v, want %q with a hint naming 256M", in, err, want)
		}
	}
}

// spelled is an engine client whose daemon URL is written as host says.
type spelled struct {
	*enginetest.Fake
	host string
}

func (s spelled) Host() string { return s.host }

// Preflight decides "the same engine" by the one rule, hosts.SameEngine:
// the same URL but for case and a trailing slash is one engine (one host,
// asked once), whichever client reaches it; a different URL is another
// engine, and one that answers as the same daemon is refused (above).
func TestPreflightOneRuleForTheSameEngine(t *testing.T) {
	l := newLab(t, 0)
	cfg := l.alone("solo", "10.0.0.50", 1)
	e := cfg.Infra.Engine.(*enginetest.Fake)
	cfg.Infra.Engine = spelled{e, "TCP://10.0.0.50:2376/"}
	r := &run{cfg: cfg.withDefaults(), p: cfg.withDefaults().Progress}
	if err := r.connect(context.Background()); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(r.allHosts()) != 1 || r.manager != r.infra || len(r.swarm) != 1 {
		t.Errorf("%d hosts, manager %v, infra %v: want one engine playing every role", len(r.allHosts()), r.manager.name(), r.infra.name())
	}
	if res := bootstrap(t, cfg); len(res.Nodes) != 1 {
		t.Errorf("bootstrap on one engine spelled two ways: %+v", res)
	}

	cfg.Infra.Engine = spelled{e, "tcp://solo.example:2376"}
	_, err := Bootstrap(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "engines solo (tcp://solo.example:2376) and solo (tcp://10.0.0.50:2376) are one Docker daemon") {
		t.Errorf("one daemon at two URLs: %v", err)
	}
}
