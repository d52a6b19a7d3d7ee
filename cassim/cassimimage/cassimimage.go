// Package cassimimage builds the cassim image: a static cassim binary FROM
// scratch, also reachable as nodetool. The build context it writes is
// self-contained (Dockerfile and binary), so other tools can build it too.
package cassimimage

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
)

// Dockerfile is the image's Dockerfile, kept beside this file.
//
//go:embed Dockerfile
var Dockerfile string

// Package is the main package built into the image.
const Package = "github.com/swarmcass/swarmcass/cmd/cassim"

// Options are the image's build arguments, written into the context's
// Dockerfile as their defaults so that a context directory (for
// `swarmcass bootstrap|upgrade --image-dir`) makes that image by itself.
type Options struct {
	// Profile is CASSIM_PROFILE, fast or realistic ("": realistic).
	Profile string
	// Version is CASSIM_VERSION: the Cassandra release the node reports
	// (system.local, nodetool version, its log); "": the pinned release.
	Version string
	// FailAtStart is CASSIM_FAIL_AT_START: every start fails as a broken
	// upgrade does (exit 3, data left as it was), to test rollbacks.
	FailAtStart bool
}

// dockerfile is Dockerfile with o's values as its arguments' defaults.
func (o Options) dockerfile() string {
	d := Dockerfile
	set := func(arg, def, v string) {
		if v != "" {
			d = strings.Replace(d, "ARG "+arg+"="+def+"\n", "ARG "+arg+"="+v+"\n", 1)
		}
	}
	set("CASSIM_PROFILE", "realistic", o.Profile)
	set("CASSIM_VERSION", "", o.Version)
	if o.FailAtStart {
		set("CASSIM_FAIL_AT_START", "", "1")
	}
	return d
}

// Context writes a ready build context into dir: Dockerfile, bin/cassim
// (a static binary built with go build from the module containing the
// current directory) and bin/nodetool, bin/cqlsh, bin/df and bin/cat,
// symbolic links to it.
func Context(ctx context.Context, dir string) error {
	return ContextWith(ctx, dir, Options{})
}

// ContextWith is Context with build arguments of its own.
func ContextWith(ctx context.Context, dir string, o Options) error {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("cassim build context: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(o.dockerfile()), 0o644); err != nil {
		return fmt.Errorf("cassim build context: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(bin, "cassim"), Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build cassim (run inside the swarmcass module): %w\n%s", err, out)
	}
	// nodetool, cqlsh, df and cat (the image has no coreutils: a free-disk
	// check reads the machine's real space through cassim's own df).
	for _, tool := range []string{"nodetool", "cqlsh", "df", "cat"} {
		link := filepath.Join(bin, tool)
		_ = os.Remove(link)
		if err := os.Symlink("cassim", link); err != nil {
			return fmt.Errorf("cassim build context: %w", err)
		}
	}
	return nil
}

// Build builds the cassim image as tag on e with the given timing profile
// ("fast" or "realistic"; "" keeps the Dockerfile's default).
func Build(ctx context.Context, e engine.Engine, tag, profile string, labels engine.Labels) error {
	return BuildWith(ctx, e, tag, Options{Profile: profile}, labels)
}

// BuildWith builds the cassim image as tag on e with the build arguments o.
func BuildWith(ctx context.Context, e engine.Engine, tag string, o Options, labels engine.Labels) error {
	dir, err := os.MkdirTemp("", "cassim-image-")
	if err != nil {
		return fmt.Errorf("cassim image: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := ContextWith(ctx, dir, o); err != nil {
		return err
	}
	tarball := engine.DirContext(dir)
	defer tarball.Close()
	spec := engine.BuildSpec{Context: tarball, Tags: []string{tag}, Labels: labels}
	if err := e.ImageBuild(ctx, spec, nil); err != nil {
		return fmt.Errorf("build cassim image %s: %w", tag, err)
	}
	return nil
}
