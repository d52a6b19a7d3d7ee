package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/lab"
)

// The lab commands' host engine: the one the lab's record names when it
// is a socket; a recorded tcp:// engine only through DOCKER_HOST when that
// is the same engine (hosts.SameEngine), never a machine `lab env` pointed
// it at; and DOCKER_HOST's certificates from where the docker CLI reads
// them (hosts.Local), never from the working directory.
func TestLabHostEngine(t *testing.T) {
	config := t.TempDir()
	t.Setenv("DOCKER_CONFIG", config)
	for _, k := range []string{"DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		t.Setenv(k, "")
	}
	store := t.TempDir()
	cfg := lab.Config{StoreDir: store}
	record := func(host string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(store, "swarmcass-lab.json"), []byte(`{"Name":"t","HostEngine":"`+host+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	record("unix:///run/lab.sock")
	t.Setenv("DOCKER_HOST", "tcp://10.9.9.10:2376")
	if e, err := hostEngine(cfg); err != nil || e.Host() != "unix:///run/lab.sock" {
		t.Fatalf("recorded socket: %v %v", e, err)
	}

	record("tcp://10.9.9.9:2376")
	if _, err := hostEngine(cfg); err == nil || !strings.Contains(err.Error(), "the lab in "+store+" runs on the engine tcp://10.9.9.9:2376, but DOCKER_HOST is tcp://10.9.9.10:2376") {
		t.Errorf("DOCKER_HOST at another engine: %v", err)
	}
	t.Setenv("DOCKER_HOST", "TCP://10.9.9.9:2376/")
	if e, err := hostEngine(cfg); err != nil || e.Host() != "TCP://10.9.9.9:2376/" {
		t.Errorf("DOCKER_HOST at the recorded engine, spelled otherwise: %v %v", e, err)
	} else {
		e.Close()
	}

	// DOCKER_TLS_VERIFY without DOCKER_CERT_PATH: the certificates are
	// DOCKER_CONFIG's (~/.docker), not the working directory's.
	cwd := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(cwd, f), []byte("not a certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(cwd)
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	_, err := hostEngine(cfg)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(config, "ca.pem")) {
		t.Errorf("DOCKER_TLS_VERIFY without DOCKER_CERT_PATH: %v; want the missing files of %s named", err, config)
	}
}
