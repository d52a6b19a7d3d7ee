// Package credentials is a cluster's CQL superuser: its generated name and
// password, the Swarm secret that keeps them (a cqlsh credentials file,
// mounted into every node at MountPath), and the 0600 copy under the user's
// swarmcass home that the CLI reads. The password is never logged, never
// written to the Consul record and never passed on a command line.
package credentials

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
)

const (
	// File is the secret's file name in the node containers.
	File = "swarmcass-cql-credentials"
	// MountPath is where the nodes see it (the node contract's
	// SWARMCASS_CREDENTIALS_FILE default).
	MountPath = "/run/secrets/" + File
	// DefaultRole is Cassandra's default superuser, which bootstrap disables.
	DefaultRole = "cassandra"
)

// SecretName is the cluster's secret on its swarm.
func SecretName(cluster string) string { return cluster + "-cql-credentials" }

// Credentials are one CQL login.
type Credentials struct {
	User     string
	Password string
}

// String never shows the password.
func (c Credentials) String() string { return c.User + ":<password hidden>" }

// GoString keeps %#v from showing the password too.
func (c Credentials) GoString() string { return c.String() }

const (
	lower    = "abcdefghijklmnopqrstuvwxyz"
	alphanum = lower + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

func random(n int, alphabet string) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random credentials: %w", err)
	}
	for i := range b {
		// 256 is not a multiple of 62: reject the top bytes to stay uniform.
		for int(b[i]) >= 256-256%len(alphabet) {
			var one [1]byte
			if _, err := rand.Read(one[:]); err != nil {
				return "", fmt.Errorf("random credentials: %w", err)
			}
			b[i] = one[0]
		}
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

// Generate makes a superuser name (admin_ and 8 random letters: a plain,
// lowercase CQL identifier) and a 32-character random password (about 190
// bits, from crypto/rand; letters and digits only, so it needs no quoting
// in CQL or in the credentials file).
func Generate() (Credentials, error) {
	suffix, err := random(8, lower)
	if err != nil {
		return Credentials{}, err
	}
	pw, err := random(32, alphanum)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{User: "admin_" + suffix, Password: pw}, nil
}

// Marshal writes c as a cqlsh credentials file, which the DataStax drivers'
// users can read with any INI parser too.
func (c Credentials) Marshal() []byte {
	return []byte("[plain_text_auth]\nusername = " + c.User + "\npassword = " + c.Password + "\n")
}

// Parse reads a credentials file written by Marshal.
func Parse(b []byte) (Credentials, error) {
	var c Credentials
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		case section == "plain_text_auth":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "username":
				c.User = strings.TrimSpace(v)
			case "password":
				c.Password = strings.TrimSpace(v)
			}
		}
	}
	if c.User == "" || c.Password == "" {
		return Credentials{}, errors.New("not a credentials file: want [plain_text_auth] with username and password")
	}
	return c, nil
}

// DefaultHome is the user's home directory, where LocalPath goes by
// default ("." when the system knows none).
func DefaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "."
}

// LocalPath is the CLI's copy of a cluster's credentials: under home's
// .swarmcass/credentials/, named by the cluster and its swarm, since two
// swarms may each hold a cluster of the same name.
func LocalPath(home, cluster, swarmID string) string {
	if len(swarmID) > 12 {
		swarmID = swarmID[:12]
	}
	return filepath.Join(home, ".swarmcass", "credentials", cluster+"."+swarmID)
}

// WriteLocal writes c to path, readable by its owner only (0600, in a
// 0700 directory).
func WriteLocal(path string, c Credentials) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, c.Marshal(), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// ReadLocal reads the copy at path; an error matching os.ErrNotExist when
// there is none.
func ReadLocal(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, err
	}
	c, err := Parse(b)
	if err != nil {
		return Credentials{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// FromNode reads the credentials from the secret mounted in a running node
// container: the only way back to them once the local copy is lost, as the
// Engine API never returns a secret's data. Both node images have cat
// (cassim's is cassim itself).
func FromNode(ctx context.Context, e engine.Engine, container string) (Credentials, error) {
	res, err := e.Exec(ctx, container, []string{"cat", MountPath})
	if err != nil {
		return Credentials{}, fmt.Errorf("read %s in the node's container: %w", MountPath, err)
	}
	if res.ExitCode != 0 {
		return Credentials{}, fmt.Errorf("read %s in the node's container: exit %d: %s", MountPath, res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	c, err := Parse([]byte(res.Stdout))
	if err != nil {
		return Credentials{}, fmt.Errorf("%s in the node's container: %w", MountPath, err)
	}
	return c, nil
}
