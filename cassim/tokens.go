package cassim

import (
	"context"
	"fmt"
	"strings"
)

// What Cassandra enforces about tokens given to a node (initial_token),
// bootstrapping or not: BootStrapper.getSpecifiedTokens, which 5.0's
// joinTokenRing calls for a node without saved tokens either way, refuses
// a token the node's token metadata already gives another node. A node
// with auto_bootstrap false then takes exactly the tokens it was given,
// without streaming (Node.run).

// checkSpecifiedTokens refuses, with Cassandra's message, initial tokens
// that a NORMAL node this node knows of already owns. Nodes started
// together know nothing of one another's tokens yet, as in Cassandra:
// only a token seen in gossip counts.
func (n *Node) checkSpecifiedTokens() error {
	if len(n.cfg.InitialTokens) == 0 {
		return nil
	}
	n.mu.Lock()
	owners := NormalTokenOwners(n.view.Peers())
	n.mu.Unlock()
	for _, t := range n.cfg.InitialTokens {
		if o, taken := owners[t]; taken && o != n.addr {
			return &StartupError{"org.apache.cassandra.exceptions.ConfigurationException", MsgExistingToken(t)}
		}
	}
	return nil
}

// infoTokens is `nodetool info -T`: nodetool info with every token.
func (n *Node) infoTokens(ctx context.Context) string {
	out, _ := n.nodetool(ctx, "info", false)
	n.mu.Lock()
	tokens := n.id.Tokens
	n.mu.Unlock()
	// Replace the summary Token line with one line per token.
	var b strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(line, "Token ") {
			continue
		}
		b.WriteString(line)
	}
	for _, t := range tokens {
		fmt.Fprintf(&b, "%-23s: %d\n", "Token", t)
	}
	return b.String()
}
