package provision

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetls"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/pki"
)

// tlsSecrets are the cluster's TLS secrets by name.
func (l *lab) tlsSecrets(t *testing.T) map[string]engine.Secret {
	t.Helper()
	out := map[string]engine.Secret{}
	for _, role := range []string{nodetls.RoleCA, nodetls.RoleNode} {
		list, err := l.swarm[0].SecretList(context.Background(), engine.Labels{engine.LabelCluster: "test", engine.LabelRole: role})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			out[s.Name] = s
		}
	}
	return out
}

func TestTLSBootstrapIssuesACertificatePerNode(t *testing.T) {
	l := newLab(t, 3)
	cfg := l.config(3)
	cfg.TLS = TLSOn
	res := bootstrap(t, cfg)
	ctx := context.Background()

	sw, err := l.swarm[0].SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := nodetls.Dir(l.home, "test", sw.ID)
	if !res.TLS.On || res.TLS.CA != nodetls.CAFile(dir) || res.TLS.CASecret != "test-tls-ca" {
		t.Fatalf("TLS result %+v, want on with CA %s", res.TLS, nodetls.CAFile(dir))
	}
	ca, err := nodetls.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets := l.tlsSecrets(t)
	if len(secrets) != 4 {
		t.Fatalf("TLS secrets %v, want the CA's and one per node", slices.Sorted(func(yield func(string) bool) {
			for k := range secrets {
				yield(k)
			}
		}))
	}
	caSecret := secrets["test-tls-ca"]
	if data, _ := l.w.SecretData(l.swarm[0], "test-tls-ca"); string(data) != string(ca.CertPEM) {
		t.Errorf("the CA secret does not hold the local CA certificate")
	}
	fp, _ := fingerprint(ca.CertPEM)
	for k, node := range []string{"cass1", "cass2", "cass3"} {
		name := "test-" + node + "-tls"
		s, ok := secrets[name]
		if !ok {
			t.Fatalf("no secret %s", name)
		}
		if s.Labels[engine.LabelNode] != node || s.Labels[engine.LabelRole] != nodetls.RoleNode || s.Labels[engine.LabelCAFingerprint] != fp {
			t.Errorf("%s labels %v", name, s.Labels)
		}
		data, _ := l.w.SecretData(l.swarm[0], name)
		for _, n := range []string{node, "tasks." + node, "127.0.0.1"} {
			if err := nodetls.CheckKeystore(ca.CertPEM, data, n); err != nil {
				t.Errorf("%s for %s: %v", name, n, err)
			}
		}
		if err := nodetls.CheckKeystore(ca.CertPEM, data, nodeName(k%3+2)); err == nil {
			t.Errorf("%s is valid for another node", name)
		}
		svc, err := l.swarm[0].ServiceInspect(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(svc.Spec.Env, "SWARMCASS_TLS=true") {
			t.Errorf("%s env %v lacks SWARMCASS_TLS=true", node, svc.Spec.Env)
		}
		wantCA := engine.SecretRef{ID: caSecret.ID, Name: "test-tls-ca", File: nodetls.TruststoreFile, UID: "0", GID: "0", Mode: 0o444}
		wantKS := engine.SecretRef{ID: s.ID, Name: name, File: nodetls.KeystoreFile, UID: "999", GID: "999", Mode: 0o400}
		if !slices.Contains(svc.Spec.Secrets, wantCA) || !slices.Contains(svc.Spec.Secrets, wantKS) {
			t.Errorf("%s mounts %+v, want %+v and %+v", node, svc.Spec.Secrets, wantCA, wantKS)
		}
	}

	// A re-run, with or without --tls, issues nothing and keeps TLS on.
	for _, mode := range []TLSMode{TLSOn, TLSAuto} {
		rec := &recorder{}
		cfg.TLS, cfg.Progress = mode, rec
		res := bootstrap(t, cfg)
		if len(res.Created) != 0 || !res.TLS.On {
			t.Errorf("re-run (tls %q) created %v, TLS %+v", mode, res.Created, res.TLS)
		}
		if got := l.tlsSecrets(t); len(got) != 4 || got["test-cass1-tls"].ID != secrets["test-cass1-tls"].ID {
			t.Errorf("re-run (tls %q) changed the secrets", mode)
		}
		if said := strings.Contains(rec.text(), "runs with TLS (internode and client encryption): this run keeps it on, although --tls was not given"); said != (mode == TLSAuto) {
			t.Errorf("re-run (tls %q) said it kept TLS: %v\n%s", mode, said, rec.text())
		}
	}

	// --tls=false does not turn it off.
	cfg.TLS, cfg.Progress = TLSOff, nil
	_, err = Bootstrap(ctx, cfg)
	if msg := op.Explain(err); err == nil || !strings.Contains(msg, "--tls=false cannot turn it off") || !strings.Contains(msg, "drop --tls=false") {
		t.Errorf("--tls=false on a TLS cluster: %v", msg)
	}

	// Growing without --tls: the new node gets TLS and a certificate of its own.
	cfg.TLS, cfg.Nodes = TLSAuto, 4
	res = bootstrap(t, cfg)
	if !slices.Contains(res.Created, "secret test-cass4-tls (certificate of cass4)") {
		t.Errorf("growth created %v", res.Created)
	}
	svc, err := l.swarm[0].ServiceInspect(ctx, "cass4")
	if err != nil || !slices.Contains(svc.Spec.Env, "SWARMCASS_TLS=true") || len(svc.Spec.Secrets) != 3 {
		t.Errorf("cass4: %v %v %+v", err, svc.Spec.Env, svc.Spec.Secrets)
	}
}

func TestTLSOffByDefaultAndNotTurnedOnByARerun(t *testing.T) {
	l := newLab(t, 2)
	cfg := l.config(2)
	res := bootstrap(t, cfg)
	if res.TLS.On || len(l.tlsSecrets(t)) != 0 {
		t.Fatalf("TLS %+v, secrets %v without --tls", res.TLS, l.tlsSecrets(t))
	}
	svc, _ := l.swarm[0].ServiceInspect(context.Background(), "cass1")
	for _, kv := range svc.Spec.Env {
		if strings.HasPrefix(kv, "SWARMCASS_TLS") {
			t.Errorf("a plain node has %s", kv)
		}
	}
	cfg.TLS = TLSOn
	_, err := Bootstrap(context.Background(), cfg)
	if msg := op.Explain(err); err == nil || !strings.Contains(msg, "was created without TLS") || !strings.Contains(msg, "without --tls") {
		t.Errorf("--tls on a plain cluster: %v", msg)
	}
	if len(l.tlsSecrets(t)) != 0 {
		t.Errorf("the refused run created TLS secrets")
	}
}

// The CA's files lost: running nodes keep their certificates (a re-run
// works), but a new node cannot get one, and the error says what to do. A
// CA other than the secret's is refused before anything is issued.
func TestTLSWithoutTheLocalCA(t *testing.T) {
	l := newLab(t, 2)
	cfg := l.config(2)
	cfg.TLS = TLSOn
	res := bootstrap(t, cfg)
	dir := strings.TrimSuffix(res.TLS.CA, "/ca.pem")
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg.Progress = rec
	bootstrap(t, cfg)
	if !strings.Contains(rec.text(), "is not on this machine") {
		t.Errorf("the re-run did not say the CA is missing:\n%s", rec.text())
	}
	cfg.Nodes, cfg.Progress = 3, nil
	_, err := Bootstrap(context.Background(), cfg)
	if msg := op.Explain(err); err == nil || !strings.Contains(msg, "cass3 needs a certificate, but the CA of cluster test is not on this machine") || !strings.Contains(msg, "copy ca.pem and ca-key.pem") {
		t.Errorf("growth without the CA: %v", msg)
	}

	// Another CA in its place.
	other, err := pki.NewCA("other", nodetls.Validity)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.WriteFiles(nodetls.CAFile(dir), nodetls.CAKeyFile(dir)); err != nil {
		t.Fatal(err)
	}
	_, err = Bootstrap(context.Background(), cfg)
	if msg := op.Explain(err); err == nil || !strings.Contains(msg, "is not the one the cluster's secret test-tls-ca holds") {
		t.Errorf("another CA: %v", msg)
	}
	// Put back, the run goes on and cass3 gets its certificate.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	res = bootstrap(t, cfg)
	if !slices.Contains(res.Created, "secret test-cass3-tls (certificate of cass3)") {
		t.Errorf("created %v", res.Created)
	}
}

// With --clients host a node's certificate also names its host's address,
// where drivers outside the swarm connect.
func TestTLSCertificateNamesTheHostForOutsideClients(t *testing.T) {
	l := newLab(t, 2)
	cfg := l.config(2)
	cfg.TLS, cfg.Clients = TLSOn, ClientsHost
	res := bootstrap(t, cfg)
	ca, err := nodetls.LoadCA(strings.TrimSuffix(res.TLS.CA, "/ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := l.w.SecretData(l.swarm[0], "test-cass2-tls")
	host := l.swarm[1].Addr()
	if net.ParseIP(host) == nil {
		t.Fatalf("host address %q", host)
	}
	if err := nodetls.CheckKeystore(ca.CertPEM, data, host); err != nil {
		t.Errorf("cass2's certificate for its host %s: %v", host, err)
	}
	if err := nodetls.CheckKeystore(ca.CertPEM, data, l.swarm[0].Addr()); err == nil {
		t.Errorf("cass2's certificate is valid for cass1's host")
	}
}

// scale, a day-2 operation, grows a TLS cluster with TLS: the new node
// gets the cluster's CA and a certificate of its own, no flag needed.
func TestTLSScaleGrowsWithACertificate(t *testing.T) {
	l := newLab(t, 2)
	cfg := l.config(2)
	cfg.TLS = TLSOn
	bootstrap(t, cfg)
	res := scaled(t, l.config(3), 3)
	if !slices.Contains(res.Created, "secret test-cass3-tls (certificate of cass3)") || !res.TLS.On {
		t.Errorf("scale to 3 created %v, TLS %+v", res.Created, res.TLS)
	}
	svc, err := l.swarm[0].ServiceInspect(context.Background(), "cass3")
	if err != nil || !slices.Contains(svc.Spec.Env, "SWARMCASS_TLS=true") {
		t.Fatalf("cass3: %v %v", err, svc.Spec.Env)
	}
	files := map[string]bool{}
	for _, s := range svc.Spec.Secrets {
		files[s.File] = true
	}
	if !files[nodetls.KeystoreFile] || !files[nodetls.TruststoreFile] {
		t.Errorf("cass3 mounts %+v", svc.Spec.Secrets)
	}
}
