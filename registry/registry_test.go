package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

func init() { HtpasswdCost = bcrypt.MinCost } // bcrypt at its default cost is slow under -race

func TestRefs(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	if got := DigestRef("10.0.0.2:5000", "swarmcass/cassandra", d); got != "10.0.0.2:5000/swarmcass/cassandra@"+d {
		t.Errorf("DigestRef = %s", got)
	}
	name, digest, ok := SplitDigest("10.0.0.2:5000/x@" + d)
	if !ok || name != "10.0.0.2:5000/x" || digest != d {
		t.Errorf("SplitDigest = %q %q %v", name, digest, ok)
	}
	if _, _, ok := SplitDigest("10.0.0.2:5000/x:tag"); ok {
		t.Error("SplitDigest accepted a tag reference")
	}
	if ValidDigest("sha256:abc") {
		t.Error("ValidDigest accepted a short digest")
	}
}

func TestPing(t *testing.T) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		w.Write([]byte("{}"))
	}))
	defer reg.Close()
	if err := Ping(context.Background(), strings.TrimPrefix(reg.URL, "http://"), nil); err != nil {
		t.Errorf("Ping(registry) = %v", err)
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer other.Close()
	err := Ping(context.Background(), strings.TrimPrefix(other.URL, "http://"), nil)
	if err == nil || !strings.Contains(err.Error(), "is it a registry") {
		t.Errorf("Ping(not a registry) = %v, want an error saying so", err)
	}

	addr := strings.TrimPrefix(other.URL, "http://")
	other.Close()
	if err := Ping(context.Background(), addr, nil); err == nil {
		t.Error("Ping(closed port) succeeded")
	}
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	w := enginetest.NewWorld()
	infra := w.NewFake("infra", "10.0.0.2")
	infra.AddImage("swarmcass/registry:3.1.2")
	infra.AddImage("cassandra:5.0")
	if _, err := Push(ctx, infra, "cassandra:5.0", Addr("10.0.0.2"), "swarmcass/cassandra", "t1", nil, nil); err == nil {
		t.Fatal("Push without a running registry succeeded")
	}
	id, err := infra.ContainerCreate(ctx, enginetestRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := infra.ContainerStart(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The infra engine does not trust 10.0.0.2:5000 yet: dockerd refuses plain HTTP.
	if _, err := Push(ctx, infra, "cassandra:5.0", Addr("10.0.0.2"), "swarmcass/cassandra", "t1", nil, nil); err == nil || !strings.Contains(err.Error(), "HTTPS") {
		t.Fatalf("Push to an untrusted registry = %v, want the HTTPS error", err)
	}
	infra.Spec.InsecureRegistries = append(infra.Spec.InsecureRegistries, "10.0.0.2:5000")
	ref, err := Push(ctx, infra, "cassandra:5.0", Addr("10.0.0.2"), "swarmcass/cassandra", "t1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := SplitDigest(ref); !ok || !strings.HasPrefix(ref, "10.0.0.2:5000/swarmcass/cassandra@sha256:") {
		t.Errorf("Push = %s, want a digest reference in the registry", ref)
	}
	// Another engine that trusts the registry pulls the same bits by digest.
	worker := w.NewFake("swarm-1", "10.0.0.3")
	worker.Spec.InsecureRegistries = append(worker.Spec.InsecureRegistries, "10.0.0.0/24")
	if err := worker.ImageTag(ctx, ref, "local:copy"); err != nil {
		t.Errorf("pull %s from another engine: %v", ref, err)
	}
}

// A registry that wants credentials: Ping without a user takes its 401 as
// an answer; with a user, only a 200 for that user's credentials will do.
func TestPingUser(t *testing.T) {
	u, err := NewUser()
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		if name, pass, ok := r.BasicAuth(); !ok || name != u.Name || pass != u.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="swarmcass"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("{}"))
	}))
	defer reg.Close()
	addr := strings.TrimPrefix(reg.URL, "http://")
	if err := Ping(context.Background(), addr, nil); err != nil {
		t.Errorf("Ping(no user) = %v, want a 401 taken as a registry's answer", err)
	}
	if err := Ping(context.Background(), addr, u); err != nil {
		t.Errorf("Ping(right user) = %v", err)
	}
	wrong := &User{Name: u.Name, Password: "not-" + u.Password}
	if err := Ping(context.Background(), addr, wrong); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Ping(wrong password) = %v, want ErrUnauthorized", err)
	}
}

// The fake registry started with htpasswd auth, as bootstrap starts the
// real one, refuses a push without credentials or with wrong ones and
// takes the right ones; a user's htpasswd line holds no password.
func TestPushWithUser(t *testing.T) {
	ctx := context.Background()
	w := enginetest.NewWorld()
	infra := w.NewFake("infra", "10.0.0.2")
	infra.AddImage("swarmcass/registry:3.1.2")
	infra.AddImage("cassandra:5.0")
	u, err := NewUser()
	if err != nil {
		t.Fatal(err)
	}
	line, err := u.Htpasswd()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(line), u.Password) || !strings.HasPrefix(string(line), UserName+":$2") {
		t.Fatalf("htpasswd line %q: want the user and a bcrypt hash, never the password", line)
	}
	spec := enginetestRegistry()
	spec.Env = []string{"REGISTRY_AUTH=htpasswd", "REGISTRY_AUTH_HTPASSWD_REALM=swarmcass", "REGISTRY_AUTH_HTPASSWD_PATH=/var/lib/registry/swarmcass/htpasswd"}
	spec.Mounts = []engine.Mount{{Type: "volume", Source: "reg", Target: "/var/lib/registry"}}
	id, err := infra.ContainerCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := infra.ContainerWriteFile(ctx, id, "/var/lib/registry", "swarmcass/htpasswd", line, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := infra.ContainerStart(ctx, id); err != nil {
		t.Fatal(err)
	}
	reg := Addr("127.0.0.1")
	if _, err := Push(ctx, infra, "cassandra:5.0", reg, "swarmcass/cassandra", "t1", nil, nil); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("Push without credentials = %v, want unauthorized", err)
	}
	if _, err := Push(ctx, infra, "cassandra:5.0", reg, "swarmcass/cassandra", "t1", &User{Name: u.Name, Password: "x"}, nil); err == nil {
		t.Error("Push with a wrong password succeeded")
	}
	if _, err := Push(ctx, infra, "cassandra:5.0", reg, "swarmcass/cassandra", "t1", u, nil); err != nil {
		t.Errorf("Push with the user's credentials: %v", err)
	}
}

// HasManifest asks HEAD /v2/REPO/manifests/DIGEST with the user's
// credentials: 200 is there, 404 is not, 401 and the rest are errors.
func TestHasManifest(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "swarmcass" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodHead || !strings.Contains(r.Header.Get("Accept"), "manifest.v2+json") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/v2/swarmcass/cassandra/manifests/"+digest {
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer reg.Close()
	addr := strings.TrimPrefix(reg.URL, "http://")
	user := &User{Name: "swarmcass", Password: "pw"}
	ctx := context.Background()
	if ok, err := HasManifest(ctx, addr, user, "swarmcass/cassandra", digest); !ok || err != nil {
		t.Errorf("held manifest: %v, %v", ok, err)
	}
	if ok, err := HasManifest(ctx, addr, user, "swarmcass/other", digest); ok || err != nil {
		t.Errorf("missing manifest: %v, %v", ok, err)
	}
	if _, err := HasManifest(ctx, addr, &User{Name: "swarmcass", Password: "wrong"}, "swarmcass/cassandra", digest); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("refused credentials: err = %v", err)
	}
}
