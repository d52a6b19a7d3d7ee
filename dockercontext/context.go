// Package dockercontext resolves docker CLI contexts the way the docker CLI
// does, reading its files directly: CONFIG/contexts/meta/<sha256 of
// name>/meta.json for the endpoint, CONFIG/contexts/tls/<sha256>/docker/
// for ca.pem, cert.pem and key.pem, and CONFIG/config.json for the current
// context, where CONFIG is DOCKER_CONFIG or ~/.docker.
package dockercontext

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultName is the context that stands for DOCKER_HOST or the local socket.
const DefaultName = "default"

// DefaultHost is the local engine's socket.
const DefaultHost = "unix:///var/run/docker.sock"

// Environment variables the docker CLI reads.
const (
	EnvConfig    = "DOCKER_CONFIG"
	EnvContext   = "DOCKER_CONTEXT"
	EnvHost      = "DOCKER_HOST"
	EnvTLSVerify = "DOCKER_TLS_VERIFY"
	EnvCertPath  = "DOCKER_CERT_PATH"
)

// Context is a docker endpoint: where the engine is and the TLS files to
// reach it with.
type Context struct {
	Name string
	Host string
	// SkipTLSVerify: use TLS without checking the engine's certificate.
	SkipTLSVerify bool
	// CA, Cert and Key are the TLS files; each is "" when the context has none.
	CA, Cert, Key string
}

// HasTLS reports whether the context reaches its engine over TLS.
func (c *Context) HasTLS() bool {
	return c.CA != "" || c.Cert != "" || c.Key != "" || c.SkipTLSVerify
}

// ConfigDir is DOCKER_CONFIG, else ~/.docker.
func ConfigDir() (string, error) {
	if d := os.Getenv(EnvConfig); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the docker config directory: %w; set %s", err, EnvConfig)
	}
	return filepath.Join(home, ".docker"), nil
}

// Current is the context the docker CLI uses when given none: "default"
// when DOCKER_HOST is set, else DOCKER_CONTEXT, else config.json's
// currentContext, else "default".
func Current(configDir string) (string, error) {
	if os.Getenv(EnvHost) != "" {
		return DefaultName, nil
	}
	if name := os.Getenv(EnvContext); name != "" {
		return name, nil
	}
	data, err := os.ReadFile(filepath.Join(configDir, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultName, nil
	}
	if err != nil {
		return "", fmt.Errorf("read docker config: %w", err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("parse %s: %w", filepath.Join(configDir, "config.json"), err)
	}
	if cfg.CurrentContext == "" {
		return DefaultName, nil
	}
	return cfg.CurrentContext, nil
}

// Load resolves context name from configDir; "default" is Default().
func Load(configDir, name string) (*Context, error) {
	if name == DefaultName {
		return Default(configDir)
	}
	id := dirOf(name)
	metaFile := filepath.Join(configDir, "contexts", "meta", id, "meta.json")
	data, err := os.ReadFile(metaFile)
	if errors.Is(err, fs.ErrNotExist) {
		known, lerr := List(configDir)
		if lerr != nil {
			return nil, lerr
		}
		list := "there are none besides default"
		if len(known) > 0 {
			list = "known: " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("docker context %q not found in %s (%s); see `docker context ls`", name, configDir, list)
	}
	if err != nil {
		return nil, fmt.Errorf("docker context %q: %w", name, err)
	}
	m, err := parseMeta(data)
	if err != nil {
		return nil, fmt.Errorf("docker context %q: parse %s: %w", name, metaFile, err)
	}
	ep, ok := m.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return nil, fmt.Errorf("docker context %q has no docker endpoint (%s)", name, metaFile)
	}
	c := &Context{Name: name, Host: ep.Host, SkipTLSVerify: ep.SkipTLSVerify}
	tlsDir := filepath.Join(configDir, "contexts", "tls", id, "docker")
	c.CA, c.Cert, c.Key = existing(tlsDir, "ca.pem"), existing(tlsDir, "cert.pem"), existing(tlsDir, "key.pem")
	if (c.Cert == "") != (c.Key == "") {
		return nil, fmt.Errorf("docker context %q has only one of cert.pem and key.pem in %s; recreate it with `docker context create`", name, tlsDir)
	}
	return c, nil
}

// Default is the "default" context: DOCKER_HOST, else the local socket.
// As with the docker client, DOCKER_CERT_PATH (or DOCKER_TLS_VERIFY, with
// ~/.docker as the path) selects TLS with the path's ca.pem, cert.pem and
// key.pem; without DOCKER_TLS_VERIFY the engine's certificate is not checked.
func Default(configDir string) (*Context, error) {
	c := &Context{Name: DefaultName, Host: os.Getenv(EnvHost)}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	certPath, verify := os.Getenv(EnvCertPath), os.Getenv(EnvTLSVerify) != ""
	if certPath == "" && !verify {
		return c, nil
	}
	if certPath == "" {
		certPath = configDir
	}
	var missing []string
	for _, f := range []struct {
		dst  *string
		name string
	}{{&c.CA, "ca.pem"}, {&c.Cert, "cert.pem"}, {&c.Key, "key.pem"}} {
		if *f.dst = existing(certPath, f.name); *f.dst == "" {
			missing = append(missing, filepath.Join(certPath, f.name))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s or %s ask for TLS to %s, but these files are missing: %s; set %s to the directory holding ca.pem, cert.pem and key.pem",
			EnvTLSVerify, EnvCertPath, c.Host, strings.Join(missing, ", "), EnvCertPath)
	}
	c.SkipTLSVerify = !verify
	return c, nil
}

// List returns the names of the stored contexts, sorted; "default" is not
// stored and not listed.
func List(configDir string) ([]string, error) {
	root := filepath.Join(configDir, "contexts", "meta")
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list docker contexts: %w", err)
	}
	var names []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(root, e.Name(), "meta.json"))
		if err != nil {
			continue // not a context directory
		}
		if m, err := parseMeta(data); err == nil && m.Name != "" {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

type meta struct {
	Name      string
	Endpoints map[string]endpoint
}

type endpoint struct {
	Host          string
	SkipTLSVerify bool
}

func parseMeta(data []byte) (meta, error) {
	var m meta
	err := json.Unmarshal(data, &m)
	return m, err
}

// dirOf is the directory name the docker CLI keeps a context under.
func dirOf(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func existing(dir, name string) string {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}
