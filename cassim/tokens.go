package cassim

import ()

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
