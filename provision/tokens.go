package provision

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Murmur3Partitioner's token range: every signed 64-bit integer.
var (
	minToken = big.NewInt(0).Lsh(big.NewInt(-1), 63) // -2^63
	ringSize = big.NewInt(0).Lsh(big.NewInt(1), 64)  // 2^64 tokens
)

// BalancedTokens are the initial tokens of n nodes with perNode tokens
// each (num_tokens) for a brand-new cluster whose nodes start together
// without bootstrapping: the ring of Murmur3Partitioner (-2^63 ..
// 2^63-1) cut into n*perNode equal ranges, their starts dealt to the
// nodes in turn, so that each node's tokens interleave with everyone
// else's and every node owns 1/n of the ring. With perNode 1 these are
// ccm's tokens: i*(2^64/n) - 2^63. Node i (0-based) gets element i, its
// tokens ascending.
func BalancedTokens(n, perNode int) ([][]int64, error) {
	if n < 1 || perNode < 1 {
		return nil, fmt.Errorf("balanced tokens for %d nodes of %d tokens each: want at least one of each", n, perNode)
	}
	total := big.NewInt(int64(n) * int64(perNode))
	if total.Cmp(ringSize) > 0 {
		return nil, fmt.Errorf("%d tokens do not fit the ring", total)
	}
	out := make([][]int64, n)
	for i := range out {
		out[i] = make([]int64, 0, perNode)
	}
	idx, t := new(big.Int), new(big.Int)
	for k := int64(0); k < total.Int64(); k++ {
		// minToken + k*2^64/total, exact.
		idx.SetInt64(k)
		t.Mul(idx, ringSize)
		t.Quo(t, total)
		t.Add(t, minToken)
		out[k%int64(n)] = append(out[k%int64(n)], t.Int64())
	}
	return out, nil
}

// TokenList is tokens as CASSANDRA_INITIAL_TOKENS and initial_token take
// them: comma-separated decimals.
func TokenList(tokens []int64) string {
	s := make([]string, len(tokens))
	for i, t := range tokens {
		s[i] = strconv.FormatInt(t, 10)
	}
	return strings.Join(s, ",")
}
