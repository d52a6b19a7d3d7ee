package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// realAuthEnable, on the real ring bootstrapped open (e.open, --auth=false)
// with realRows rows written by a client with no credentials: auth enable
// rolls every node to PasswordAuthenticator; then every row reads back at
// QUORUM as the generated superuser, and later bootstraps run with the
// default (authentication on). The refusals and the superuser's login are
// realAuth's, which runs next.
func realAuthEnable(ctx context.Context, t *testing.T, e *env) {
	r := e.must("auth", "enable", "--yes", "--cluster", "e2e", "--node-timeout", e.timeout)
	t.Logf("auth enable on real Cassandra: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	if m := superuserLine.FindStringSubmatch(r.out); m == nil || m[2] != "3" {
		t.Errorf("the summary does not say authentication is on with system_auth on 3 nodes:\n%s", r.out)
	}
	e.open = false
	e.requireRing(ctx, 3)
	got := e.client(ctx, "cass2", "read", realRows, "cass1,cass2,cass3")
	t.Logf("after auth enable, the superuser read: %+v", got)
	if got.OK != realRows || got.Failed != 0 || len(got.HostsUp) != 3 {
		t.Fatalf("after auth enable: %d of %d rows, %d failed, %d hosts up; want all, none, 3", got.OK, realRows, got.Failed, len(got.HostsUp))
	}
	again := e.must("auth", "enable", "--yes", "--cluster", "e2e")
	if !strings.Contains(again.out, "authenticates clients already") {
		t.Errorf("auth enable re-run:\n%s", again.out)
	}
}

// TestIntegrationRealAuthEnable: three real nodes bootstrapped with
// --auth=false, realRows rows written with no credentials, then
// realAuthEnable and realAuth. The main real tier (TestIntegrationRealCassandra)
// keeps bootstrap's own authentication; this one runs on its own.
func TestIntegrationRealAuthEnable(t *testing.T) {
	e := realEnv(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	e.open = true
	realBootstrap(ctx, t, e)
	runPhases(ctx, t, e, []realPhase{
		{"auth enable on the open ring", realAuthEnable},
		{"security: Consul and registry closed, CQL refusals, the superuser, system_auth RF 3", realAuth},
	})
}
