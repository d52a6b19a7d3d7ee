package cassim

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ring3 starts three nodes on the lab's loopback addresses, one after
// another (each once node 1 sees the previous one UN), tracing CQL.
func ring3(t *testing.T, l *lab, edits ...func(*Config)) []*running {
	t.Helper()
	trace := func(c *Config) {
		c.CQLTrace = true
		for _, e := range edits {
			e(c)
		}
	}
	var nodes []*running
	var up []string
	for i := 1; i <= 3; i++ {
		r := l.start(i, t.TempDir(), trace, 1)
		r.waitLog(t, "Starting listening for CQL clients")
		nodes = append(nodes, r)
		up = append(up, "UN "+l.ip(i))
		l.waitStatus(1, up...) // one bootstrap at a time
	}
	return nodes
}

// gocql with its default configuration connects, falls back from v5 to
// v4, learns every node with its host ID, queries the system tables and
// gets cassim's refusal for a user table.
func TestGocqlLearnsTheRing(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	nodes := ring3(t, l)

	session, err := gocql.NewCluster(l.ip(1)).CreateSession()
	if err != nil {
		t.Fatalf("gocql: %v\n%s", err, nodes[0].out.String())
	}
	defer session.Close()

	want := map[string]string{} // address -> host ID
	for i, n := range nodes {
		want[l.ip(i+1)] = n.hostID()
	}
	got := map[string]string{}
	for _, h := range session.GetHosts() {
		got[h.ConnectAddress().String()] = h.HostID()
		if h.DataCenter() != "datacenter1" || h.Rack() != "rack1" || len(h.Tokens()) != 4 || !h.IsUp() {
			t.Errorf("host %s: dc %q rack %q, %d tokens, up %t", h.ConnectAddress(), h.DataCenter(), h.Rack(), len(h.Tokens()), h.IsUp())
		}
	}
	if len(got) != 3 {
		t.Errorf("gocql knows %v, want %v", got, want)
	}
	for addr, id := range want {
		if got[addr] != id {
			t.Errorf("host %s: host ID %q, want %q", addr, got[addr], id)
		}
	}
	if log := nodes[0].out.String(); !strings.Contains(log, " v5 #") || !strings.Contains(log, MsgUnsupportedProtocol(5)) {
		t.Errorf("gocql did not try v5 first:\n%s", log)
	}

	var release string
	var hostID gocql.UUID
	if err := session.Query("SELECT release_version, host_id FROM system.local").Scan(&release, &hostID); err != nil {
		t.Fatal(err)
	}
	if release != DefaultReleaseVersion || !slices.Contains(slices.Collect(maps.Values(want)), hostID.String()) {
		t.Errorf("system.local: release %q, host ID %s", release, hostID)
	}
	// A bound value (gocql prepares every SELECT), on node 1.
	var peerID gocql.UUID
	err = session.Query("SELECT host_id FROM system.peers_v2 WHERE peer = ?", l.ip(2)).SetHostID(want[l.ip(1)]).Scan(&peerID)
	if err != nil || peerID.String() != want[l.ip(2)] {
		t.Errorf("node 1's peers_v2 row of %s: %s, %v; want %s", l.ip(2), peerID, err, want[l.ip(2)])
	}
	ks, err := session.KeyspaceMetadata("system")
	if err != nil || ks.Tables["local"] == nil || ks.Tables["local"].Columns["host_id"] == nil {
		t.Errorf("system keyspace metadata: %+v, %v", ks, err)
	}

	err = session.Query("SELECT * FROM ks.t").Exec()
	var re gocql.RequestError
	if !errors.As(err, &re) || re.Code() != errInvalid || !strings.Contains(re.Message(), "cassim") || !strings.Contains(re.Message(), "stores no data") {
		t.Errorf("a user table: %v, want cassim's Invalid refusal", err)
	}
}

// gocql logs in with its PasswordAuthenticator (SASL PLAIN) and is refused
// as Cassandra refuses it: no credentials, a wrong password.
func TestGocqlLogsIn(t *testing.T) {
	l := newLab(t)
	n := l.start(1, t.TempDir(), authOn)
	n.waitLog(t, "Created default superuser role 'cassandra'")
	connect := func(auth gocql.Authenticator) (*gocql.Session, error) {
		c := gocql.NewCluster(l.ip(1))
		c.Authenticator = auth
		c.DisableInitialHostLookup = true
		return c.CreateSession()
	}
	if _, err := connect(nil); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("no credentials: %v", err)
	}
	if _, err := connect(gocql.PasswordAuthenticator{Username: "cassandra", Password: "nope"}); err == nil ||
		!strings.Contains(err.Error(), "Provided username cassandra and/or password are incorrect") {
		t.Errorf("a wrong password: %v", err)
	}
	s, err := connect(gocql.PasswordAuthenticator{Username: "cassandra", Password: "cassandra"})
	if err != nil {
		t.Fatalf("cassandra/cassandra: %v\n%s", err, n.out.String())
	}
	defer s.Close()
	var release string
	if err := s.Query("SELECT release_version FROM system.local").Scan(&release); err != nil || release != DefaultReleaseVersion {
		t.Errorf("system.local after login: %q %v", release, err)
	}
	if err := s.Query("CREATE ROLE admin_g WITH PASSWORD = 'pw' AND LOGIN = true AND SUPERUSER = true").Exec(); err != nil {
		t.Errorf("CREATE ROLE: %v", err)
	}
}

// Each node listening on a CQL port of its own (native_transport_port, as
// `bootstrap --clients host` gives nodes sharing a host): a driver given
// one contact point learns every node with its own port, through gossip and
// system.peers_v2, and connects to each.
func TestGocqlLearnsEachNodesPort(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	port := func(i int) int { return 19041 + i }
	var up []string
	for i := 1; i <= 2; i++ {
		r := l.start(i, t.TempDir(), func(c *Config) { c.NativePort = port(i) }, 1)
		r.waitLog(t, "Starting listening for CQL clients")
		up = append(up, "UN "+l.ip(i))
		l.waitStatus(1, up...)
	}
	c := gocql.NewCluster(l.ip(1))
	c.Port = port(1)
	session, err := c.CreateSession()
	if err != nil {
		t.Fatalf("gocql on %s:%d: %v", l.ip(1), port(1), err)
	}
	defer session.Close()
	got := map[string]int{}
	for _, h := range session.GetHosts() {
		got[h.ConnectAddress().String()] = h.Port()
	}
	for i := 1; i <= 2; i++ {
		if got[l.ip(i)] != port(i) {
			t.Errorf("gocql knows %v, want %s on port %d", got, l.ip(i), port(i))
		}
	}
}
