package cassim

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
)

// Murmur3Partitioner's token range is the signed 64-bit integers.

// RandomTokens draws n distinct random tokens, as a node without
// initial_token and without the token allocator does.
func RandomTokens(rng *rand.Rand, n int) []int64 {
	seen := map[int64]bool{}
	var ts []int64
	for len(ts) < n {
		t := int64(rng.Uint64())
		if t == math.MinInt64 || seen[t] {
			continue
		}
		seen[t] = true
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts
}

// AllocateTokens picks n tokens for a node joining a ring that holds
// existing tokens: each new token splits the widest range at its middle,
// so a new node takes a fair share as Cassandra 4.0's allocator
// (allocate_tokens_for_local_replication_factor) aims to. An empty ring
// gets random tokens.
func AllocateTokens(rng *rand.Rand, existing []int64, n int) []int64 {
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if len(existing) == 0 {
		return RandomTokens(rng, n)
	}
	ring := append([]int64(nil), existing...)
	sort.Slice(ring, func(i, j int) bool { return ring[i] < ring[j] })
	var out []int64
	for len(out) < n {
		// widest range (ring[i-1], ring[i]], wrapping
		best, bestW := 0, uint64(0)
		for i := range ring {
			prev := ring[(i+len(ring)-1)%len(ring)]
			w := uint64(ring[i]) - uint64(prev) // modular width
			if len(ring) == 1 {
				w = math.MaxUint64
			}
			if w > bestW {
				best, bestW = i, w
			}
		}
		prev := ring[(best+len(ring)-1)%len(ring)]
		// the middle, give or take 1/64 of the range, so that two nodes
		// joining side by side do not pick the same tokens
		jitter := rng.Uint64N(bestW/32+1) - bestW/64
		t := int64(uint64(prev) + bestW/2 + jitter)
		if t == math.MinInt64 || slices.Contains(ring, t) {
			continue
		}
		out = append(out, t)
		ring = append(ring, t)
		sort.Slice(ring, func(i, j int) bool { return ring[i] < ring[j] })
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// describeOwnership is Murmur3Partitioner.describeOwnership: each token owns
// the range from the previous token, as a fraction of the ring rounded to
// six decimals (HALF_EVEN) and then held in a float.
func describeOwnership(sorted []int64) map[int64]float32 {
	own := map[int64]float32{}
	switch len(sorted) {
	case 0:
		return own
	case 1:
		own[sorted[0]] = 1
		return own
	}
	// ri = Long.MAX_VALUE - (Long.MIN_VALUE + 1) = 2^64 - 2
	ri := new(big.Int).Sub(big.NewInt(math.MaxInt64), big.NewInt(math.MinInt64+1))
	frac := func(from, to int64) float32 {
		d := new(big.Int).Sub(big.NewInt(to), big.NewInt(from))
		d.Add(d, ri).Mod(d, ri)
		r := new(big.Rat).SetFrac(d, ri)
		// round to 6 decimals, half even
		scaled := new(big.Rat).Mul(r, big.NewRat(1000000, 1))
		q, rem := new(big.Int).QuoRem(scaled.Num(), scaled.Denom(), new(big.Int))
		twice := new(big.Int).Mul(rem, big.NewInt(2))
		if c := twice.Cmp(scaled.Denom()); c > 0 || (c == 0 && q.Bit(0) == 1) {
			q.Add(q, big.NewInt(1))
		}
		f, _ := new(big.Rat).SetFrac(q, big.NewInt(1000000)).Float32()
		return f
	}
	for i := 1; i < len(sorted); i++ {
		own[sorted[i]] = frac(sorted[i-1], sorted[i])
	}
	own[sorted[0]] = frac(sorted[len(sorted)-1], sorted[0])
	return own
}

// EffectiveOwnership is what `nodetool status` shows without a keyspace
// argument on a cluster without user keyspaces: Cassandra then computes
// effective ownership for system_traces, whose replication is
// SimpleStrategy with replication_factor 2 (StorageService
// .getEffectiveOwnership; TraceKeyspace). Real samples confirm it: the
// effective ownership of a fresh multi-node 4.x cluster sums to 200%.
// owner maps each normal token to its endpoint.
func EffectiveOwnership(owner map[int64]string, rf int) map[string]float32 {
	sorted := make([]int64, 0, len(owner))
	for t := range owner {
		sorted = append(sorted, t)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	frac := describeOwnership(sorted)
	endpoints := map[string]bool{}
	for _, e := range owner {
		endpoints[e] = true
	}
	if rf > len(endpoints) {
		rf = len(endpoints)
	}
	out := map[string]float32{}
	for i, t := range sorted {
		// SimpleStrategy: the token's owner, then the next distinct
		// endpoints walking the ring clockwise.
		reps := map[string]bool{}
		for j := 0; len(reps) < rf; j++ {
			reps[owner[sorted[(i+j)%len(sorted)]]] = true
		}
		for e := range reps {
			out[e] += frac[t]
		}
	}
	return out
}

// javaStringHash is java.lang.String.hashCode.
func javaStringHash(s string) int32 {
	var h int32
	for _, c := range s { // addresses and ports are ASCII
		h = 31*h + int32(c)
	}
	return h
}

// JavaHashOrder returns keys in the order a java.util.HashMap created by
// Guava's ArrayListMultimap.create() (expected 12 keys: a table of 32
// buckets, doubling beyond 3/4 full) iterates them after inserting them in
// the given order. nodetool status lists each datacenter's nodes in this
// order, keyed by "address:port".
func JavaHashOrder(keys []string) []string {
	n := 32
	for float64(len(keys)) > 0.75*float64(n) {
		n *= 2
	}
	bucket := func(k string) int {
		h := uint32(javaStringHash(k))
		h ^= h >> 16
		return int(h & uint32(n-1))
	}
	out := append([]string(nil), keys...)
	sort.SliceStable(out, func(i, j int) bool { return bucket(out[i]) < bucket(out[j]) })
	return out
}
