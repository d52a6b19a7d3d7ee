package nodetool

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ParseInfoTokens reads the node's tokens from `nodetool info -T` (or
// `nodetool info` of a single-token node), whose Token lines Cassandra's
// Info command prints as `%-23s: %s` ("Token                  : -42"),
// one per token. They come back ascending.
func ParseInfoTokens(out string) ([]int64, error) {
	var tokens []int64
	for i, line := range splitLines(out) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "Token" {
			continue
		}
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "(invoke with -T") {
			return nil, lineError(i, line, "tokens not listed: run nodetool info -T")
		}
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, lineError(i, line, fmt.Sprintf("token %q is not a Murmur3 token", v))
		}
		tokens = append(tokens, t)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("no Token line in nodetool info output: %s", clip(out))
	}
	sort.Slice(tokens, func(i, j int) bool { return tokens[i] < tokens[j] })
	return tokens, nil
}

// ParseInfoID reads the node's own host ID from `nodetool info`, whose ID
// line Cassandra's Info command prints as `%-23s: %s` ("ID  : 5b0e…"),
// from the local host ID the node keeps in system.local.
func ParseInfoID(out string) (string, error) {
	for i, line := range splitLines(out) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "ID" {
			continue
		}
		v = strings.TrimSpace(v)
		if !uuidRE.MatchString(v) {
			return "", lineError(i, line, fmt.Sprintf("host ID %q is not a UUID", v))
		}
		return strings.ToLower(v), nil
	}
	return "", fmt.Errorf("no ID line in nodetool info output: %s", clip(out))
}
