package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// result is one measured row as -results keeps it: one JSON object a line.
type result struct {
	Nodes   string  `json:"nodes"` // what ran: "cassim realistic", "cassandra 5.0.8"
	Start   string  `json:"start"` // together or one-at-a-time
	N       int     `json:"n"`
	Total   float64 `json:"total_seconds"`
	Limit   float64 `json:"limit_seconds"`
	Ratio   float64 `json:"total_over_limit"`
	Machine int     `json:"swarm_machines"`
	// Rerun is a no-op re-run of the same bootstrap, Ring one `ring`
	// (both 0 in rows measured before they were).
	Rerun float64 `json:"rerun_seconds,omitempty"`
	Ring  float64 `json:"ring_seconds,omitempty"`
	// Steps are the bootstrap's own step times (--timings).
	Steps []step `json:"steps,omitempty"`
	// Load is the machine's load average (1 minute) when the row ended:
	// other work shares these cores.
	Load float64 `json:"load1,omitempty"`
	// Warm: measured on a warm lab (bench -warm), not a fresh one.
	Warm bool `json:"warm,omitempty"`
	// Commit is the code measured (git describe: "-dirty" when the
	// work tree had changes), Measured when the row ended (UTC).
	Commit   string `json:"commit,omitempty"`
	Measured string `json:"measured,omitempty"`
}

// appendResult adds r to the file at path.
func appendResult(path string, r result) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(f).Encode(r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// series groups results by what ran, how they started and on which lab:
// each a line of total against N; the limits are lines of their own. Of
// two rows of one series and N, the later one (a newer measurement) wins.
func series(rs []result) (names []string, lines map[string]plotter.XYs) {
	lines = map[string]plotter.XYs{}
	add := func(name string, x int, y float64) {
		xy, ok := lines[name]
		if !ok {
			names = append(names, name)
		}
		if i := slices.IndexFunc(xy, func(p plotter.XY) bool { return p.X == float64(x) }); i >= 0 {
			xy[i].Y = y
			return
		}
		lines[name] = append(xy, plotter.XY{X: float64(x), Y: y})
	}
	for _, r := range rs {
		name := fmt.Sprintf("%s, %s", r.Nodes, r.Start)
		if r.Warm {
			name += ", warm lab"
		}
		add(name, r.N, r.Total)
		add(name+": limit", r.N, r.Limit)
	}
	sort.Strings(names)
	for _, xy := range lines {
		sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
	}
	return names, lines
}

// plotResults draws bootstrap time against N for every series in the
// results file, as a PNG.
func plotResults(resultsPath, png string) error {
	rs, err := readResults(resultsPath)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("%s holds no results", resultsPath)
	}
	p := plot.New()
	p.Title.Text = "swarmcass bootstrap: total time against Cassandra's own limit"
	p.X.Label.Text = "nodes (N)"
	p.Y.Label.Text = "seconds"
	p.Y.Min = 0
	p.X.Min, p.X.Max = 0, 13
	p.Legend.Top = true
	p.Legend.Left = true
	names, lines := series(rs)
	var vs []any
	for _, name := range names {
		vs = append(vs, name, lines[name])
	}
	if err := plotutil.AddLinePoints(p, vs...); err != nil {
		return err
	}
	return p.Save(9*vg.Inch, 6*vg.Inch, png)
}
