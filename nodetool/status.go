// Package nodetool reads the text that Cassandra's nodetool prints: `status`,
// `describecluster` and the connection failure message. It reads the formats
// of Cassandra 2.1 to 5.0 (fixed printf widths in 2.x and 3.x, shared table
// widths and trailing spaces in 4.x and 5.0). Output it does not recognise is
// an error that quotes the offending line: it never guesses.
package nodetool

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// NodeStatus is the first letter of a `nodetool status` row.
type NodeStatus string

// NodeState is the second letter of a `nodetool status` row.
type NodeState string

const (
	Up            NodeStatus = "U"
	Down          NodeStatus = "D"
	UnknownStatus NodeStatus = "?"

	Normal  NodeState = "N"
	Leaving NodeState = "L"
	Joining NodeState = "J"
	Moving  NodeState = "M"
)

// Words says the status and state in words: "up, normal".
func Words(s NodeStatus, st NodeState) string {
	var a, b string
	switch s {
	case Up:
		a = "up"
	case Down:
		a = "down"
	default:
		a = "status unknown"
	}
	switch st {
	case Normal:
		b = "normal"
	case Leaving:
		b = "leaving"
	case Joining:
		b = "joining"
	case Moving:
		b = "moving"
	}
	return a + ", " + b
}

// Status is one node's view of the ring, as `nodetool status` prints it.
type Status struct {
	Datacenters []Datacenter `json:"datacenters"`
	// EffectiveOwnership is false when the header says `Owns` instead of
	// `Owns (effective)`: then every Owns value is unknown.
	EffectiveOwnership bool `json:"effectiveOwnership"`
	// TokenPerNode is the single-token layout (a Token column, no Tokens
	// column): nodetool uses it when there are no more tokens than datacenters.
	TokenPerNode bool `json:"tokenPerNode"`
	// Notes are the `Note: ...` lines, without the prefix.
	Notes []string `json:"notes,omitempty"`
}

// Datacenter is one block of `nodetool status`.
type Datacenter struct {
	Name  string `json:"name"`
	Nodes []Node `json:"nodes"`
}

// Node is one row of `nodetool status`.
type Node struct {
	Datacenter string     `json:"datacenter"`
	Status     NodeStatus `json:"status"`
	State      NodeState  `json:"state"`
	// Address is the address (or, with -r, the name) without the port.
	Address string `json:"address"`
	// Port is printed only with -pp; 0 otherwise.
	Port      int   `json:"port,omitempty"`
	Load      int64 `json:"load"` // bytes
	LoadKnown bool  `json:"loadKnown"`
	// Tokens is the Tokens column; 1 in the single-token layout.
	Tokens    int     `json:"tokens"`
	Owns      float64 `json:"owns"` // percent
	OwnsKnown bool    `json:"ownsKnown"`
	// HostID is empty when nodetool printed none (`null` in 3.x, a blank in 4.x).
	HostID string `json:"hostID,omitempty"`
	// Token is the Token column of the single-token layout.
	Token string `json:"token,omitempty"`
	Rack  string `json:"rack"`
}

// UN reports whether the node is up and normal.
func (n Node) UN() bool { return n.Status == Up && n.State == Normal }

// Code is the two-letter code nodetool prints: "UN", "DN", "UJ", ...
func (n Node) Code() string { return string(n.Status) + string(n.State) }

// Nodes lists the nodes of every datacenter, in the order printed.
func (s *Status) Nodes() []Node {
	var out []Node
	for _, dc := range s.Datacenters {
		out = append(out, dc.Nodes...)
	}
	return out
}

// Node finds a node by address. addr may carry a port (10.0.0.5:7000,
// [::1]:7000); the port is then compared too when the output has ports.
// IPv6 addresses compare by value, so ::1 finds 0:0:0:0:0:0:0:1.
func (s *Status) Node(addr string) (Node, bool) {
	host, port, err := SplitAddress(addr)
	if err != nil {
		host, port = addr, 0
	}
	for _, n := range s.Nodes() {
		if !SameHost(n.Address, host) {
			continue
		}
		if port != 0 && n.Port != 0 && port != n.Port {
			continue
		}
		return n, true
	}
	return Node{}, false
}

// SameHost compares two addresses by value when both are IP addresses, and
// as strings otherwise.
func SameHost(a, b string) bool {
	if a == b {
		return true
	}
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	return errA == nil && errB == nil && pa.Unmap() == pb.Unmap()
}

// CountUN counts the nodes that are up and normal.
func (s *Status) CountUN() int {
	c := 0
	for _, n := range s.Nodes() {
		if n.UN() {
			c++
		}
	}
	return c
}

// The four table headers nodetool prints, with runs of spaces collapsed.
var statusHeaders = map[string]struct{ tokenPerNode, effective bool }{
	"-- Address Load Tokens Owns (effective) Host ID Rack": {false, true},
	"-- Address Load Tokens Owns Host ID Rack":             {false, false},
	"-- Address Load Owns (effective) Host ID Token Rack":  {true, true},
	"-- Address Load Owns Host ID Token Rack":              {true, false},
}

const (
	legendStatus = "Status=Up/Down"
	legendState  = "|/ State=Normal/Leaving/Joining/Moving"
)

// ParseStatus reads the standard output of `nodetool status` (with or
// without -pp, -r or a keyspace argument).
func ParseStatus(out string) (*Status, error) {
	lines := splitLines(out)
	st := &Status{}
	layoutSeen := false
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t")
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "Note: "):
			st.Notes = append(st.Notes, strings.TrimPrefix(line, "Note: "))
			continue
		case strings.HasPrefix(line, "Datacenter: "):
		default:
			return nil, lineError(i, lines[i], "expected a `Datacenter:` line")
		}

		dc := Datacenter{Name: strings.TrimPrefix(line, "Datacenter: ")}
		if dc.Name == "" {
			return nil, lineError(i, lines[i], "datacenter without a name")
		}
		// The underline, the two legend lines and the table header follow.
		want := []string{"=", legendStatus, legendState, "--"}
		for _, w := range want {
			i++
			if i >= len(lines) {
				return nil, fmt.Errorf("nodetool status: output ends inside the header of datacenter %q", dc.Name)
			}
			l := strings.TrimRight(lines[i], " \t")
			switch w {
			case "=":
				if l == "" || strings.Trim(l, "=") != "" {
					return nil, lineError(i, lines[i], "expected the `=====` underline")
				}
			case "--":
				h, ok := statusHeaders[strings.Join(strings.Fields(l), " ")]
				if !ok {
					return nil, lineError(i, lines[i], "unknown table header")
				}
				if layoutSeen && (h.tokenPerNode != st.TokenPerNode || h.effective != st.EffectiveOwnership) {
					return nil, lineError(i, lines[i], "table header differs from the first datacenter's")
				}
				layoutSeen = true
				st.TokenPerNode, st.EffectiveOwnership = h.tokenPerNode, h.effective
			default:
				if l != w {
					return nil, lineError(i, lines[i], fmt.Sprintf("expected %q", w))
				}
			}
		}
		// Rows, until a line that is not a row.
		for i+1 < len(lines) && looksLikeRow(lines[i+1]) {
			i++
			n, err := parseRow(lines[i], st.TokenPerNode, st.EffectiveOwnership)
			if err != nil {
				return nil, lineError(i, lines[i], err.Error())
			}
			n.Datacenter = dc.Name
			dc.Nodes = append(dc.Nodes, n)
		}
		if len(dc.Nodes) == 0 {
			if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				return nil, lineError(i+1, lines[i+1], "expected a node row under datacenter "+strconv.Quote(dc.Name))
			}
			return nil, fmt.Errorf("nodetool status: datacenter %q has no nodes", dc.Name)
		}
		st.Datacenters = append(st.Datacenters, dc)
	}
	if len(st.Datacenters) == 0 {
		return nil, fmt.Errorf("nodetool status: no datacenter in the output %q", clip(out))
	}
	return st, nil
}

// looksLikeRow: a row starts with a status letter, a state letter and a space.
func looksLikeRow(line string) bool {
	return len(line) >= 3 && strings.ContainsRune("UD?", rune(line[0])) &&
		strings.ContainsRune("NLJM", rune(line[1])) && (line[2] == ' ' || line[2] == '\t')
}

var (
	uuidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	numberRE  = regexp.MustCompile(`^[0-9]+([.,][0-9]+)?$`)
	percentRE = regexp.MustCompile(`^([0-9]+([.,][0-9]+)?)%$`)
)

// Load units of FileUtils.stringifyFileSize: binary multiples in every
// version, named KB/MB/GB/TB before 3.0.
var loadUnits = map[string]float64{
	"bytes": 1,
	"KB":    1 << 10, "KiB": 1 << 10,
	"MB": 1 << 20, "MiB": 1 << 20,
	"GB": 1 << 30, "GiB": 1 << 30,
	"TB": 1 << 40, "TiB": 1 << 40,
}

func parseRow(line string, tokenPerNode, effective bool) (Node, error) {
	f := strings.Fields(line)
	var n Node
	n.Status, n.State = NodeStatus(f[0][:1]), NodeState(f[0][1:])
	if len(f[0]) != 2 {
		return n, fmt.Errorf("status and state %q are not two letters", f[0])
	}
	next := func(what string) (string, error) {
		if len(f) == 0 {
			return "", fmt.Errorf("row ends before the %s", what)
		}
		v := f[0]
		f = f[1:]
		return v, nil
	}
	f = f[1:]

	addr, err := next("address")
	if err != nil {
		return n, err
	}
	if n.Address, n.Port, err = SplitAddress(addr); err != nil {
		return n, err
	}

	load, err := next("load")
	if err != nil {
		return n, err
	}
	if load != "?" {
		unit, err := next("load unit")
		if err != nil {
			return n, err
		}
		if n.Load, err = parseLoad(load, unit); err != nil {
			return n, err
		}
		n.LoadKnown = true
	}

	if tokenPerNode {
		n.Tokens = 1
	} else {
		t, err := next("token count")
		if err != nil {
			return n, err
		}
		if n.Tokens, err = strconv.Atoi(t); err != nil || n.Tokens < 0 {
			return n, fmt.Errorf("token count %q is not a number", t)
		}
	}

	owns, err := next("ownership")
	if err != nil {
		return n, err
	}
	if owns != "?" {
		m := percentRE.FindStringSubmatch(owns)
		if m == nil {
			return n, fmt.Errorf("ownership %q is neither a percentage nor ?", owns)
		}
		if !effective {
			return n, fmt.Errorf("ownership %q under an `Owns` header, where nodetool prints only ?", owns)
		}
		n.Owns, _ = strconv.ParseFloat(strings.Replace(m[1], ",", ".", 1), 64)
		n.OwnsKnown = true
	}

	// Host ID: a UUID, `null` (3.x) or nothing at all (4.x prints null as blank).
	if len(f) > 0 && (uuidRE.MatchString(f[0]) || f[0] == "null") {
		if f[0] != "null" {
			n.HostID = strings.ToLower(f[0])
		}
		f = f[1:]
	}

	if tokenPerNode {
		if n.Token, err = next("token"); err != nil {
			return n, err
		}
	}
	if len(f) == 0 {
		return n, fmt.Errorf("row ends before the rack")
	}
	n.Rack = strings.Join(f, " ")
	return n, nil
}

func parseLoad(num, unit string) (int64, error) {
	mult, ok := loadUnits[unit]
	if !ok {
		return 0, fmt.Errorf("load unit %q is unknown", unit)
	}
	if !numberRE.MatchString(num) || len(num) > 20 {
		return 0, fmt.Errorf("load %q is not a number", num)
	}
	v, err := strconv.ParseFloat(strings.Replace(num, ",", ".", 1), 64)
	if err != nil {
		return 0, fmt.Errorf("load %q is not a number", num)
	}
	b := v * mult
	if b > 1<<62 {
		return 0, fmt.Errorf("load %s %s is out of range", num, unit)
	}
	return int64(b + 0.5), nil
}

// SplitAddress splits an address as nodetool prints it into host and port
// (0: none): 10.0.0.5, 10.0.0.5:7000 (-pp), 0:0:0:0:0:0:0:1 or
// [0:0:0:0:0:0:0:1]:7000, or a name.
func SplitAddress(s string) (host string, port int, err error) {
	switch {
	case strings.HasPrefix(s, "["):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", 0, fmt.Errorf("address %q: %w", s, err)
		}
		host = h
		if port, err = parsePort(p); err != nil {
			return "", 0, fmt.Errorf("address %q: %w", s, err)
		}
	case strings.Count(s, ":") == 1:
		h, p, _ := strings.Cut(s, ":")
		host = h
		if port, err = parsePort(p); err != nil {
			return "", 0, fmt.Errorf("address %q: %w", s, err)
		}
	default:
		host = s
	}
	if host == "" {
		return "", 0, fmt.Errorf("address %q has no host", s)
	}
	return host, port, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a port number", p)
	}
	return n, nil
}

func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(s, "\n")
}

func lineError(i int, line, why string) error {
	return fmt.Errorf("nodetool output line %d %q: %s", i+1, clip(line), why)
}

func clip(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
