// Package ring judges a Cassandra ring's health from every node's point of
// view: what each node's `nodetool status` and `describecluster` say, what
// the Consul record expects, and what Consul's checks report. It does no I/O:
// callers gather the views, Judge weighs them, and Report renders the result.
package ring

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
)

// Verdict is the ring's health in one word.
type Verdict string

const (
	// Healthy: every expected node is UN in every view and nothing is amiss.
	Healthy Verdict = "healthy"
	// Degraded: the ring can be judged and something is wrong.
	Degraded Verdict = "degraded"
	// Unknown: health cannot be judged (no such cluster, no node answered).
	Unknown Verdict = "unknown"
)

// ExitCode is the process exit code for the verdict: 0, 1 or 2.
func (v Verdict) ExitCode() int {
	switch v {
	case Healthy:
		return 0
	case Degraded:
		return 1
	default:
		return 2
	}
}

// ExpectedNode is a node the cluster should have (from labels and the Consul record).
type ExpectedNode struct {
	Name      string `json:"name"`      // cass1
	SwarmHost string `json:"swarmHost"` // the swarm node it runs on
	Address   string `json:"address"`   // overlay address; "" when unknown
	// HostID is the host ID the Consul record holds; "" when not known.
	HostID string `json:"hostID,omitempty"`
}

// Unavailable says why a node's view could not be had.
type Unavailable string

const (
	ContainerGone     Unavailable = "container gone"
	EngineUnreachable Unavailable = "engine unreachable"
	// DaemonStarting: nodetool could not connect (JMX not up yet, or no more).
	DaemonStarting Unavailable = "nodetool cannot connect (daemon starting or stopped)"
	NodetoolFailed Unavailable = "nodetool failed"
)

// View is one node's view of the ring.
type View struct {
	Node   string           // the expected node whose container answered
	Status *nodetool.Status // nil when the view could not be had
	// Describe is nil when describecluster failed; DescribeErr says why.
	Describe    *nodetool.DescribeCluster
	DescribeErr error
	// Unavailable and Err say why Status is nil.
	Unavailable Unavailable
	Err         error
}

// Check is one Consul health check.
type Check struct {
	Node   string // the expected node it belongs to
	Name   string
	Status string // passing, warning, critical
	Output string
}

// Input is everything Judge weighs.
type Input struct {
	Cluster  string
	Expected []ExpectedNode
	Views    []View
	// Checks are the Consul checks of the nodes; ChecksKnown is false when
	// Consul could not be asked (then checks are not judged).
	Checks      []Check
	ChecksKnown bool
}

// Row is one node in the report.
type Row struct {
	Node       string `json:"node"` // "" for a node no record expects
	SwarmHost  string `json:"swarmHost,omitempty"`
	Address    string `json:"address"`
	Datacenter string `json:"datacenter,omitempty"`
	// Code is the two letters nodetool prints (UN, DN, UJ, ...), "" when no
	// view shows the node.
	Code       string  `json:"status"`
	Load       int64   `json:"loadBytes"`
	LoadKnown  bool    `json:"loadKnown"`
	Owns       float64 `json:"ownsPercent"`
	OwnsKnown  bool    `json:"ownsKnown"`
	Tokens     int     `json:"tokens"`
	HostID     string  `json:"hostID,omitempty"`
	Rack       string  `json:"rack,omitempty"`
	Source     string  `json:"source,omitempty"` // whose view the facts come from
	Agree      int     `json:"agree"`            // views that show the node as Source does
	Views      int     `json:"views"`            // views that answered
	Unexpected bool    `json:"unexpected,omitempty"`
}

// Problem is one thing wrong, in plain words that name the nodes.
type Problem struct {
	Kind string `json:"kind"`
	Node string `json:"node,omitempty"` // the node it is about, when one
	Text string `json:"text"`
	// Hint says what to do about it, when something can be said.
	Hint string `json:"hint,omitempty"`
}

// Problem kinds.
const (
	KindNoView           = "no-view"
	KindDescribeFailed   = "describecluster-failed"
	KindMissing          = "missing"
	KindUnexpected       = "unexpected-node"
	KindNotUN            = "not-up-normal"
	KindDuplicateHostID  = "duplicate-host-id"
	KindHostIDMismatch   = "host-id-mismatch"
	KindDisagree         = "views-disagree"
	KindSchema           = "schema-disagreement"
	KindUnreachable      = "unreachable"
	KindClusterName      = "cluster-name"
	KindCheckFailing     = "consul-check"
	KindNoAddress        = "no-address"
	KindNoClusterOrNodes = "no-nodes"
	KindNoAnswer         = "no-answer"
	// KindPartition: nodes up in their own views that are missing or down
	// in each other's: they cannot reach each other.
	KindPartition = "partition"
)

// Report is the judgement.
type Report struct {
	Cluster       string    `json:"cluster"`
	Verdict       Verdict   `json:"verdict"`
	ExitCode      int       `json:"exitCode"`
	Rows          []Row     `json:"nodes"`
	Problems      []Problem `json:"problems"`
	ViewsAnswered int       `json:"viewsAnswered"`
	ViewsTotal    int       `json:"viewsTotal"`
	// SchemaVersions maps each schema version seen to the endpoints holding it.
	SchemaVersions map[string][]string `json:"schemaVersions,omitempty"`
}

// Judge weighs the views and returns the report.
func Judge(in Input) Report {
	j := &judge{in: in, grouped: map[groupKey][]string{}}
	return j.run()
}

type judge struct {
	in       Input
	answered []View
	problems []Problem
	// grouped collects "subject is X in the views of A, B" problems.
	grouped map[groupKey][]string
	order   []groupKey
}

type groupKey struct{ kind, node, text string }

func (j *judge) add(kind, node, format string, args ...any) {
	j.problems = append(j.problems, Problem{Kind: kind, Node: node, Text: fmt.Sprintf(format, args...)})
}

// addSeen records that viewer's view shows a problem about node; the texts
// are joined into one problem naming every viewer.
func (j *judge) addSeen(kind, node, text, viewer string) {
	k := groupKey{kind, node, text}
	if _, ok := j.grouped[k]; !ok {
		j.order = append(j.order, k)
	}
	j.grouped[k] = append(j.grouped[k], viewer)
}

func (j *judge) flushSeen() {
	for _, k := range j.order {
		viewers := j.grouped[k]
		in := "in " + viewers[0] + "'s view"
		if len(viewers) > 1 {
			in = "in the views of " + strings.Join(viewers, ", ")
		}
		j.problems = append(j.problems, Problem{Kind: k.kind, Node: k.node, Text: k.text + " " + in})
	}
}

func (j *judge) run() Report {
	in := j.in
	r := Report{Cluster: in.Cluster, ViewsTotal: len(in.Views)}
	for _, v := range in.Views {
		if v.Status != nil {
			j.answered = append(j.answered, v)
		}
	}
	r.ViewsAnswered = len(j.answered)

	if len(in.Expected) == 0 {
		j.add(KindNoClusterOrNodes, "", "no nodes found for cluster %q", in.Cluster)
		return j.finish(r, Unknown)
	}
	for _, e := range in.Expected {
		if e.Address == "" {
			j.add(KindNoAddress, e.Name, "%s has no known address, so views cannot be matched to it", e.Name)
		}
	}
	j.unavailable()
	if len(j.answered) == 0 {
		j.add(KindNoAnswer, "", "no node answered, so the ring's health cannot be judged")
		r.Rows = j.rows()
		return j.finish(r, Unknown)
	}
	j.membership()
	j.hostIDs()
	r.SchemaVersions = j.schema()
	j.checks()
	r.Rows = j.rows()
	j.flushSeen()
	j.partition()
	if len(j.problems) > 0 {
		return j.finish(r, Degraded)
	}
	return j.finish(r, Healthy)
}

func (j *judge) finish(r Report, v Verdict) Report {
	r.Verdict, r.ExitCode = v, v.ExitCode()
	r.Problems = j.problems
	if r.Problems == nil {
		r.Problems = []Problem{}
	}
	return r
}

// unavailable names the nodes whose view could not be had.
func (j *judge) unavailable() {
	seen := map[string]bool{}
	for _, v := range j.in.Views {
		seen[v.Node] = true
		switch {
		case v.Status == nil:
			why := string(v.Unavailable)
			if why == "" {
				why = "no answer"
			}
			if v.Err != nil {
				why += ": " + v.Err.Error()
			}
			j.add(KindNoView, v.Node, "no view from %s: %s", v.Node, why)
		case v.Describe == nil:
			why := "no output"
			if v.DescribeErr != nil {
				why = v.DescribeErr.Error()
			}
			j.add(KindDescribeFailed, v.Node, "describecluster on %s failed, so its schema version is unknown: %s", v.Node, why)
		}
	}
	for _, e := range j.in.Expected {
		if !seen[e.Name] {
			j.add(KindNoView, e.Name, "no view from %s: it was not asked", e.Name)
		}
	}
}

// expectedFor finds the expected node with n's address (the last, should
// two share it).
func (j *judge) expectedFor(n nodetool.Node) (ExpectedNode, bool) {
	for _, e := range slices.Backward(j.in.Expected) {
		if e.Address != "" && nodetool.SameHost(e.Address, n.Address) {
			return e, true
		}
	}
	return ExpectedNode{}, false
}

// membership: every expected node in every view, UN; no unexpected nodes.
func (j *judge) membership() {
	for _, v := range j.answered {
		for _, e := range j.in.Expected {
			if e.Address == "" {
				continue
			}
			n, ok := v.Status.Node(e.Address)
			switch {
			case !ok:
				j.addSeen(KindMissing, e.Name, e.Name+" ("+e.Address+") is missing", v.Node)
			case !n.UN():
				j.addSeen(KindNotUN, e.Name, fmt.Sprintf("%s is %s (%s)", e.Name, nodetool.Words(n.Status, n.State), n.Code()), v.Node)
			}
		}
		for _, n := range v.Status.Nodes() {
			if _, ok := j.expectedFor(n); !ok {
				j.addSeen(KindUnexpected, "", fmt.Sprintf("unexpected node %s (%s, host ID %s) is listed", n.Address, n.Code(), orNone(n.HostID)), v.Node)
			}
		}
	}
}

// partition explains views that only a network partition explains: nodes
// that are up in their own views and missing or down in each other's. The
// nodes up in their own views fall into groups, two nodes together when
// either sees the other up; more than one group means that some nodes
// cannot reach the others (a ring split in two, or a ring whose network
// broke), whatever else the views say.
func (j *judge) partition() {
	var up []View
	for _, v := range j.answered {
		e, ok := j.expected(v.Node)
		if !ok || e.Address == "" {
			continue
		}
		if n, ok := v.Status.Node(e.Address); ok && n.UN() {
			up = append(up, v)
		}
	}
	group := make([]int, len(up))
	for i := range group {
		group[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if group[i] != i {
			group[i] = find(group[i])
		}
		return group[i]
	}
	for a := range up {
		for b := range up {
			if a != b && j.seesUp(up[a], up[b].Node) {
				group[find(a)] = find(b)
			}
		}
	}
	byGroup := map[int][]string{}
	var order []int
	hosts := map[string]bool{}
	var hostList []string
	for i, v := range up {
		g := find(i)
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], v.Node)
	}
	if len(order) < 2 {
		return
	}
	var parts []string
	for _, g := range order {
		parts = append(parts, strings.Join(byGroup[g], ", "))
		for _, n := range byGroup[g] {
			if e, _ := j.expected(n); e.SwarmHost != "" && !hosts[e.SwarmHost] {
				hosts[e.SwarmHost] = true
				hostList = append(hostList, e.SwarmHost)
			}
		}
	}
	text := fmt.Sprintf("%s cannot reach each other: each is up in its own view and missing or down in the others' views, which only a network partition explains", strings.Join(parts, " and "))
	if len(order) > 2 || len(byGroup[order[0]]) > 1 || len(byGroup[order[1]]) > 1 {
		text = fmt.Sprintf("the nodes fall into %d groups that cannot reach each other (%s): each node is up in its own view and missing or down in the other groups' views, which only a network partition explains",
			len(order), strings.Join(parts, " | "))
	}
	between := "the swarm hosts"
	if len(hostList) > 1 {
		between += " (" + strings.Join(hostList, ", ") + ")"
	}
	j.problems = append(j.problems, Problem{Kind: KindPartition, Text: text,
		Hint: "the overlay network between " + between + " does not carry their traffic: open what Swarm's overlay needs, " +
			engine.OverlayNeeds(false) + ", and IP protocol 50 (ESP) if the overlay is encrypted"})
}

// seesUp reports whether v lists node (an expected node) as up.
func (j *judge) seesUp(v View, node string) bool {
	e, ok := j.expected(node)
	if !ok || e.Address == "" {
		return false
	}
	n, ok := v.Status.Node(e.Address)
	return ok && n.Status == nodetool.Up
}

// expected is the expected node named name.
func (j *judge) expected(name string) (ExpectedNode, bool) {
	for _, e := range j.in.Expected {
		if e.Name == name {
			return e, true
		}
	}
	return ExpectedNode{}, false
}

// hostIDs: unique within each view, equal to the record, equal across views.
func (j *judge) hostIDs() {
	for _, v := range j.answered {
		owners := map[string][]string{}
		for _, n := range v.Status.Nodes() {
			if n.HostID != "" {
				owners[n.HostID] = append(owners[n.HostID], j.nameOf(n))
			}
		}
		for _, id := range slices.Sorted(maps.Keys(owners)) {
			if len(owners[id]) > 1 {
				j.addSeen(KindDuplicateHostID, "", fmt.Sprintf("host ID %s is shared by %s", id, strings.Join(owners[id], " and ")), v.Node)
			}
		}
	}
	for _, e := range j.in.Expected {
		if e.Address == "" {
			continue
		}
		type fact struct{ hostID, dc, rack string }
		facts := map[fact][]string{}
		var order []fact
		for _, v := range j.answered {
			n, ok := v.Status.Node(e.Address)
			if !ok {
				continue
			}
			if e.HostID != "" && n.HostID != "" && !strings.EqualFold(n.HostID, e.HostID) {
				j.addSeen(KindHostIDMismatch, e.Name, fmt.Sprintf("%s has host ID %s where the record says %s", e.Name, n.HostID, e.HostID), v.Node)
			}
			f := fact{n.HostID, n.Datacenter, n.Rack}
			if _, ok := facts[f]; !ok {
				order = append(order, f)
			}
			facts[f] = append(facts[f], v.Node)
		}
		if len(order) > 1 {
			var parts []string
			for _, f := range order {
				parts = append(parts, fmt.Sprintf("%s see host ID %s in %s/%s", strings.Join(facts[f], ", "), orNone(f.hostID), f.dc, f.rack))
			}
			j.add(KindDisagree, e.Name, "views disagree on %s: %s", e.Name, strings.Join(parts, "; "))
		}
	}
}

// schema: one schema version across the cluster, nothing unreachable, one cluster name.
func (j *judge) schema() map[string][]string {
	versions := map[string][]string{}
	names := map[string][]string{}
	for _, v := range j.answered {
		d := v.Describe
		if d == nil {
			continue
		}
		names[d.Name] = append(names[d.Name], v.Node)
		for _, sv := range d.SchemaVersions {
			for _, ep := range sv.Endpoints {
				versions[sv.Version] = appendNew(versions[sv.Version], j.nameOfEndpoint(ep))
			}
			if len(sv.Endpoints) == 0 {
				versions[sv.Version] = appendNew(versions[sv.Version], "?")
			}
		}
		if len(d.Unreachable) > 0 {
			var who []string
			for _, ep := range d.Unreachable {
				who = append(who, j.nameOfEndpoint(ep))
			}
			j.addSeen(KindUnreachable, "", "schema agreement cannot reach "+strings.Join(who, ", "), v.Node)
		}
	}
	if len(versions) > 1 {
		var parts []string
		for _, ver := range slices.Sorted(maps.Keys(versions)) {
			parts = append(parts, fmt.Sprintf("%s on %s", ver, strings.Join(versions[ver], ", ")))
		}
		j.add(KindSchema, "", "%d schema versions: %s", len(versions), strings.Join(parts, "; "))
	}
	if len(names) > 1 {
		var parts []string
		for _, n := range slices.Sorted(maps.Keys(names)) {
			parts = append(parts, fmt.Sprintf("%q on %s", n, strings.Join(names[n], ", ")))
		}
		j.add(KindClusterName, "", "nodes report different cluster names: %s", strings.Join(parts, "; "))
	}
	if len(versions) == 0 {
		return nil
	}
	return versions
}

func (j *judge) checks() {
	if !j.in.ChecksKnown {
		return
	}
	for _, c := range j.in.Checks {
		if c.Status == "passing" {
			continue
		}
		text := fmt.Sprintf("Consul check %q of %s is %s", c.Name, c.Node, c.Status)
		if out := strings.TrimSpace(c.Output); out != "" {
			text += ": " + firstLine(out)
		}
		j.problems = append(j.problems, Problem{Kind: KindCheckFailing, Node: c.Node, Text: text})
	}
}

// rows: one per expected node, then one per unexpected address.
func (j *judge) rows() []Row {
	var rows []Row
	for _, e := range j.in.Expected {
		row := Row{Node: e.Name, SwarmHost: e.SwarmHost, Address: e.Address, HostID: e.HostID, Views: len(j.answered)}
		if e.Address != "" {
			// Facts come from the node's own view when it lists the node,
			// else from the first view that does.
			sources := j.answered
			if i := slices.IndexFunc(sources, func(v View) bool { return v.Node == e.Name }); i > 0 {
				sources = append([]View{sources[i]}, sources...)
			}
			for _, v := range sources {
				if n, ok := v.Status.Node(e.Address); ok {
					fill(&row, n, v.Node)
					break
				}
			}
			row.Agree = j.agree(e.Address, row)
		}
		rows = append(rows, row)
	}
	seen := map[string]bool{}
	for _, v := range j.answered {
		for _, n := range v.Status.Nodes() {
			if _, ok := j.expectedFor(n); ok || seen[n.Address] {
				continue
			}
			seen[n.Address] = true
			row := Row{Address: n.Address, Unexpected: true, Views: len(j.answered)}
			fill(&row, n, v.Node)
			row.Agree = j.agree(n.Address, row)
			rows = append(rows, row)
		}
	}
	return rows
}

func fill(row *Row, n nodetool.Node, source string) {
	row.Datacenter, row.Code = n.Datacenter, n.Code()
	row.Load, row.LoadKnown, row.Owns, row.OwnsKnown = n.Load, n.LoadKnown, n.Owns, n.OwnsKnown
	row.Tokens, row.Rack, row.Source = n.Tokens, n.Rack, source
	if n.HostID != "" {
		row.HostID = n.HostID
	}
}

// agree counts the views that show addr as row does (status, host ID, DC,
// rack, token count).
func (j *judge) agree(addr string, row Row) int {
	if row.Source == "" {
		return 0
	}
	c := 0
	for _, v := range j.answered {
		n, ok := v.Status.Node(addr)
		if ok && n.Code() == row.Code && n.HostID == row.HostID && n.Datacenter == row.Datacenter &&
			n.Rack == row.Rack && n.Tokens == row.Tokens {
			c++
		}
	}
	return c
}

// nameOf names a status row: the expected node's name, or its address.
func (j *judge) nameOf(n nodetool.Node) string {
	if e, ok := j.expectedFor(n); ok {
		return e.Name
	}
	return n.Address
}

// nameOfEndpoint names a describecluster endpoint (address, maybe with port).
func (j *judge) nameOfEndpoint(ep string) string {
	host, _, err := nodetool.SplitAddress(ep)
	if err != nil {
		host = ep
	}
	return j.nameOf(nodetool.Node{Address: host})
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
