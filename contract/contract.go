// Package contract reads what a Cassandra node container shows about the
// node contract (cassandra-image/CONTRACT.md): the `Node configuration:[...]`
// and `JVM Arguments: [...]` lines it logs at start, `nodetool info`, and the
// image's own configuration (ports, volume, health check). Its integration
// suite runs the same checks against every image that claims the contract:
// the real image, the wrapper test image and cassim.
package contract

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
)

// Log lines the contract names.
const (
	NodeConfigurationMarker = "Node configuration:["
	JVMArgumentsMarker      = "JVM Arguments: ["
	NormalMarker            = "state jump to NORMAL"
	CQLMarker               = "Starting listening for CQL clients on "
	HeapPairMessage         = "please set or unset MAX_HEAP_SIZE and HEAP_NEWSIZE in pairs"
)

// NodeConfiguration parses the last `Node configuration:[k=v; ...]` line of
// logs into its settings, as Cassandra's Config prints them.
func NodeConfiguration(logs string) (map[string]string, error) {
	line, ok := lastLineWith(logs, NodeConfigurationMarker)
	if !ok {
		return nil, errors.New("no Node configuration line in the logs")
	}
	body := line[strings.Index(line, NodeConfigurationMarker)+len(NodeConfigurationMarker):]
	body = strings.TrimRight(body, " \r")
	body = strings.TrimSuffix(body, "]")
	cfg := map[string]string{}
	for _, kv := range strings.Split(body, "; ") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("node configuration: %q is not key=value", kv)
		}
		cfg[k] = v
	}
	return cfg, nil
}

// Seeds returns the seed list of a SimpleSeedProvider setting such as
// `org.apache.cassandra.locator.SimpleSeedProvider{seeds=cass1,cass2}`.
func Seeds(seedProvider string) (string, error) {
	const prefix = "org.apache.cassandra.locator.SimpleSeedProvider{seeds="
	if !strings.HasPrefix(seedProvider, prefix) || !strings.HasSuffix(seedProvider, "}") {
		return "", fmt.Errorf("seed_provider %q is not a SimpleSeedProvider with seeds", seedProvider)
	}
	return strings.TrimSuffix(strings.TrimPrefix(seedProvider, prefix), "}"), nil
}

// JVMArguments returns the arguments of the last `JVM Arguments: [...]` line.
func JVMArguments(logs string) ([]string, bool) {
	line, ok := lastLineWith(logs, JVMArgumentsMarker)
	if !ok {
		return nil, false
	}
	body := line[strings.Index(line, JVMArgumentsMarker)+len(JVMArgumentsMarker):]
	body, _, _ = strings.Cut(body, "]")
	var args []string
	for _, a := range strings.Split(body, ",") {
		if a = strings.TrimSpace(a); a != "" {
			args = append(args, a)
		}
	}
	return args, true
}

// NodetoolInfo parses `nodetool info` output (`Key   : value` lines).
func NodetoolInfo(out string) map[string]string {
	info := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			info[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return info
}

func lastLineWith(text, marker string) (string, bool) {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], marker) {
			return lines[i], true
		}
	}
	return "", false
}

// ImageConfig is the part of an image's configuration the contract fixes.
type ImageConfig struct {
	Entrypoint   []string
	Cmd          []string
	ExposedPorts []string // "9042/tcp", sorted
	Volumes      []string // sorted
	// Healthcheck is the HEALTHCHECK test: ["CMD", ...] or ["CMD-SHELL", cmd];
	// empty when the image has none.
	Healthcheck []string
	Labels      map[string]string
}

// ReadImageConfig reads ref's configuration from `docker save` of it:
// engine.Image does not carry the configuration, the saved image does.
// Layers are skipped, not kept.
func ReadImageConfig(ctx context.Context, eng engine.Engine, ref string) (ImageConfig, error) {
	rc, err := eng.ImageSave(ctx, []string{ref})
	if err != nil {
		return ImageConfig{}, fmt.Errorf("read configuration of image %s: %w", ref, err)
	}
	defer rc.Close()
	cfg, err := imageConfigFromSave(rc)
	if err != nil {
		return ImageConfig{}, fmt.Errorf("read configuration of image %s: %w", ref, err)
	}
	return cfg, nil
}

func imageConfigFromSave(r io.Reader) (ImageConfig, error) {
	const small = 1 << 20 // manifests and configs; layers are larger or not JSON
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ImageConfig{}, fmt.Errorf("read saved image: %w", err)
		}
		if h.Typeflag != tar.TypeReg || h.Size > small || path.Base(h.Name) == "layer.tar" {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return ImageConfig{}, fmt.Errorf("read saved image: %w", err)
		}
		files[path.Clean(h.Name)] = b
	}
	var manifest []struct{ Config string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) == 0 {
		return ImageConfig{}, fmt.Errorf("saved image has no usable manifest.json (%v)", err)
	}
	raw, ok := files[path.Clean(manifest[0].Config)]
	if !ok {
		return ImageConfig{}, fmt.Errorf("saved image lacks its configuration %s", manifest[0].Config)
	}
	var img struct {
		Config struct {
			Entrypoint   []string
			Cmd          []string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			Healthcheck  *struct{ Test []string }
			Labels       map[string]string
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &img); err != nil {
		return ImageConfig{}, fmt.Errorf("image configuration: %w", err)
	}
	c := img.Config
	out := ImageConfig{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Labels: c.Labels,
		ExposedPorts: slices.Sorted(maps.Keys(c.ExposedPorts)), Volumes: slices.Sorted(maps.Keys(c.Volumes))}
	if c.Healthcheck != nil && len(c.Healthcheck.Test) > 0 && c.Healthcheck.Test[0] != "NONE" {
		out.Healthcheck = c.Healthcheck.Test
	}
	return out, nil
}

// HealthcheckCommand is the command line to Exec that runs the health check
// test: CMD's arguments as they are, CMD-SHELL's through /bin/sh -c.
func HealthcheckCommand(test []string) ([]string, error) {
	switch {
	case len(test) >= 2 && test[0] == "CMD":
		return test[1:], nil
	case len(test) == 2 && test[0] == "CMD-SHELL":
		return []string{"/bin/sh", "-c", test[1]}, nil
	}
	return nil, fmt.Errorf("health check test %q is neither CMD nor CMD-SHELL", test)
}
