package pki

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA("test-ca", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestServerCertificateVerifiesOnlyForItsNames(t *testing.T) {
	ca := newTestCA(t)
	srv, err := ca.IssueServer("swarm-0", []net.IP{net.ParseIP("172.30.0.11")}, []string{"swarm-0", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		usage  x509.ExtKeyUsage
		wantOK bool
	}{
		{"172.30.0.11", x509.ExtKeyUsageServerAuth, true},
		{"swarm-0", x509.ExtKeyUsageServerAuth, true},
		{"localhost", x509.ExtKeyUsageServerAuth, true},
		{"", x509.ExtKeyUsageServerAuth, true},
		{"172.30.0.12", x509.ExtKeyUsageServerAuth, false},
		{"127.0.0.1", x509.ExtKeyUsageServerAuth, false},
		{"swarm-1", x509.ExtKeyUsageServerAuth, false},
		{"172.30.0.11", x509.ExtKeyUsageClientAuth, false},
	}
	for _, tt := range tests {
		err := Verify(ca.CertPEM, srv.CertPEM, tt.usage, tt.name)
		if (err == nil) != tt.wantOK {
			t.Errorf("Verify(name %q, usage %v) = %v, want ok=%v", tt.name, tt.usage, err, tt.wantOK)
		}
	}
	if got := srv.Cert.IPAddresses; len(got) != 1 || !got[0].Equal(net.ParseIP("172.30.0.11")) {
		t.Errorf("IP SANs = %v", got)
	}
}

func TestClientCertificateIsForClientAuthOnly(t *testing.T) {
	ca := newTestCA(t)
	cl, err := ca.IssueClient("swarmcass")
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(ca.CertPEM, cl.CertPEM, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("client cert does not verify for client auth: %v", err)
	}
	if err := Verify(ca.CertPEM, cl.CertPEM, x509.ExtKeyUsageServerAuth, ""); err == nil {
		t.Error("client cert verified for server auth")
	}
	if err := MatchKey(cl.CertPEM, cl.KeyPEM); err != nil {
		t.Errorf("MatchKey: %v", err)
	}
}

func TestVerifyRejectsOtherCA(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	cl, err := ca.IssueClient("swarmcass")
	if err != nil {
		t.Fatal(err)
	}
	err = Verify(other.CertPEM, cl.CertPEM, x509.ExtKeyUsageClientAuth, "")
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("Verify against another CA = %v, want unknown authority", err)
	}
	if err := Verify([]byte("garbage"), cl.CertPEM, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Error("Verify accepted a CA file without a certificate")
	}
}

func TestMatchKeyRejectsOtherKey(t *testing.T) {
	ca := newTestCA(t)
	a, _ := ca.IssueClient("a")
	b, _ := ca.IssueClient("b")
	if err := MatchKey(a.CertPEM, b.KeyPEM); err == nil {
		t.Error("MatchKey accepted the key of another certificate")
	}
}

func TestCAWorksInATLSHandshake(t *testing.T) {
	ca := newTestCA(t)
	srv, err := ca.IssueServer("srv", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.IssueClient("client")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	srvPair, _ := tls.X509KeyPair(srv.CertPEM, srv.KeyPEM)
	clPair, _ := tls.X509KeyPair(cl.CertPEM, cl.KeyPEM)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srvPair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clPair}})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func TestLoadCAIssuesVerifiableCertificates(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "certs", "ca.pem"), filepath.Join(dir, "certs", "ca-key.pem")
	if err := ca.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	loaded, err := LoadCAFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := loaded.IssueClient("again")
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(ca.CertPEM, cl.CertPEM, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("certificate from the reloaded CA does not verify against the original: %v", err)
	}
}

// docker-machine's CAs carry PKCS#1 RSA keys; LoadCA must sign with them.
func TestLoadCAWithRSAKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"alice"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer("x", []net.IP{net.ParseIP("10.1.2.3")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(certPEM, srv.CertPEM, x509.ExtKeyUsageServerAuth, "10.1.2.3"); err != nil {
		t.Error(err)
	}
}

func TestLoadCARefusesLeafAndMismatch(t *testing.T) {
	ca := newTestCA(t)
	cl, _ := ca.IssueClient("leaf")
	if _, err := LoadCA(cl.CertPEM, cl.KeyPEM); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("LoadCA(leaf) = %v, want not a CA", err)
	}
	if _, err := LoadCA(ca.CertPEM, cl.KeyPEM); err == nil {
		t.Error("LoadCA accepted a key that is not the CA's")
	}
}

func TestBadInput(t *testing.T) {
	if _, err := NewCA("x", 0); err == nil {
		t.Error("NewCA accepted zero validity")
	}
	ca := newTestCA(t)
	if _, err := ca.IssueServer("x", nil, nil); err == nil {
		t.Error("IssueServer accepted a certificate without names")
	}
}

func TestIssuedCertificatesExpireWithTheCA(t *testing.T) {
	ca := newTestCA(t)
	cl, _ := ca.IssueClient("c")
	if !cl.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("client NotAfter %v, CA NotAfter %v", cl.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if !cl.Cert.NotBefore.Before(time.Now()) {
		t.Errorf("client NotBefore %v is not in the past", cl.Cert.NotBefore)
	}
}
