package cassim

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/nodetls"
	"github.com/swarmcass/swarmcass/pki"
)

// tlsFiles writes a CA and node's keystore as bootstrap --tls mounts them.
func tlsFiles(t *testing.T, node, ip string) (keystore, ca string) {
	t.Helper()
	c, err := pki.NewCA("test CA", nodetls.Validity)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := nodetls.Keystore(c, nodetls.Names{Node: node, IPs: []net.IP{net.ParseIP(ip)}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keystore, ca = filepath.Join(dir, nodetls.KeystoreFile), filepath.Join(dir, nodetls.TruststoreFile)
	if err := os.WriteFile(keystore, ks, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, c.CertPEM, 0o444); err != nil {
		t.Fatal(err)
	}
	return keystore, ca
}

// With client TLS on, the CQL port speaks TLS only: a client with the CA
// works, a plaintext one is reset (and the node logs it as Cassandra
// does), one that trusts another CA fails its handshake; cqlsh in the
// container connects on its own through the cqlshrc.
func TestCQLOverTLSOnly(t *testing.T) {
	l := newLab(t)
	ks, ca := tlsFiles(t, "cass1", l.ip(1))
	n := l.start(1, t.TempDir(), func(c *Config) { c.TLS, c.TLSKeystore, c.TLSTruststore = true, ks, ca })
	n.waitLog(t, "Starting listening for CQL clients on /"+l.ip(1)+":9042 (encrypted)...")
	addr := l.ip(1) + ":9042"

	cfg, err := cqlshSSL{on: true, certfile: ca, validate: true}.clientTLS()
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialCqlsh(context.Background(), addr, 5*time.Second, cfg, false, "", "")
	if err != nil {
		t.Fatalf("TLS client with the CA: %v", err)
	}
	res := run(t, c, "SELECT cluster_name FROM system.local")
	c.Close()
	if len(res.rows) != 1 || res.rows[0][0] != "Test Cluster" {
		t.Errorf("system.local over TLS: %+v", res.rows)
	}

	if c, err := dialCqlsh(context.Background(), addr, 5*time.Second, nil, false, "", ""); err == nil {
		c.Close()
		t.Fatal("a plaintext client was served on a TLS-only port")
	}
	n.waitLog(t, "NotSslRecordException: not an SSL/TLS record")

	_, otherCA := tlsFiles(t, "cass1", l.ip(1))
	other, err := cqlshSSL{on: true, certfile: otherCA, validate: true}.clientTLS()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dialCqlsh(context.Background(), addr, 5*time.Second, other, false, "", ""); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		if c != nil {
			c.Close()
		}
		t.Errorf("a client trusting another CA: %v", err)
	}

	// cqlsh: with the node's cqlshrc it connects on its own; without, it
	// talks plaintext and is reset, in cqlsh's words.
	home := t.TempDir()
	t.Setenv("HOME", home)
	var out, errOut strings.Builder
	if code := CqlshMain(context.Background(), []string{"-e", "SELECT cluster_name FROM system.local", l.ip(1)}, strings.NewReader(""), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "ConnectionResetError(104, 'Connection reset by peer')") {
		t.Errorf("plaintext cqlsh: exit %d, %q", code, errOut.String())
	}
	if err := WriteCqlshrc(ca); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := CqlshMain(context.Background(), []string{"-e", "SELECT cluster_name FROM system.local", l.ip(1)}, strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "Test Cluster") {
		t.Errorf("cqlsh with the cqlshrc: exit %d, %q %q", code, out.String(), errOut.String())
	}
	// --ssl with validation on and no certfile anywhere: cqlsh's own refusal.
	t.Setenv("HOME", t.TempDir())
	if _, err := loadCqlshSSL(true).clientTLS(); err == nil || !strings.Contains(err.Error(), "Validation is enabled; SSL transport factory requires a valid certfile") {
		t.Errorf("--ssl without a certfile: %v", err)
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"SWARMCASS_TLS": "true", "SWARMCASS_TLS_KEYSTORE": filepath.Join(dir, "none.pem")}
	if _, err := LoadConfig(nil, env); err == nil || !strings.Contains(err.Error(), "none.pem is missing") {
		t.Errorf("TLS without the keystore: %v", err)
	}
	if _, err := LoadConfig(nil, map[string]string{"SWARMCASS_TLS": "on"}); err == nil || !strings.Contains(err.Error(), "SWARMCASS_TLS=on must be true or false") {
		t.Errorf("SWARMCASS_TLS=on: %v", err)
	}
	ks, ca := tlsFiles(t, "cass1", "10.0.9.5")
	c, err := LoadConfig(nil, map[string]string{"SWARMCASS_TLS": "true", "SWARMCASS_TLS_KEYSTORE": ks, "SWARMCASS_TLS_TRUSTSTORE": ca})
	if err != nil || !c.TLS || c.TLSKeystore != ks || c.TLSTruststore != ca {
		t.Errorf("TLS config: %+v %v", c, err)
	}
	if c, err := LoadConfig(nil, map[string]string{}); err != nil || c.TLS || c.TLSKeystore != DefaultKeystoreFile {
		t.Errorf("default: TLS %v %s %v", c.TLS, c.TLSKeystore, err)
	}
}
