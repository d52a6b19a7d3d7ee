package e2e

import (
	"context"
	"slices"
	"strconv"
	"strings"

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
