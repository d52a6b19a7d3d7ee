package cassim

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestMurmur3Token(t *testing.T) {
	// MurmurHash3 x64 128 of "hello", seed 0: h1 0xcbd8a7b341bd9b02
	// (mmh3.hash128 gives 0x5b1e906a48ae1d19cbd8a7b341bd9b02, h2 then h1).
	if got, want := murmur3Token([]byte("hello")), int64(-0x3427584cbe4264fe); got != want {
		t.Errorf("murmur3Token(hello) = %#x, want %#x", uint64(got), uint64(want))
	}
	if got := murmur3Token(nil); got != 0 {
		t.Errorf("murmur3Token() = %d, want 0", got)
	}
}

func authOn(c *Config) { c.Auth = true }

// login connects to node i's CQL as user (none when user is "").
func (l *lab) login(i int, user, password string) (*cqlshConn, error) {
	return dialCqlsh(context.Background(), l.ip(i)+":9042", 5*time.Second, nil, user != "", user, password)
}

func mustLogin(t *testing.T, l *lab, i int, user, password string) *cqlshConn {
	t.Helper()
	c, err := l.login(i, user, password)
	if err != nil {
		t.Fatalf("login %s on node %d: %v", user, i, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func refused(t *testing.T, err error, msg string) {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Msg != msg {
		t.Errorf("login: %v, want refused with %q", err, msg)
	}
}

func run(t *testing.T, c *cqlshConn, q string) cqlResult {
	t.Helper()
	res, err := c.query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

func serverErr(t *testing.T, c *cqlshConn, q string, code int, msg string) {
	t.Helper()
	_, err := c.query(q)
	var se *serverError
	if !errors.As(err, &se) || se.code != code || se.msg != msg {
		t.Errorf("%s: %v, want 0x%04x %q", q, err, code, msg)
	}
}

func TestAuthLogin(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	n := l.start(1, dir, authOn)
	n.waitLog(t, "Starting listening for CQL clients")

	// No credentials, or the default role before the role manager made it.
	_, err := l.login(1, "", "")
	refused(t, err, "")
	if !strings.Contains(err.Error(), "Remote end requires authentication") {
		t.Errorf("no credentials: %v", err)
	}
	// Any request but AUTH_RESPONSE after AUTHENTICATE is a protocol error.
	raw := dialCQL(t, l.ip(1)+":9042")
	var st buf
	st.short(1)
	st.str("CQL_VERSION")
	st.str("3.0.0")
	if f := raw.call(4, opStartup, st); f.op != opAuthenticate || (&reader{b: f.body}).str() != Authenticator {
		t.Fatalf("STARTUP: %s", describeResponse(f.op, f.body))
	}
	if code, msg := errorOf(t, raw.query("SELECT * FROM system.local", 0, nil)); code != errProtocol || msg != "Unexpected message QUERY, expecting SASL_RESPONSE" {
		t.Errorf("QUERY while authenticating: 0x%04x %q", code, msg)
	}

	n.waitLog(t, "Created default superuser role 'cassandra'")
	_, err = l.login(1, "cassandra", "wrong")
	refused(t, err, "Provided username cassandra and/or password are incorrect")
	_, err = l.login(1, "nobody", "x")
	refused(t, err, "Provided username nobody and/or password are incorrect")

	def := mustLogin(t, l, 1, "cassandra", "cassandra")
	run(t, def, "CREATE ROLE IF NOT EXISTS admin_x WITH PASSWORD = 'secret pw' AND SUPERUSER = true AND LOGIN = true")
	serverErr(t, def, "CREATE ROLE admin_x WITH PASSWORD = 'y'", errInvalid, "admin_x already exists")
	run(t, def, "CREATE ROLE IF NOT EXISTS admin_x WITH PASSWORD = 'other'") // changes nothing
	admin := mustLogin(t, l, 1, "admin_x", "secret pw")
	run(t, admin, "ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false;")
	serverErr(t, admin, "ALTER ROLE admin_x WITH SUPERUSER = false", errUnauthorized,
		"You aren't allowed to alter your own superuser status or that of a role granted to you")
	serverErr(t, admin, "ALTER ROLE nobody WITH LOGIN = true", errInvalid, "nobody doesn't exist")
	_, err = l.login(1, "cassandra", "cassandra")
	refused(t, err, "cassandra is not permitted to log in")

	res := run(t, admin, "SELECT role, is_superuser, can_login FROM system_auth.roles")
	if got := strings.Join(flatten(res.rows), " "); got != "admin_x True True cassandra False False" {
		t.Errorf("system_auth.roles: %s", got)
	}
	run(t, admin, "ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}")
	serverErr(t, admin, "ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'dc9': 1}", 0x2300,
		"Unrecognized strategy option {dc9} passed to NetworkTopologyStrategy for keyspace system_auth")
	res = run(t, admin, "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'")
	if len(res.rows) != 1 || res.rows[0][0] != "{'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'datacenter1': '3'}" {
		t.Errorf("system_auth replication: %v", res.rows)
	}
	// 'replication_factor' is expanded to the members' datacenters, as
	// real 5.0.8 does.
	run(t, admin, "ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 2}")
	res = run(t, admin, "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'")
	if len(res.rows) != 1 || res.rows[0][0] != "{'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'datacenter1': '2'}" {
		t.Errorf("system_auth replication after replication_factor 2: %v", res.rows)
	}
	run(t, admin, "ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}")

	// system_auth is on disk: a restarted node keeps its roles.
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	n = l.start(1, dir, authOn)
	n.waitLog(t, "Starting listening for CQL clients")
	mustLogin(t, l, 1, "admin_x", "secret pw")
	if strings.Count(n.out.String(), "Created default superuser role") != 0 {
		t.Errorf("the restarted node made the default role again")
	}
}

func flatten(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// TestAuthReplicas: a login reads the role from its replicas. With
// system_auth at RF 1 the role's one replica down fails every login of it;
// at RF 3 one node of three down does not.
func TestAuthReplicas(t *testing.T) {
	l := newLab(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := []*running{l.start(1, dirs[0], authOn, 1)}
	nodes[0].waitLog(t, "Starting listening for CQL clients")
	nodes = append(nodes, l.start(2, dirs[1], authOn, 1))
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2))
	nodes = append(nodes, l.start(3, dirs[2], authOn, 1))
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(3))
	nodes[0].waitLog(t, "Created default superuser role 'cassandra'")
	def := mustLogin(t, l, 1, "cassandra", "cassandra")
	run(t, def, "CREATE ROLE admin_x WITH PASSWORD = 'pw' AND SUPERUSER = true AND LOGIN = true")

	// The role reaches every node with gossip.
	waitFor(t, "admin_x to log in on node 3", func() bool {
		c, err := l.login(3, "admin_x", "pw")
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	owner := nodes[0].node.replicas("admin_x")[""]
	if len(owner) != 1 {
		t.Fatalf("replicas of admin_x at RF 1: %v", owner)
	}
	down := 0
	for i := range nodes {
		if l.ip(i+1) == owner[0] {
			down = i + 1
		}
	}
	other := 1 + down%3
	nodes[down-1].stop()
	waitFor(t, "the replica's loss to refuse admin_x", func() bool {
		_, err := l.login(other, "admin_x", "pw")
		var ae *AuthError
		return errors.As(err, &ae) && ae.Msg == "Unable to perform authentication: Cannot achieve consistency level LOCAL_QUORUM"
	})
	nodes[down-1] = l.start(down, dirs[down-1], authOn, 1)
	nodes[down-1].waitLog(t, "Starting listening for CQL clients")
	waitFor(t, "admin_x back", func() bool {
		c, err := l.login(other, "admin_x", "pw")
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	admin := mustLogin(t, l, other, "admin_x", "pw")
	if out, code := l.nodetool(other, "repair", "--full", "system_auth"); code != 0 || !strings.Contains(out, "Replication factor is 1. No repair is needed for keyspace 'system_auth'") {
		t.Errorf("repair at RF 1: exit %d: %s", code, out)
	}
	run(t, admin, "ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}")
	waitFor(t, "RF 3 on every node", func() bool {
		for _, n := range nodes {
			if n.node.systemAuth().RF("datacenter1") != 3 {
				return false
			}
		}
		return true
	})
	if out, code := l.nodetool(other, "repair", "--full", "system_auth"); code != 0 || !strings.Contains(out, "Repair completed successfully") {
		t.Errorf("repair at RF 3: exit %d: %s", code, out)
	}
	nodes[down-1].stop()
	var want []string
	for i := 1; i <= 3; i++ {
		code := "UN "
		if i == down {
			code = "DN "
		}
		want = append(want, code+l.ip(i))
	}
	l.waitStatus(other, want...)
	mustLogin(t, l, other, "admin_x", "pw")          // LOCAL_QUORUM: 2 of 3
	mustLogin(t, l, other, "cassandra", "cassandra") // QUORUM: 2 of 3
}

func TestCqlshStandIn(t *testing.T) {
	l := newLab(t)
	n := l.start(1, t.TempDir(), authOn)
	n.waitLog(t, "Created default superuser role 'cassandra'")
	var out, errb strings.Builder
	code := CqlshMain(context.Background(), []string{"-u", "cassandra", "-p", "wrong", l.ip(1)}, strings.NewReader(""), &out, &errb)
	if want := `Connection error: ('Unable to connect to any servers', {'` + l.ip(1) + `:9042': AuthenticationFailed('Failed to authenticate to ` + l.ip(1) +
		`:9042: Error from server: code=0100 [Bad credentials] message="Provided username cassandra and/or password are incorrect"')})`; code != 1 || !strings.Contains(errb.String(), want) {
		t.Errorf("bad password: exit %d\n%s\nwant %s", code, errb.String(), want)
	}
	out.Reset()
	errb.Reset()
	in := "SELECT role, is_superuser, can_login FROM system_auth.roles;\nSELEC x;\n"
	code = CqlshMain(context.Background(), []string{"-u", "cassandra", "-p", "cassandra", l.ip(1), "9042"}, strings.NewReader(in), &out, &errb)
	if code != 2 || !strings.Contains(out.String(), "\n role      | is_superuser | can_login\n-----------+--------------+-----------\n cassandra |         True |      True\n\n(1 rows)\n") ||
		!strings.Contains(errb.String(), "<stdin>:2:SyntaxException: Error from server: code=2000 [Syntax error in CQL query]") {
		t.Errorf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	_ = io.Discard
}
