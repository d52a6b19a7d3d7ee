package registry

import "github.com/swarmcass/swarmcass/engine"

func enginetestRegistry() engine.ContainerSpec {
	return engine.ContainerSpec{
		Name:  "registry-test",
		Image: "swarmcass/registry:3.1.2",
		Ports: []engine.PortBinding{{HostPort: Port, ContainerPort: Port}},
	}
}
