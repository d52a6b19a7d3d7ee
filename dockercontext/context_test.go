package dockercontext

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testdata/docker was made by the docker CLI 28.2 (DOCKER_CONFIG=testdata/docker):
// `docker context create` of lab-infra (host=tcp://172.30.0.10:2376 with ca,
// cert and key from machinestore's fixture), plain (host=tcp://10.0.0.5:2375)
// and insecure (skip-tls-verify=true), then `docker context use lab-infra`.
const fixture = "testdata/docker"

// clearEnv unsets every variable the docker CLI reads, for this test only.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{EnvConfig, EnvContext, EnvHost, EnvTLSVerify, EnvCertPath} {
		t.Setenv(k, "")
	}
}

func TestLoadFixtureContexts(t *testing.T) {
	clearEnv(t)
	tlsDir := filepath.Join(fixture, "contexts/tls/bac7e14836fdc2d7d9fc27e54966be496d16da4be2a10b32149268db17352fbf/docker")
	tests := []struct {
		name string
		want Context
	}{
		{"lab-infra", Context{Name: "lab-infra", Host: "tcp://172.30.0.10:2376",
			CA: filepath.Join(tlsDir, "ca.pem"), Cert: filepath.Join(tlsDir, "cert.pem"), Key: filepath.Join(tlsDir, "key.pem")}},
		{"plain", Context{Name: "plain", Host: "tcp://10.0.0.5:2375"}},
		{"insecure", Context{Name: "insecure", Host: "tcp://10.0.0.6:2376", SkipTLSVerify: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(fixture, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("Load(%q) = %+v, want %+v", tt.name, *got, tt.want)
			}
			if got.HasTLS() != (tt.name != "plain") {
				t.Errorf("HasTLS = %v", got.HasTLS())
			}
		})
	}
}

func TestLoadUnknownContextListsKnown(t *testing.T) {
	clearEnv(t)
	_, err := Load(fixture, "nope")
	if err == nil {
		t.Fatal("Load of an unknown context succeeded")
	}
	for _, w := range []string{`"nope" not found`, "insecure, lab-infra, plain", "docker context ls"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	_, err = Load(t.TempDir(), "nope")
	if err == nil || !strings.Contains(err.Error(), "none besides default") {
		t.Errorf("Load in an empty config = %v", err)
	}
}

func TestList(t *testing.T) {
	names, err := List(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"insecure", "lab-infra", "plain"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
}

func TestCurrent(t *testing.T) {
	emptyDir := t.TempDir()
	tests := []struct {
		name      string
		dir       string
		env       map[string]string
		want      string
		wantError bool
	}{
		{"config.json's currentContext", fixture, nil, "lab-infra", false},
		{"DOCKER_CONTEXT wins over config.json", fixture, map[string]string{EnvContext: "plain"}, "plain", false},
		{"DOCKER_HOST means default", fixture, map[string]string{EnvHost: "tcp://1.2.3.4:2376", EnvContext: "plain"}, "default", false},
		{"no config.json", emptyDir, nil, "default", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := Current(tt.dir)
			if err != nil || got != tt.want {
				t.Errorf("Current = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("corrupt config.json", func(t *testing.T) {
		clearEnv(t)
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o600)
		if _, err := Current(dir); err == nil {
			t.Error("Current accepted a corrupt config.json")
		}
	})
}

func TestDefault(t *testing.T) {
	certDir := filepath.Join(fixture, "contexts/tls/bac7e14836fdc2d7d9fc27e54966be496d16da4be2a10b32149268db17352fbf/docker")
	tests := []struct {
		name    string
		env     map[string]string
		want    Context
		wantErr string
	}{
		{"nothing set: the local socket", nil, Context{Name: "default", Host: DefaultHost}, ""},
		{"DOCKER_HOST without TLS", map[string]string{EnvHost: "tcp://10.0.0.5:2375"},
			Context{Name: "default", Host: "tcp://10.0.0.5:2375"}, ""},
		{"docker-machine env", map[string]string{EnvHost: "tcp://10.0.0.5:2376", EnvTLSVerify: "1", EnvCertPath: certDir},
			Context{Name: "default", Host: "tcp://10.0.0.5:2376", CA: filepath.Join(certDir, "ca.pem"),
				Cert: filepath.Join(certDir, "cert.pem"), Key: filepath.Join(certDir, "key.pem")}, ""},
		{"cert path without verify", map[string]string{EnvHost: "tcp://10.0.0.5:2376", EnvCertPath: certDir},
			Context{Name: "default", Host: "tcp://10.0.0.5:2376", SkipTLSVerify: true, CA: filepath.Join(certDir, "ca.pem"),
				Cert: filepath.Join(certDir, "cert.pem"), Key: filepath.Join(certDir, "key.pem")}, ""},
		{"verify with missing files", map[string]string{EnvHost: "tcp://10.0.0.5:2376", EnvTLSVerify: "1", EnvCertPath: "/nonexistent"},
			Context{}, "/nonexistent/ca.pem, /nonexistent/cert.pem, /nonexistent/key.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := Load(t.TempDir(), DefaultName)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), EnvCertPath) {
					t.Errorf("err = %v, want one naming %q and %s", err, tt.wantErr, EnvCertPath)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestConfigDir(t *testing.T) {
	t.Setenv("HOME", "/home/alice")
	t.Setenv(EnvConfig, "")
	if d, _ := ConfigDir(); d != "/home/alice/.docker" {
		t.Errorf("ConfigDir = %q", d)
	}
	t.Setenv(EnvConfig, "/etc/dockercfg")
	if d, _ := ConfigDir(); d != "/etc/dockercfg" {
		t.Errorf("ConfigDir with DOCKER_CONFIG = %q", d)
	}
}

func TestBrokenContexts(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	write := func(name, body string, tlsFiles ...string) {
		d := filepath.Join(dir, "contexts", "meta", dirOf(name))
		os.MkdirAll(d, 0o700)
		os.WriteFile(filepath.Join(d, "meta.json"), []byte(body), 0o600)
		td := filepath.Join(dir, "contexts", "tls", dirOf(name), "docker")
		os.MkdirAll(td, 0o700)
		for _, f := range tlsFiles {
			os.WriteFile(filepath.Join(td, f), []byte("x"), 0o600)
		}
	}
	write("corrupt", "{")
	write("k8s-only", `{"Name":"k8s-only","Endpoints":{"kubernetes":{"Host":"https://k"}}}`)
	write("half-tls", `{"Name":"half-tls","Endpoints":{"docker":{"Host":"tcp://1.2.3.4:2376"}}}`, "ca.pem", "cert.pem")
	for name, want := range map[string]string{"corrupt": "parse", "k8s-only": "no docker endpoint", "half-tls": "only one of cert.pem and key.pem"} {
		_, err := Load(dir, name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) = %v, want an error mentioning %q", name, err, want)
		}
	}
}

// The directory name is the sha256 of the context name, as the fixture made
// by the docker CLI shows.
func TestDirOf(t *testing.T) {
	if got := dirOf("lab-infra"); got != "bac7e14836fdc2d7d9fc27e54966be496d16da4be2a10b32149268db17352fbf" {
		t.Errorf("dirOf(lab-infra) = %s", got)
	}
}
