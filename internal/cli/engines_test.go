package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With a docker-machine store at HOME's .docker/machine holding infra and
// nothing set, bootstrap and ring both take their engines from it and say
// so in the same first line. The context is cancelled before the run, so
// no engine is dialled.
func TestEveryCommandSaysWhereEnginesComeFrom(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
	for _, k := range []string{"MACHINE_STORAGE_PATH", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		t.Setenv(k, "")
	}
	store := filepath.Join(home, ".docker", "machine")
	if err := os.CopyFS(store, os.DirFS("../../machinestore/testdata/store")); err != nil {
		t.Fatal(err)
	}
	want := "engines from machine store " + store + " (no engine flag, and the default docker-machine store holds machine infra): infra infra, swarm swarm-0\n"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{{"ring"}, {"ring", "-o", "json"}, {"bootstrap", "--nodes", "1"}} {
		var out, errOut bytes.Buffer
		root := NewRootCommand(&out, &errOut)
		root.SetArgs(args)
		root.ExecuteContext(ctx) // cut short: only the line matters here
		if !strings.HasPrefix(errOut.String(), want) {
			t.Errorf("%v: stderr\n%s\nwant it to begin with\n%s", args, errOut.String(), want)
		}
	}
}
