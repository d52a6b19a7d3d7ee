// Package pki makes the small certificate authority a swarmcass lab needs:
// one CA, a server certificate per engine (its address in the SANs) and a
// client certificate for swarmcass and the docker CLI, the same three kinds
// docker-machine makes. Keys are ECDSA P-256; a CA loaded from disk may also
// hold an RSA key (docker-machine's own CAs do).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// clockSkew backdates certificates a little, so an engine whose clock runs
// slightly behind still accepts them.
const clockSkew = 5 * time.Minute

// CA is a certificate authority: its certificate and the key that signs.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// KeyPair is an issued certificate with its private key.
type KeyPair struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA makes a self-signed CA valid for validFor from now.
func NewCA(commonName string, validFor time.Duration) (*CA, error) {
	if validFor <= 0 {
		return nil, fmt.Errorf("new ca %q: validity must be positive, got %v", commonName, validFor)
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("new ca %q: %w", commonName, err)
	}
	now := time.Now()
	tmpl, err := template(commonName, now, now.Add(validFor))
	if err != nil {
		return nil, fmt.Errorf("new ca %q: %w", commonName, err)
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new ca %q: sign: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new ca %q: %w", commonName, err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// LoadCA reads a CA from its PEM certificate and PEM private key (PKCS#8,
// SEC 1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY").
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load ca: certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("load ca: private key cannot sign")
	}
	return &CA{Cert: cert, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// LoadCAFiles reads a CA from a certificate file and a key file.
func LoadCAFiles(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (files %s, %s)", err, certFile, keyFile)
	}
	return ca, nil
}

// IssueServer issues a certificate for TLS servers, valid for the given
// addresses and DNS names (and nothing else) until the CA expires.
func (ca *CA) IssueServer(cn string, ips []net.IP, dns []string) (*KeyPair, error) {
	if len(ips) == 0 && len(dns) == 0 {
		return nil, fmt.Errorf("issue server certificate %q: give at least one IP address or DNS name", cn)
	}
	return ca.issue(cn, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, func(t *x509.Certificate) {
		t.IPAddresses = ips
		t.DNSNames = dns
	})
}

// IssuePeer issues a certificate a node uses both ways, as a TLS server
// and as a TLS client of its peers (Cassandra's internode connections run
// from each node to the others with the same keystore), valid for the
// given addresses and DNS names until the CA expires.
func (ca *CA) IssuePeer(cn string, ips []net.IP, dns []string) (*KeyPair, error) {
	if len(ips) == 0 && len(dns) == 0 {
		return nil, fmt.Errorf("issue peer certificate %q: give at least one IP address or DNS name", cn)
	}
	return ca.issue(cn, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, func(t *x509.Certificate) {
		t.IPAddresses = ips
		t.DNSNames = dns
	})
}

// IssueClient issues a certificate for TLS clients until the CA expires.
func (ca *CA) IssueClient(cn string) (*KeyPair, error) {
	return ca.issue(cn, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil)
}

func (ca *CA) issue(cn string, usage []x509.ExtKeyUsage, edit func(*x509.Certificate)) (*KeyPair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("issue certificate %q: %w", cn, err)
	}
	tmpl, err := template(cn, time.Now(), ca.Cert.NotAfter)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %q: %w", cn, err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = usage
	tmpl.BasicConstraintsValid = true
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %q: sign: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %q: %w", cn, err)
	}
	return &KeyPair{Cert: cert, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// WriteFiles writes the CA's certificate and key (the key readable by the
// owner only), creating their directories.
func (ca *CA) WriteFiles(certFile, keyFile string) error {
	return writePair(certFile, ca.CertPEM, keyFile, ca.KeyPEM)
}

// WriteFiles writes the certificate and key (the key readable by the owner
// only), creating their directories.
func (kp *KeyPair) WriteFiles(certFile, keyFile string) error {
	return writePair(certFile, kp.CertPEM, keyFile, kp.KeyPEM)
}

func writePair(certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	if err := WriteFile(certFile, certPEM, 0o644); err != nil {
		return err
	}
	return WriteFile(keyFile, keyPEM, 0o600)
}

// WriteFile writes data to path with perm, creating the directory (0700).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// WriteFile keeps the mode of a file that already exists.
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ParseCert decodes the first certificate in a PEM block sequence.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// Verify checks that certPEM was signed by one of the CAs in caPEM and may
// be used for usage (x509.ExtKeyUsageServerAuth or ExtKeyUsageClientAuth).
// A non-empty name (an IP address or DNS name) must also be among the
// certificate's SANs.
func Verify(caPEM, certPEM []byte, usage x509.ExtKeyUsage, name string) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return errors.New("verify: no CA certificate found in the CA file")
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	_, err = cert.Verify(x509.VerifyOptions{
		DNSName:     name,
		Roots:       roots,
		KeyUsages:   []x509.ExtKeyUsage{usage},
		CurrentTime: time.Now(),
	})
	if err != nil {
		return fmt.Errorf("verify %q: %w", cert.Subject.CommonName, err)
	}
	return nil
}

// MatchKey checks that keyPEM is the private key of the certificate in certPEM.
func MatchKey(certPEM, keyPEM []byte) error {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("key does not match certificate: %w", err)
	}
	return nil
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func template(cn string, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"swarmcass"}},
		NotBefore:    notBefore.Add(-clockSkew),
		NotAfter:     notAfter,
	}, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
