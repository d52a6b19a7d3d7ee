// Command swarmcass provisions Apache Cassandra clusters on Docker Swarm
// through the Docker Engine API. The commands live in internal/cli.
package main

import (
	"os"

	"github.com/swarmcass/swarmcass/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
