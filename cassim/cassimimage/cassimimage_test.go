package cassimimage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// It runs `go build` (seconds with a warm build cache), but no engine.
func TestContextIsSelfContained(t *testing.T) {
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
}
