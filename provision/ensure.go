package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
)

// Helpers that several steps use; what one step alone uses stays in its file.

// ensureVolume creates a labelled volume unless it exists.
func (r *run) ensureVolume(ctx context.Context, h *host, name string, labels engine.Labels) error {
	have, err := h.Engine.VolumeList(ctx, labels)
	if err != nil {
		return fmt.Errorf("list volumes on %s: %w", h.name(), err)
	}
	for _, v := range have {
		if v == name {
			return nil
		}
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
