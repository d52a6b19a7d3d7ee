package cassim

import (
	"context"
	"fmt"
	"net"
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
	Seeds []string
	// Resolve (SWARMCASS_WAIT_RESOLVE) are nodes started at the same time
	// as this one, every one of which must resolve before a first boot.
	Resolve []string
	Timeout time.Duration // SWARMCASS_WAIT_SECONDS, 120 s by default
	// Lookup resolves a name; nil is the system's resolver.
	Lookup func(ctx context.Context, host string) ([]string, error)
}

// seedWaitFromEnv reads SWARMCASS_WAIT_FOR and SWARMCASS_WAIT_SECONDS.
func seedWaitFromEnv(env map[string]string) (SeedWait, error) {
	w := SeedWait{Timeout: 120 * time.Second, Seeds: nameList(env["SWARMCASS_WAIT_FOR"]), Resolve: nameList(env["SWARMCASS_WAIT_RESOLVE"])}
	if v := env["SWARMCASS_WAIT_SECONDS"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return w, fmt.Errorf("SWARMCASS_WAIT_SECONDS=%s is not a number of seconds", v)
		}
		w.Timeout = time.Duration(n) * time.Second
	}
	return w, nil
}

// nameList reads a comma-separated list of names, spaces dropped.
func nameList(s string) []string {
	var out []string
	for _, n := range strings.Split(strings.Join(strings.Fields(s), ""), ",") {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// WaitResolve returns once every name in Resolve resolves, trying every
// second until the timeout (as the real image's wrapper does with getent).
func (w SeedWait) WaitResolve(ctx context.Context) error {
	lookup := w.Lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	deadline := time.Now().Add(w.Timeout)
	for len(w.Resolve) > 0 {
		var missing []string
		for _, h := range w.Resolve {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			as, err := lookup(lctx, h)
			cancel()
			if err != nil || len(as) == 0 {
				missing = append(missing, h)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("after %.0fs these nodes started with this one still do not resolve: %s; not starting, so as not to found a second ring: check that their services run and the overlay network between the swarm hosts (TCP and UDP 7946, UDP 4789)",
				w.Timeout.Seconds(), strings.Join(missing, " "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
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
