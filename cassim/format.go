package cassim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// This file prints what Cassandra 4.0, 4.1 and 5.0's nodetool prints
// (tools/nodetool/Status.java, DescribeCluster.java, Info.java and
// formatter/TableBuilder.java of those releases).

// StatusRow is one node's line of `nodetool status`, already as text.
type StatusRow struct {
	Status, State string // "U"/"D"/"?", "N"/"L"/"J"/"M"
	Address       string
	Load          string
	Tokens        string // vnode layout
	Token         string // single-token layout
	Owns          string
	HostID        string
	Rack          string
}

// StatusDC is one datacenter block.
type StatusDC struct {
	Name string
	Rows []StatusRow
}

// StatusTable is everything `nodetool status` prints.
type StatusTable struct {
	DCs []StatusDC // sorted by name, as Cassandra's SortedMap
	// TokenPerNode selects the single-token layout (Token column); Cassandra
	// uses it when the datacenters are at least as many as the tokens.
	TokenPerNode bool
	Effective    bool   // header "Owns (effective)" rather than "Owns"
	Note         string // printed after the tables as "Note: ..."
}

// FormatStatus renders t exactly as nodetool status does: the column widths
// are shared by all datacenter tables, every column is padded to its
// width (the last one too), columns are separated by two spaces.
func FormatStatus(t StatusTable) string {
	owns := "Owns"
	if t.Effective {
		owns = "Owns (effective)"
	}
	header := []string{"--", "Address", "Load", "Tokens", owns, "Host ID", "Rack"}
	if t.TokenPerNode {
		header = []string{"--", "Address", "Load", owns, "Host ID", "Token", "Rack"}
	}
	tables := make([][][]string, len(t.DCs))
	width := make([]int, len(header))
	add := func(i int, row []string) {
		tables[i] = append(tables[i], row)
		for c, s := range row {
			width[c] = max(width[c], len(s))
		}
	}
	for i, dc := range t.DCs {
		add(i, header)
		for _, r := range dc.Rows {
			if t.TokenPerNode {
				add(i, []string{r.Status + r.State, r.Address, r.Load, r.Owns, r.HostID, r.Token, r.Rack})
			} else {
				add(i, []string{r.Status + r.State, r.Address, r.Load, r.Tokens, r.Owns, r.HostID, r.Rack})
			}
		}
	}
	var b strings.Builder
	for i, dc := range t.DCs {
		if i > 0 {
			b.WriteString("\n")
		}
		head := "Datacenter: " + dc.Name
		b.WriteString(head + "\n" + strings.Repeat("=", len(head)) + "\n")
		b.WriteString("Status=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n")
		for _, row := range tables[i] {
			for c, s := range row {
				if c > 0 {
					b.WriteString("  ")
				}
				b.WriteString(s + strings.Repeat(" ", width[c]-len(s)))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	if t.Note != "" {
		b.WriteString("Note: " + t.Note + "\n")
	}
	return b.String()
}

// FormatLoad is FileUtils.stringifyFileSize: binary units, at most two
// decimals (DecimalFormat "#.##", HALF_EVEN), trailing zeros dropped.
func FormatLoad(bytes float64) string {
	units := []struct {
		name string
		size float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if bytes >= u.size {
			return decimal2(bytes/u.size) + " " + u.name
		}
	}
	return decimal2(bytes) + " bytes"
}

// decimal2 is DecimalFormat("#.##"): at most two decimals, half even.
func decimal2(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64) // Go rounds the exact binary value, half even
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// FormatOwns is DecimalFormat("##0.0%") of a Float.
func FormatOwns(f float32) string {
	return strconv.FormatFloat(float64(f)*100, 'f', 1, 64) + "%"
}

// BuildStatus turns a node's view of the ring into the status table.
// printPort is nodetool's -pp.
func BuildStatus(peers []Peer, printPort bool) StatusTable {
	return BuildStatusSchema(peers, printPort, nil)
}

// BuildStatusSchema is BuildStatus on a cluster with the user keyspaces
// of schema, whose replication effective ownership follows (ownership.go).
func BuildStatusSchema(peers []Peer, printPort bool, schema Schema) StatusTable {
	owners := NormalTokenOwners(peers)
	own, effective := schemaOwnership(owners, peers, schema)
	// tokens shown: normal owners plus bootstrapping tokens (getTokenToEndpointMap)
	count := map[string]int{}
	var tokenOrder []int64
	first := map[string]int64{}
	for t, a := range owners {
		count[a]++
		tokenOrder = append(tokenOrder, t)
		if f, ok := first[a]; !ok || t < f {
			first[a] = t
		}
	}
	for _, p := range peers {
		if p.Status != StatusJoining {
			continue
		}
		for _, t := range p.Tokens {
			o, taken := owners[t]
			if taken && (p.Replacing == "" || o != p.Replacing) {
				continue
			}
			// A replacing node's tokens are the old node's: status lists
			// it UJ with them, and the old node still, DN (real 5.0.8).
			if !taken {
				tokenOrder = append(tokenOrder, t)
			}
			count[p.Addr]++
			if f, ok := first[p.Addr]; !ok || t < f {
				first[p.Addr] = t
			}
		}
	}
	byDC := map[string][]Peer{}
	for _, p := range peers {
		if count[p.Addr] > 0 {
			byDC[p.DC] = append(byDC[p.DC], p)
		}
	}
	t := StatusTable{Effective: effective, TokenPerNode: len(byDC) >= len(tokenOrder)}
	if !effective {
		t.Note = MsgOwnershipMeaningless
	}
	names := make([]string, 0, len(byDC))
	for n := range byDC {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ps := byDC[n]
		// inserted in token order (the token map is sorted), then hashed
		sort.Slice(ps, func(i, j int) bool { return first[ps[i].Addr] < first[ps[j].Addr] })
		keys := make([]string, len(ps))
		byKey := map[string]Peer{}
		for i, p := range ps {
			keys[i] = fmt.Sprintf("%s:%d", p.Addr, GossipPort)
			byKey[keys[i]] = p
		}
		dc := StatusDC{Name: n}
		for _, k := range JavaHashOrder(keys) {
			p := byKey[k]
			r := StatusRow{Status: "D", State: "N", Address: p.Addr, Load: FormatLoad(p.Load),
				Tokens: strconv.Itoa(count[p.Addr]), Owns: "?", HostID: p.HostID, Rack: p.Rack,
				Token: strconv.FormatInt(first[p.Addr], 10)}
			if printPort {
				r.Address = k
			}
			if p.Up {
				r.Status = "U"
			}
			switch p.Status {
			case StatusJoining:
				r.State = "J"
			case StatusLeaving:
				r.State = "L"
			}
			if o, ok := own[p.Addr]; ok {
				r.Owns = FormatOwns(o)
			}
			dc.Rows = append(dc.Rows, r)
		}
		t.DCs = append(t.DCs, dc)
	}
	return t
}

// ClusterInfo is everything `nodetool describecluster` prints.
type ClusterInfo struct {
	Name, Snitch, Partitioner string
	DynamicSnitch             bool
	// SchemaVersions: version -> endpoints; the key "UNREACHABLE" lists
	// nodes that did not answer.
	SchemaVersions                              []KeyList
	Live, Joining, Moving, Leaving, Unreachable int
	DataCenters                                 []DCCount
	DatabaseVersions                            []KeyList
	Keyspaces                                   []KeyspaceInfo
	Note                                        string // after the keyspaces, as "Note: ..."
}

// KeyList is one "key: [a, b]" entry.
type KeyList struct {
	Key    string
	Values []string
}

// DCCount is one "dc #Nodes: n #Down: d" line.
type DCCount struct {
	Name        string
	Nodes, Down int
}

// KeyspaceInfo is one "ks -> Replication class: ..." line.
type KeyspaceInfo struct{ Name, Replication string }

// FormatDescribeCluster renders c as nodetool describecluster (4.0+).
func FormatDescribeCluster(c ClusterInfo) string {
	var b strings.Builder
	list := func(v []string) string { return "[" + strings.Join(v, ", ") + "]" }
	dyn := "disabled"
	if c.DynamicSnitch {
		dyn = "enabled"
	}
	fmt.Fprintf(&b, "Cluster Information:\n\tName: %s\n\tSnitch: %s\n\tDynamicEndPointSnitch: %s\n\tPartitioner: %s\n\tSchema versions:\n",
		c.Name, c.Snitch, dyn, c.Partitioner)
	for _, e := range c.SchemaVersions {
		fmt.Fprintf(&b, "\t\t%s: %s\n\n", e.Key, list(e.Values))
	}
	fmt.Fprintf(&b, "Stats for all nodes:\n\tLive: %d\n\tJoining: %d\n\tMoving: %d\n\tLeaving: %d\n\tUnreachable: %d\n",
		c.Live, c.Joining, c.Moving, c.Leaving, c.Unreachable)
	b.WriteString("\nData Centers: \n")
	for _, d := range c.DataCenters {
		fmt.Fprintf(&b, "\t%s #Nodes: %d #Down: %d\n", d.Name, d.Nodes, d.Down)
	}
	b.WriteString("\nDatabase versions:\n")
	for _, e := range c.DatabaseVersions {
		fmt.Fprintf(&b, "\t%s: %s\n\n", e.Key, list(e.Values))
	}
	b.WriteString("Keyspaces:\n")
	for _, k := range c.Keyspaces {
		fmt.Fprintf(&b, "\t%s -> Replication class: %s\n", k.Name, k.Replication)
	}
	if c.Note != "" {
		fmt.Fprintf(&b, "\nNote: %s\n", c.Note)
	}
	return b.String()
}

// SystemKeyspaces are the keyspaces of a fresh 4.x cluster, in the order
// describecluster lists them, with their replication.
var SystemKeyspaces = []KeyspaceInfo{
	{"system_schema", "LocalStrategy {}"},
	{"system", "LocalStrategy {}"},
	{"system_auth", "SimpleStrategy {replication_factor=1}"},
	{"system_distributed", "SimpleStrategy {replication_factor=3}"},
	{"system_traces", "SimpleStrategy {replication_factor=2}"},
}

// BuildClusterInfoSchema turns a node's view into describecluster's
// content, with the user keyspaces of schema in the Keyspaces section, as
// 5.0.8 lists them.
func BuildClusterInfoSchema(clusterName string, peers []Peer, printPort bool, schema Schema) ClusterInfo {
	c := ClusterInfo{Name: clusterName, Snitch: "org.apache.cassandra.locator.GossipingPropertyFileSnitch",
		DynamicSnitch: true, Partitioner: "org.apache.cassandra.dht.Murmur3Partitioner", Keyspaces: SystemKeyspaces}
	if schema != nil {
		c.Keyspaces = schema.KeyspaceList()
		if _, ok := schema.ownershipReplication(); !ok {
			c.Note = MsgOwnershipMeaningless
		}
	}
	var keys []string
	byKey := map[string]Peer{}
	for _, p := range peers {
		k := fmt.Sprintf("%s:%d", p.Addr, GossipPort)
		keys = append(keys, k)
		byKey[k] = p
	}
	keys = JavaHashOrder(keys)
	name := func(k string) string {
		if printPort {
			return k
		}
		return byKey[k].Addr
	}
	schemas := map[string][]string{}
	var schemaOrder []string
	releases := map[string][]string{}
	var releaseOrder []string
	var unreachable []string
	dcs := map[string]*DCCount{}
	for _, k := range keys {
		p := byKey[k]
		if dcs[p.DC] == nil {
			dcs[p.DC] = &DCCount{Name: p.DC}
		}
		dcs[p.DC].Nodes++
		if !p.Up {
			c.Unreachable++
			dcs[p.DC].Down++
			unreachable = append(unreachable, name(k))
		} else {
			c.Live++
			if _, ok := schemas[p.Schema]; !ok {
				schemaOrder = append(schemaOrder, p.Schema)
			}
			schemas[p.Schema] = append(schemas[p.Schema], name(k))
		}
		switch p.Status {
		case StatusJoining:
			c.Joining++
		case StatusLeaving:
			c.Leaving++
		}
		if _, ok := releases[p.Release]; !ok {
			releaseOrder = append(releaseOrder, p.Release)
		}
		releases[p.Release] = append(releases[p.Release], k)
	}
	for _, s := range schemaOrder {
		c.SchemaVersions = append(c.SchemaVersions, KeyList{s, schemas[s]})
	}
	if len(unreachable) > 0 {
		c.SchemaVersions = append(c.SchemaVersions, KeyList{"UNREACHABLE", unreachable})
	}
	for _, r := range releaseOrder {
		c.DatabaseVersions = append(c.DatabaseVersions, KeyList{r, releases[r]})
	}
	names := make([]string, 0, len(dcs))
	for n := range dcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.DataCenters = append(c.DataCenters, *dcs[n])
	}
	return c
}

// NodeInfo is what `nodetool info` prints.
type NodeInfo struct {
	ID                 string
	Gossip, Native     bool
	Load               float64
	Generation         int64
	UptimeSeconds      int64
	HeapUsedMB, HeapMB float64
	DC, Rack           string
	Tokens             int
	// BootstrapState is system.local's bootstrapped: COMPLETED,
	// IN_PROGRESS, NEEDS_BOOTSTRAP or DECOMMISSIONED.
	BootstrapState               string
	Decommissioning, DecomFailed bool
	// TokenList are the node's tokens; ShowTokens is nodetool info -T.
	TokenList  []int64
	ShowTokens bool
}

// FormatInfo renders i as nodetool info (4.0+), with the lines cassim has
// values for.
func FormatInfo(i NodeInfo) string {
	var b strings.Builder
	line := func(k string, v any) { fmt.Fprintf(&b, "%-23s: %v\n", k, v) }
	line("ID", i.ID)
	line("Gossip active", i.Gossip)
	line("Native Transport active", i.Native)
	line("Load", FormatLoad(i.Load))
	line("Generation No", i.Generation)
	line("Uptime (seconds)", i.UptimeSeconds)
	line("Heap Memory (MB)", fmt.Sprintf("%.2f / %.2f", i.HeapUsedMB, i.HeapMB))
	line("Off Heap Memory (MB)", "0.00")
	line("Data Center", i.DC)
	line("Rack", i.Rack)
	line("Exceptions", 0)
	line("Percent Repaired", "100.0%")
	// Cassandra's Info: every token with -T, or the one of a single-token node.
	switch {
	case i.BootstrapState == "DECOMMISSIONED" || i.Tokens == 0:
		line("Token", "(node is not joined to the cluster)")
	case i.ShowTokens || len(i.TokenList) == 1:
		for _, t := range i.TokenList {
			line("Token", t)
		}
	default:
		line("Token", fmt.Sprintf("(invoke with -T/--tokens to see all %d tokens)", i.Tokens))
	}
	if i.BootstrapState == "" {
		i.BootstrapState = "COMPLETED"
	}
	line("Bootstrap state", i.BootstrapState)
	line("Bootstrap failed", false)
	line("Decommissioning", i.Decommissioning)
	line("Decommission failed", i.DecomFailed)
	return b.String()
}
