package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/nodetls"
	"github.com/swarmcass/swarmcass/pki"
)

// tlsLine is the summary's line of a --tls cluster.
var tlsLine = regexp.MustCompile(`TLS on: internode and client encryption, a certificate per node from the cluster's CA; clients trust (\S+) \(Swarm secret (\S+)\)`)

// cqlTLS connects gocql to addr (host:port) over TLS, trusting the CA in
// caPEM and checking that the node's certificate names node (gocql checks
// the host name it is given), as user when not empty; nil caPEM connects
// in plaintext. It returns system.local's cluster name.
func cqlTLS(addr string, caPEM []byte, node, user, password string) (string, error) {
	c := gocqlTo(addr, user, password)
	if caPEM != nil {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(caPEM)
		c.SslOpts = &gocql.SslOptions{Config: &tls.Config{RootCAs: roots, ServerName: node, MinVersion: tls.VersionTLS12}, EnableHostVerification: true}
	}
	s, err := c.CreateSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var name string
	err = s.Query("SELECT cluster_name FROM system.local").Scan(&name)
	return name, err
}

// tlsClientChecks: a real client (gocql) with the cluster's CA works at
// addr, where node answers; one in plaintext, one that trusts another CA
// and one that expects another node's name are refused.
func tlsClientChecks(t *testing.T, addr, node string, caPEM []byte, user, password string) {
	t.Helper()
	if name, err := cqlTLS(addr, caPEM, node, user, password); err != nil || name != "e2e" {
		t.Fatalf("gocql over TLS with the cluster's CA at %s: %q %v", addr, name, err)
	}
	if _, err := cqlTLS(addr, nil, node, user, password); err == nil {
		t.Errorf("a plaintext client was served at %s", addr)
	} else {
		t.Logf("plaintext client at %s refused: %v", addr, err)
	}
	other, err := pki.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cqlTLS(addr, other.CertPEM, node, user, password); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("a client that trusts another CA: %v, want unknown authority", err)
	}
	if _, err := cqlTLS(addr, caPEM, "cass9", user, password); err == nil || !strings.Contains(err.Error(), "cass9") {
		t.Errorf("a client that expects cass9 at %s: %v, want a name mismatch", addr, err)
	}
}

// TestIntegrationTLS: bootstrap --tls on a cassim lab ring of two nodes. A
// real client with the CA that swarmcass credentials names works, a
// plaintext one is refused; the node commands, ring and swarmcass's own
// cqlsh (the superuser it creates) need nothing typed; a re-run without
// --tls keeps TLS on and issues nothing, --tls=false is refused.
func TestIntegrationTLS(t *testing.T) {
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	r := e.must(append(e.bootstrapArgs(2), "--tls", "-v")...)
	t.Logf("bootstrap --nodes 2 --tls: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	m := tlsLine.FindStringSubmatch(r.out)
	if m == nil || m[2] != "e2e-tls-ca" || !strings.HasPrefix(m[1], e.home) {
		t.Fatalf("the summary does not say TLS is on with a CA under HOME %s:\n%s", e.home, r.out)
	}
	caFile := m[1]
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(strings.TrimSuffix(caFile, "ca.pem") + "ca-key.pem"); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key: %v %v, want mode 0600", st, err)
	}
	for _, s := range []string{"secret e2e-tls-ca", "secret e2e-cass1-tls (certificate of cass1)", "secret e2e-cass2-tls (certificate of cass2)"} {
		if !strings.Contains(r.out, s) {
			t.Errorf("bootstrap -v does not list %q as created", s)
		}
	}
	if got := e.must("credentials", "--cluster", "e2e", "--ca"); lastLine(got.out) != caFile {
		t.Errorf("credentials --ca printed %q, want %s", lastLine(got.out), caFile)
	}
	c := e.must("credentials", "--cluster", "e2e")
	if !strings.Contains(c.out, "TLS on") || !strings.Contains(c.out, caFile) || !strings.Contains(c.out, nodetls.TruststorePath) {
		t.Errorf("swarmcass credentials does not say where the CA is:\n%s", c.out)
	}
	creds, err := credentials.ReadLocal(credentialsFile(t, c.out))
	if err != nil {
		t.Fatal(err)
	}

	// A real client at the published CQL ports (swarm-0 runs cass1, swarm-1 cass2).
	start := time.Now()
	tlsClientChecks(t, net.JoinHostPort(e.machineAddr("swarm-0"), "9042"), "cass1", caPEM, creds.User, creds.Password)
	tlsClientChecks(t, net.JoinHostPort(e.machineAddr("swarm-1"), "9042"), "cass2", caPEM, creds.User, creds.Password)
	t.Logf("client checks on both nodes: %s", time.Since(start).Round(10*time.Millisecond))

	// Nothing typed: the node commands connect with TLS on their own, as
	// bootstrap's own cqlsh did to create the superuser.
	q := e.must("cqlsh", "--cluster", "e2e", "cass2", "-e", "SELECT cluster_name FROM system.local")
	if !strings.Contains(q.out, "e2e") {
		t.Errorf("swarmcass cqlsh cass2:\n%s", q.out)
	}
	e.requireRing(ctx, 2)

	// A re-run without --tls keeps it on and issues nothing; --tls=false is refused.
	r = e.must(append(e.bootstrapArgs(2), "-v")...)
	if !strings.Contains(r.out, "this run keeps it on, although --tls was not given") || !tlsLine.MatchString(r.out) {
		t.Errorf("re-run without --tls does not say TLS stays on:\n%s", r.out)
	}
	for _, line := range strings.Split(r.out, "\n") {
		if strings.Contains(line, "created") && (strings.Contains(line, "tls") || strings.Contains(line, "CA ")) || strings.Contains(line, "SWARMCASS_TLS") {
			t.Errorf("re-run without --tls: %s", strings.TrimSpace(line))
		}
	}
	if off := e.run(append(e.bootstrapArgs(2), "--tls=false")...); off.code == 0 || !strings.Contains(off.out, "--tls=false cannot turn it off") {
		t.Errorf("--tls=false on a TLS cluster: exit %d\n%s", off.code, off.out)
	}
	if again, _ := os.ReadFile(caFile); string(again) != string(caPEM) {
		t.Errorf("a re-run changed the CA")
	}
	tlsClientChecks(t, net.JoinHostPort(e.machineAddr("swarm-0"), "9042"), "cass1", caPEM, creds.User, creds.Password)
}

// credentialsFile is the local credentials copy swarmcass credentials names.
func credentialsFile(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`Password: in (\S+) \(0600`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("swarmcass credentials names no credentials file:\n%s", out)
	}
	return m[1]
}
