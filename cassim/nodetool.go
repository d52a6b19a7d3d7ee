package cassim

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The daemon answers nodetool on 127.0.0.1:7199 (JMX's port) over plain
// HTTP: GET /nodetool/<command>?pp=1 returns the command's output; a
// failure comes back as status 500 with the message as the body.

func (n *Node) serveAdmin(l net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/nodetool/{cmd}", func(w http.ResponseWriter, r *http.Request) {
		var out string
		var err error
		if cmd := r.PathValue("cmd"); cmd == "repair" { // repair.go
			out, err = n.repair(r.URL.Query()["arg"])
		} else {
			out, err = n.nodetool(r.Context(), cmd, r.URL.Query().Get("pp") == "1")
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	n.mu.Lock()
	n.adminSrv = srv
	n.mu.Unlock()
	_ = srv.Serve(l)
}

func (n *Node) nodetool(ctx context.Context, cmd string, pp bool) (string, error) {
	n.mu.Lock()
	peers := n.view.Peers()
	id, mode, gossip, cql := n.id, n.mode, n.gossiping, n.cqlLn != nil
	gen := n.view.LocalState().Generation
	n.mu.Unlock()
	switch cmd {
	case "status":
		return FormatStatus(BuildStatus(peers, pp)), nil
	case "describecluster":
		return FormatDescribeCluster(BuildClusterInfo(n.cfg.ClusterName, peers, pp)), nil
	case "version":
		return "ReleaseVersion: " + n.cfg.ReleaseVersion + "\n", nil
	case "info":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return FormatInfo(NodeInfo{ID: id.HostID, Gossip: gossip, Native: cql, Load: id.Load, Generation: gen,
			UptimeSeconds: int64(time.Since(n.started).Seconds()), HeapUsedMB: float64(ms.HeapAlloc) / (1 << 20),
			HeapMB: float64(ms.HeapSys) / (1 << 20), DC: n.cfg.DC, Rack: n.cfg.Rack, Tokens: len(id.Tokens)}), nil
	case "netstats":
		return "Mode: " + mode + "\nNot sending any streams.\n", nil
	case "drain":
		n.Drain()
		return "", nil
	case "decommission":
		if err := n.Decommission(ctx); err != nil {
			return "", err
		}
		// end the node once nodetool has its answer
		go func() { time.Sleep(200 * time.Millisecond); n.done <- nil }()
		return "", nil
	}
	return "", fmt.Errorf("cassim does not implement nodetool %s", cmd)
}

// NodetoolMain is the nodetool command line: nodetool [-h HOST] [-p PORT]
// [-pp] COMMAND. It returns the exit status.
func NodetoolMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	host, port, pp := "127.0.0.1", strconv.Itoa(NodetoolPort), false
	var cmd string
	var rest []string // the command's own arguments
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "-h" || a == "--host" || a == "-p" || a == "--port") && i+1 < len(args):
			if a == "-h" || a == "--host" {
				host = args[i+1]
			} else {
				port = args[i+1]
			}
			i++
		case a == "-pp" || a == "--print-port":
			pp = true
		case a == "help" || a == "--help" || a == "-?":
			fmt.Fprint(stdout, nodetoolUsage)
			return 0
		case strings.HasPrefix(a, "-"):
			// other options (credentials, -r) have no effect here
		case cmd == "":
			cmd = a
		default:
			rest = append(rest, a)
		}
	}
	if cmd == "" {
		fmt.Fprint(stderr, nodetoolUsage)
		return 1
	}
	hp := net.JoinHostPort(host, port)
	u := url.URL{Scheme: "http", Host: hp, Path: "/nodetool/" + cmd}
	q := url.Values{}
	if pp {
		q.Set("pp", "1")
	}
	for _, a := range rest {
		q.Add("arg", a)
	}
	u.RawQuery = q.Encode()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	// One connection per invocation, as nodetool opens one JMX connection.
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		// Cassandra's nodetool on a refused JMX connection.
		fmt.Fprintf(stderr, "nodetool: Failed to connect to '%s:%s' - ConnectException: 'Connection refused (Connection refused)'.\n", host, port)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "error: %s\n-- StackTrace --\n(cassim has none)\n", strings.TrimSpace(string(body)))
		return 2
	}
	stdout.Write(body)
	return 0
}

const nodetoolUsage = `usage: nodetool [(-h <host> | --host <host>)] [(-p <port> | --port <port>)] [(-pp | --print-port)] <command>

cassim's nodetool: a stand-in for tests and labs, NOT Apache Cassandra's.
Commands it implements: status, describecluster, info, version, netstats, drain, decommission,
repair [--full] KEYSPACE.
`
