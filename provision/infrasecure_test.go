package provision

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/consulstore/consultest"
	"github.com/swarmcass/swarmcass/infracreds"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// creds is what the lab's infra holds of swarmcass's credentials: the
// local files and the copies in the infra containers' volumes.
type creds struct {
	token, tokenCopy, password, passwordCopy string
}

func (l *lab) creds() creds {
	l.t.Helper()
	var c creds
	read := func(k infracreds.Kind) (string, string) {
		local, _, err := infracreds.ReadLocal(k, l.infra.Addr())
		if err != nil {
			l.t.Fatal(err)
		}
		copied, _, err := infracreds.ReadCopy(context.Background(), l.infra, k)
		if err != nil {
			l.t.Fatal(err)
		}
		return local, copied
	}
	c.token, c.tokenCopy = read(infracreds.ConsulToken)
	c.password, c.passwordCopy = read(infracreds.RegistryPassword)
	return c
}

func (l *lab) acl() interface {
	Management() string
	Counts() (int, int)
} {
	return l.remote.acl("10.0.0.2:8500")
}

func requireMode0600(t *testing.T, k infracreds.Kind, addr string) {
	t.Helper()
	path, err := infracreds.LocalPath(k, addr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", path, st.Mode().Perm())
	}
}

// A first bootstrap bootstraps Consul's ACL system with a token it keeps
// in both places and sends with every request; makes a registry user it
// keeps in both places, pushes with it and gives it to every service.
func TestFirstRunSecuresInfra(t *testing.T) {
	l := newLab(t, 3)
	res := bootstrap(t, l.config(3))
	c := l.creds()
	acl := l.acl()
	if c.token == "" || c.token != c.tokenCopy || c.token != acl.Management() {
		t.Errorf("token: local %q, copy %q, Consul's management token %q: want one and the same", c.token, c.tokenCopy, acl.Management())
	}
	if got := l.remote.tokens["10.0.0.2:8500"]; got != c.token {
		t.Errorf("the record's store was given token %q, want the management token", got)
	}
	if b, creates := acl.Counts(); b != 1 || creates != 2 {
		t.Errorf("%d bootstraps and %d ACL things made, want 1 and 2 (the anonymous policy, the agent's token)", b, creates)
	}
	if c.password == "" || c.password != c.passwordCopy {
		t.Errorf("registry password: local %q, copy %q: want one and the same", c.password, c.passwordCopy)
	}
	requireMode0600(t, infracreds.ConsulToken, l.infra.Addr())
	requireMode0600(t, infracreds.RegistryPassword, l.infra.Addr())
	if res.ConsulACL != "on" || res.RegistryAuth != "on" || len(res.Warnings) > 0 {
		t.Errorf("ConsulACL %q, RegistryAuth %q, warnings %v: want on, on, none", res.ConsulACL, res.RegistryAuth, res.Warnings)
	}
	// Every node's service pulls with the user, from the address the swarm
	// engines reach the registry at; Swarm does not show it back.
	for _, n := range res.Nodes {
		auth := l.swarm[0].ServiceRegistryAuth(n.Name)
		if auth == nil || auth.Username != registry.UserName || auth.Password != c.password || auth.ServerAddress != "10.0.0.2:5000" {
			t.Errorf("service %s pulls with %+v, want user %s and the password at 10.0.0.2:5000", n.Name, auth, registry.UserName)
		}
		svc, err := l.swarm[0].ServiceInspect(context.Background(), n.Name)
		if err != nil || svc.Spec.RegistryAuth != nil {
			t.Errorf("service %s read back with registry auth %+v (%v): Swarm never shows it", n.Name, svc.Spec.RegistryAuth, err)
		}
	}
	// Without the user, the registry refuses; with it, it lets in.
	if err := l.w.RegistryDenies("10.0.0.2:5000", nil); err == nil {
		t.Error("the registry let a request without credentials in")
	}
	if err := l.w.RegistryDenies("10.0.0.2:5000", (&registry.User{Name: registry.UserName, Password: c.password}).Auth("10.0.0.2:5000")); err != nil {
		t.Errorf("the registry refused swarmcass's user: %v", err)
	}
}

// A re-run changes no credential that works: no bootstrap, no new token,
// user or htpasswd, nothing written.
func TestRerunKeepsCredentials(t *testing.T) {
	l := newLab(t, 2)
	bootstrap(t, l.config(2))
	before := l.creds()
	htpasswd, _ := l.w.PublishedFile("10.0.0.2", registry.Port, infracreds.RegistryDataDir+"/"+infracreds.HtpasswdFile)
	second := bootstrap(t, l.config(2))
	if after := l.creds(); after != before {
		t.Errorf("credentials changed from %+v to %+v", before, after)
	}
	if b, creates := l.acl().Counts(); b != 1 || creates != 2 {
		t.Errorf("%d bootstraps, %d ACL things made after a re-run; want 1 and 2", b, creates)
	}
	if again, _ := l.w.PublishedFile("10.0.0.2", registry.Port, infracreds.RegistryDataDir+"/"+infracreds.HtpasswdFile); string(again) != string(htpasswd) {
		t.Error("the re-run rewrote the registry's htpasswd")
	}
	if len(second.Created) != 0 {
		t.Errorf("re-run created %v", second.Created)
	}
}

// Lost or stale local files are recovered from the copies in the
// containers; the credentials themselves stay.
func TestLostLocalFilesRecovered(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(t *testing.T, path string)
	}{
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"stale", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("0b5e2c3a-0000-4000-8000-000000000000\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 1)
			bootstrap(t, l.config(1))
			before := l.creds()
			for _, k := range []infracreds.Kind{infracreds.ConsulToken, infracreds.RegistryPassword} {
				path, _ := infracreds.LocalPath(k, l.infra.Addr())
				tc.lose(t, path)
			}
			res := bootstrap(t, l.config(1))
			if after := l.creds(); after != before {
				t.Errorf("after the local files were %s: %+v, want %+v", tc.name, after, before)
			}
			if b, _ := l.acl().Counts(); b != 1 {
				t.Errorf("%d ACL bootstraps, want 1", b)
			}
			if len(res.Created) != 0 {
				t.Errorf("created %v", res.Created)
			}
		})
	}
}

// The registry's container is removed but its volume kept (as the
// message for an open registry says to do, or by accident): the password
// in the volume stays.
func TestRegistryRecreatedKeepsPassword(t *testing.T) {
	l := newLab(t, 1)
	bootstrap(t, l.config(1))
	before := l.creds()
	ctx := context.Background()
	if err := l.infra.ContainerRemove(ctx, RegistryContainer); err != nil {
		t.Fatal(err)
	}
	path, _ := infracreds.LocalPath(infracreds.RegistryPassword, l.infra.Addr())
	os.Remove(path)
	bootstrap(t, l.config(1))
	if after := l.creds(); after != before {
		t.Errorf("credentials %+v, want %+v", after, before)
	}
}

// A local file that cannot be read is reported with what to do, before
// anything is changed.
func TestUnreadableTokenFile(t *testing.T) {
	l := newLab(t, 1)
	bootstrap(t, l.config(1))
	path, _ := infracreds.LocalPath(infracreds.ConsulToken, l.infra.Addr())
	os.Remove(path)
	if err := os.Mkdir(path, 0o700); err != nil { // unreadable as a file, even for root
		t.Fatal(err)
	}
	_, err := Bootstrap(context.Background(), l.config(1))
	var he *op.Error
	if err == nil || !errors.As(err, &he) || !strings.Contains(he.Hint, path) {
		t.Fatalf("err = %v, want one whose hint names %s", err, path)
	}
}

// Consul bootstrapped by somebody else, with a token swarmcass does not
// have: refused, with what to do.
func TestForeignACLBootstrapRefused(t *testing.T) {
	l := newLab(t, 1)
	if err := l.remote.acl("10.0.0.2:8500").Bootstrap(context.Background(), "11111111-2222-4333-8444-555555555555"); err != nil {
		t.Fatal(err)
	}
	_, err := Bootstrap(context.Background(), l.config(1))
	var he *op.Error
	if !errors.Is(err, consulstore.ErrBootstrapped) || !errors.As(err, &he) || !strings.Contains(he.Hint, "consul-token") {
		t.Fatalf("err = %v, want ErrBootstrapped with a hint naming the token file", err)
	}
}

// Consul and the registry made by an older swarmcass, open to anyone:
// nothing breaks, nothing is changed, and the summary says how to protect
// them.
func TestOpenInfraOfOlderSwarmcass(t *testing.T) {
	l := newLab(t, 1)
	ctx := context.Background()
	l.remote.acl("10.0.0.2:8500")
	l.remote.acls["10.0.0.2:8500"] = &consultest.ACL{} // ACLs off
	cfg := l.config(1)
	r := &run{cfg: cfg.withDefaults()}
	for _, c := range r.infraContainers() {
		spec := c.spec
		spec.Env = nil // no auth
		id, err := l.infra.ContainerCreate(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.infra.ContainerStart(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	res := bootstrap(t, cfg)
	if res.ConsulACL != "off" || res.RegistryAuth != "off" || len(res.Warnings) != 2 {
		t.Fatalf("ConsulACL %q, RegistryAuth %q, warnings %q: want off, off and two warnings", res.ConsulACL, res.RegistryAuth, res.Warnings)
	}
	for _, w := range res.Warnings {
		if !strings.Contains(w, "docker rm -f swarmcass-") || !strings.Contains(w, "run bootstrap again") {
			t.Errorf("warning %q does not say how to protect it", w)
		}
	}
	var sum strings.Builder
	res.Summary(&sum)
	if !strings.Contains(sum.String(), "Warning: Consul on infra runs without ACLs") {
		t.Errorf("summary lacks the warning:\n%s", sum.String())
	}
	if got := l.remote.tokens["10.0.0.2:8500"]; got != "" {
		t.Errorf("the store was given token %q by a Consul without ACLs", got)
	}
	if auth := l.swarm[0].ServiceRegistryAuth("cass1"); auth != nil {
		t.Errorf("cass1 pulls from an open registry with %+v", auth)
	}
	c := l.creds()
	if c.token != "" || c.tokenCopy != "" || c.password != "" {
		t.Errorf("credentials made for open infra: %+v", c)
	}
}
