package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// Helpers that several steps use; what one step alone uses stays in its file.

// ensureVolume creates a labelled volume unless it exists.
func (r *run) ensureVolume(ctx context.Context, h *host, name string, labels engine.Labels) error {
	have, err := h.Engine.VolumeList(ctx, labels)
	if err != nil {
		return fmt.Errorf("list volumes on %s: %w", h.name(), err)
	}
	if slices.Contains(have, name) {
		return nil
	}
	// dockerd "creates" a volume that exists by handing back the one there,
	// whoever made it: a volume of a cluster's name without that cluster's
	// labels is someone else's data, as the volumes a cluster taken down on
	// this swarm keeps. (Infra's volumes belong to no cluster.)
	var all []string
	if labels[engine.LabelCluster] != "" {
		if all, err = h.Engine.VolumeList(ctx, nil); err != nil {
			return fmt.Errorf("list volumes on %s: %w", h.name(), err)
		}
	}
	if slices.Contains(all, name) {
		return op.Hinted(fmt.Sprintf("a cluster taken down on this swarm (swarmcass down) keeps its volumes: bring it back with its own --cluster, "+
			"or remove it for good (swarmcass down --purge --cluster NAME); if the volume's data is not needed, docker volume rm %s on %s", name, h.name()),
			"volume %s on %s exists but is not labelled as cluster %s's: it holds another cluster's data", name, h.name(), r.cfg.Cluster)
	}
	if err := h.Engine.VolumeCreate(ctx, name, labels); err != nil {
		return fmt.Errorf("create volume %s on %s: %w", name, h.name(), err)
	}
	r.created("volume %s on %s", name, h.name())
	return nil
}

// firstLine is the first line of s, without surrounding space: an error's
// or a command's output shortened for a message.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
