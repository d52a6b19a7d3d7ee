// Package nodetls is a cluster's TLS for Cassandra (bootstrap --tls): the
// cluster's own CA (package pki), kept in 0600 files under the user's
// swarmcass home; a certificate per node issued from it; and the Swarm
// secrets that deliver them to the nodes as the PEM files Cassandra 5.0's
// PEMBasedSslContextFactory reads (the node contract's SWARMCASS_TLS_*).
//
// A node's keystore secret holds its private key (PKCS#8, unencrypted:
// Cassandra decrypts a PEM key only when given a password, and the key is
// protected by Swarm instead, mounted 0400 for the cassandra user alone)
// followed by its certificate and the CA's; the truststore secret holds the
// CA certificate alone.
package nodetls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/swarmcass/swarmcass/pki"
)

const (
	// Env is the node contract's switch: SWARMCASS_TLS=true turns on
	// internode encryption (all) and client encryption (required) with the
	// files below.
	Env = "SWARMCASS_TLS"
	// KeystoreFile and TruststoreFile are the secrets' file names in the
	// node containers, under /run/secrets/.
	KeystoreFile   = "swarmcass-tls-node.pem"
	TruststoreFile = "swarmcass-tls-ca.pem"
	KeystorePath   = "/run/secrets/" + KeystoreFile
	TruststorePath = "/run/secrets/" + TruststoreFile
	// CassandraUID owns the keystore in the container: the cassandra user
	// of the official image (and of swarmcass's offline base), whom the
	// entrypoint runs Cassandra as.
	CassandraUID = "999"

	// RoleCA and RoleNode are the LabelRole of the CA secret and of a
	// node's keystore secret (which also carries LabelNode).
	RoleCA   = "tls-ca"
	RoleNode = "tls-node"

	// Validity of the CA: the node certificates expire with it.
	Validity = 10 * 365 * 24 * time.Hour
)

// ErrNoCA: the cluster's CA files are not on this machine.
var ErrNoCA = errors.New("the cluster's CA is not on this machine")

// CASecretName is the secret of cluster's CA certificate.
func CASecretName(cluster string) string { return cluster + "-tls-ca" }

// NodeSecretName is the secret of node's keystore.
func NodeSecretName(cluster, node string) string { return cluster + "-" + node + "-tls" }

// Dir is where the CLI keeps cluster's CA on this machine: under home's
// .swarmcass/tls/, named by the cluster and its swarm, as credentials are.
func Dir(home, cluster, swarmID string) string {
	if len(swarmID) > 12 {
		swarmID = swarmID[:12]
	}
	return filepath.Join(home, ".swarmcass", "tls", cluster+"."+swarmID)
}

// CAFile is the CA certificate in dir: what clients trust.
func CAFile(dir string) string { return filepath.Join(dir, "ca.pem") }

// CAKeyFile is the CA's private key in dir (0600).
func CAKeyFile(dir string) string { return filepath.Join(dir, "ca-key.pem") }

// LoadCA reads the CA kept in dir; ErrNoCA when neither file is there.
func LoadCA(dir string) (*pki.CA, error) {
	_, errCert := os.Stat(CAFile(dir))
	_, errKey := os.Stat(CAKeyFile(dir))
	if errors.Is(errCert, fs.ErrNotExist) && errors.Is(errKey, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (no %s)", ErrNoCA, CAFile(dir))
	}
	ca, err := pki.LoadCAFiles(CAFile(dir), CAKeyFile(dir))
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	return ca, nil
}

// NewCA makes cluster's CA and writes it into dir.
func NewCA(dir, cluster string) (*pki.CA, error) {
	ca, err := pki.NewCA("swarmcass "+cluster+" CA", Validity)
	if err != nil {
		return nil, err
	}
	if err := ca.WriteFiles(CAFile(dir), CAKeyFile(dir)); err != nil {
		return nil, fmt.Errorf("keep the cluster CA: %w", err)
	}
	return ca, nil
}

// Names are what a node's certificate is valid for.
type Names struct {
	// Node is the node's name (cass1): its hostname and the Swarm
	// service's DNS name on the overlay.
	Node string
	// DNS are more names (Consul's, a host's).
	DNS []string
	// IPs are the node's overlay address, when known, and its host's
	// address when clients reach it there.
	IPs []net.IP
}

// SANs are the certificate's DNS names and addresses: the node name, the
// service's DNS names on the overlay (NAME and tasks.NAME), the given ones,
// and localhost with 127.0.0.1 (cqlsh and the health check inside the
// container connect there).
func (n Names) SANs() (dns []string, ips []net.IP) {
	dns = []string{n.Node, "tasks." + n.Node}
	for _, d := range append(slices.Clone(n.DNS), "localhost") {
		if d != "" && !slices.Contains(dns, d) {
			dns = append(dns, d)
		}
	}
	for _, ip := range append(slices.Clone(n.IPs), net.IPv4(127, 0, 0, 1)) {
		if ip != nil && !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	return dns, ips
}

// Keystore issues node's certificate from ca and returns the keystore
// file: the private key, the node's certificate, then the CA's.
func Keystore(ca *pki.CA, n Names) ([]byte, error) {
	if n.Node == "" {
		return nil, errors.New("node certificate: no node name")
	}
	dns, ips := n.SANs()
	kp, err := ca.IssuePeer(n.Node, ips, dns)
	if err != nil {
		return nil, err
	}
	out := slices.Concat(kp.KeyPEM, kp.CertPEM, ca.CertPEM)
	return out, nil
}

// CheckKeystore says whether keystore is a node keystore issued by the CA
// in caPEM, usable as server and client, for name.
func CheckKeystore(caPEM, keystore []byte, name string) error {
	if err := pki.MatchKey(keystore, keystore); err != nil {
		return err
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := pki.Verify(caPEM, keystore, u, name); err != nil {
			return err
		}
	}
	return nil
}
