package provision

import (
	"fmt"
	"io"
	"strings"

	"github.com/swarmcass/swarmcass/consulstore"
	"text/tabwriter"
)

// Summary prints what the operation changed (or, on a dry run, its plan),
// the nodes and where they run, the time each step took, and what to run
// next.
func (res *Result) Summary(w io.Writer) {
	what := res.Cluster
	if res.Operation != "" && res.Operation != "bootstrap" {
		what += " (" + res.Operation + ")"
	}
	switch {
	case res.DryRun:
		fmt.Fprintf(w, "Cluster %s: dry run, nothing changed. The plan:\n", what)
		for _, line := range res.Plan {
			fmt.Fprintf(w, "  - %s\n", line)
		}
		fmt.Fprintln(w)
	case len(res.Rolled) > 0:
		fmt.Fprintf(w, "Cluster %s: %d nodes, one at a time.\n", what, len(res.Rolled))
		res.rolledTable(w)
	case len(res.Created) == 0 && len(res.Removed) == 0:
		fmt.Fprintf(w, "Cluster %s: nothing to do, everything was in place.\n\n", what)
	default:
		fmt.Fprintf(w, "Cluster %s: created %d things, removed %d.\n", what, len(res.Created), len(res.Removed))
		for _, r := range res.Removed {
			fmt.Fprintf(w, "  removed %s\n", r)
		}
		fmt.Fprintln(w)
	}
	if len(res.Nodes) > 0 {
		res.nodeTable(w)
	}
	if len(res.Nodes) > 0 || len(res.Rolled) == 0 && res.Operation != authEnableOp {
		res.contactPoints(w) // from the nodes this run knows; a rolling operation lists none
	}
	if res.Image != "" {
		fmt.Fprintf(w, "Image %s\n", res.Image)
	}
	fmt.Fprintf(w, "Network %s (%s), seeds %v\n", res.Network, res.Subnet, res.Seeds)
	if a := res.Auth; a.On {
		fmt.Fprintf(w, "Authentication on: superuser %s, system_auth replicated to %d nodes; password in Swarm secret %s and in %s (swarmcass credentials)\n\n",
			dash(a.User), a.Replication, a.Secret, a.File)
	} else if a.Prepared {
		fmt.Fprintf(w, "Authentication prepared, not on: superuser %s, password in Swarm secret %s and in %s (swarmcass credentials); every node still takes any client: swarmcass auth enable --cluster %s turns it on\n\n",
			dash(a.User), a.Secret, a.File, res.Cluster)
	} else if res.Operation == "" || res.Operation == "bootstrap" {
		fmt.Fprintf(w, "Authentication OFF (--auth=false): any client that reaches a CQL port can read, write and drop every keyspace\n\n")
	} else {
		fmt.Fprintln(w)
	}
	if t := res.TLS; t.On {
		fmt.Fprintf(w, "TLS on: internode and client encryption, a certificate per node from the cluster's CA; clients trust %s (Swarm secret %s)\n\n", t.CA, t.CASecret)
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
	for _, warning := range res.Warnings {
		fmt.Fprintf(w, "Warning: %s\n\n", warning)
	}
	fmt.Fprintf(w, "Next: swarmcass ring --cluster %s\n", res.Cluster)
}

// nodeTable lists the nodes: where each runs, its state, CQL contact point
// and host ID, and how long it took to become ready.
func (res *Result) nodeTable(w io.Writer) {
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
	fmt.Fprintln(w)
}

// rolledTable lists the nodes a rolling operation acted on, with how long
// each was down.
func (res *Result) rolledTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tDOWN\tRELEASE\t")
	for _, n := range res.Rolled {
		note := ""
		if n.Undone {
			note = "did not come back: put back as it was"
		}
		fmt.Fprintf(tw, "%s\t%.1fs\t%s\t%s\n", n.Name, n.Down.Seconds(), dash(n.Version), note)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// ContactPoints are the addresses drivers connect to, on the overlay and
// outside the swarm (consulstore.ContactPoints).
func (res *Result) ContactPoints() (overlay, outside []string) {
	nodes := make([]consulstore.Node, len(res.Nodes))
	for i, n := range res.Nodes {
		nodes[i] = n.Node
	}
	return consulstore.ContactPoints(res.Clients, nodes)
}

func (res *Result) contactPoints(w io.Writer) {
	overlay, outside := res.ContactPoints()
	if len(overlay) > 0 {
		fmt.Fprintf(w, "Contact points for drivers on the overlay %s: %s\n", res.Network, strings.Join(overlay, ","))
	}
	switch {
	case len(outside) == 0:
		fmt.Fprintf(w, "No CQL port is published: only drivers on the overlay reach the nodes.\n")
	case res.Clients == ClientsHost:
		fmt.Fprintf(w, "Contact points for drivers outside the swarm: %s\n", strings.Join(outside, ","))
	default:
		fmt.Fprintf(w, "Published CQL ports: %s (the nodes tell drivers their overlay addresses, which a driver outside the swarm cannot reach: bootstrap with --clients host for those)\n", strings.Join(outside, ","))
	}
	fmt.Fprintln(w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
