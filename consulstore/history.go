package consulstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Release is one image and settings every node of the cluster ran, an
// entry of the cluster's image history at swarmcass/<cluster>/history:
// what a rollback goes back to.
type Release struct {
	Image string `json:"image"` // registry/repo@sha256:...
	// Version is the Cassandra release the nodes reported (nodetool
	// version), when known.
	Version string `json:"version,omitempty"`
	// Env are the nodes' settings in their environment (heap, extra
	// KEY=VALUE pairs), Memory their memory limit in bytes.
	Env    []string  `json:"env,omitempty"`
	Memory int64     `json:"memory,omitempty"`
	At     time.Time `json:"at"`
	By     string    `json:"by"` // the operation that rolled it out
}

// Same reports whether a and b are the same image and settings, whenever
// and however they came.
func (a Release) Same(b Release) bool {
	return a.Image == b.Image && a.Memory == b.Memory && slices.Equal(slices.Sorted(slices.Values(a.Env)), slices.Sorted(slices.Values(b.Env)))
}

// HistoryLen is how many releases the history keeps, the newest last.
const HistoryLen = 10

// WriteHistory writes the cluster's image history, the newest release
// last, keeping the last HistoryLen.
func WriteHistory(ctx context.Context, s Store, cluster string, h []Release) error {
	if len(h) > HistoryLen {
		h = h[len(h)-HistoryLen:]
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return putIfChanged(ctx, s, Key(cluster, "history"), b)
}

// Rollout is a rolling operation in progress at swarmcass/<cluster>/rollout:
// which nodes it set out to do and which are done, so that a re-run after
// a failure or Ctrl-C continues with the node it stopped at.
type Rollout struct {
	Op    string   `json:"op"`
	Nodes []string `json:"nodes"`
	Done  []string `json:"done"`
	// Current is the node being acted on: a re-run waits for it first;
	// Acted once its new task was asked for (else the re-run asks again).
	Current string    `json:"current,omitempty"`
	Acted   bool      `json:"acted,omitempty"`
	Started time.Time `json:"started"`
	// To is the release the nodes go to (upgrade, rollback), so that a
	// re-run of an interrupted rollback goes on to the same one.
	To *Release `json:"to,omitempty"`
}

// WriteRollout records r; ClearRollout removes it once the operation is
// done.
func WriteRollout(ctx context.Context, s Store, cluster string, r Rollout) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.Put(ctx, Key(cluster, "rollout"), b)
}

// ClearRollout removes the rollout record.
func ClearRollout(ctx context.Context, s Store, cluster string) error {
	return s.Delete(ctx, Key(cluster, "rollout"))
}

func readJSON(key string, value []byte, v any, what string) error {
	if err := json.Unmarshal(value, v); err != nil {
		return fmt.Errorf("consul key %s is not %s: %w", key, what, err)
	}
	return nil
}
