package cli

import (
	"fmt"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
)

// engineClients makes one client per distinct engine (by its URL), so that
// an engine playing several roles is reached through one client.
type engineClients struct {
	byHost map[string]engine.Engine
	// trace, when set, hears every API call (-v).
	trace func(format string, args ...any)
}

// connect returns the client of ep's engine, making it on first use. It
// does not contact the engine.
func (c *engineClients) connect(ep hosts.Endpoint) (engine.Engine, error) {
	if e, ok := c.byHost[ep.Host]; ok {
		return e, nil
	}
	var opts []engine.Option
	if c.trace != nil {
		opts = append(opts, engine.WithTrace(c.trace))
	}
	d, err := engine.NewDocker(ep.Name, ep.Host, ep.TLS, opts...)
	if err != nil {
		return nil, fmt.Errorf("engine %s (%s): %w", ep.Name, ep.Host, err)
	}
	if c.byHost == nil {
		c.byHost = map[string]engine.Engine{}
	}
	c.byHost[ep.Host] = d
	return d, nil
}

// closeAll closes every client made.
func (c *engineClients) closeAll() {
	for _, e := range c.byHost {
		e.Close()
	}
}
