// Command bench measures swarmcass bootstrap on a lab: for each ring size,
// the total time of `swarmcass bootstrap --nodes N` against the limit
// Cassandra itself imposes, read from the nodes' own logs. Nodes start one
// after another, and the next may start as soon as the previous one is
// Up/Normal, so the limit is the sum over nodes of container start to
// "state jump to NORMAL", plus the last node's wait from NORMAL to
// "Starting listening for CQL clients". total/limit is 1 for a provisioner
// that adds nothing.
//
// Nodes are cassim (the stand-in, not Cassandra; -profile fast or
// realistic) or real Cassandra (-node cassandra: the offline base image,
// which must exist on the host engine: scripts/build-images.sh cassandra).
//
//	go run ./scripts/bench -nodes 3,6,12 -machines 3 -profile fast
//	go run ./scripts/bench -node cassandra -nodes 3
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/swarmcass/swarmcass/cassim/cassimimage"
	"github.com/swarmcass/swarmcass/cluster"
	"github.com/swarmcass/swarmcass/contract"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/images"
)

const logTime = "2006-01-02 15:04:05,000"

var consulImage, registryImage = images.Consul, images.Registry

// labPrefix names the labs (-lab); resultsPath is -results.
var labPrefix, resultsPath = "bench", ""

// subnetOffset is -subnet-offset.
var subnetOffset int

type row struct {
	nodes        int
	labUp, total time.Duration
	limit        time.Duration
	ring         time.Duration
	rerun        time.Duration // a no-op re-run of the same bootstrap (its --timings total)
	steps        []step
	load         float64 // load average (1 minute) at the end
}

type step struct {
	Name    string  `json:"step"`
	Seconds float64 `json:"seconds"`
}

// kind is what the nodes run.
type kind struct {
	node, profile string
	together      bool
	// warm: each lab first runs a cluster of the same image, whose nodes
	// and volumes are then removed (its images, infra and the swarm stay),
	// and the measured cluster gets a network of its own.
	warm bool
}

func main() {
	sizes := flag.String("nodes", "3,6,12", "ring sizes to measure")
	machines := flag.Int("machines", 3, "swarm machines in each lab")
	node := flag.String("node", "cassim", "what the nodes run: cassim (the stand-in) or cassandra (real, the offline base image)")
	profile := flag.String("profile", "fast", "cassim profile: fast or realistic")
	labName := flag.String("lab", "bench", "lab name prefix (labs bench0, bench1, ...)")
	octet := flag.Int("subnet-offset", 0, "labs take 10.234.(N+OFFSET).0/24, so that benchmarks run side by side")
	results := flag.String("results", "", "append each row to this file, one JSON object a line")
	plotPNG := flag.String("plot", "", "measure nothing: draw the rows of -results as a PNG plot to this file")
	start := flag.String("start", "together", "how a new cluster's nodes start: together (bootstrap's default) or one-at-a-time (--one-at-a-time)")
	warm := flag.Bool("warm", false, "measure on a warm lab: one where a cluster of the same image ran first, whose nodes and volumes were then removed")
	flag.Parse()
	if *start != "together" && *start != "one-at-a-time" {
		fmt.Fprintf(os.Stderr, "bench: -start %q: want together or one-at-a-time\n", *start)
		os.Exit(2)
	}
	if *node != "cassim" && *node != "cassandra" {
		fmt.Fprintf(os.Stderr, "bench: -node %q: want cassim or cassandra\n", *node)
		os.Exit(2)
	}
	labPrefix, subnetOffset = *labName, *octet
	if *plotPNG != "" {
		if *results == "" {
			fmt.Fprintln(os.Stderr, "bench: -plot needs -results, the rows to draw")
			os.Exit(2)
		}
		if err := plotResults(*results, *plotPNG); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	resultsPath = *results
	if err := run(*sizes, *machines, kind{*node, *profile, *start == "together", *warm}); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(sizes string, machines int, k kind) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "swarmcass-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "swarmcass")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/swarmcass").CombinedOutput(); err != nil {
		return fmt.Errorf("build swarmcass: %v\n%s", err, out)
	}
	imageDir := filepath.Join(dir, "cassim")
	if err := cassimimage.Context(ctx, imageDir); err != nil {
		return err
	}
	commit := "unknown"
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	var rows []row
	for i, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-nodes: %q is not a ring size", s)
		}
		r, err := measure(ctx, bin, imageDir, filepath.Join(dir, "store"+s), fmt.Sprintf("%s%d", labPrefix, i), n, machines, k)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
		rows = append(rows, r)
		if resultsPath != "" {
			what := "cassandra 5.0.8"
			if k.node == "cassim" {
				what = "cassim " + k.profile
			}
			start := "one-at-a-time"
			if k.together {
				start = "together"
			}
			if err := appendResult(resultsPath, result{Nodes: what, Start: start, N: n, Total: r.total.Seconds(),
				Limit: r.limit.Seconds(), Ratio: r.total.Seconds() / r.limit.Seconds(), Machine: machines,
				Rerun: r.rerun.Seconds(), Ring: r.ring.Seconds(), Steps: r.steps, Load: r.load, Warm: k.warm,
				Commit: commit, Measured: time.Now().UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
		}
	}
	what := "real Cassandra (offline base image)"
	if k.node == "cassim" {
		what = "cassim (not Cassandra), profile " + k.profile
	}
	how := "one at a time"
	if k.together {
		how = "all at once"
	}
	lab := "fresh lab per size"
	if k.warm {
		lab = "warm lab per size (a cluster of the same image ran there first)"
	}
	fmt.Printf("nodes: %s, started %s; %d swarm machines; %s\n", what, how, machines, lab)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "nodes\tlab up\tbootstrap\tlimit\ttotal/limit\tover limit per node\tre-run\tring\tload\tsteps\t\n")
	for _, r := range rows {
		var steps []string
		for _, s := range r.steps {
			steps = append(steps, fmt.Sprintf("%s %.1fs", s.Name, s.Seconds))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%.1f\t%s\t\n", r.nodes, sec(r.labUp), sec(r.total), sec(r.limit),
			r.total.Seconds()/r.limit.Seconds(), sec((r.total-r.limit)/time.Duration(r.nodes)), sec(r.rerun), sec(r.ring), r.load, strings.Join(steps, ", "))
	}
	return tw.Flush()
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// measure makes a fresh lab, bootstraps n nodes on it, reads the nodes'
// own start times from their logs, times one `ring`, and removes the lab.
func measure(ctx context.Context, bin, imageDir, store, lab string, n, machines int, k kind) (row, error) {
	r := row{nodes: n}
	sw := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "MACHINE_STORAGE_PATH="+store, "DOCKER_HOST=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("swarmcass %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	labArgs := []string{"--name", lab, "--store", store}
	defer sw(append([]string{"lab", "down"}, labArgs...)...)
	start := time.Now()
	if _, err := sw(append([]string{"lab", "up", "--machines", strconv.Itoa(machines), "--subnet", "10.234." + strconv.Itoa(n+subnetOffset) + ".0/24"}, labArgs...)...); err != nil {
		return r, err
	}
	r.labUp = time.Since(start)
	load := []string{"lab", "load", "--machine", "infra", consulImage, registryImage}
	timings := filepath.Join(filepath.Dir(store), lab+"-timings.json")
	args := []string{"bootstrap", "--nodes", strconv.Itoa(n), "--cluster", "bench", "--consul-image", consulImage,
		"--registry-image", registryImage, "--timings", timings}
	if !k.together {
		args = append(args, "--one-at-a-time")
	}
	if k.node == "cassandra" {
		load = append(load, images.CassandraBase)
		args = append(args, "--base-image", images.CassandraBase, "--heap", "256M")
	} else {
		args = append(args, "--image-dir", imageDir, "--heap", "64M", "--node-env", "CASSIM_PROFILE="+k.profile)
	}
	if _, err := sw(append(load, labArgs...)...); err != nil {
		return r, err
	}
	if k.warm {
		warmArgs := slices.Clone(args)
		warmArgs[slices.Index(warmArgs, "bench")] = "warm"
		if _, err := sw(warmArgs...); err != nil {
			return r, fmt.Errorf("warm the lab: %w", err)
		}
		if err := removeNodes(ctx, store, "warm", n); err != nil {
			return r, fmt.Errorf("warm the lab: %w", err)
		}
		args = append(args, "--network", "benchnet")
	}
	if _, err := sw(args...); err != nil {
		return r, err
	}
	var t struct {
		Total float64 `json:"total_seconds"`
		Steps []step  `json:"steps"`
	}
	b, err := os.ReadFile(timings)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return r, err
	}
	r.total = time.Duration(t.Total * float64(time.Second))
	r.steps = t.Steps
	if r.limit, err = cassandraLimit(ctx, store, n, k.together); err != nil {
		return r, err
	}
	start = time.Now()
	if _, err := sw("ring", "--cluster", "bench"); err != nil {
		return r, err
	}
	r.ring = time.Since(start)
	// The same bootstrap again: a no-op on the healthy cluster.
	rerun := filepath.Join(filepath.Dir(store), lab+"-rerun.json")
	for i, a := range args {
		if a == timings {
			args[i] = rerun
		}
	}
	if _, err := sw(args...); err != nil {
		return r, err
	}
	if b, err = os.ReadFile(rerun); err != nil {
		return r, err
	}
	var again struct {
		Total float64 `json:"total_seconds"`
	}
	if err := json.Unmarshal(b, &again); err != nil {
		return r, err
	}
	r.rerun = time.Duration(again.Total * float64(time.Second))
	r.load = loadAverage()
	return r, nil
}

// removeNodes removes cluster's n node services and, once their containers
// are gone, their volumes on every swarm host: what stays is infra, the
// swarm, the cluster's record and network, and the images on every host.
func removeNodes(ctx context.Context, store, name string, n int) error {
	plan, err := hosts.Resolve(hosts.Options{MachineStoragePath: store})
	if err != nil {
		return err
	}
	c := cluster.Open(name, plan)
	defer c.Close()
	if err := c.Err(); err != nil {
		return err
	}
	for k := 1; k <= n; k++ {
		if err := c.Swarm[0].Engine.ServiceRemove(ctx, fmt.Sprintf("cass%d", k)); err != nil {
			return err
		}
	}
	labels := engine.Labels{engine.LabelCluster: name}
	deadline := time.Now().Add(2 * time.Minute)
	for _, h := range c.Swarm {
		for {
			vols, err := h.Engine.VolumeList(ctx, labels)
			if err != nil {
				return err
			}
			var busy error
			for _, v := range vols {
				if err := h.Engine.VolumeRemove(ctx, v); err != nil {
					busy = err // its container is still being removed
				}
			}
			if busy == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("remove %s's volumes on %s: %w", name, h.Name(), busy)
			}
			time.Sleep(time.Second)
		}
	}
	return nil
}

// loadAverage is the machine's 1-minute load average (/proc/loadavg), 0
// when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l
}

// nodeTimes is when one node's container started, and when its log says it
// became NORMAL and opened CQL.
type nodeTimes struct {
	name               string
	start, normal, cql time.Time
}

// cassandraLimit reads, from the cluster's node containers on every swarm
// machine of the store bootstrap used, the limit Cassandra imposes: for
// nodes started one after another, the sum of each node's start to NORMAL,
// plus the last node's NORMAL to CQL; for nodes started together, the
// slowest node's start to CQL.
func cassandraLimit(ctx context.Context, store string, want int, together bool) (time.Duration, error) {
	plan, err := hosts.Resolve(hosts.Options{MachineStoragePath: store})
	if err != nil {
		return 0, err
	}
	c := cluster.Open("bench", plan)
	defer c.Close()
	if err := c.Err(); err != nil {
		return 0, err
	}
	var nodes []nodeTimes
	for _, h := range c.Swarm {
		cs, err := h.Engine.ContainerList(ctx, engine.Labels{engine.LabelCluster: "bench", engine.LabelRole: engine.RoleCassandra})
		if err != nil {
			return 0, err
		}
		for _, ct := range cs {
			full, err := h.Engine.ContainerInspect(ctx, ct.ID)
			if err != nil {
				return 0, err
			}
			logs, err := h.Engine.ContainerLogs(ctx, ct.ID, 100000)
			if err != nil {
				return 0, err
			}
			nt, ok := logTimes(logs)
			if !ok {
				return 0, fmt.Errorf("%s on %s: no NORMAL or CQL line in its log", ct.Name, h.Name())
			}
			nt.start, nt.name = full.StartedAt, ct.Labels[engine.LabelNode]
			nodes = append(nodes, nt)
		}
	}
	if len(nodes) != want {
		return 0, fmt.Errorf("found %d node containers, want %d", len(nodes), want)
	}
	first := nodes[0].start
	for _, n := range nodes {
		if n.start.Before(first) {
			first = n.start
		}
	}
	for _, n := range nodes {
		fmt.Fprintf(os.Stderr, "bench: %s: started at +%.1fs, NORMAL after %.1fs, CQL after %.1fs\n", n.name,
			n.start.Sub(first).Seconds(), n.normal.Sub(n.start).Seconds(), n.cql.Sub(n.start).Seconds())
	}
	if together {
		return togetherLimitOf(nodes), nil
	}
	return limitOf(nodes), nil
}

// togetherLimitOf is the critical path of nodes started together: the
// slowest node's own start to CQL.
func togetherLimitOf(nodes []nodeTimes) time.Duration {
	var slowest time.Duration
	for _, n := range nodes {
		slowest = max(slowest, n.cql.Sub(n.start))
	}
	return slowest
}

// limitOf is the critical path of nodes started one after another.
func limitOf(nodes []nodeTimes) time.Duration {
	var sum time.Duration
	last := nodes[0]
	for _, n := range nodes {
		sum += n.normal.Sub(n.start)
		if n.start.After(last.start) {
			last = n
		}
	}
	return sum + last.cql.Sub(last.normal)
}

// logTimes finds, in a node's log (Cassandra's format, which cassim
// follows), the first NORMAL line and the CQL listener's line. Log times
// are UTC, as the containers run.
func logTimes(logs string) (nodeTimes, bool) {
	var nt nodeTimes
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// INFO  [main] 2026-11-22 05:13:12,968 File.java:NN - message
		i := strings.Index(line, "] ")
		if i < 0 || len(line) < i+2+len(logTime) {
			continue
		}
		t, err := time.Parse(logTime, line[i+2:i+2+len(logTime)])
		if err != nil {
			continue
		}
		if nt.normal.IsZero() && strings.Contains(line, contract.NormalMarker) {
			nt.normal = t
		}
		if nt.cql.IsZero() && strings.Contains(line, contract.CQLMarker) {
			nt.cql = t
		}
	}
	return nt, !nt.normal.IsZero() && !nt.cql.IsZero()
}
