package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// authScript tries three logins with the DataStax Python driver against
// the contact points: no credentials, Cassandra's default cassandra/cassandra,
// and the superuser of the credentials file bootstrap mounts. It prints one
// JSON line: what each attempt got ("ok", or the driver's error) and the
// superuser's name.
const authScript = `
import configparser, json, sys
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
hosts = sys.argv[1].split(",")
cp = configparser.ConfigParser()
cp.read("/run/secrets/swarmcass-cql-credentials")
user, pw = cp["plain_text_auth"]["username"], cp["plain_text_auth"]["password"]
def attempt(auth):
    c = Cluster(hosts, auth_provider=auth, connect_timeout=15)
    try:
        s = c.connect()
        s.execute("SELECT release_version FROM system.local")
        return "ok"
    except NoHostAvailable as e:
        return "; ".join(str(v) for v in e.errors.values())
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)
    finally:
        c.shutdown()
print(json.dumps({"user": user, "none": attempt(None),
                  "default": attempt(PlainTextAuthProvider("cassandra", "cassandra")),
                  "superuser": attempt(PlainTextAuthProvider(user, pw))}))
`

type authReport struct {
	User, None, Default, Superuser string
}

// logins runs authScript in node's container.
func (e *env) logins(ctx context.Context, node, contacts string) authReport {
	e.t.Helper()
	n := e.runningNode(ctx, node)
	res, err := n.machine.Exec(ctx, n.id, []string{"env", "PYTHONPATH=/opt/cassandra/pylib", "python3", "-c", authScript, contacts})
	if err != nil || res.ExitCode != 0 {
		e.t.Fatalf("logins in %s: %v exit %d\n%s%s", node, err, res.ExitCode, res.Stdout, res.Stderr)
	}
	var rep authReport
	if err := json.Unmarshal([]byte(lastLine(res.Stdout)), &rep); err != nil {
		e.t.Fatalf("logins: %v\n%s%s", err, res.Stdout, res.Stderr)
	}
	return rep
}

// realAuth: bootstrap turned authentication on by itself. A client without
// credentials and cassandra/cassandra are refused with Cassandra's words,
// the generated superuser logs in (the realRows rows were written and read
// by it); system_auth is NetworkTopologyStrategy 3, so with cass3 down
// (its gossip off: every peer sees it DN and sends it no reads) a login
// still succeeds;
// credentials and the node commands work with no password typed.
func realAuth(ctx context.Context, t *testing.T, e *env) {
	want := func(rep authReport) {
		t.Helper()
		if !strings.Contains(rep.None, "Remote end requires authentication") {
			t.Errorf("no credentials: %s", rep.None)
		}
		if !strings.Contains(rep.Default, "cassandra is not permitted to log in") {
			t.Errorf("cassandra/cassandra: %s", rep.Default)
		}
		if rep.Superuser != "ok" {
			t.Errorf("superuser %s: %s", rep.User, rep.Superuser)
		}
	}
	rep := e.logins(ctx, "cass1", "cass1,cass2,cass3")
	t.Logf("logins: %+v", rep)
	want(rep)

	c := e.must("credentials", "--cluster", "e2e")
	if !strings.Contains(c.out, "CQL superuser "+rep.User) {
		t.Errorf("swarmcass credentials:\n%s", c.out)
	}
	q := e.must("cqlsh", "--cluster", "e2e", "cass2", "-e",
		"SELECT role, is_superuser, can_login FROM system_auth.roles; SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth';")
	if !regexp.MustCompile(`(?m)^\s+`+rep.User+` \|\s+True \|\s+True$`).MatchString(q.out) ||
		!regexp.MustCompile(`(?m)^\s+cassandra \|\s+False \|\s+False$`).MatchString(q.out) ||
		!strings.Contains(q.out, "'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'datacenter1': '3'") {
		t.Errorf("swarmcass cqlsh cass2: roles and system_auth:\n%s", q.out)
	}

	// cass3 down for the others: its gossip off. (Not its CQL too: after
	// disablegossip, 5.0 refuses enablebinary, "Unable to start native
	// transport because the node was drained.")
	n3 := e.runningNode(ctx, "cass3")
	if res, err := n3.machine.Exec(ctx, n3.id, []string{"nodetool", "disablegossip"}); err != nil || res.ExitCode != 0 {
		t.Fatalf("cass3: nodetool disablegossip: %v %+v", err, res)
	}
	rd := e.waitRing(ctx, 1, "cass3")
	t.Logf("ring with cass3's gossip off (exit %d)", rd.code)
	rep = e.logins(ctx, "cass1", "cass1,cass2")
	t.Logf("logins with cass3 down: %+v", rep)
	want(rep)

	if res, err := n3.machine.Exec(ctx, n3.id, []string{"nodetool", "enablegossip"}); err != nil || res.ExitCode != 0 {
		t.Fatalf("cass3: nodetool enablegossip: %v %+v", err, res)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for e.run("ring", "--cluster", "e2e").code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the ring is not healthy again 2 minutes after cass3's gossip came back")
		}
		time.Sleep(2 * time.Second)
	}
	e.requireRing(ctx, 3)
}
