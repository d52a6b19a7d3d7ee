package cassim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The DataStax drivers for Python and Node.js, with their default
// settings and a PlainTextAuthProvider, against a 3-node ring on loopback
// with authentication on (as swarmcass bootstraps it): each logs in with
// SASL PLAIN, falls back to protocol v4, learns every node and gets
// cassim's refusal for a user table. The
// drivers come from CASSIM_PYTHON (an interpreter that imports cassandra,
// default python3) and node with NODE_PATH; scripts/test.sh installs them.
// Missing drivers skip the test, except under CI=true. A failure shows the
// contact node's CQL trace.
func TestIntegrationDrivers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the Python and Node.js drivers")
	}
	python := cmp.Or(os.Getenv("CASSIM_PYTHON"), "python3")
	drivers := []struct {
		name, hint string
		probe, run []string // a command that succeeds when the driver is there; the check
	}{
		{"python", "pip install cassandra-driver==3.30.1, or set CASSIM_PYTHON to a Python that has it",
			[]string{python, "-c", "import cassandra"}, []string{python, "testdata/drivers/check.py"}},
		{"nodejs", "npm install cassandra-driver in a directory and set NODE_PATH to its node_modules",
			[]string{"node", "-e", "require('cassandra-driver')"}, []string{"node", "testdata/drivers/check.js"}},
	}
	var found []int
	for i, d := range drivers {
		if err := exec.Command(d.probe[0], d.probe[1:]...).Run(); err != nil {
			if os.Getenv("CI") == "true" {
				t.Errorf("the %s driver is missing (%v): %s", d.name, err, d.hint)
			} else {
				t.Logf("skipping the %s driver (%v): %s", d.name, err, d.hint)
			}
			continue
		}
		found = append(found, i)
	}
	if len(found) == 0 {
		if !t.Failed() {
			t.Skip("no driver installed")
		}
		return
	}

	l := newLab(t)
	nodes := ring3(t, l, authOn)
	nodes[0].waitLog(t, "Created default superuser role 'cassandra'")
	for k, i := range found {
		d := drivers[i]
		contact := 2 + k // each driver its own contact node, whose log shows its fallback
		t.Run(d.name, func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the contact node's log and CQL trace:\n%s", nodes[contact-1].out.String())
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, d.run[0], append(d.run[1:], l.ip(contact), DefaultSuperuser, DefaultSuperuser)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s%s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
			}
			var got struct {
				Driver          string
				Protocol        int
				SchemaAgreement bool `json:"schema_agreement"`
				Hosts           []struct {
					Address, DC, Rack, Release string
					HostID                     string `json:"host_id"`
					Up                         bool
					Tokens                     int
				}
				Local, Refusal string
			}
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s\n%s", err, stdout.String(), stderr.String())
			}
			t.Logf("%s driver %s: protocol v%d, %d hosts", d.name, got.Driver, got.Protocol, len(got.Hosts))
			if got.Protocol != maxProtocolVersion || !got.SchemaAgreement || got.Local != DefaultReleaseVersion {
				t.Errorf("protocol %d, schema agreement %t, system.local release %q", got.Protocol, got.SchemaAgreement, got.Local)
			}
			ids := map[string]string{}
			for _, h := range got.Hosts {
				ids[h.Address] = h.HostID
				if h.DC != "datacenter1" || h.Rack != "rack1" || h.Release != DefaultReleaseVersion || !h.Up || h.Tokens != 4 {
					t.Errorf("host %+v", h)
				}
			}
			for j, n := range nodes {
				if addr, want := l.ip(j+1), n.hostID(); ids[addr] != want {
					t.Errorf("host %s: ID %q, want %q (hosts %v)", addr, ids[addr], want, ids)
				}
			}
			if len(ids) != len(nodes) {
				t.Errorf("the driver knows %d hosts: %v", len(ids), ids)
			}
			if (!strings.Contains(got.Refusal, "2200") && !strings.Contains(got.Refusal, "8704")) || // 0x2200 in hex or decimal
				!strings.Contains(got.Refusal, "table ks.t does not exist: "+cassimServes) {
				t.Errorf("a user table: %s", got.Refusal)
			}
			if !strings.Contains(nodes[contact-1].out.String(), "ERROR 0x000a \"Invalid or unsupported protocol version") {
				t.Error("no protocol fallback in the contact node's trace")
			}
		})
	}
}
