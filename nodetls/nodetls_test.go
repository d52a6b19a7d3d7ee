package nodetls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/pki"
)

func TestSecretNamesAndDir(t *testing.T) {
	if got := CASecretName("prod"); got != "prod-tls-ca" {
		t.Errorf("CASecretName = %q", got)
	}
	if got := NodeSecretName("prod", "cass2"); got != "prod-cass2-tls" {
		t.Errorf("NodeSecretName = %q", got)
	}
	// Two swarms may each hold a cluster of the same name.
	a, b := Dir("/h", "prod", "abcdefghijklmnop"), Dir("/h", "prod", "zzzzzzzzzzzzzzzz")
	if a == b || a != filepath.Join("/h", ".swarmcass", "tls", "prod.abcdefghijkl") {
		t.Errorf("Dir = %q, %q", a, b)
	}
}

func TestSANsHaveNodeServiceAndLocalNames(t *testing.T) {
	dns, ips := Names{Node: "cass1", DNS: []string{"cass1.service.consul", "cass1"}, IPs: []net.IP{net.ParseIP("10.0.9.5")}}.SANs()
	want := []string{"cass1", "tasks.cass1", "cass1.service.consul", "localhost"}
	if !slices.Equal(dns, want) {
		t.Errorf("DNS SANs = %v, want %v", dns, want)
	}
	if len(ips) != 2 || !ips[0].Equal(net.ParseIP("10.0.9.5")) || !ips[1].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("IP SANs = %v, want the overlay address and 127.0.0.1", ips)
	}
	// Unknown overlay address: none but loopback.
	_, ips = Names{Node: "cass2"}.SANs()
	if len(ips) != 1 || !ips[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("IP SANs without an address = %v", ips)
	}
}

func TestKeystoreIsKeyThenCertThenCA(t *testing.T) {
	ca, err := pki.NewCA("test CA", Validity)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := Keystore(ca, Names{Node: "cass3", IPs: []net.IP{net.ParseIP("10.0.9.7")}})
	if err != nil {
		t.Fatal(err)
	}
	// What PEMBasedSslContextFactory reads: a PKCS#8 key, unencrypted
	// (no password is configured), then the chain.
	var types []string
	rest := ks
	var leaf *x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		types = append(types, b.Type)
		switch b.Type {
		case "PRIVATE KEY":
			if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
				t.Errorf("key is not PKCS#8: %v", err)
			}
		case "CERTIFICATE":
			if leaf == nil {
				if leaf, err = x509.ParseCertificate(b.Bytes); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if !slices.Equal(types, []string{"PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"}) {
		t.Fatalf("keystore blocks = %v", types)
	}
	if leaf.Subject.CommonName != "cass3" || !slices.Contains(leaf.DNSNames, "tasks.cass3") {
		t.Errorf("leaf = %s %v", leaf.Subject.CommonName, leaf.DNSNames)
	}
	for _, name := range []string{"cass3", "tasks.cass3", "10.0.9.7", "127.0.0.1", "localhost"} {
		if err := CheckKeystore(ca.CertPEM, ks, name); err != nil {
			t.Errorf("keystore for %s: %v", name, err)
		}
	}
	if err := CheckKeystore(ca.CertPEM, ks, "cass1"); err == nil {
		t.Error("cass3's certificate verified for cass1")
	}
	other, _ := pki.NewCA("other", Validity)
	if err := CheckKeystore(other.CertPEM, ks, "cass3"); err == nil {
		t.Error("keystore verified against another CA")
	}
	if _, err := Keystore(ca, Names{}); err == nil {
		t.Error("a keystore without a node name was issued")
	}
}

// Two nodes' keystores make a mutually authenticated TLS connection, as
// Cassandra's internode connections with require_client_auth.
func TestKeystoresAuthenticateEachOther(t *testing.T) {
	ca, err := pki.NewCA("test CA", Validity)
	if err != nil {
		t.Fatal(err)
	}
	pair := func(node string) tls.Certificate {
		ks, err := Keystore(ca, Names{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(ks, ks)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair("cass1")}, ClientCAs: roots, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			if err == nil {
				if peer := c.(*tls.Conn).ConnectionState().PeerCertificates; len(peer) == 0 || peer[0].Subject.CommonName != "cass2" {
					err = errors.New("no client certificate of cass2")
				}
			}
			c.Close()
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{Certificates: []tls.Certificate{pair("cass2")}, RootCAs: roots, ServerName: "cass1"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCAKeptAndLoaded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls", "prod.x")
	if _, err := LoadCA(dir); !errors.Is(err, ErrNoCA) {
		t.Fatalf("LoadCA of nothing = %v, want ErrNoCA", err)
	}
	ca, err := NewCA(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(CAKeyFile(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	back, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Cert.Equal(ca.Cert) || !strings.Contains(back.Cert.Subject.CommonName, "prod") {
		t.Errorf("loaded CA %q differs", back.Cert.Subject.CommonName)
	}
	// A CA with its key lost is an error, not "no CA".
	if err := os.Remove(CAKeyFile(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(dir); err == nil || errors.Is(err, ErrNoCA) {
		t.Errorf("LoadCA without its key = %v", err)
	}
}
