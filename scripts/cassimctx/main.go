// Command cassimctx writes cassim's image build context (Dockerfile and a
// static cassim binary) into a directory, for `swarmcass bootstrap
// --image-dir`. cassim is a stand-in for Cassandra in labs and tests; it is
// not Cassandra. Run it from the source tree:
//
//	go run ./scripts/cassimctx [-version 5.0.9] [-fail-at-start] [-profile fast] DIR
//
// -version is the Cassandra release the nodes report; -fail-at-start makes
// every start fail as a broken upgrade does (to test rollbacks).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/swarmcass/swarmcass/cassim/cassimimage"
)

func main() {
	var o cassimimage.Options
	flag.StringVar(&o.Version, "version", "", "the Cassandra release the image's nodes report (default: the pinned one)")
	flag.BoolVar(&o.FailAtStart, "fail-at-start", false, "every start fails as a broken upgrade does")
	flag.StringVar(&o.Profile, "profile", "", "timing profile, fast or realistic (default realistic)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/cassimctx [-version V] [-fail-at-start] [-profile P] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := cassimimage.ContextWith(context.Background(), flag.Arg(0), o); err != nil {
		fmt.Fprintln(os.Stderr, "cassimctx:", err)
		os.Exit(1)
	}
}
