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
	fmt.Fprintf(w, "\nImage %s\nNetwork %s (%s), seeds %v\n\n", res.Image, res.Network, res.Subnet, res.Seeds)
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
	for _, warning := range res.Warnings {
		fmt.Fprintf(w, "Warning: %s\n\n", warning)
	}
	fmt.Fprintf(w, "Next: swarmcass ring --cluster %s\n", res.Cluster)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
