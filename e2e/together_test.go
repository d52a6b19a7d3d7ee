package e2e

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/nodetool"
	"github.com/swarmcass/swarmcass/provision"
)

// requireStartedTogether checks what a bootstrap of a brand-new cluster of
// n nodes said and left: it started them all at once, and each node runs
// with exactly its planned tokens (nodetool info -T in its container), none
// of them bootstrapped.
func (e *env) requireStartedTogether(ctx context.Context, out string, n int) {
	e.t.Helper()
	if !strings.Contains(out, "starting all "+strconv.Itoa(n)+" nodes at once with balanced tokens") {
		e.t.Errorf("bootstrap of a new cluster did not start its nodes all at once:\n%s", out)
	}
	planned, err := provision.BalancedTokens(n, provision.DefaultNumTokens)
	if err != nil {
		e.t.Fatal(err)
	}
	ns := e.nodes(ctx)
	if len(ns) != n {
		e.t.Fatalf("%d running node containers, want %d", len(ns), n)
	}
	for _, c := range ns {
		k := 0
		for i := 1; i <= n; i++ {
			if c.node == "cass"+strconv.Itoa(i) {
				k = i
			}
		}
		if k == 0 {
			e.t.Fatalf("node container %s is none of cass1..cass%d", c.node, n)
		}
		res, err := c.machine.Exec(ctx, c.id, []string{"nodetool", "info", "-T"})
		if err != nil || res.ExitCode != 0 {
			e.t.Fatalf("%s: nodetool info -T: %v %+v", c.node, err, res)
		}
		got, err := nodetool.ParseInfoTokens(res.Stdout)
		if err != nil {
			e.t.Fatalf("%s: %v", c.node, err)
		}
		if !slices.Equal(got, planned[k-1]) {
			e.t.Errorf("%s runs with tokens %s, want the planned %s", c.node, provision.TokenList(got), provision.TokenList(planned[k-1]))
		}
		logs, err := c.machine.ContainerLogs(ctx, c.id, 100000)
		if err != nil {
			e.t.Fatal(err)
		}
		if strings.Contains(logs, "JOINING: Starting to bootstrap") {
			e.t.Errorf("%s bootstrapped (streamed) although started with its tokens:\n%s", c.node, logs)
		}
	}
}

// requireRestartTogether removes the node services of a healthy ring of n
// and keeps their volumes (as swarmcass down leaves a cluster); a re-run
// then restarts cass1 alone and every other node together, as nodes that
// bootstrapped before, each with the host ID it had.
func (e *env) requireRestartTogether(ctx context.Context, n int) {
	e.t.Helper()
	before := e.hostIDs(ctx)
	manager := e.machine("swarm-0")
	for k := 1; k <= n; k++ {
		if err := manager.ServiceRemove(ctx, "cass"+strconv.Itoa(k)); err != nil {
			e.t.Fatal(err)
		}
	}
	for len(e.nodes(ctx)) > 0 { // Swarm stops the containers
		select {
		case <-ctx.Done():
			e.t.Fatal("node containers still run after their services were removed")
		case <-time.After(time.Second):
		}
	}
	r := e.must(e.bootstrapArgs(n)...)
	e.t.Logf("re-run with the services removed: %s\n%s", r.duration.Round(100*time.Millisecond), r.out)
	var rest []string
	for k := 2; k <= n; k++ {
		rest = append(rest, "cass"+strconv.Itoa(k))
	}
	if !strings.Contains(r.out, "restarting "+strings.Join(rest, ", ")+" together") {
		e.t.Errorf("the nodes that bootstrapped before were not restarted together:\n%s", r.out)
	}
	e.requireRing(ctx, n)
	if after := e.hostIDs(ctx); !maps.Equal(after, before) {
		e.t.Errorf("host IDs changed across the restart: %v, then %v", before, after)
	}
}

// hostIDs are the host IDs cass1's view lists (addresses may change
// across a restart; identities may not).
func (e *env) hostIDs(ctx context.Context) map[string]string {
	e.t.Helper()
	for _, c := range e.nodes(ctx) {
		if c.node != "cass1" {
			continue
		}
		res, err := c.machine.Exec(ctx, c.id, []string{"nodetool", "status"})
		if err != nil || res.ExitCode != 0 {
			e.t.Fatalf("cass1: nodetool status: %v %+v", err, res)
		}
		st, err := nodetool.ParseStatus(res.Stdout)
		if err != nil {
			e.t.Fatal(err)
		}
		ids := map[string]string{}
		for _, n := range st.Nodes() {
			ids[n.HostID] = n.HostID
		}
		return ids
	}
	e.t.Fatal("cass1 does not run")
	return nil
}
