// Package nodetooltest prints what nodetool prints, for the fakes of unit
// tests: `nodetool status` rows in any state (UN, UJ, UL, UM, DN, ...),
// `nodetool describecluster`, and the failure to connect of a node whose
// daemon is not up; and Ring, the one fake ring of unit tests, which
// renders every view and answer of a node's container, whether a test moves
// its nodes through those states or a harness's simulation does.
package nodetooltest

import (
	"fmt"
	"strings"
)

// Row is one line of `nodetool status`.
type Row struct {
	Code    string // UN, UJ, UL, UM, DN, DJ, ...
	Address string
	HostID  string
	Load    string // "104.38 KiB" when empty
	Owns    string // "33.3%" when empty for a normal node, else "?"
}

// Status prints rows the way nodetool 4.x does, in one datacenter.
func Status(rows []Row) string {
	var b strings.Builder
	b.WriteString("Datacenter: datacenter1\n=======================\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n")
	b.WriteString("--  Address    Load        Tokens  Owns (effective)  Host ID                               Rack \n")
	for _, r := range rows {
		load, owns := r.Load, r.Owns
		if load == "" {
			load = "104.38 KiB"
		}
		if owns == "" {
			owns = "?"
			if strings.HasSuffix(r.Code, "N") {
				owns = "33.3%"
			}
		}
		fmt.Fprintf(&b, "%s  %-9s  %-10s  %-6d  %-16s  %-36s  rack1\n", r.Code, r.Address, load, 16, owns, r.HostID)
	}
	return b.String()
}

// DescribeCluster prints `nodetool describecluster` of cluster with one
// schema version that endpoints agree on.
func DescribeCluster(cluster, schema string, endpoints []string) string {
	return "Cluster Information:\n\tName: " + cluster + "\n\tSnitch: org.apache.cassandra.locator.SimpleSnitch\n\tDynamicEndPointSnitch: enabled\n" +
		"\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\tSchema versions:\n\t\t" + schema + ": [" + strings.Join(endpoints, ", ") + "]\n\n"
}

// ConnectRefused is what nodetool prints on stderr (exit code 1) when the
// node's daemon does not accept JMX connections: starting, or stopped.
const ConnectRefused = "nodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused (Connection refused)'.\n"

// HostID makes a stable UUID-shaped host ID from any string.
func HostID(s string) string {
	h := fmt.Sprintf("%032x", []byte(s))
	h = (h + strings.Repeat("0", 32))[:32]
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
