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

	"github.com/swarmcass/swarmcass/engine"
)

// Dockerfile is the image's Dockerfile, kept beside this file.
//
//go:embed Dockerfile
var Dockerfile string

// Package is the main package built into the image.
const Package = "github.com/swarmcass/swarmcass/cmd/cassim"

// Context writes a ready build context into dir: Dockerfile, bin/cassim
// (a static binary built with go build from the module containing the
// current directory) and bin/nodetool, bin/cqlsh and bin/cat, symbolic
// links to it.
func Context(ctx context.Context, dir string) error {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("cassim build context: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(Dockerfile), 0o644); err != nil {
		return fmt.Errorf("cassim build context: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(bin, "cassim"), Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build cassim (run inside the swarmcass module): %w\n%s", err, out)
	}
	for _, tool := range []string{"nodetool", "cqlsh", "cat"} {
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
	dir, err := os.MkdirTemp("", "cassim-image-")
	if err != nil {
		return fmt.Errorf("cassim image: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := Context(ctx, dir); err != nil {
		return err
	}
	tarball := engine.DirContext(dir)
	defer tarball.Close()
	args := map[string]string{}
	if profile != "" {
		args["CASSIM_PROFILE"] = profile
	}
	spec := engine.BuildSpec{Context: tarball, Tags: []string{tag}, BuildArgs: args, Labels: labels}
	if err := e.ImageBuild(ctx, spec, nil); err != nil {
		return fmt.Errorf("build cassim image %s: %w", tag, err)
	}
	return nil
}
