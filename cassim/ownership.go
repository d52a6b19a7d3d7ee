package cassim

import "sort"

// schemaOwnership is the effective ownership nodetool status shows without
// a keyspace argument (StorageService.effectiveOwnership(null)): by the
// replication the user keyspaces share, or system_traces' (SimpleStrategy,
// RF 2) when there are none; effective is false when the user keyspaces'
// replication differs, and status then prints "Owns" with "?".
func schemaOwnership(owner map[int64]string, peers []Peer, schema Schema) (own map[string]float32, effective bool) {
	repl, ok := schema.ownershipReplication()
	if !ok {
		return nil, false
	}
	if repl["class"] != ntsStrategy {
		return EffectiveOwnership(owner, (Keyspace{Replication: repl}).RF("")), true
	}
	dcOf := map[string]string{}
	for _, p := range peers {
		dcOf[p.Addr] = p.DC
	}
	return ntsOwnership(owner, dcOf, repl), true
}

// ntsOwnership is effective ownership under NetworkTopologyStrategy with
// one rack per datacenter: each token's range is replicated, in each
// datacenter with a replication factor, on the next distinct endpoints of
// that datacenter walking the ring clockwise.
func ntsOwnership(owner map[int64]string, dcOf map[string]string, repl map[string]string) map[string]float32 {
	sorted := make([]int64, 0, len(owner))
	for t := range owner {
		sorted = append(sorted, t)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	frac := describeOwnership(sorted)
	inDC := map[string]map[string]bool{}
	for _, e := range owner {
		if inDC[dcOf[e]] == nil {
			inDC[dcOf[e]] = map[string]bool{}
		}
		inDC[dcOf[e]][e] = true
	}
	out := map[string]float32{}
	for dc, eps := range inDC {
		rf := (Keyspace{Replication: repl}).RF(dc)
		rf = min(rf, len(eps))
		for i, t := range sorted {
			reps := map[string]bool{}
			for j := 0; len(reps) < rf && j < len(sorted); j++ {
				if e := owner[sorted[(i+j)%len(sorted)]]; dcOf[e] == dc {
					reps[e] = true
				}
			}
			for e := range reps {
				out[e] += frac[t]
			}
		}
	}
	return out
}
