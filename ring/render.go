package ring

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as a table, the problems, and a one-line verdict.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHOST\tADDRESS\tDC\tSTATUS\tLOAD\tOWNS\tTOKENS\tHOST ID\tRACK\tAGREE")
	for _, row := range r.Rows {
		name := row.Node
		if row.Unexpected {
			name = "(unexpected)"
		}
		load, owns, tokens, agree := "?", "?", "?", "-"
		if row.LoadKnown {
			load = HumanBytes(row.Load)
		}
		if row.OwnsKnown {
			owns = strconv.FormatFloat(row.Owns, 'f', 1, 64) + "%"
		}
		if row.Source != "" {
			tokens = strconv.Itoa(row.Tokens)
			agree = fmt.Sprintf("%d/%d", row.Agree, row.Views)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			name, dash(row.SwarmHost), dash(row.Address), dash(row.Datacenter), dash(row.Code),
			load, owns, tokens, dash(row.HostID), dash(row.Rack), agree)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "\nProblems:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p.Text)
			if p.Hint != "" {
				fmt.Fprintf(w, "    hint: %s\n", p.Hint)
			}
		}
	}
	_, err := fmt.Fprintln(w, "\n"+r.Summary())
	return err
}

// Summary is the one-line verdict.
func (r Report) Summary() string {
	views := fmt.Sprintf("%d of %d views answered", r.ViewsAnswered, r.ViewsTotal)
	switch r.Verdict {
	case Healthy:
		return fmt.Sprintf("Ring %s is healthy: %d nodes up and normal in every view (%s).", r.Cluster, len(r.Rows), views)
	case Degraded:
		return fmt.Sprintf("Ring %s is DEGRADED: %s (%s).", r.Cluster, plural(len(r.Problems), "problem"), views)
	default:
		why := "health cannot be judged"
		if len(r.Problems) > 0 {
			why = r.Problems[len(r.Problems)-1].Text
		}
		return fmt.Sprintf("Ring %s is UNKNOWN: %s.", r.Cluster, why)
	}
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// HumanBytes prints a byte count the way nodetool does: 1023 bytes, 104.33 KiB.
func HumanBytes(b int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	if b < 1024 {
		return strconv.FormatInt(b, 10) + " bytes"
	}
	v := float64(b)
	unit := ""
	for _, u := range units {
		if v < 1024 && unit != "" {
			break
		}
		v /= 1024
		unit = u
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + " " + unit
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
