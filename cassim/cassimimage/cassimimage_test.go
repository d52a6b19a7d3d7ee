package cassimimage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// The build arguments become the context's own defaults, so that the
// directory alone builds that image (swarmcass upgrade --image-dir).
func TestOptionsInTheDockerfile(t *testing.T) {
	d := Options{Profile: "fast", Version: "5.0.9", FailAtStart: true}.dockerfile()
	for _, line := range []string{"ARG CASSIM_PROFILE=fast\n", "ARG CASSIM_VERSION=5.0.9\n", "ARG CASSIM_FAIL_AT_START=1\n",
		"CASSIM_RELEASE_VERSION=${CASSIM_VERSION}", "CASSIM_FAIL_AT_START=${CASSIM_FAIL_AT_START}"} {
		if !strings.Contains(d, line) {
			t.Errorf("no %q in\n%s", line, d)
		}
	}
	if d := (Options{}).dockerfile(); d != Dockerfile {
		t.Errorf("no options changed the Dockerfile:\n%s", d)
	}
}
