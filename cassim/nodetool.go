package cassim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The daemon answers nodetool on 127.0.0.1:7199 (JMX's port) over plain
// HTTP: GET /nodetool/<command>?pp=1&a=ARG... returns the command's output;
// a failure comes back as status 500 with the message as the body, an
// unsupported operation (a refusal nodetool prints on stdout and exits 1
// for) as status 400.

func (n *Node) serveAdmin(l net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/nodetool/{cmd}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n.mu.Lock()
		ctx := n.runCtx
		n.mu.Unlock()
		if ctx == nil {
			ctx = r.Context()
		}
		var out string
		var err error
		if cmd := r.PathValue("cmd"); cmd == "repair" { // repair.go
			out, err = n.repair(q["a"])
		} else {
			out, err = n.nodetool(ctx, cmd, q["a"], q.Get("pp") == "1")
		}
		var uo *unsupportedOp
		switch {
		case errors.As(err, &uo):
			http.Error(w, "Unsupported operation: "+uo.msg, http.StatusBadRequest)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			io.WriteString(w, out)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	n.mu.Lock()
	n.adminSrv = srv
	n.mu.Unlock()
	_ = srv.Serve(l)
}

// errExecutorTerminated is what a drained or decommissioned 5.0.8 node
// answers to a describecluster (its messaging service is shut down).
var errExecutorTerminated = errors.New("event executor terminated")

func (n *Node) nodetool(ctx context.Context, cmd string, args []string, pp bool) (string, error) {
	n.mu.Lock()
	peers := n.view.Peers()
	id, mode, gossip, cql := n.id, n.mode, n.gossiping, n.cqlLn != nil
	gen := n.view.LocalState().Generation
	schema := Schema{}
	schema.Merge(n.schema.All())
	n.mu.Unlock()
	running := func(b bool) string {
		if b {
			return "running\n"
		}
		return "not running\n"
	}
	switch cmd {
	case "status":
		return FormatStatus(BuildStatusSchema(peers, pp, schema)), nil
	case "describecluster":
		if mode == "DRAINED" || mode == "DECOMMISSIONED" {
			return "", errExecutorTerminated
		}
		return FormatDescribeCluster(BuildClusterInfoSchema(n.cfg.ClusterName, peers, pp, schema)), nil
	case "version":
		return "ReleaseVersion: " + n.cfg.ReleaseVersion + "\n", nil
	case "statusgossip":
		return running(gossip), nil
	case "statusbinary":
		return running(cql), nil
	case "info":
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		state := "COMPLETED"
		switch {
		case id.Decommissioned:
			state = "DECOMMISSIONED"
		case id.BootstrapInProgress:
			state = "IN_PROGRESS"
		case !id.Bootstrapped:
			state = "NEEDS_BOOTSTRAP"
		}
		if !gossip {
			gen = 0 // Gossiper.getCurrentGenerationNumber of a stopped gossiper
		}
		tokens := len(id.Tokens)
		return FormatInfo(NodeInfo{ID: id.HostID, Gossip: gossip, Native: cql, Load: id.Load, Generation: gen,
			UptimeSeconds: int64(time.Since(n.started).Seconds()), HeapUsedMB: float64(ms.HeapAlloc) / (1 << 20),
			HeapMB: float64(ms.HeapSys) / (1 << 20), DC: n.cfg.DC, Rack: n.cfg.Rack, Tokens: tokens, TokenList: id.Tokens,
			ShowTokens:     slices.Contains(args, "-T") || slices.Contains(args, "--tokens"),
			BootstrapState: state, Decommissioning: mode == "LEAVING", DecomFailed: mode == "DECOMMISSION_FAILED"}), nil
	case "netstats":
		return "Mode: " + mode + "\nNot sending any streams.\n", nil
	case "drain":
		n.Drain(ctx)
		return "", nil
	case "decommission":
		force := false
		for _, a := range args {
			force = force || a == "--force" || a == "-f"
		}
		return n.Decommission(ctx, force)
	}
	return "", fmt.Errorf("cassim does not implement nodetool %s", cmd)
}

// NodetoolMain is the nodetool command line: nodetool [-h HOST] [-p PORT]
// [-pp] [-u USER -pw PASSWORD] COMMAND [ARGS]. It returns the exit status.
func NodetoolMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	host, port, pp, tokens := "127.0.0.1", strconv.Itoa(NodetoolPort), false, false
	var cmd string
	var cmdArgs []string
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
		case a == "-T" || a == "--tokens":
			tokens = true
		case a == "help" || a == "--help" || a == "-?":
			fmt.Fprint(stdout, nodetoolUsage)
			return 0
		case (a == "-u" || a == "--username" || a == "-pw" || a == "--password" || a == "-pwf" || a == "--password-file") && i+1 < len(args):
			i++ // credentials: JMX has no authentication here
		case cmd != "":
			cmdArgs = append(cmdArgs, a)
		case strings.HasPrefix(a, "-"):
			// other global options have no effect here
		default:
			cmd = a
		}
	}
	if cmd == "" {
		fmt.Fprint(stderr, nodetoolUsage)
		return 1
	}
	hp := net.JoinHostPort(host, port)
	q := url.Values{}
	if pp {
		q.Set("pp", "1")
	}
	for _, a := range cmdArgs {
		q.Add("a", a)
	}
	if tokens && cmd == "info" {
		q.Add("a", "-T")
	}
	u := url.URL{Scheme: "http", Host: hp, Path: "/nodetool/" + cmd, RawQuery: q.Encode()}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	// One connection per invocation, as nodetool opens one JMX connection;
	// decommission blocks until the node has left, as Cassandra's does.
	client := &http.Client{Timeout: time.Hour, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		// Cassandra's nodetool on a refused JMX connection.
		fmt.Fprintf(stderr, "nodetool: Failed to connect to '%s:%s' - ConnectException: 'Connection refused (Connection refused)'.\n", host, port)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		stdout.Write(body)
		return 0
	case http.StatusBadRequest:
		// NodeTool.badUse
		fmt.Fprintf(stdout, "nodetool: %s\nSee 'nodetool help' or 'nodetool help <command>'.\n", strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(stderr, "error: %s\n-- StackTrace --\n(cassim has none)\n", strings.TrimSpace(string(body)))
	return 2
}

const nodetoolUsage = `usage: nodetool [(-h <host> | --host <host>)] [(-p <port> | --port <port>)] [(-pp | --print-port)] <command>

cassim's nodetool: a stand-in for tests and labs, NOT Apache Cassandra's.
Commands it implements: status, describecluster, info [-T], version, netstats, statusgossip,
statusbinary, drain, decommission [--force], repair [--full] KEYSPACE.
`
