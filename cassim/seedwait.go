package cassim

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SeedWait is the node contract's first-boot wait (SWARMCASS_WAIT_FOR, as
// cassandra-image/swarmcass-entrypoint.sh does it for real Cassandra): seeds
// that already run, of which one must resolve and answer on the storage port
// before a node with no saved identity starts. Without it, a seed started
// while the overlay's DNS does not yet know the others (seconds, on Swarm)
// founds a ring of its own.
type SeedWait struct {
	Seeds   []string
	Timeout time.Duration // SWARMCASS_WAIT_SECONDS, 120 s by default
}

// seedWaitFromEnv reads SWARMCASS_WAIT_FOR and SWARMCASS_WAIT_SECONDS.
func seedWaitFromEnv(env map[string]string) (SeedWait, error) {
	w := SeedWait{Timeout: 120 * time.Second}
	for _, s := range strings.Split(strings.Join(strings.Fields(env["SWARMCASS_WAIT_FOR"]), ""), ",") {
		if s != "" {
			w.Seeds = append(w.Seeds, s)
		}
	}
	if v := env["SWARMCASS_WAIT_SECONDS"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return w, fmt.Errorf("SWARMCASS_WAIT_SECONDS=%s is not a number of seconds", v)
		}
		w.Timeout = time.Duration(n) * time.Second
	}
	return w, nil
}

// Wait returns the first seed that resolves and accepts a connection on
// port, trying every second until the timeout. With no seeds it returns at once.
func (w SeedWait) Wait(ctx context.Context, port int) (string, error) {
	if len(w.Seeds) == 0 {
		return "", nil
	}
	deadline := time.Now().Add(w.Timeout)
	var d net.Dialer
	for {
		for _, s := range w.Seeds {
			c, err := func() (net.Conn, error) {
				dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				return d.DialContext(dctx, "tcp", net.JoinHostPort(s, strconv.Itoa(port)))
			}()
			if err == nil {
				c.Close()
				return s, nil
			}
		}
		if !time.Now().Before(deadline) {
			return "", fmt.Errorf("none of the running seeds (%s) resolves and answers on port %d after %s; not starting, so as not to found a second ring: check the overlay network between the swarm hosts (TCP and UDP 7946, UDP 4789, and IP protocol 50 for an encrypted overlay)",
				strings.Join(w.Seeds, ","), port, w.Timeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// AddSeedByAddress adds seed, the running seed the first-boot wait
// reached, to the seed list when it is an address not listed yet, as the
// real image's wrapper does: bootstrap names the first node by its
// address when the others start with it, before Swarm's DNS lists it.
func (c *Config) AddSeedByAddress(seed string) {
	if net.ParseIP(seed) == nil || slices.Contains(c.Seeds, seed) {
		return
	}
	c.Seeds = append(c.Seeds, seed)
}
