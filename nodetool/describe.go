package nodetool

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DescribeCluster is what `nodetool describecluster` prints. The sections
// after the schema versions exist from Cassandra 4.0 on; Stats is nil and the
// lists are empty before.
type DescribeCluster struct {
	Name string `json:"name"`
	// Snitch is the configured snitch (2.x names the DynamicEndpointSnitch wrapper).
	Snitch string `json:"snitch"`
	// DynamicSnitch is "enabled", "disabled", or "" when not printed (2.x).
	DynamicSnitch string `json:"dynamicSnitch,omitempty"`
	Partitioner   string `json:"partitioner"`
	// SchemaVersions lists each schema version and the endpoints that hold it;
	// more than one means the nodes disagree.
	SchemaVersions []Versioned `json:"schemaVersions"`
	// Unreachable lists the endpoints under `UNREACHABLE:`.
	Unreachable      []string      `json:"unreachable,omitempty"`
	Stats            *ClusterStats `json:"stats,omitempty"`
	Datacenters      []DCSummary   `json:"datacenters,omitempty"`
	DatabaseVersions []Versioned   `json:"databaseVersions,omitempty"`
	Keyspaces        []Keyspace    `json:"keyspaces,omitempty"`
	// Notes are `Error: ...` and `something went wrong ...` lines.
	Notes []string `json:"notes,omitempty"`
}

// Versioned is a version and the endpoints that report it.
type Versioned struct {
	Version   string   `json:"version"`
	Endpoints []string `json:"endpoints"`
}

// ClusterStats is the `Stats for all nodes:` section (4.0+).
type ClusterStats struct {
	Live, Joining, Moving, Leaving, Unreachable int
}

// DCSummary is one line of the `Data Centers:` section (4.0+).
type DCSummary struct {
	Name  string `json:"name"`
	Nodes int    `json:"nodes"`
	Down  int    `json:"down"`
}

// Keyspace is one line of the `Keyspaces:` section (4.0+).
type Keyspace struct {
	Name        string `json:"name"`
	Replication string `json:"replication"`
}

// SchemaAgreement reports whether exactly one schema version is printed.
func (d *DescribeCluster) SchemaAgreement() bool { return len(d.SchemaVersions) == 1 }

var (
	dcSummaryRE = regexp.MustCompile(`^(.+) #Nodes: ([0-9]+) #Down: ([0-9]+)$`)
	keyspaceRE  = regexp.MustCompile(`^(\S+) -> Replication class: (.*)$`)
)

// ParseDescribeCluster reads the standard output of `nodetool describecluster`.
func ParseDescribeCluster(out string) (*DescribeCluster, error) {
	lines := splitLines(out)
	d := &DescribeCluster{}
	section := ""
	seen := map[string]bool{}
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		switch line {
		case "Cluster Information:", "Schema versions:", "Stats for all nodes:",
			"Data Centers:", "Database versions:", "Keyspaces:":
			if seen[line] {
				return nil, lineError(i, raw, "section printed twice")
			}
			seen[line] = true
			section = line
			if line == "Stats for all nodes:" {
				d.Stats = &ClusterStats{}
			}
			continue
		}
		if strings.HasPrefix(line, "Error: ") || strings.HasPrefix(line, "something went wrong for keyspace: ") {
			d.Notes = append(d.Notes, line)
			continue
		}
		var err error
		switch section {
		case "Cluster Information:":
			err = d.infoLine(line)
		case "Schema versions:":
			err = d.schemaLine(line)
		case "Stats for all nodes:":
			err = d.statsLine(line)
		case "Data Centers:":
			m := dcSummaryRE.FindStringSubmatch(line)
			if m == nil {
				err = fmt.Errorf("expected `NAME #Nodes: N #Down: N`")
				break
			}
			nodes, _ := strconv.Atoi(m[2])
			down, _ := strconv.Atoi(m[3])
			d.Datacenters = append(d.Datacenters, DCSummary{Name: m[1], Nodes: nodes, Down: down})
		case "Database versions:":
			var v Versioned
			if v, err = versionedLine(line); err == nil {
				d.DatabaseVersions = append(d.DatabaseVersions, v)
			}
		case "Keyspaces:":
			m := keyspaceRE.FindStringSubmatch(line)
			if m == nil {
				err = fmt.Errorf("expected `KEYSPACE -> Replication class: ...`")
				break
			}
			d.Keyspaces = append(d.Keyspaces, Keyspace{Name: m[1], Replication: m[2]})
		default:
			err = fmt.Errorf("expected `Cluster Information:`")
		}
		if err != nil {
			return nil, lineError(i, raw, err.Error())
		}
	}
	switch {
	case !seen["Cluster Information:"]:
		return nil, fmt.Errorf("nodetool describecluster: no `Cluster Information:` in the output %q", clip(out))
	case d.Name == "" || d.Partitioner == "":
		return nil, fmt.Errorf("nodetool describecluster: the output lacks the cluster name or partitioner")
	case !seen["Schema versions:"]:
		return nil, fmt.Errorf("nodetool describecluster: the output lacks `Schema versions:`")
	}
	return d, nil
}

func (d *DescribeCluster) infoLine(line string) error {
	key, val, ok := strings.Cut(line, ": ")
	if !ok {
		return fmt.Errorf("expected `KEY: VALUE`")
	}
	switch key {
	case "Name":
		d.Name = val
	case "Snitch":
		d.Snitch = val
	case "DynamicEndPointSnitch":
		if val != "enabled" && val != "disabled" {
			return fmt.Errorf("DynamicEndPointSnitch is %q, neither enabled nor disabled", val)
		}
		d.DynamicSnitch = val
	case "Partitioner":
		d.Partitioner = val
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

func (d *DescribeCluster) schemaLine(line string) error {
	v, err := versionedLine(line)
	if err != nil {
		return err
	}
	if v.Version == "UNREACHABLE" {
		d.Unreachable = append(d.Unreachable, v.Endpoints...)
		return nil
	}
	if !uuidRE.MatchString(v.Version) {
		return fmt.Errorf("schema version %q is not a UUID", v.Version)
	}
	d.SchemaVersions = append(d.SchemaVersions, v)
	return nil
}

func (d *DescribeCluster) statsLine(line string) error {
	key, val, ok := strings.Cut(line, ": ")
	if !ok {
		return fmt.Errorf("expected `KEY: N`")
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 0 {
		return fmt.Errorf("%s %q is not a count", key, val)
	}
	switch key {
	case "Live":
		d.Stats.Live = n
	case "Joining":
		d.Stats.Joining = n
	case "Moving":
		d.Stats.Moving = n
	case "Leaving":
		d.Stats.Leaving = n
	case "Unreachable":
		d.Stats.Unreachable = n
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

// versionedLine reads `VERSION: [a, b, c]`.
func versionedLine(line string) (Versioned, error) {
	i := strings.LastIndex(line, ": [")
	if i <= 0 || !strings.HasSuffix(line, "]") {
		return Versioned{}, fmt.Errorf("expected `VERSION: [ENDPOINT, ...]`")
	}
	v := Versioned{Version: line[:i], Endpoints: []string{}}
	list := line[i+3 : len(line)-1]
	if list == "" {
		return v, nil
	}
	for _, e := range strings.Split(list, ", ") {
		e = strings.TrimPrefix(strings.TrimSpace(e), "/")
		if e == "" {
			return Versioned{}, fmt.Errorf("empty endpoint in the list")
		}
		v.Endpoints = append(v.Endpoints, e)
	}
	return v, nil
}
