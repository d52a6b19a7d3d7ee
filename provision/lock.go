package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// lockExpiry bounds how long a lock outlives a holder that died without
// giving it back: Consul ends its session within twice the session TTL
// (15 s), then keeps the lock for its lock delay (15 s): 45 s, and 46-47 s
// measured here (TestIntegrationConsulLockExpiresAfterCrash).
const lockExpiry = 50 * time.Second

// acquireLock takes the cluster's lock in Consul for the rest of the run,
// so that a second bootstrap of the same cluster fails at once, naming the
// holder. The lock's session dies with this process (TTL 15 s).
func acquireLock(ctx context.Context, r *run) error {
	holder, err := json.Marshal(thisHolder())
	if err != nil {
		return err
	}
	release, err := r.consul.Lock(ctx, r.kvKey("lock"), holder)
	if errors.Is(err, ErrLocked) {
		return withHint(fmt.Errorf("another bootstrap of cluster %s is running: %w", r.cfg.Cluster, err),
			fmt.Sprintf("wait for it to finish; if that process is gone, its lock expires within about %s", lockExpiry))
	}
	if err != nil {
		return fmt.Errorf("take the cluster lock: %w", err)
	}
	r.release = release
	return nil
}
