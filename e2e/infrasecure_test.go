package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/infracreds"
	"github.com/swarmcass/swarmcass/machinestore"
	"github.com/swarmcass/swarmcass/registry"
)

// TestIntegrationEndToEndInfraSecure: what bootstrap makes on infra is
// closed to whoever reaches it without swarmcass's credentials, and open
// to every swarmcass command with none typed. On a lab of infra and two
// swarm machines with two cassim nodes (cassim is not Cassandra; Consul
// and the registry are the real ones): Consul refuses a KV write without
// a token (403) and takes it with the management token; anonymous service
// discovery and DNS still answer; the registry refuses its catalog and a
// push without credentials (401) while the nodes on other hosts pulled
// their image through it; ring, the node commands and a re-run work and
// change no credential; a lost or stale local token file is recovered.
func TestIntegrationEndToEndInfraSecure(t *testing.T) {
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Where the binary keeps the credentials, for infracreds here: the
	// process's environment, so this test is not parallel (it runs before
	// the parallel ones).
	t.Setenv("SWARMCASS_HOME", e.home)

	r := e.must(e.bootstrapArgs(2)...)
	t.Logf("bootstrap --nodes 2: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	if strings.Contains(r.out, "Warning:") {
		t.Errorf("a new cluster's bootstrap warned:\n%s", r.out)
	}
	e.requireRing(ctx, 2)
	infra, token, password := requireInfraClosed(ctx, t, e, 2)

	// Every command works with no password typed.
	r = e.must("ring", "--cluster", "e2e")
	requireConsulJudged(t, r)
	e.must("nodetool", "--cluster", "e2e", "cass1", "status")
	e.must("logs", "--cluster", "e2e", "cass2", "--tail", "3")

	// A re-run is a no-op and keeps the credentials.
	r = e.must(e.bootstrapArgs(2)...)
	if !strings.Contains(r.out, "nothing to do") {
		t.Errorf("re-run changed something:\n%s", r.out)
	}
	if got := localCred(t, infracreds.ConsulToken, infra.IP); got != token {
		t.Errorf("re-run changed the Consul token")
	}
	if got := localCred(t, infracreds.RegistryPassword, infra.IP); got != password {
		t.Errorf("re-run changed the registry password")
	}
	t.Logf("re-run: %s\n%s", r.duration.Round(10*time.Millisecond), r.out)

	// A lost local token file, then a stale one: ring reads the token back
	// from the Consul container and puts the file right.
	path, _ := infracreds.LocalPath(infracreds.ConsulToken, infra.IP)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r = e.must("ring", "--cluster", "e2e")
	requireConsulJudged(t, r)
	if got := localCred(t, infracreds.ConsulToken, infra.IP); got != token {
		t.Errorf("after ring, the lost token file holds %q, want the token", got)
	}
	if err := os.WriteFile(path, []byte("0b5e2c3a-0000-4000-8000-000000000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.must("ring", "--cluster", "e2e")
	requireConsulJudged(t, r)
	if got := localCred(t, infracreds.ConsulToken, infra.IP); got != token {
		t.Errorf("after ring, the stale token file holds %q, want the token", got)
	}
	// And bootstrap, from nothing local at all.
	for _, k := range []infracreds.Kind{infracreds.ConsulToken, infracreds.RegistryPassword} {
		p, _ := infracreds.LocalPath(k, infra.IP)
		os.Remove(p)
	}
	r = e.must(e.bootstrapArgs(2)...)
	if !strings.Contains(r.out, "nothing to do") || localCred(t, infracreds.ConsulToken, infra.IP) != token ||
		localCred(t, infracreds.RegistryPassword, infra.IP) != password {
		t.Errorf("bootstrap without local files: want a no-op that puts both files back as they were:\n%s", r.out)
	}
}

// localCred is credential k of infra at addr, as the binary keeps it: a
// 0600 file.
func localCred(t *testing.T, k infracreds.Kind, addr string) string {
	t.Helper()
	path, err := infracreds.LocalPath(k, addr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s: %v", k.What, err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", path, st.Mode().Perm())
	}
	v, ok, err := infracreds.ReadLocal(k, addr)
	if err != nil || !ok {
		t.Fatalf("%s: %q %v %v", k.What, v, ok, err)
	}
	return v
}

// requireConsulJudged: ring read the record and the checks from Consul.
func requireConsulJudged(t *testing.T, r result) {
	t.Helper()
	for _, bad := range []string{"Consul does not answer", "Consul checks not judged", "refused"} {
		if strings.Contains(r.out, bad) {
			t.Errorf("ring could not use Consul (%q):\n%s", bad, r.out)
		}
	}
}

func basicAuth(user, password string) map[string]string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(user, password)
	return map[string]string{"Authorization": req.Header.Get("Authorization")}
}

// httpDo makes one request and returns the status code and body.
func httpDo(ctx context.Context, t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// requireInfraClosed: on e's lab, whose cluster e2e has nodes nodes,
// Consul refuses a KV write and a read of the record without a token
// (403) and takes them with the management token; anonymous service
// discovery and DNS still answer; the registry refuses its catalog and a
// push without credentials or with a wrong password (401) and answers
// swarmcass's credentials. It returns infra and the two credentials, read
// from the local files under e.home.
func requireInfraClosed(ctx context.Context, t *testing.T, e *env, nodes int) (infra *machinestore.Machine, token, password string) {
	t.Helper()
	t.Setenv("SWARMCASS_HOME", e.home) // where infracreds finds the local files
	infra, err := machinestore.New(e.store).Load("infra")
	if err != nil {
		t.Fatal(err)
	}
	token = localCred(t, infracreds.ConsulToken, infra.IP)
	password = localCred(t, infracreds.RegistryPassword, infra.IP)
	consul := "http://" + net.JoinHostPort(infra.IP, "8500")
	reg := "http://" + registry.Addr(infra.IP)

	// Consul: no token, no write, no read of the record; the token works.
	probe := consul + "/v1/kv/swarmcass/e2e/probe"
	if code, body := httpDo(ctx, t, "PUT", probe, "x", nil); code != http.StatusForbidden {
		t.Errorf("PUT %s without a token: %d %s, want 403", probe, code, body)
	}
	if code, body := httpDo(ctx, t, "GET", consul+"/v1/kv/swarmcass/e2e/seeds", "", nil); code != http.StatusForbidden {
		t.Errorf("GET the record's seeds without a token: %d %s, want 403", code, body)
	}
	withToken := map[string]string{"X-Consul-Token": token}
	if code, body := httpDo(ctx, t, "PUT", probe, "x", withToken); code != http.StatusOK || strings.TrimSpace(body) != "true" {
		t.Errorf("PUT %s with the management token: %d %s, want 200 true", probe, code, body)
	}
	httpDo(ctx, t, "DELETE", probe, "", withToken)
	// Service discovery needs no token: the catalog and Consul's DNS.
	code, body := httpDo(ctx, t, "GET", consul+"/v1/health/service/cassandra?tag=e2e&passing", "", nil)
	if code != http.StatusOK || strings.Count(body, `"ServiceID":"swarmcass-e2e-cass`) != nodes {
		t.Errorf("anonymous health of service cassandra: %d %.500s, want all %d nodes passing", code, body, nodes)
	}
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", net.JoinHostPort(infra.IP, "8600"))
	}}
	addrs, err := resolver.LookupHost(ctx, "e2e.cassandra.service.consul")
	if err != nil || len(addrs) != nodes {
		t.Errorf("Consul DNS e2e.cassandra.service.consul: %v, %v; want the %d nodes' addresses", addrs, err, nodes)
	}

	// The registry: no credentials, no catalog and no push; swarmcass's work.
	if code, body := httpDo(ctx, t, "GET", reg+"/v2/_catalog", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /v2/_catalog without credentials: %d %s, want 401", code, body)
	}
	if code, body := httpDo(ctx, t, "POST", reg+"/v2/intruder/blobs/uploads/", "", nil); code != http.StatusUnauthorized {
		t.Errorf("start a push without credentials: %d %s, want 401", code, body)
	}
	if code, body := httpDo(ctx, t, "POST", reg+"/v2/intruder/blobs/uploads/", "", basicAuth(registry.UserName, "wrong")); code != http.StatusUnauthorized {
		t.Errorf("start a push with a wrong password: %d %s, want 401", code, body)
	}
	if code, body := httpDo(ctx, t, "GET", reg+"/v2/_catalog", "", basicAuth(registry.UserName, password)); code != http.StatusOK || !strings.Contains(body, "swarmcass/cassandra") {
		t.Errorf("GET /v2/_catalog as %s: %d %s, want 200 listing swarmcass/cassandra", registry.UserName, code, body)
	}
	return infra, token, password
}
