package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/machinestore"
)

// outsideClient is the DataStax Python driver, run where swarmcass runs,
// outside the swarm: given one contact point, and logged in as the
// cluster's superuser (CQL_USER, CQL_PASSWORD), it prints the hosts it
// learned from the ring, each with its port and whether it connected.
const outsideClient = `
import json, os, sys
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
host, port = sys.argv[1], int(sys.argv[2])
auth = PlainTextAuthProvider(os.environ["CQL_USER"], os.environ["CQL_PASSWORD"])
cluster = Cluster([host], port=port, connect_timeout=10, auth_provider=auth)
session = cluster.connect()
session.execute("SELECT release_version FROM system.local")
hosts = sorted("%s:%d" % (h.endpoint.address, h.endpoint.port) for h in cluster.metadata.all_hosts() if h.is_up)
print(json.dumps({"up": hosts}))
cluster.shutdown()
`

// TestIntegrationClientsOutsideTheSwarm: bootstrap --clients host with four
// nodes on three machines (two share swarm-0, the second on port 9043); a
// real driver outside the swarm, given one contact point, learns every node
// at its host's address and published port and connects to each; ring -o
// json lists those contact points. Then the node commands, against a node
// on each machine.
func TestIntegrationClientsOutsideTheSwarm(t *testing.T) {
	// The lab's store where docker-machine keeps one, HOME/.docker/machine,
	// with nothing set: bootstrap, ring and the node commands find it there.
	e := newEnvAt(t, 3, filepath.Join(t.TempDir(), "user"))
	python := cmp.Or(os.Getenv("CASSIM_PYTHON"), "python3")
	if err := exec.Command(python, "-c", "import cassandra").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the Python driver is missing (%v): scripts/test.sh installs it and sets CASSIM_PYTHON", err)
		}
		t.Skipf("needs the DataStax Python driver (pip install cassandra-driver==3.30.1, or CASSIM_PYTHON): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	r := e.must(append(e.bootstrapArgs(4), "--clients", "host")...)
	if first := strings.SplitN(r.out, "\n", 2)[0]; !strings.Contains(first, e.store) || strings.Contains(first, "MACHINE_STORAGE_PATH is set") {
		t.Errorf("bootstrap did not say it uses the store at HOME/.docker/machine (%s): %s", e.store, first)
	}
	e.requireRing(ctx, 4)
	addr := map[string]string{}
	for _, name := range []string{"swarm-0", "swarm-1", "swarm-2"} {
		m, err := machinestore.New(e.store).Load(name)
		if err != nil {
			t.Fatal(err)
		}
		addr[name] = m.IP
	}
	want := []string{addr["swarm-0"] + ":9042", addr["swarm-0"] + ":9043", addr["swarm-1"] + ":9042", addr["swarm-2"] + ":9042"}
	slices.Sort(want)
	if !strings.Contains(r.out, "Contact points for drivers outside the swarm: ") {
		t.Errorf("the summary lists no contact points for drivers outside the swarm:\n%s", r.out)
	}

	// Authentication is on: the driver logs in as a user's would, with
	// the cqlsh credentials file `swarmcass credentials --file` names.
	creds, err := credentials.ReadLocal(lastLine(e.must("credentials", "--cluster", "e2e", "--file").out))
	if err != nil {
		t.Fatalf("the file swarmcass credentials --file names: %v", err)
	}
	var got struct {
		Up []string `json:"up"`
	}
	var out []byte
	err = waitFor(ctx, func() bool { // Consul's checks passed, but a driver needs every node's CQL
		cmd := exec.CommandContext(ctx, python, "-c", outsideClient, addr["swarm-1"], "9042")
		cmd.Env = append(os.Environ(), "CQL_USER="+creds.User, "CQL_PASSWORD="+creds.Password)
		o, err := cmd.CombinedOutput()
		if len(o) > 0 {
			out = o // the last attempt's, unless ctx killed it first
		}
		return err == nil && json.Unmarshal([]byte(lastLine(string(o))), &got) == nil && len(got.Up) == len(want)
	})
	t.Logf("driver outside the swarm, contact point %s:9042: %s", addr["swarm-1"], strings.TrimSpace(string(out)))
	if err != nil || !slices.Equal(got.Up, want) {
		t.Fatalf("the driver sees %v up, want every node %v (%v)", got.Up, want, err)
	}

	rj := e.must("ring", "--cluster", "e2e", "-o", "json")
	var rep struct {
		ContactPoints struct {
			Clients string   `json:"clients"`
			Overlay []string `json:"overlay"`
			Outside []string `json:"outside"`
		} `json:"contactPoints"`
	}
	if err := json.Unmarshal([]byte(jsonPart(rj.out)), &rep); err != nil {
		t.Fatalf("ring -o json: %v\n%s", err, rj.out)
	}
	outside := slices.Sorted(slices.Values(rep.ContactPoints.Outside))
	if rep.ContactPoints.Clients != "host" || !slices.Equal(outside, want) {
		t.Errorf("ring -o json contact points %+v, want clients host and %v", rep.ContactPoints, want)
	}

	// The node commands, one node on each machine (cass4 shares swarm-0).
	// cassim has no cqlsh (the real tier runs swarmcass cqlsh), and no shell.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nodetool", "cass1", "status"}, "UN  "},
		{[]string{"nodetool", "cass2", "info"}, "Native Transport active: true"},
		{[]string{"exec", "cass3", "--", "nodetool", "version"}, "ReleaseVersion: "}, // a scratch image: nodetool is its only command
		{[]string{"logs", "cass4", "--tail", "50"}, "state jump to NORMAL"},
	} {
		// --cluster before NODE: what follows NODE is the node command's.
		res := e.must(append([]string{c.args[0], "--cluster", "e2e"}, c.args[1:]...)...)
		if !strings.Contains(res.out, c.want) {
			t.Errorf("swarmcass %s: want %q in\n%s", strings.Join(c.args, " "), c.want, res.out)
		}
	}
}

// waitFor polls check every second until it holds or ctx ends.
func waitFor(ctx context.Context, check func() bool) error {
	for {
		if check() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
