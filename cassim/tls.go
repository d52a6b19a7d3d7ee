package cassim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client encryption, as the node contract's SWARMCASS_TLS=true asks: the
// CQL port speaks TLS only, with the node's certificate from its PEM
// keystore (private key and certificate chain, as Cassandra's
// PEMBasedSslContextFactory reads it). A client that talks plaintext is cut
// off as Cassandra 5.0.8 does it (seen there: the server logs a
// NotSslRecordException and resets the connection; cqlsh prints
// ConnectionResetError(104, 'Connection reset by peer')). cassim's own
// gossip stays plaintext: it is not Cassandra's internode protocol, so
// cassim does not claim internode encryption.

// DefaultKeystoreFile and DefaultTruststoreFile are where bootstrap --tls
// mounts the node's keystore and the CA certificate.
const (
	DefaultKeystoreFile   = "/run/secrets/swarmcass-tls-node.pem"
	DefaultTruststoreFile = "/run/secrets/swarmcass-tls-ca.pem"
)

// serverTLS is the CQL listener's TLS configuration.
func (c Config) serverTLS() (*tls.Config, error) {
	ks, err := os.ReadFile(c.TLSKeystore)
	if err != nil {
		return nil, fmt.Errorf("Failed to build key manager store for secure connections: %w", err)
	}
	pair, err := tls.X509KeyPair(ks, ks)
	if err != nil {
		return nil, fmt.Errorf("Failed to build key manager store for secure connections: %s: %w", c.TLSKeystore, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// acceptTLS completes the TLS handshake of a new client connection; a
// client that does not speak TLS is logged and reset.
func (n *Node) acceptTLS(c net.Conn, cfg *tls.Config) (net.Conn, bool) {
	tc := tls.Server(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			n.log.Warn("epollEventLoopGroup-5-2", "NoSpamLogger.java:107", "SSLException in client networking with peer /%s io.netty.handler.ssl.NotSslRecordException: not an SSL/TLS record", c.RemoteAddr())
		} else {
			n.log.Warn("epollEventLoopGroup-5-2", "NoSpamLogger.java:107", "SSLException in client networking with peer /%s javax.net.ssl.SSLHandshakeException: %v", c.RemoteAddr(), err)
		}
		if t, ok := c.(*net.TCPConn); ok {
			_ = t.SetLinger(0) // a reset, as the client sees it from Cassandra
		}
		c.Close()
		return nil, false
	}
	return tc, true
}

// cqlshrcPath is cqlsh's default configuration file.
func cqlshrcPath() string {
	return filepath.Join(filepath.Dir(credentialsPath()), "cqlshrc")
}

// WriteCqlshrc writes root's (or $HOME's) ~/.cassandra/cqlshrc as the node
// image's entrypoint does with TLS on: connect with TLS, validate the
// node's certificate against the CA in truststore.
func WriteCqlshrc(truststore string) error {
	p := cqlshrcPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, []byte("[connection]\nssl = true\n\n[ssl]\ncertfile = "+truststore+"\nvalidate = true\n"), 0o644)
}

// cqlshSSL is what cqlsh's --ssl, its cqlshrc and SSL_CERTFILE /
// SSL_VALIDATE say about TLS, read as cqlshlib's sslhandling does: env
// first, then [ssl]; validation on unless validate = false, and then a
// certfile is required.
type cqlshSSL struct {
	on       bool
	certfile string
	validate bool
}

func readCqlshrc(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
		default:
			if k, v, ok := strings.Cut(line, "="); ok {
				out[section+"."+strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

func loadCqlshSSL(flag bool) cqlshSSL {
	rc := readCqlshrc(cqlshrcPath())
	s := cqlshSSL{on: flag || strings.EqualFold(rc["connection.ssl"], "true")}
	v, ok := os.LookupEnv("SSL_VALIDATE")
	if !ok {
		v = rc["ssl.validate"]
	}
	s.validate = !strings.EqualFold(v, "false")
	s.certfile, ok = os.LookupEnv("SSL_CERTFILE")
	if !ok {
		s.certfile = rc["ssl.certfile"]
	}
	return s
}

// clientTLS is the client side: nil without TLS.
func (s cqlshSSL) clientTLS() (*tls.Config, error) {
	if !s.on {
		return nil, nil
	}
	if !s.validate {
		return &tls.Config{InsecureSkipVerify: true}, nil //nolint:gosec // cqlsh's validate = false
	}
	if s.certfile == "" {
		return nil, fmt.Errorf("Validation is enabled; SSL transport factory requires a valid certfile to be specified. Please provide path to the certfile in [ssl] section as 'certfile' option in %s (or use [certfiles] section) or set SSL_CERTFILE environment variable.", cqlshrcPath())
	}
	pem, err := os.ReadFile(s.certfile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", s.certfile)
	}
	// cqlsh checks the chain (CERT_REQUIRED), not the host name.
	return &tls.Config{RootCAs: roots, InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error { //nolint:gosec // verified below
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no server certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}}, nil
}
