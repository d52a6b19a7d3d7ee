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

// SeedWait is the node contract's wait for running seeds (SWARMCASS_WAIT_FOR,
// as cassandra-image/swarmcass-entrypoint.sh does it for real Cassandra):
// seeds that already run, of which one must resolve and answer on the
// storage port before the node starts. Without it, a node started while the
// overlay's DNS does not yet know the others (seconds, on Swarm) skips them:
// a new seed founds a ring of its own, and a node with data gossips apart
// from the ring.
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
// port, trying every second until the timeout. With no seeds it returns at
// once. When none answers in time, a node on its first boot gets an error
// (it must not found a second ring); a member (a node with data) gets the
// warning to log and starts anyway, as a lost seed host must not keep it down.
func (w SeedWait) Wait(ctx context.Context, port int, member bool) (seed, warning string, err error) {
	if len(w.Seeds) == 0 {
		return "", "", nil
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
				return s, "", nil
			}
		}
		if !time.Now().Before(deadline) {
			none := fmt.Sprintf("none of the running seeds (%s) resolves and answers on port %d after %s", strings.Join(w.Seeds, ","), port, w.Timeout)
			if member {
				return "", none + "; starting anyway, as this node has data and knows its peers", nil
			}
			return "", "", fmt.Errorf("%s; not starting, so as not to found a second ring: check the overlay network between the swarm hosts (TCP and UDP 7946, UDP 4789, and IP protocol 50 for an encrypted overlay)", none)
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
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
