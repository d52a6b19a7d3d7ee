package e2e

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/swarmcass/swarmcass/credentials"
)

// authEnableKeyspaces is how many keyspaces the client makes before
// authentication is turned on. cassim stores no table data, so on cassim
// the client's rows are rows of system_schema.keyspaces (kept on each
// node's disk and gossiped, as Cassandra's schema); the real tier writes
// table rows.
const authEnableKeyspaces = 20

// clientKeyspaces counts the keyspaces named ae_* that gocql, at addr as
// user (none when empty), reads from system_schema.keyspaces.
func clientKeyspaces(addr, user, password string) (int, error) {
	s, err := gocqlTo(addr, user, password).CreateSession()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	it := s.Query("SELECT keyspace_name FROM system_schema.keyspaces").Iter()
	n := 0
	var ks string
	for it.Scan(&ks) {
		if strings.HasPrefix(ks, "ae_") {
			n++
		}
	}
	return n, it.Close()
}

// TestIntegrationAuthEnable, on a cassim lab ring bootstrapped with
// --auth=false: gocql makes keyspaces with no credentials; auth enable
// --prepare makes the credentials and changes no node, and a client given
// them works against the open nodes; a client keeps querying with them
// while auth enable rolls every node; then a client without credentials,
// or as cassandra/cassandra, is refused, the generated superuser reads
// every keyspace through each node, ring and cqlsh work with no password
// typed, and a re-run and a default bootstrap change nothing.
func TestIntegrationAuthEnable(t *testing.T) {
	t.Parallel() // its own lab: see newEnv
	e := newEnv(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	r := e.must(append(e.bootstrapArgs(3), "--auth=false")...)
	if !strings.Contains(r.out, "Authentication OFF") {
		t.Fatalf("bootstrap --auth=false does not say the cluster is open:\n%s", r.out)
	}
	addrs := []string{}
	for _, m := range []string{"swarm-0", "swarm-1", "swarm-2"} {
		addrs = append(addrs, net.JoinHostPort(e.machineAddr(m), "9042"))
	}

	// A client with no credentials writes.
	s, err := gocqlTo(addrs[0], "", "").CreateSession()
	if err != nil {
		t.Fatalf("a client of the open cluster: %v", err)
	}
	for i := range authEnableKeyspaces {
		q := fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS ae_%d WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}", i)
		if err := s.Query(q).Exec(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	if n, err := clientKeyspaces(addrs[2], "", ""); err != nil || n != authEnableKeyspaces {
		t.Fatalf("before: %d keyspaces read through cass3 (%v), want %d", n, err, authEnableKeyspaces)
	}
	t.Logf("before: a client with no credentials wrote %d keyspaces and read %d back", authEnableKeyspaces, authEnableKeyspaces)

	common := []string{"--cluster", "e2e", "--node-timeout", e.timeout}
	dry := e.must(append([]string{"auth", "enable", "--dry-run"}, common...)...)
	if !strings.Contains(dry.out, "create Swarm secret e2e-cql-credentials") || !strings.Contains(dry.out, "cass3 on swarm-2") {
		t.Errorf("auth enable --dry-run: no plan:\n%s", dry.out)
	}

	// The credentials first, every node still open: a client given them
	// works, as Cassandra's open nodes take credentials they do not ask for.
	prep := e.must(append([]string{"auth", "enable", "--prepare", "--yes"}, common...)...)
	t.Logf("auth enable --prepare: %s\n%s", prep.duration.Round(100*time.Millisecond), prep.out)
	creds, err := credentials.ReadLocal(lastLine(e.must("credentials", "--cluster", "e2e", "--file").out))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, err := clientKeyspaces(a, creds.User, creds.Password); err != nil || n != authEnableKeyspaces {
			t.Errorf("after --prepare, with credentials at %s: %d keyspaces, %v", a, n, err)
		}
	}
	if n, err := clientKeyspaces(addrs[0], "", ""); err != nil || n != authEnableKeyspaces {
		t.Errorf("after --prepare, no credentials: %d keyspaces, %v; want the cluster still open", n, err)
	}

	// While it rolls, a client given the credentials and every node keeps querying.
	var mu sync.Mutex
	ok, failed, last := 0, 0, ""
	kinds := map[string]int{} // the failures, by error
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The contact points alone: the nodes tell drivers their overlay
		// addresses, which this process outside the swarm cannot reach.
		c := gocql.NewCluster(addrs...)
		c.DisableInitialHostLookup = true
		// cassim sends no UP events: redial a node that went down soon.
		c.ReconnectInterval = time.Second
		c.Authenticator = gocql.PasswordAuthenticator{Username: creds.User, Password: creds.Password}
		c.ConnectTimeout, c.Timeout = 10*time.Second, 10*time.Second
		var sess *gocql.Session
		for {
			select {
			case <-stop:
				if sess != nil {
					sess.Close()
				}
				return
			case <-time.After(200 * time.Millisecond):
			}
			var err error
			if sess == nil {
				sess, err = c.CreateSession()
			}
			if err == nil {
				var rel string
				err = sess.Query("SELECT release_version FROM system.local").Scan(&rel)
			}
			mu.Lock()
			if err != nil {
				failed++
				last = err.Error()
				kinds[last]++
			} else {
				ok++
			}
			mu.Unlock()
		}
	}()
	en := e.run(append([]string{"auth", "enable", "--yes"}, common...)...)
	close(stop)
	<-done
	t.Logf("auth enable: %s\n%s", en.duration.Round(100*time.Millisecond), en.out)
	t.Logf("a client given the credentials during the roll: %d queries answered, %d failed (last: %s; by error: %v)", ok, failed, last, kinds)
	if en.code != 0 {
		t.Fatalf("auth enable: exit %d", en.code)
	}
	if ok == 0 {
		t.Errorf("the client given the credentials got no answer during the roll")
	}
	m := superuserLine.FindStringSubmatch(en.out)
	if m == nil || m[1] != creds.User || m[2] != "3" {
		t.Errorf("the summary does not say authentication is on for %s with system_auth on 3 nodes:\n%s", creds.User, en.out)
	}
	if strings.Contains(en.out+prep.out, creds.Password) {
		t.Errorf("auth enable printed the password")
	}
	e.requireRing(ctx, 3)

	// Authentication on: refusals on every node, the superuser reads everything.
	for i, a := range addrs {
		if _, err := cqlLogin(a, "", ""); err == nil || !strings.Contains(err.Error(), "authentication required") {
			t.Errorf("cass%d: a client without credentials: %v, want refused", i+1, err)
		}
		if _, err := cqlLogin(a, "cassandra", "cassandra"); err == nil || !strings.Contains(err.Error(), "cassandra is not permitted to log in") {
			t.Errorf("cass%d: cassandra/cassandra: %v, want refused: not permitted to log in", i+1, err)
		}
		n, err := clientKeyspaces(a, creds.User, creds.Password)
		if err != nil || n != authEnableKeyspaces {
			t.Errorf("cass%d: the superuser read %d keyspaces (%v), want %d", i+1, n, err, authEnableKeyspaces)
		}
		t.Logf("after, through cass%d: the superuser read %d of %d keyspaces", i+1, n, authEnableKeyspaces)
	}

	// The commands log in on their own.
	e.must("ring", "--cluster", "e2e")
	q := e.must("cqlsh", "--cluster", "e2e", "cass2", "-e", "SELECT role, is_superuser, can_login FROM system_auth.roles")
	if !regexp.MustCompile(`(?m)^\s+`+creds.User+` \|\s+True \|\s+True$`).MatchString(q.out) ||
		!regexp.MustCompile(`(?m)^\s+cassandra \|\s+False \|\s+False$`).MatchString(q.out) {
		t.Errorf("swarmcass cqlsh cass2: system_auth.roles:\n%s", q.out)
	}

	// Again: nothing to do; and bootstrap, as by default, takes the
	// cluster as one that authenticates.
	again := e.must(append([]string{"auth", "enable", "--yes"}, common...)...)
	if !strings.Contains(again.out, "authenticates clients already") {
		t.Errorf("auth enable re-run:\n%s", again.out)
	}
	b := e.must(e.bootstrapArgs(3)...)
	if !strings.Contains(b.out, "nothing to do") || !strings.Contains(b.out, "Authentication on: superuser "+creds.User) {
		t.Errorf("bootstrap after auth enable:\n%s", b.out)
	}
}
