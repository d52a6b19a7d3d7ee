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
// and the superuser of the credentials file bootstrap mounts, connecting to
// the contact points only (the server still reads roles from every
// system_auth replica). It prints one
// JSON line: what each attempt got ("ok", or the driver's error) and the
// superuser's name.
const authScript = `
import configparser, json, sys
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy
hosts = sys.argv[1].split(",")
cp = configparser.ConfigParser()
cp.read("/run/secrets/swarmcass-cql-credentials")
user, pw = cp["plain_text_auth"]["username"], cp["plain_text_auth"]["password"]
def attempt(auth):
    # Only the contact points: a node down among the peers would otherwise
    # hold connect() for its connect_timeout.
    c = Cluster(hosts, auth_provider=auth, connect_timeout=15, load_balancing_policy=WhiteListRoundRobinPolicy(hosts))
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

// wantLogins: no credentials and cassandra/cassandra refused in Cassandra's
// words, the generated superuser logged in.
func wantLogins(t *testing.T, rep authReport) {
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

// realAuth: infra is closed (Consul and the registry refuse whoever has
// no credentials), and bootstrap turned authentication on by itself. A
// client without credentials and cassandra/cassandra are refused with
// Cassandra's words,
// the generated superuser logs in (the realRows rows were written by it);
// system_auth is NetworkTopologyStrategy 3; credentials and the node
// commands work with no password typed. Seconds: the login with a node
// down is checked in realNodeDown, while cass3's machine is stopped anyway
// (realAuthNodeDown).
func realAuth(ctx context.Context, t *testing.T, e *env) {
	requireInfraClosed(ctx, t, e, 3) // as on cassim (TestIntegrationEndToEndInfraSecure): Consul 403, the registry 401
	rep := e.logins(ctx, "cass1", "cass1,cass2,cass3")
	t.Logf("logins: %+v", rep)
	wantLogins(t, rep)

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
}

// realAuthNodeDown, with cass3 down (realNodeDown stopped its machine):
// system_auth at RF 3 still answers a login at LOCAL_QUORUM, and the
// refusals are the same.
func realAuthNodeDown(ctx context.Context, t *testing.T, e *env) {
	t.Helper()
	start := time.Now()
	// Contact points that answer: the login's coordinator reads the role
	// from system_auth's replicas, cass3 among them.
	rep := e.logins(ctx, "cass1", "cass1,cass2")
	t.Logf("logins with cass3 down (%s): %+v", time.Since(start).Round(100*time.Millisecond), rep)
	wantLogins(t, rep)
}
