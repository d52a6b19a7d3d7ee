package lab

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := Config{Name: "lab1", Machines: 3, Subnet: DefaultSubnet, StoreDir: "/tmp/x"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no machines", func(c *Config) { c.Machines = 0 }, "at least 1 swarm machine"},
		{"bad name", func(c *Config) { c.Name = "Lab_1" }, "lowercase"},
		{"bad subnet", func(c *Config) { c.Subnet = "10.1.2.3" }, "IPv4 CIDR"},
		{"subnet too small", func(c *Config) { c.Subnet = "10.1.2.0/28"; c.Machines = 6 }, "holds 4 machines, not 7"},
		{"no store", func(c *Config) { c.StoreDir = "" }, "store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	c := Config{Name: "l", Machines: 2, Subnet: "10.9.8.0/24"}
	got := c.Plan()
	want := []Machine{
		{"infra", "l-infra", "10.9.8.10", "tcp://10.9.8.10:2376"},
		{"swarm-0", "l-swarm-0", "10.9.8.11", "tcp://10.9.8.11:2376"},
		{"swarm-1", "l-swarm-1", "10.9.8.12", "tcp://10.9.8.12:2376"},
	}
	if len(got) != len(want) {
		t.Fatalf("plan = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("machine %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCompareMachines(t *testing.T) {
	in := []string{"swarm-10", "swarm-2", "infra", "swarm-0"}
	for i := 1; i < len(in); i++ {
		for j := i; j > 0 && compareMachines(in[j-1], in[j]) > 0; j-- {
			in[j-1], in[j] = in[j], in[j-1]
		}
	}
	if strings.Join(in, ",") != "infra,swarm-0,swarm-2,swarm-10" {
		t.Errorf("order = %v", in)
	}
}

func TestEnvWithoutMachine(t *testing.T) {
	l := New(Config{Name: "l", StoreDir: "/s/t"}, nil, nil)
	lines, err := l.Env("")
	if err != nil || len(lines) != 1 || lines[0] != `export MACHINE_STORAGE_PATH="/s/t"` {
		t.Fatalf("env = %q, %v", lines, err)
	}
	if _, err := l.Env("swarm-0"); err == nil {
		t.Error("env for a machine of an empty store succeeded")
	}
}

// With no --subnet, Up chooses a /24: Validate holds the lab to that size.
func TestValidateWithoutSubnet(t *testing.T) {
	c := Config{Name: "lab1", Machines: 3, StoreDir: "/tmp/x"}
	if err := c.Validate(); err != nil {
		t.Fatalf("no subnet: %v", err)
	}
	c.Machines = 244
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "holds 244 machines, not 245") {
		t.Errorf("245 machines in a /24: %v", err)
	}
}
