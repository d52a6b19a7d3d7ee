// Command bench measures swarmcass bootstrap on a lab with cassim nodes:
// for each ring size, the total time of `swarmcass bootstrap --nodes N` and
// how much of it the provisioner itself adds. The nodes' own time is read
// from cassim's logs (process start to "Starting listening for CQL
// clients"); the overhead is the total minus the sum of those, since nodes
// start one after another. cassim stands in for Cassandra; it is not
// Cassandra, and its fast profile makes the overhead show.
//
//	go run ./scripts/bench -nodes 3,6,12 -machines 3 -profile fast
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
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/swarmcass/swarmcass/cassim/cassimimage"
	"github.com/swarmcass/swarmcass/contract"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/hosts"
	"github.com/swarmcass/swarmcass/images"
)

const logTime = "2006-01-02 15:04:05,000"

var consulImage, registryImage = images.Consul, images.Registry

type row struct {
	nodes                  int
	labUp, total, nodeTime time.Duration
	ring                   time.Duration
}

func main() {
	sizes := flag.String("nodes", "3,6,12", "ring sizes to measure")
	machines := flag.Int("machines", 3, "swarm machines in each lab")
	profile := flag.String("profile", "fast", "cassim profile: fast or realistic")
	flag.Parse()
	if err := run(*sizes, *machines, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(sizes string, machines int, profile string) error {
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
	var rows []row
	for i, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-nodes: %q is not a ring size", s)
		}
		r, err := measure(ctx, bin, imageDir, filepath.Join(dir, "store"+s), fmt.Sprintf("bench%d", i), n, machines, profile)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
		rows = append(rows, r)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "nodes\tlab up\tbootstrap\tnodes' own time\toverhead\toverhead/total\tper node\tring\t\n")
	for _, r := range rows {
		over := r.total - r.nodeTime
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t\n", r.nodes, sec(r.labUp), sec(r.total), sec(r.nodeTime), sec(over),
			over.Seconds()/r.total.Seconds(), sec(over/time.Duration(r.nodes)), sec(r.ring))
	}
	return tw.Flush()
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// measure makes a fresh lab, bootstraps n nodes on it, reads the nodes'
// own start times from their logs, times one `ring`, and removes the lab.
func measure(ctx context.Context, bin, imageDir, store, lab string, n, machines int, profile string) (row, error) {
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
	if _, err := sw(append([]string{"lab", "up", "--machines", strconv.Itoa(machines), "--subnet", "10.234." + strconv.Itoa(n) + ".0/24"}, labArgs...)...); err != nil {
		return r, err
	}
	r.labUp = time.Since(start)
	if _, err := sw(append([]string{"lab", "load", "--machine", "infra", consulImage, registryImage}, labArgs...)...); err != nil {
		return r, err
	}
	timings := filepath.Join(filepath.Dir(store), lab+"-timings.json")
	if _, err := sw("bootstrap", "--nodes", strconv.Itoa(n), "--cluster", "bench", "--consul-image", consulImage,
		"--registry-image", registryImage, "--image-dir", imageDir, "--heap", "64M",
		"--node-env", "CASSIM_PROFILE="+profile, "--timings", timings); err != nil {
		return r, err
	}
	var t struct {
		Total float64 `json:"total_seconds"`
	}
	b, err := os.ReadFile(timings)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return r, err
	}
	r.total = time.Duration(t.Total * float64(time.Second))
	if r.nodeTime, err = nodesOwnTime(ctx, store, n); err != nil {
		return r, err
	}
	start = time.Now()
	if _, err := sw("ring", "--cluster", "bench"); err != nil {
		return r, err
	}
	r.ring = time.Since(start)
	return r, nil
}

// nodesOwnTime sums, over the cluster's node containers in every swarm
// machine of the store bootstrap used, the time from each node's first log
// line to its CQL listener.
func nodesOwnTime(ctx context.Context, store string, want int) (time.Duration, error) {
	plan, err := hosts.Resolve(hosts.Options{MachineStoragePath: store})
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	found := 0
	for _, m := range plan.Swarm {
		err := func() error {
			e, err := engine.NewDocker(m.Name, m.Host, m.TLS)
			if err != nil {
				return err
			}
			defer e.Close()
			cs, err := e.ContainerList(ctx, engine.Labels{engine.LabelCluster: "bench", engine.LabelRole: engine.RoleCassandra})
			if err != nil {
				return err
			}
			for _, c := range cs {
				logs, err := e.ContainerLogs(ctx, c.ID, 10000)
				if err != nil {
					return err
				}
				d, ok := ownTime(logs)
				if !ok {
					return fmt.Errorf("%s on %s: no start or CQL line in its log", c.Name, m.Name)
				}
				sum += d
				found++
			}
			return nil
		}()
		if err != nil {
			return 0, err
		}
	}
	if found != want {
		return 0, fmt.Errorf("found %d node containers, want %d", found, want)
	}
	return sum, nil
}

// ownTime is the time between a cassim log's first line and its CQL
// listener's line (contract.CQLMarker, as Cassandra logs it).
func ownTime(logs string) (time.Duration, bool) {
	var first, ready time.Time
	sc := bufio.NewScanner(strings.NewReader(logs))
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
		if first.IsZero() {
			first = t
		}
		if strings.Contains(line, contract.CQLMarker) {
			ready = t
		}
	}
	return ready.Sub(first), !first.IsZero() && !ready.IsZero()
}
