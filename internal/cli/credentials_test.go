package cli

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodetls"
	"github.com/swarmcass/swarmcass/provision"
)

// swarmcass credentials: the local copy when there is one; else read back
// from a node's secret mount and written again; an open cluster says so.
func TestLookCredentials(t *testing.T) {
	ctx := context.Background()
	l := clustertest.New(t, 2).Running("open", 1)
	m := l.Swarm[0]
	engines := []engine.Engine{l.Swarm[0], l.Swarm[1]}
	home := t.TempDir()

	if info, err := lookCredentials(ctx, m, engines, "open", home); err != nil || info.on {
		t.Errorf("open cluster: %+v %v", info, err)
	}
	if _, err := lookCredentials(ctx, m, engines, "nosuch", home); err == nil || !strings.Contains(err.Error(), "has no nodes") {
		t.Errorf("no such cluster: %v", err)
	}

	want := credentials.Credentials{User: "admin_abcdefgh", Password: "p4ssw0rd"}
	id, err := m.SecretCreate(ctx, engine.SecretSpec{Name: "auth-cql-credentials", Data: want.Marshal()})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := m.Info(ctx)
	labels := engine.Labels{engine.LabelCluster: "auth", engine.LabelRole: engine.RoleCassandra, engine.LabelNode: "cass1"}
	if _, err := m.ServiceCreate(ctx, engine.ServiceSpec{Name: "auth-cass1", Image: clustertest.NodeImage, Labels: labels, ContainerLabels: labels,
		Env: []string{"SWARMCASS_AUTH=true"}, Networks: []string{clustertest.Network}, Constraints: []string{"node.id==" + info.Swarm.NodeID},
		Secrets: []engine.SecretRef{{ID: id, Name: "auth-cql-credentials", File: credentials.File, Mode: 0o400}}}); err != nil {
		t.Fatal(err)
	}
	var reads int
	l.W.Exec = func(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
		if slices.Equal(cmd, []string{"cat", credentials.MountPath}) {
			reads++
			data, _ := l.W.SecretData(f, "auth-cql-credentials")
			return engine.ExecResult{Stdout: string(data)}, nil
		}
		return engine.ExecResult{ExitCode: 127}, nil
	}
	got, err := lookCredentials(ctx, m, engines, "auth", home)
	if err != nil || !got.on || got.creds != want || got.recovered != "cass1" || reads != 1 || got.secret != "auth-cql-credentials" {
		t.Fatalf("without a local copy: %+v %v (%d reads)", got, err, reads)
	}
	if st, err := os.Stat(got.file); err != nil || st.Mode().Perm() != 0o600 || !strings.HasPrefix(got.file, home) {
		t.Errorf("local copy %s: %v %v", got.file, st, err)
	}
	again, err := lookCredentials(ctx, m, engines, "auth", home)
	if err != nil || again.creds != want || again.recovered != "" || reads != 1 {
		t.Errorf("with the local copy: %+v %v (%d reads)", again, err, reads)
	}
}

// A --tls cluster: credentials names the CA file clients trust, and says
// when it is not on this machine; --ca prints the path alone.
func TestLookCredentialsTLS(t *testing.T) {
	ctx := context.Background()
	l := clustertest.New(t, 1).Running("plain", 1)
	m := l.Swarm[0]
	home := t.TempDir()
	info, _ := m.Info(ctx)
	labels := engine.Labels{engine.LabelCluster: "sec", engine.LabelRole: engine.RoleCassandra, engine.LabelNode: "cass1"}
	if _, err := m.ServiceCreate(ctx, engine.ServiceSpec{Name: "sec-cass1", Image: clustertest.NodeImage, Labels: labels, ContainerLabels: labels,
		Env: []string{"SWARMCASS_AUTH=false", "SWARMCASS_TLS=true"}, Networks: []string{clustertest.Network}, Constraints: []string{"node.id==" + info.Swarm.NodeID}}); err != nil {
		t.Fatal(err)
	}
	sw, err := m.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := nodetls.Dir(home, "sec", sw.ID)
	got, err := lookCredentials(ctx, m, []engine.Engine{m}, "sec", home)
	if err != nil || got.on || got.tlsCA != nodetls.CAFile(dir) || got.tlsSecret != "sec-tls-ca" || !strings.Contains(got.tlsMissing, "not on this machine") {
		t.Fatalf("TLS cluster without its CA here: %+v %v", got, err)
	}
	if _, err := nodetls.NewCA(dir, "sec"); err != nil {
		t.Fatal(err)
	}
	got, err = lookCredentials(ctx, m, []engine.Engine{m}, "sec", home)
	if err != nil || got.tlsCA != nodetls.CAFile(dir) || got.tlsMissing != "" {
		t.Fatalf("TLS cluster with its CA: %+v %v", got, err)
	}
	var out strings.Builder
	got.printTLS(&out)
	for _, want := range []string{"TLS on", nodetls.CAFile(dir), "sec-tls-ca", nodetls.TruststorePath, "SSL_CERTFILE="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printTLS lacks %q:\n%s", want, out.String())
		}
	}
}

// An open cluster whose credentials auth enable --prepare made: credentials
// gives them from the local copy (no node mounts the secret yet), and says
// what to do without it.
func TestLookCredentialsPrepared(t *testing.T) {
	ctx := context.Background()
	l := clustertest.New(t, 1).Running("open", 1)
	m := l.Swarm[0]
	home := t.TempDir()
	want := credentials.Credentials{User: "admin_abcdefgh", Password: "p4ssw0rd"}
	if _, err := m.SecretCreate(ctx, engine.SecretSpec{Name: "open-cql-credentials", Data: want.Marshal(),
		Labels: engine.Labels{engine.LabelCluster: "open", engine.LabelRole: provision.RoleCredentials}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lookCredentials(ctx, m, []engine.Engine{m}, "open", home); err == nil || !strings.Contains(err.Error(), "no node mounts secret open-cql-credentials yet") {
		t.Errorf("prepared, no local copy: %v", err)
	}
	sw, err := m.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := credentials.WriteLocal(credentials.LocalPath(home, "open", sw.ID), want); err != nil {
		t.Fatal(err)
	}
	got, err := lookCredentials(ctx, m, []engine.Engine{m}, "open", home)
	if err != nil || got.on || !got.prepared || got.creds != want || got.secret != "open-cql-credentials" {
		t.Errorf("prepared: %+v %v", got, err)
	}
}
