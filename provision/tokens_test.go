package provision

import (
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestBalancedTokens(t *testing.T) {
	for _, c := range []struct{ n, per int }{{1, 1}, {2, 1}, {3, 1}, {12, 1}, {3, 16}, {12, 16}, {5, 7}, {1, 256}} {
		got, err := BalancedTokens(c.n, c.per)
		if err != nil {
			t.Fatalf("%d×%d: %v", c.n, c.per, err)
		}
		if len(got) != c.n {
			t.Fatalf("%d×%d: %d nodes", c.n, c.per, len(got))
		}
		owner := map[int64]int{}
		var all []int64
		for i, ts := range got {
			if len(ts) != c.per {
				t.Fatalf("%d×%d: node %d has %d tokens", c.n, c.per, i, len(ts))
			}
			if !slices.IsSorted(ts) {
				t.Errorf("%d×%d: node %d's tokens not ascending: %v", c.n, c.per, i, ts)
			}
			for _, tok := range ts {
				if o, dup := owner[tok]; dup {
					t.Fatalf("%d×%d: token %d on nodes %d and %d", c.n, c.per, tok, o, i)
				}
				owner[tok] = i
				all = append(all, tok)
			}
		}
		slices.Sort(all)
		// Valid for Murmur3Partitioner: the first is the ring's start, and
		// the ranges between consecutive tokens (and the wrap back to the
		// first) are equal to within one token.
		if all[0] != math.MinInt64 {
			t.Errorf("%d×%d: first token %d, want %d", c.n, c.per, all[0], int64(math.MinInt64))
		}
		width := new(big.Int).Quo(ringSize, big.NewInt(int64(len(all))))
		own := make([]*big.Int, c.n)
		for i := range own {
			own[i] = new(big.Int)
		}
		for k, tok := range all {
			next := new(big.Int).Add(minToken, ringSize) // the wrap
			if k+1 < len(all) {
				next.SetInt64(all[k+1])
			}
			r := new(big.Int).Sub(next, big.NewInt(tok))
			if d := new(big.Int).Sub(r, width); d.Sign() < 0 || d.Cmp(big.NewInt(1)) > 0 {
				t.Fatalf("%d×%d: range after %d is %s, want %s (+1)", c.n, c.per, tok, r, width)
			}
			// A range (t_k, t_k+1] belongs to the owner of t_k+1.
			own[owner[all[(k+1)%len(all)]]].Add(own[owner[all[(k+1)%len(all)]]], r)
			// Interleaved: consecutive tokens belong to consecutive nodes.
			if c.n > 1 && k+1 < len(all) && owner[all[k+1]] != (owner[tok]+1)%c.n {
				t.Fatalf("%d×%d: token %d (node %d) followed by node %d", c.n, c.per, tok, owner[tok], owner[all[k+1]])
			}
		}
		share := new(big.Int).Quo(ringSize, big.NewInt(int64(c.n)))
		for i, o := range own {
			if d := new(big.Int).Sub(o, share); d.CmpAbs(big.NewInt(int64(c.per))) > 0 {
				t.Errorf("%d×%d: node %d owns %s, want %s", c.n, c.per, i, o, share)
			}
		}
	}
}

func TestBalancedTokensCCM(t *testing.T) {
	// ccm's single tokens for three nodes (and the contract suite's).
	got, err := BalancedTokens(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int64{{-9223372036854775808}, {-3074457345618258603}, {3074457345618258602}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestBalancedTokensRefused(t *testing.T) {
	for _, c := range []struct{ n, per int }{{0, 1}, {1, 0}, {-1, 16}} {
		if _, err := BalancedTokens(c.n, c.per); err == nil {
			t.Errorf("%d×%d: no error", c.n, c.per)
		}
	}
}

// TokenList is what CASSANDRA_INITIAL_TOKENS takes: each token in
// decimal, in order, comma-separated.
func TestTokenListRoundTrip(t *testing.T) {
	ts, _ := BalancedTokens(4, 16)
	for _, node := range ts {
		var back []int64
		for _, f := range strings.Split(TokenList(node), ",") {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				t.Fatalf("%v -> %q: %v", node, TokenList(node), err)
			}
			back = append(back, v)
		}
		if !slices.Equal(back, node) {
			t.Fatalf("%v -> %q -> %v", node, TokenList(node), back)
		}
	}
	if got := TokenList([]int64{-9223372036854775808, 0, 42}); got != "-9223372036854775808,0,42" {
		t.Errorf("TokenList = %q", got)
	}
}
