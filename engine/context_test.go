package engine

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestDirContext(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bin", "cassim"), []byte("binary"), 0o755)
	if err := os.Symlink("cassim", filepath.Join(dir, "bin", "nodetool")); err != nil {
		t.Fatal(err)
	}
	rc := DirContext(dir)
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		switch h.Typeflag {
		case tar.TypeSymlink:
			got[h.Name] = "-> " + h.Linkname
		case tar.TypeDir:
			got[h.Name] = "dir"
		default:
			got[h.Name] = string(body)
		}
		if h.Uid != 0 || h.Uname != "" {
			t.Errorf("%s owned by %d/%q, want root", h.Name, h.Uid, h.Uname)
		}
	}
	want := map[string]string{"Dockerfile": "FROM scratch\n", "bin": "dir", "bin/cassim": "binary", "bin/nodetool": "-> cassim"}
	if len(got) != len(want) {
		t.Fatalf("context = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := io.ReadAll(DirContext(filepath.Join(dir, "missing"))); err == nil {
		t.Error("a missing directory streamed without error")
	}
}
