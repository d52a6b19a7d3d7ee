// Command cassimctx writes cassim's image build context (Dockerfile and a
// static cassim binary) into a directory, for `swarmcass bootstrap
// --image-dir`. cassim is a stand-in for Cassandra in labs and tests; it is
// not Cassandra. Run it from the source tree: go run ./scripts/cassimctx DIR
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/swarmcass/swarmcass/cassim/cassimimage"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/cassimctx DIR")
		os.Exit(2)
	}
	if err := cassimimage.Context(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "cassimctx:", err)
		os.Exit(1)
	}
}
