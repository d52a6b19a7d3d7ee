package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/op"
)

// acquireLock takes the cluster's lock in Consul for the rest of the run,
// so that a second bootstrap (or any other operation) of the same cluster
// fails at once, naming the operation and its holder.
func acquireLock(ctx context.Context, r *run) error {
	release, err := consulstore.LockCluster(ctx, r.consul, r.cfg.Cluster, "bootstrap")
	if errors.Is(err, consulstore.ErrLocked) {
		return op.WithHint(err, fmt.Sprintf("wait for it to finish; if that process is gone, its lock expires within about %s", consulstore.LockExpiry))
	}
	if err != nil {
		return err
	}
	r.Hold(release)
	return nil
}
