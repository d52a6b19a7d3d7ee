package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/machinestore"
)

// superuserLine is the summary's line of a cluster that authenticates.
var superuserLine = regexp.MustCompile(`Authentication on: superuser (admin_[a-z]{8}), system_auth replicated to (\d) nodes; password in Swarm secret e2e-cql-credentials and in (\S+) \(swarmcass credentials\)`)

// cqlLogin connects gocql, a real CQL client, to addr (host:port) as user;
// no user means no credentials. It returns the release system.local names.
func cqlLogin(addr, user, password string) (string, error) {
	s, err := gocqlTo(addr, user, password).CreateSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var release string
	err = s.Query("SELECT release_version FROM system.local").Scan(&release)
	return release, err
}

// gocqlTo is gocql's configuration for the one node at addr (host:port),
// as user (none when empty).
func gocqlTo(addr, user, password string) *gocql.ClusterConfig {
	host, port, _ := net.SplitHostPort(addr)
	c := gocql.NewCluster(host)
	c.Port, _ = strconv.Atoi(port)
	c.DisableInitialHostLookup = true
	c.ConnectTimeout, c.Timeout = 10*time.Second, 10*time.Second
	if user != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: user, Password: password}
	}
	return c
}

// machineAddr is a lab machine's address.
func (e *env) machineAddr(name string) string {
	e.t.Helper()
	m, err := machinestore.New(e.store).Load(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.IP
}

// TestIntegrationAuth: on a cassim lab ring, bootstrap turns authentication
// on by itself. A CQL client without credentials, or as cassandra/cassandra,
// is refused; the generated superuser logs in, also with one node of three
// down; the node commands and ring work with no password typed; the
// credentials are never printed unless asked for, and a lost local copy
// comes back from the nodes.
func TestIntegrationAuth(t *testing.T) {
	e := newEnv(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	r := e.must(e.bootstrapArgs(3)...)
	t.Logf("bootstrap --nodes 3: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	m := superuserLine.FindStringSubmatch(r.out)
	if m == nil || m[2] != "3" {
		t.Fatalf("the summary does not say authentication is on with system_auth on 3 nodes:\n%s", r.out)
	}
	user, file := m[1], m[3]
	if !strings.HasPrefix(file, e.home) {
		t.Errorf("credentials copy %s is not under HOME %s", file, e.home)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials copy %s: %v %v, want mode 0600", file, st, err)
	}
	creds, err := credentials.ReadLocal(file)
	if err != nil || creds.User != user {
		t.Fatalf("credentials copy: %v %v", creds, err)
	}
	if strings.Contains(r.out, creds.Password) {
		t.Errorf("bootstrap printed the password")
	}
	e.requireRecordSecretFree(ctx, creds.Password)

	// swarmcass credentials: the user and where the password is; the
	// password itself only with --password.
	c := e.must("credentials", "--cluster", "e2e")
	if !strings.Contains(c.out, "CQL superuser "+user) || !strings.Contains(c.out, file) || strings.Contains(c.out, creds.Password) {
		t.Errorf("swarmcass credentials:\n%s", c.out)
	}
	if pw := e.must("credentials", "--cluster", "e2e", "--password"); lastLine(pw.out) != creds.Password {
		t.Errorf("credentials --password printed %q", lastLine(pw.out))
	}

	// A real client at the published CQL port of cass1 (swarm-0:9042).
	addr := net.JoinHostPort(e.machineAddr("swarm-0"), "9042")
	if _, err := cqlLogin(addr, "", ""); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("a client without credentials: %v, want refused", err)
	}
	if _, err := cqlLogin(addr, "cassandra", "cassandra"); err == nil || !strings.Contains(err.Error(), "cassandra is not permitted to log in") {
		t.Errorf("cassandra/cassandra: %v, want refused: not permitted to log in", err)
	}
	if _, err := cqlLogin(addr, user, "wrong"); err == nil || !strings.Contains(err.Error(), "Provided username "+user+" and/or password are incorrect") {
		t.Errorf("a wrong password: %v", err)
	}
	if rel, err := cqlLogin(addr, user, creds.Password); err != nil || rel == "" {
		t.Fatalf("the generated superuser: %q %v", rel, err)
	}

	// The node commands log in on their own.
	q := e.must("cqlsh", "--cluster", "e2e", "cass2", "-e", "SELECT role, is_superuser, can_login FROM system_auth.roles")
	if !regexp.MustCompile(`(?m)^\s+`+user+` \|\s+True \|\s+True$`).MatchString(q.out) ||
		!regexp.MustCompile(`(?m)^\s+cassandra \|\s+False \|\s+False$`).MatchString(q.out) {
		t.Errorf("swarmcass cqlsh cass2: system_auth.roles:\n%s", q.out)
	}
	e.must("ring", "--cluster", "e2e")

	// A re-run changes nothing and keeps the credentials.
	r = e.must(e.bootstrapArgs(3)...)
	if !strings.Contains(r.out, "nothing to do") {
		t.Errorf("re-run changed something:\n%s", r.out)
	}
	if again, _ := credentials.ReadLocal(file); again != creds {
		t.Errorf("re-run changed the credentials")
	}
	// --auth=false cannot turn it off.
	if off := e.run(append(e.bootstrapArgs(3), "--auth=false")...); off.code == 0 || !strings.Contains(off.out, "has authentication on") {
		t.Errorf("--auth=false on an authenticating cluster: exit %d\n%s", off.code, off.out)
	}

	// The local copy lost: swarmcass credentials reads it back from a node.
	os.Remove(file)
	c = e.must("credentials", "--cluster", "e2e")
	if got, err := credentials.ReadLocal(file); err != nil || got != creds || !strings.Contains(c.out, "read it back from cass") {
		t.Errorf("after losing the local copy: %v %v\n%s", got, err, c.out)
	}
	if st, err := os.Stat(filepath.Dir(file)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory: %v %v", st, err)
	}

	// One node of three down (its machine stopped): system_auth has three
	// replicas, so a login at LOCAL_QUORUM still succeeds.
	e.must("lab", "stop", "--name", e.lab, "--store", e.store, "swarm-2")
	rd := e.waitRing(ctx, 1, "cass3")
	t.Logf("ring with swarm-2 stopped (exit %d)", rd.code)
	for _, machine := range []string{"swarm-0", "swarm-1"} {
		a := net.JoinHostPort(e.machineAddr(machine), "9042")
		if _, err := cqlLogin(a, user, creds.Password); err != nil {
			t.Errorf("login on %s with cass3 down: %v", machine, err)
		}
	}
	if _, err := cqlLogin(addr, "cassandra", "cassandra"); err == nil {
		t.Errorf("cassandra/cassandra logged in with cass3 down")
	}
	e.must("cqlsh", "--cluster", "e2e", "cass1", "-e", "SELECT release_version FROM system.local")
}

// requireRecordSecretFree: no key of the cluster's Consul record holds the
// password.
func (e *env) requireRecordSecretFree(ctx context.Context, password string) {
	e.t.Helper()
	store := e.consul(ctx) // with the ACL token: the record reads need one
	kv, err := store.List(ctx, "swarmcass/e2e/")
	if err != nil {
		e.t.Fatal(err)
	}
	if len(kv) == 0 {
		e.t.Fatalf("no record of e2e in Consul")
	}
	for k, v := range kv {
		if strings.Contains(string(v), password) {
			e.t.Errorf("Consul key %s holds the password", k)
		}
	}
}
