package main

import (
	"slices"
	"testing"
	"time"
)

// Lines as real Cassandra 5.0.8 logged them in this project's offline image
// (scripts/compare-cassim.sh), which cassim follows.
func TestLogTimes(t *testing.T) {
	logs := `INFO  [main] 2026-12-01 21:44:59,056 Config.java:1371 - Node configuration:[...]
INFO  [main] 2026-12-01 21:45:58,799 StorageService.java:3320 - Node /10.0.1.2:7000 state jump to NORMAL
INFO  [main] 2026-12-01 21:46:07,898 PipelineConfigurator.java:148 - Starting listening for CQL clients on /0.0.0.0:9042 (unencrypted)...
INFO  [main] 2026-12-01 21:50:00,000 StorageService.java:3320 - Node /10.0.1.2:7000 state jump to NORMAL
`
	nt, ok := logTimes(logs)
	if !ok {
		t.Fatal("logTimes found no NORMAL or CQL line")
	}
	if d := nt.cql.Sub(nt.normal); d != 9099*time.Millisecond {
		t.Errorf("NORMAL to CQL = %v, want 9.099s (the first NORMAL line counts)", d)
	}
	if _, ok := logTimes("INFO  [main] 2026-12-01 21:44:59,056 X.java:1 - started\n"); ok {
		t.Error("a log without NORMAL and CQL lines has no times")
	}
}

func TestLimitOf(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// Three nodes started one after another, each once the one before was NORMAL.
	nodes := []nodeTimes{
		{start: at(101), normal: at(150), cql: at(158)},
		{start: at(0), normal: at(60), cql: at(69)},
		{start: at(62), normal: at(100), cql: at(108)},
	}
	want := (60 + 38 + 49 + 8) * time.Second
	if got := limitOf(nodes); got != want {
		t.Errorf("limitOf = %v, want %v: each node's start to NORMAL, plus the last node's NORMAL to CQL", got, want)
	}
	// The limit never exceeds the wall time from the first start to the last CQL.
	if got, wall := limitOf(nodes), at(158).Sub(at(0)); got > wall {
		t.Errorf("limit %v exceeds the wall time %v", got, wall)
	}
}

func TestTogetherLimitOf(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// Three nodes started together: the slowest one's start to CQL.
	nodes := []nodeTimes{
		{start: at(0), normal: at(20), cql: at(25)},
		{start: at(1), normal: at(30), cql: at(33)},
		{start: at(2), normal: at(22), cql: at(24)},
	}
	if got, want := togetherLimitOf(nodes), 32*time.Second; got != want {
		t.Errorf("togetherLimitOf = %v, want %v", got, want)
	}
}

func TestSeries(t *testing.T) {
	rs := []result{
		{Nodes: "cassim fast", Start: "together", N: 3, Total: 20, Limit: 1},
		{Nodes: "cassim fast", Start: "together", N: 12, Total: 22, Limit: 2},
		{Nodes: "cassim fast", Start: "together", N: 3, Total: 8, Limit: 1.5}, // measured again, later
		{Nodes: "cassim fast", Start: "together", N: 3, Total: 7, Limit: 1.4, Warm: true},
	}
	names, lines := series(rs)
	want := []string{"cassim fast, together", "cassim fast, together, warm lab", "cassim fast, together, warm lab: limit", "cassim fast, together: limit"}
	if !slices.Equal(names, want) {
		t.Fatalf("series %q, want %q", names, want)
	}
	if got := lines["cassim fast, together"]; len(got) != 2 || got[0].X != 3 || got[0].Y != 8 || got[1].Y != 22 {
		t.Errorf("fresh-lab totals %v, want N=3 at 8 s (the later row) and N=12 at 22 s", got)
	}
	if got := lines["cassim fast, together: limit"]; len(got) != 2 || got[0].Y != 1.5 {
		t.Errorf("fresh-lab limits %v, want N=3 at 1.5 s", got)
	}
	if got := lines["cassim fast, together, warm lab"]; len(got) != 1 || got[0].Y != 7 {
		t.Errorf("warm-lab totals %v, want one point at 7 s", got)
	}
}
