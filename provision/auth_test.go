package provision

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool/nodetooltest"
	"github.com/swarmcass/swarmcass/op"
)

// recorder keeps every progress line, -v ones too.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Start(step string) { r.Infof("start %s", step) }
func (r *recorder) End(ok bool)       {}
func (r *recorder) Infof(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}
func (r *recorder) Debugf(format string, args ...any) { r.Infof(format, args...) }
func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// secretOf is the cluster's credentials secret and what it holds.
func (l *lab) secretOf(t *testing.T, cluster string) (engine.Secret, credentials.Credentials) {
	t.Helper()
	list, err := l.swarm[0].SecretList(context.Background(), engine.Labels{engine.LabelCluster: cluster, engine.LabelRole: RoleCredentials})
	if err != nil || len(list) != 1 {
		t.Fatalf("secrets of %s: %v %v, want one", cluster, list, err)
	}
	data, ok := l.w.SecretData(l.swarm[0], list[0].Name)
	if !ok {
		t.Fatalf("no data for secret %s", list[0].Name)
	}
	c, err := credentials.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return list[0], c
}

func TestAuthOnByDefault(t *testing.T) {
	l := newLab(t, 3)
	rec := &recorder{}
	cfg := l.config(3)
	cfg.Progress = rec
	res := bootstrap(t, cfg)

	sec, c := l.secretOf(t, "test")
	if sec.Name != "test-cql-credentials" || !strings.HasPrefix(c.User, "admin_") || len(c.Password) != 32 {
		t.Errorf("secret %s holds %s with a %d-character password; want test-cql-credentials, admin_*, 32", sec.Name, c, len(c.Password))
	}
	for _, s := range []string{"cass1", "cass2", "cass3"} {
		svc, err := l.swarm[0].ServiceInspect(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(svc.Spec.Env, "SWARMCASS_AUTH=true") {
			t.Errorf("%s env %v lacks SWARMCASS_AUTH=true", s, svc.Spec.Env)
		}
		want := engine.SecretRef{ID: sec.ID, Name: sec.Name, File: credentials.File, UID: "0", GID: "0", Mode: 0o400}
		if !slices.Equal(svc.Spec.Secrets, []engine.SecretRef{want}) {
			t.Errorf("%s mounts %+v, want %+v", s, svc.Spec.Secrets, want)
		}
		for _, kv := range svc.Spec.Env {
			if strings.Contains(kv, c.Password) {
				t.Errorf("%s: the password is in the service's environment", s)
			}
		}
	}
	// The roles: ours a superuser, Cassandra's default one disabled;
	// system_auth on every node of three.
	su, def := l.auth.roles[c.User], l.auth.roles[credentials.DefaultRole]
	if su == nil || !su.super || !su.login || su.password != c.Password {
		t.Errorf("superuser %s: %+v", c.User, su)
	}
	if def == nil || def.super || def.login {
		t.Errorf("default role: %+v, want present, no superuser, no login", def)
	}
	if want := "{'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'datacenter1': '3'}"; l.auth.replication != want {
		t.Errorf("system_auth replication %s, want %s", l.auth.replication, want)
	}
	// A brand-new cluster: system_auth's replication is raised before the
	// superuser is made, so every replica has every role written since,
	// and nothing is repaired.
	alter := slices.IndexFunc(l.auth.statements, func(s string) bool { return strings.Contains(s, "ALTER KEYSPACE system_auth") })
	create := slices.IndexFunc(l.auth.statements, func(s string) bool { return strings.Contains(s, "CREATE ROLE") })
	if alter < 0 || create < 0 || alter > create {
		t.Errorf("statements %q: want ALTER KEYSPACE system_auth before CREATE ROLE", l.auth.statements)
	}
	if len(l.auth.repairs) != 0 {
		t.Errorf("system_auth repaired on %v, want nowhere on a brand-new cluster", l.auth.repairs)
	}
	// A brand-new cluster has no role but the default one: no superuser
	// login is tried before the superuser is made (it could only be
	// refused), and system_auth is replicated without reading the
	// datacenter first ('replication_factor', which Cassandra expands).
	if slices.Contains(l.auth.refused, c.User) {
		t.Errorf("refused logins %q: the superuser's login was tried before it was made", l.auth.refused)
	}
	if dc := slices.Index(l.auth.statements, strings.TrimSpace(dcQuery)); dc >= 0 && dc < alter {
		t.Errorf("statements %q: the datacenter was read before system_auth was replicated", l.auth.statements)
	}
	if res.Auth.User != c.User || res.Auth.Replication != 3 || !res.Auth.On {
		t.Errorf("result %+v", res.Auth)
	}
	// The local copy: the same credentials, readable by the user alone.
	st, err := os.Stat(res.Auth.File)
	if err != nil || st.Mode().Perm() != 0o600 || !strings.HasPrefix(res.Auth.File, l.home) {
		t.Fatalf("local copy %s: %v %v, want 0600 under %s", res.Auth.File, st, err, l.home)
	}
	if got, err := credentials.ReadLocal(res.Auth.File); err != nil || got != c {
		t.Errorf("local copy holds %v (%v), want %v", got, err, c)
	}
	// The password is in no log line, no summary, no Consul key.
	var sum bytes.Buffer
	res.Summary(&sum)
	if strings.Contains(rec.text(), c.Password) || strings.Contains(sum.String(), c.Password) {
		t.Errorf("the password was printed:\n%s\n%s", rec.text(), sum.String())
	}
	if !strings.Contains(sum.String(), "Authentication on: superuser "+c.User) {
		t.Errorf("summary does not say authentication is on:\n%s", sum.String())
	}
	kv, _ := l.consul().List(context.Background(), "")
	for k, v := range kv {
		if bytes.Contains(v, []byte(c.Password)) {
			t.Errorf("Consul key %s holds the password", k)
		}
	}
	for _, st := range l.auth.statements {
		if strings.Contains(st, "CREATE ROLE") && !strings.Contains(st, c.User) {
			t.Errorf("unexpected %s", st)
		}
	}

	// A re-run changes nothing, and never touches credentials that work;
	// it reads what it checks in one cqlsh run (a Python start each).
	n, runs := len(l.auth.statements), len(l.auth.ports)
	res = bootstrap(t, l.config(3))
	if got := len(l.auth.ports) - runs; got != 1 {
		t.Errorf("re-run ran cqlsh %d times, want once", got)
	}
	if len(res.Created) != 0 {
		t.Errorf("re-run created %v", res.Created)
	}
	for _, st := range l.auth.statements[n:] {
		if !strings.HasPrefix(st, "SELECT") {
			t.Errorf("re-run ran %q", st)
		}
	}
	if _, c2 := l.secretOf(t, "test"); c2 != c {
		t.Errorf("re-run changed the credentials")
	}

	// The local copy lost: the re-run reads it back from a node.
	os.Remove(res.Auth.File)
	res = bootstrap(t, l.config(3))
	if got, err := credentials.ReadLocal(res.Auth.File); err != nil || got != c || len(l.auth.reads) != 1 {
		t.Errorf("after losing the local copy: %v %v, %d reads from nodes; want %v read once", got, err, len(l.auth.reads), c)
	}
}

func TestAuthWaitsForDefaultRole(t *testing.T) {
	l := newLab(t, 1)
	l.auth.defaultAfter = 5 // Cassandra makes it seconds after the first node starts
	res := bootstrap(t, l.config(1))
	if res.Auth.Replication != 1 || l.auth.roles[res.Auth.User] == nil {
		t.Fatalf("auth %+v roles %v", res.Auth, l.auth.roles)
	}
	if want := "{'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'datacenter1': '1'}"; l.auth.replication != want {
		t.Errorf("system_auth replication %s, want %s", l.auth.replication, want)
	}
}

// A replica too busy to answer the superuser's CREATE ROLE in time
// (WriteTimeout at EACH_QUORUM, seen in CI) is waited out: the statements
// are idempotent and run again.
func TestAuthRetriesReplicaTimeout(t *testing.T) {
	l := newLab(t, 2)
	l.auth.createTimeouts = 2
	res := bootstrap(t, l.config(2))
	if l.auth.roles[res.Auth.User] == nil || l.auth.createTimeouts != 0 {
		t.Fatalf("roles %v after %d timeouts left; want the superuser made after both", l.auth.roles, l.auth.createTimeouts)
	}
}

func TestAuthGrowsReplication(t *testing.T) {
	l := newLab(t, 3)
	bootstrap(t, l.config(1))
	l.auth.repairs = nil
	res := bootstrap(t, l.config(2))
	if res.Auth.Replication != 2 || !strings.Contains(l.auth.replication, "'datacenter1': '2'") || !slices.Equal(l.auth.repairs, []string{"cass1"}) {
		t.Errorf("grown to 2: %+v, %s, repairs %v", res.Auth, l.auth.replication, l.auth.repairs)
	}
	l.auth.repairs = nil
	res = bootstrap(t, l.config(4)) // three hosts: cass4 shares swarm-0
	if res.Auth.Replication != 3 || !strings.Contains(l.auth.replication, "'datacenter1': '3'") {
		t.Errorf("grown to 4: %+v, %s", res.Auth, l.auth.replication)
	}
	if !slices.Equal(l.auth.repairs, []string{"cass1", "cass2", "cass3", "cass4"}) {
		t.Errorf("with N > RF every node repairs its ranges; repaired %v", l.auth.repairs)
	}
}

// The step changes the schema (system_auth's replication): it ends only
// once every view agrees on it again, as ring will judge it. cass3's view
// keeps the old version for three looks after the ALTER.
func TestAuthWaitsForSchemaAgreement(t *testing.T) {
	l := newLab(t, 3)
	l.ring.SetSchema("cass3", "00000000-0000-0000-0000-00000000000a") // not nodetooltest.Schema
	after := 0
	l.ring.onLook = func(node string) {
		l.auth.mu.Lock()
		altered := strings.Contains(l.auth.replication, "'datacenter1': '3'")
		l.auth.mu.Unlock()
		if altered && node == "cass3" {
			if after++; after == 3 {
				l.ring.SetSchema("cass3", nodetooltest.Schema)
			}
		}
	}
	bootstrap(t, l.config(3))
	if after < 3 {
		t.Errorf("bootstrap ended %d looks into cass3 after the ALTER, with cass3's schema disagreeing; want it to wait", after)
	}
}

func TestAuthOff(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	cfg.NoAuth = true
	res := bootstrap(t, cfg)
	if list, _ := l.swarm[0].SecretList(context.Background(), nil); len(list) != 0 || len(l.auth.statements) != 0 {
		t.Errorf("--auth=false made secrets %v and ran %v", list, l.auth.statements)
	}
	svc, _ := l.swarm[0].ServiceInspect(context.Background(), "cass1")
	if !slices.Contains(svc.Spec.Env, "SWARMCASS_AUTH=false") || len(svc.Spec.Secrets) != 0 {
		t.Errorf("cass1: env %v secrets %v", svc.Spec.Env, svc.Spec.Secrets)
	}
	var sum bytes.Buffer
	res.Summary(&sum)
	if !strings.Contains(sum.String(), "Authentication OFF (--auth=false)") {
		t.Errorf("summary does not say the cluster is open:\n%s", sum.String())
	}

	// An open cluster stays open: a default run refuses to mix modes, and
	// so does --auth=false on a cluster that authenticates.
	_, err := Bootstrap(context.Background(), l.config(3))
	if err == nil || !strings.Contains(op.Explain(err), "was created without authentication") || !strings.Contains(op.Explain(err), "--auth=false") || !strings.Contains(op.Explain(err), "swarmcass auth enable --cluster test") {
		t.Errorf("default run on an open cluster: %v", op.Explain(err))
	}
	l2 := newLab(t, 1)
	bootstrap(t, l2.config(1))
	cfg = l2.config(1)
	cfg.NoAuth = true
	if _, err := Bootstrap(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "has authentication on") {
		t.Errorf("--auth=false on an authenticating cluster: %v", err)
	}
}

func TestAuthMissingSecret(t *testing.T) {
	l := newLab(t, 1)
	bootstrap(t, l.config(1))
	// A swarm without the secret but with the nodes (restored from a
	// backup, or the secret removed along with the services and these
	// recreated by hand): reported, with what to do.
	l.w.RemoveSecret(l.swarm[0], "test-cql-credentials")
	_, err := Bootstrap(context.Background(), l.config(1))
	msg := op.Explain(err)
	if err == nil || !strings.Contains(msg, "credentials secret test-cql-credentials is missing") || !strings.Contains(msg, "swarmcass credentials") {
		t.Errorf("missing secret: %s", msg)
	}
}
