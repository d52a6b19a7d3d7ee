package cli

import (
	"fmt"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
)

// engineClients makes one client per distinct engine (by its URL), so that
// an engine playing several roles is reached through one client.
type engineClients map[string]engine.Engine

// connect returns the client of ep's engine, making it on first use. It
// does not contact the engine.
func (c engineClients) connect(ep hosts.Endpoint) (engine.Engine, error) {
	if e, ok := c[ep.Host]; ok {
		return e, nil
	}
	d, err := engine.NewDocker(ep.Name, ep.Host, ep.TLS)
	if err != nil {
		return nil, fmt.Errorf("engine %s (%s): %w", ep.Name, ep.Host, err)
	}
	c[ep.Host] = d
	return d, nil
}

// closeAll closes every client made.
func (c engineClients) closeAll() {
	for _, e := range c {
		e.Close()
	}
}
