package provision

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// openLab is a lab with a 3-node cluster bootstrapped with --auth=false,
// and the config auth enable runs with (confirmed).
func openLab(t *testing.T) (*lab, Config) {
	t.Helper()
	l := newLab(t, 3)
	cfg := l.config(3)
	cfg.NoAuth = true
	bootstrap(t, cfg)
	cfg.NoAuth = false
	cfg.Confirm = confirmYes
	return l, cfg
}

// specs are the node services' specs, by node.
func (l *lab) specs(t *testing.T) map[string]engine.ServiceSpec {
	t.Helper()
	out := map[string]engine.ServiceSpec{}
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		s, err := l.swarm[0].ServiceInspect(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = s.Spec
	}
	return out
}

// statementsLike are the indexes of the statements run that start with prefix.
func (a *authSim) statementsLike(prefix string) []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for i, st := range a.statements {
		if strings.HasPrefix(st, prefix) {
			out = append(out, i)
		}
	}
	return out
}

// An open cluster gets authentication as bootstrap would have given it:
// system_auth replicated while every node is open, then each node rolled
// to the spec of a node that authenticates, the superuser made through the
// first of them before the second goes out, cassandra disabled. A re-run
// does nothing, and bootstrap then takes the cluster as one that
// authenticates.
func TestAuthEnable(t *testing.T) {
	ctx := context.Background()
	l, cfg := openLab(t)
	before := l.specs(t)
	p := &infos{}
	cfg.Progress = p

	res, err := EnableAuth(ctx, cfg)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("updated %s, want cass1,cass2,cass3 in order", got)
	}
	sec, c := l.secretOf(t, "test")
	want := engine.SecretRef{ID: sec.ID, Name: sec.Name, File: credentials.File, UID: "0", GID: "0", Mode: 0o400}
	for n, s := range l.specs(t) {
		if !slices.Equal(s.Secrets, []engine.SecretRef{want}) {
			t.Errorf("%s mounts %+v, want %+v", n, s.Secrets, want)
		}
		// Its own spec, but for the switch, in place: what bootstrap
		// gives a node of a cluster that authenticates.
		env := slices.Clone(before[n].Env)
		env[slices.Index(env, "SWARMCASS_AUTH=false")] = "SWARMCASS_AUTH=true"
		if !slices.Equal(s.Env, env) || s.Image != before[n].Image || s.MemoryLimit != before[n].MemoryLimit || !slices.Equal(s.Args, before[n].Args) {
			t.Errorf("%s env %v, want %v (the rest unchanged)", n, s.Env, env)
		}
	}
	if drains := l.ring.drains; drains["cass1"] != 1 || drains["cass2"] != 1 || drains["cass3"] != 1 {
		t.Errorf("drains %v, want each node once", drains)
	}

	creates := l.auth.statementsLike("CREATE ROLE")
	if len(creates) != 1 {
		t.Fatalf("CREATE ROLE run %d times, want once: %v", len(creates), l.auth.statements)
	}
	i := creates[0]
	if l.auth.ranBy[i] != "cass1 as cassandra" || l.auth.updatesAt[i] != 1 {
		t.Errorf("the superuser was made by %s after %d updates; want through cass1 as cassandra, after cass1 alone", l.auth.ranBy[i], l.auth.updatesAt[i])
	}
	alters := l.auth.statementsLike("ALTER KEYSPACE system_auth")
	if len(alters) != 1 || l.auth.updatesAt[alters[0]] != 0 || !strings.HasSuffix(l.auth.ranBy[alters[0]], "as anonymous") {
		t.Errorf("system_auth altered %v by %v; want once, before any node was restarted, through an open node", alters, l.auth.ranBy)
	}
	if !slices.Equal(l.auth.repairs, []string{"cass1"}) {
		t.Errorf("system_auth repaired on %v, want cass1 alone (RF = N)", l.auth.repairs)
	}
	if want := "{'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'datacenter1': '3'}"; l.auth.replication != want {
		t.Errorf("system_auth replication %s, want %s", l.auth.replication, want)
	}
	su, def := l.auth.roles[c.User], l.auth.roles[credentials.DefaultRole]
	if su == nil || !su.super || !su.login || su.password != c.Password {
		t.Errorf("superuser %s: %+v", c.User, su)
	}
	if def == nil || def.super || def.login {
		t.Errorf("default role %+v, want no superuser, no login", def)
	}
	if res.Auth.User != c.User || res.Auth.Replication != 3 || !res.Auth.On {
		t.Errorf("result %+v", res.Auth)
	}
	if got, err := credentials.ReadLocal(res.Auth.File); err != nil || got != c {
		t.Errorf("local copy %v (%v), want %v", got, err, c)
	}
	var sum bytes.Buffer
	res.Summary(&sum)
	if !strings.Contains(sum.String(), "Authentication on: superuser "+c.User) || strings.Contains(sum.String()+strings.Join(p.lines, "\n"), c.Password) {
		t.Errorf("summary:\n%s", sum.String())
	}
	if rec := l.record(t); rec.Rollout != nil {
		t.Errorf("rollout record %+v left", rec.Rollout)
	}
	if l.consul().Locks() != 0 {
		t.Error("the lock was kept")
	}

	// Again: nothing to do, nothing touched.
	n, u := len(l.auth.statements), len(l.updates())
	p = &infos{}
	cfg.Progress = p
	if _, err := EnableAuth(ctx, cfg); err != nil {
		t.Fatal(op.Explain(err))
	}
	if len(l.updates()) != u || len(l.auth.statements) != n || !p.has("authenticates clients already") {
		t.Errorf("re-run: %d updates, %d statements, said %v", len(l.updates())-u, len(l.auth.statements)-n, p.lines)
	}
	if _, c2 := l.secretOf(t, "test"); c2 != c {
		t.Error("re-run changed the credentials")
	}
	// bootstrap, as by default (authentication on): the cluster is as it
	// would have made it.
	b := bootstrap(t, l.config(3))
	if len(b.Created) != 0 || len(l.updates()) != u || b.Auth.User != c.User {
		t.Errorf("bootstrap after auth enable created %v, %d updates, auth %+v", b.Created, len(l.updates())-u, b.Auth)
	}
}

// --dry-run prints the plan and changes nothing: no secret, no statement,
// no service updated.
func TestAuthEnableDryRun(t *testing.T) {
	l, cfg := openLab(t)
	cfg.DryRun = true
	n := len(l.auth.statements)
	res, err := EnableAuth(context.Background(), cfg)
	if err != nil || !res.DryRun {
		t.Fatalf("dry run: %v %+v", err, res)
	}
	if len(res.Plan) != 5 || !strings.Contains(res.Plan[0], "create Swarm secret test-cql-credentials") ||
		!strings.Contains(res.Plan[1], "NetworkTopologyStrategy 3") || !strings.Contains(res.Plan[2], "cass1") || !strings.Contains(res.Plan[2], "create the superuser") {
		t.Errorf("plan %q", res.Plan)
	}
	if list, _ := l.swarm[0].SecretList(context.Background(), nil); len(list) != 0 || len(l.updates()) != 0 || len(l.auth.statements) != n {
		t.Errorf("dry run made secrets %v, %d updates, statements %v", list, len(l.updates()), l.auth.statements[n:])
	}
}

// A node that is not Up/Normal stops it at the gate, before any change.
func TestAuthEnableRefusesUnhealthyRing(t *testing.T) {
	l, cfg := openLab(t)
	l.ring.mu.Lock()
	l.ring.never["cass3"] = true
	l.ring.mu.Unlock()
	_, err := EnableAuth(context.Background(), cfg)
	if err == nil || !strings.Contains(op.Explain(err), "the ring is not healthy") {
		t.Fatalf("err %v, want the gate's refusal", op.Explain(err))
	}
	if list, _ := l.swarm[0].SecretList(context.Background(), nil); len(list) != 0 || len(l.updates()) != 0 {
		t.Errorf("refused, but made secrets %v and %d updates", list, len(l.updates()))
	}
}

// Without confirmation (no terminal, no --yes) it refuses before any change.
func TestAuthEnableNeedsConfirmation(t *testing.T) {
	l, cfg := openLab(t)
	cfg.Confirm = nil
	_, err := EnableAuth(context.Background(), cfg)
	if err == nil || !strings.Contains(op.Explain(err), "--yes") || len(l.updates()) != 0 {
		t.Errorf("err %v, %d updates", op.Explain(err), len(l.updates()))
	}
}

// Ctrl-C while cass2 is being waited for: the re-run waits for cass2,
// rolls cass3, and makes no second superuser.
func TestAuthEnableInterruptedThenResumes(t *testing.T) {
	l, cfg := openLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.ring.mu.Lock()
	l.ring.onLook = func(node string) {
		if node == "cass2" && slices.Contains(l.updates(), "cass2") {
			cancel()
		}
	}
	l.ring.mu.Unlock()
	_, err := EnableAuth(ctx, cfg)
	l.ring.mu.Lock()
	l.ring.onLook = nil
	l.ring.mu.Unlock()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want interrupted", err)
	}
	if ro := l.record(t).Rollout; ro == nil || ro.Op != authEnableOp || ro.Current != "cass2" {
		t.Fatalf("rollout record %+v, want auth enable at cass2", ro)
	}
	if n := len(l.auth.statementsLike("CREATE ROLE")); n != 1 {
		t.Errorf("before the interruption: %d CREATE ROLE, want 1 (after cass1)", n)
	}
	// bootstrap meanwhile refuses to mix modes either way, and names the operation.
	if _, err := Bootstrap(context.Background(), l.config(3)); err == nil || !strings.Contains(op.Explain(err), "part way to authentication (2 of 3") || !strings.Contains(op.Explain(err), "swarmcass auth enable") {
		t.Errorf("bootstrap on a half-enabled cluster: %v", op.Explain(err))
	}

	p := &infos{}
	cfg.Progress = p
	res, err := EnableAuth(context.Background(), cfg)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	if got := strings.Join(l.updates(), ","); got != "cass1,cass2,cass3" {
		t.Errorf("updated %s, want each node once", got)
	}
	if !p.has("cass2: acted on by an interrupted run") || !p.has("cass1 authenticate already") {
		t.Errorf("the re-run did not say where it continues: %v", p.lines)
	}
	if n := len(l.auth.statementsLike("CREATE ROLE")); n != 1 {
		t.Errorf("%d CREATE ROLE in all, want 1", n)
	}
	for n, s := range l.specs(t) {
		if !serviceAuth(engine.Service{Spec: s}) || len(s.Secrets) != 1 {
			t.Errorf("%s: env %v secrets %v", n, s.Env, s.Secrets)
		}
	}
	_, c := l.secretOf(t, "test")
	if res.Auth.User != c.User || l.auth.roles[credentials.DefaultRole].login || l.record(t).Rollout != nil {
		t.Errorf("after the re-run: auth %+v, default role %+v, rollout %+v", res.Auth, l.auth.roles[credentials.DefaultRole], l.record(t).Rollout)
	}
}

// --prepare makes the secret and replicates system_auth, restarts no node;
// the run after it keeps that secret.
func TestAuthEnablePrepare(t *testing.T) {
	l, cfg := openLab(t)
	cfg.AuthPrepare = true
	res, err := EnableAuth(context.Background(), cfg)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	sec, c := l.secretOf(t, "test")
	var sum bytes.Buffer
	res.Summary(&sum)
	if res.Auth.On || !res.Auth.Prepared || !strings.Contains(sum.String(), "Authentication prepared, not on: superuser "+c.User) {
		t.Errorf("--prepare: auth %+v, summary:\n%s", res.Auth, sum.String())
	}
	if len(l.updates()) != 0 || len(l.auth.statementsLike("CREATE ROLE")) != 0 || !strings.Contains(l.auth.replication, "'datacenter1': '3'") {
		t.Fatalf("--prepare: %d updates, roles %v, system_auth %s", len(l.updates()), l.auth.roles, l.auth.replication)
	}
	cfg.AuthPrepare = false
	res, err = EnableAuth(context.Background(), cfg)
	if err != nil {
		t.Fatal(op.Explain(err))
	}
	sec2, c2 := l.secretOf(t, "test")
	if sec2.ID != sec.ID || c2 != c || res.Auth.User != c.User || len(l.updates()) != 3 {
		t.Errorf("after --prepare: secret %s -> %s, %d updates", sec.ID, sec2.ID, len(l.updates()))
	}
	if !strings.Contains(res.Plan[0], "keep Swarm secret test-cql-credentials") {
		t.Errorf("plan %q", res.Plan)
	}
}
