package cassimimage

import (
	"archive/tar"
	"context"
	"errors"
	"github.com/swarmcass/swarmcass/engine"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestDockerfileMatchesImagesDir(t *testing.T) {
	b, err := os.ReadFile("../../images/cassim/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Dockerfile {
		t.Errorf("images/cassim/Dockerfile and cassimimage.Dockerfile differ; keep them equal")
	}
}

func TestContextIsSelfContained(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the cassim binary")
	}
	dir := t.TempDir()
	if err := Context(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "bin", "cassim"))
	if err != nil || fi.Size() == 0 {
		t.Fatalf("bin/cassim: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin", "nodetool")); err != nil || l != "cassim" {
		t.Fatalf("bin/nodetool should link to cassim: %q %v", l, err)
	}
	r := engine.DirContext(dir)
	defer r.Close()
	got := map[string]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.Typeflag
	}
	for name, typ := range map[string]byte{"Dockerfile": tar.TypeReg, "bin/cassim": tar.TypeReg, "bin/nodetool": tar.TypeSymlink} {
		if got[name] != typ {
			t.Errorf("context entry %s: type %q, want %q (entries %v)", name, got[name], typ, got)
		}
	}
}
