package provision

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Summary prints the nodes and where they run, the time each step took,
// and what to run next.
func (res *Result) Summary(w io.Writer) {
	if len(res.Created) == 0 {
		fmt.Fprintf(w, "Cluster %s: nothing to do, everything was in place.\n\n", res.Cluster)
	} else {
		fmt.Fprintf(w, "Cluster %s: created %d things.\n\n", res.Cluster, len(res.Created))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHOST\tADDRESS\tSTATE\tCQL\tHOST ID\tREADY IN")
	for _, n := range res.Nodes {
		ready := "-"
		if n.ReadySeconds > 0 {
			ready = fmt.Sprintf("%.1fs", n.ReadySeconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Host, n.Address, n.State, dash(n.CQL), dash(n.HostID), ready)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nImage %s\nNetwork %s (%s), seeds %v\n", res.Image, res.Network, res.Subnet, res.Seeds)
	if a := res.Auth; a.On {
		fmt.Fprintf(w, "Authentication on: superuser %s, system_auth replicated to %d nodes; password in Swarm secret %s and in %s (swarmcass credentials)\n\n",
			dash(a.User), a.Replication, a.Secret, a.File)
	} else {
		fmt.Fprintf(w, "Authentication OFF (--auth=false): any client that reaches a CQL port can read, write and drop every keyspace\n\n")
	}
	total := 0.0
	for _, s := range res.Steps {
		total += s.Seconds
		mark := ""
		if !s.OK {
			mark = "  (failed)"
		}
		fmt.Fprintf(w, "  %-22s %7.1fs%s\n", s.Name, s.Seconds, mark)
	}
	fmt.Fprintf(w, "  %-22s %7.1fs\n\n", "Total", total)
	fmt.Fprintf(w, "Next: swarmcass ring --cluster %s\n", res.Cluster)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
