package cluster

import (
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
)

// One client per engine, by one rule (hosts.EngineKey); the swarm's first,
// the manager leading; an engine no client can be made for is named.
func TestOpen(t *testing.T) {
	plan := &hosts.Plan{
		Source: "test",
		Infra:  hosts.Endpoint{Name: "infra", Host: "tcp://10.0.0.2:2376", Addr: "10.0.0.2"},
		Swarm: []hosts.Endpoint{
			{Name: "swarm-0", Host: "tcp://10.0.0.10:2376", Addr: "10.0.0.10"},
			{Name: "infra-again", Host: "TCP://10.0.0.2:2376/", Addr: "10.0.0.2"},
			{Name: "swarm-1", Host: "tcp://10.0.0.11:2376", Addr: "10.0.0.11"},
		},
	}
	c := Open("test", plan)
	defer c.Close()
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range c.Engines() {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "swarm-0,infra-again,swarm-1" {
		t.Errorf("engines %s, want swarm-0,infra-again,swarm-1: one client per engine, the swarm's first", got)
	}
	if c.Infra.Engine != c.Swarm[1].Engine || c.Infra.Addr != "10.0.0.2" || len(c.Swarm) != 3 {
		t.Errorf("infra %+v, swarm %+v: want infra's engine to be the second swarm host's client", c.Infra, c.Swarm)
	}
	if c.ConsulAddr() != "10.0.0.2:8500" {
		t.Errorf("consul at %s", c.ConsulAddr())
	}

	plan.Swarm = append(plan.Swarm, hosts.Endpoint{Name: "bad", Host: "tcp://10.0.0.12:2376", Addr: "10.0.0.12",
		TLS: &engine.TLSFiles{CA: "/nonexistent/ca.pem", Cert: "/nonexistent/cert.pem", Key: "/nonexistent/key.pem"}})
	c = Open("test", plan)
	defer c.Close()
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "engine bad (tcp://10.0.0.12:2376)") || c.Broken["bad"] == nil {
		t.Errorf("err %v, broken %v: want engine bad named", err, c.Broken)
	}
	if len(c.Engines()) != 3 {
		t.Errorf("%d engines, want the 3 good ones", len(c.Engines()))
	}
}
