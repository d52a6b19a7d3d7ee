// Package consulhttp makes the one kind of Consul client swarmcass uses:
// plain HTTP to the cluster's Consul server, without pooled connections
// (a run makes few calls, and a CLI should leave no idle sockets behind).
package consulhttp

import (
	"fmt"

	"github.com/hashicorp/consul/api"
)

// New is a client of the Consul HTTP API at addr (host:port). It does not
// contact the agent.
func New(addr string) (*api.Client, error) {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = addr
	cfg.Scheme = "http"
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul %s: %w", addr, err)
	}
	return c, nil
}
