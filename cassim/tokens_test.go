package cassim

import (
	"fmt"
	"strings"
	"testing"
)

// Nodes started together, as a brand-new cluster is (every node a seed of
// the others, auto_bootstrap false, its own tokens), form one ring, each
// with exactly the tokens it was given and without bootstrapping.
func TestNodesStartedTogetherTakeTheirTokens(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	tokens := [][]int64{{-9223372036854775808, 0}, {-6148914691236517206, 3074457345618258602}, {-3074457345618258603, 6148914691236517204}}
	var rs []*running
	for i := range tokens {
		rs = append(rs, l.start(i+1, t.TempDir(), func(c *Config) {
			c.AutoBootstrap, c.InitialTokens, c.NumTokens = false, tokens[i], len(tokens[i])
		}, 1, 2, 3))
	}
	for _, r := range rs {
		r.waitLog(t, "state jump to NORMAL")
		if strings.Contains(r.out.String(), "JOINING") {
			t.Errorf("a node given tokens bootstrapped:\n%s", r.out.String())
		}
	}
	l.waitStatus(1, "UN "+l.ip(1), "UN "+l.ip(2), "UN "+l.ip(3))
	for i, want := range tokens {
		out, code := l.nodetool(i+1, "info", "-T")
		var lines []string
		for _, tok := range want {
			lines = append(lines, fmt.Sprintf("%-23s: %d", "Token", tok))
		}
		if code != 0 || !strings.Contains(out, "\n"+strings.Join(lines, "\n")+"\n") {
			t.Errorf("node %d: nodetool info -T (%d):\n%s\nwant its tokens:\n%s", i+1, code, out, strings.Join(lines, "\n"))
		}
		if out, _ := l.nodetool(i+1, "info"); !strings.Contains(out, "(invoke with -T/--tokens to see all 2 tokens)") {
			t.Errorf("node %d: nodetool info without -T:\n%s", i+1, out)
		}
	}

	// A node with auto_bootstrap false given a token another node owns is
	// refused as Cassandra refuses it (getSpecifiedTokens, either way).
	f := l.start(4, t.TempDir(), func(c *Config) {
		c.AutoBootstrap, c.InitialTokens, c.NumTokens = false, []int64{tokens[1][0]}, 1
	}, 1)
	if msg := f.startupError(t); msg != MsgExistingToken(tokens[1][0]) {
		t.Errorf("got %q, want the existing token refusal", msg)
	}
}
