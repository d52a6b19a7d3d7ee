package nodetool

import (
	"slices"
	"strings"
	"testing"
)

func TestParseInfoTokens(t *testing.T) {
	// The shape of Cassandra's Info command (`%-23s: %s` per line), with -T.
	out := `ID                     : 5b7c3e4a-7f7e-4f0e-9d55-3c8a0b6a1f11
Gossip active          : true
Native Transport active: true
Load                   : 104.38 KiB
Data Center            : datacenter1
Rack                   : rack1
Percent Repaired       : 100.0%
Token                  : 3074457345618258602
Token                  : -9223372036854775808
`
	got, err := ParseInfoTokens(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{-9223372036854775808, 3074457345618258602}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for name, bad := range map[string]string{
		"without -T":  "Token                  : (invoke with -T/--tokens to see all 16 tokens)\n",
		"no tokens":   "ID                     : x\n",
		"not a token": "Token                  : abc\n",
	} {
		if _, err := ParseInfoTokens(bad); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "without -T" && !strings.Contains(err.Error(), "-T") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseInfoID(t *testing.T) {
	out := "ID                     : 5B7C3E4A-7f7e-4f0e-9d55-3c8a0b6a1f11\nGossip active          : true\n"
	if got, err := ParseInfoID(out); err != nil || got != "5b7c3e4a-7f7e-4f0e-9d55-3c8a0b6a1f11" {
		t.Errorf("got %q, %v", got, err)
	}
	for name, bad := range map[string]string{
		"no ID line":  "Gossip active          : true\n",
		"not a UUID":  "ID                     : null\n",
		"blank value": "ID                     : \n",
	} {
		if _, err := ParseInfoID(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
