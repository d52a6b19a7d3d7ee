package cassim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// User keyspaces: cassim keeps their definitions (no tables, no data), so
// that a client can create a keyspace with a replication factor and
// describecluster, system_schema.keyspaces, nodetool status's ownership and
// decommission's replication check see it, as on Cassandra. Definitions
// spread by gossip (each node's state carries the ones it knows; the newest
// change of a keyspace wins) and are kept in DataDir/cassim/schema.json.

// Keyspace is one user keyspace's definition, or the tombstone of a dropped one.
type Keyspace struct {
	Name string `json:"name"`
	// Replication as system_schema.keyspaces holds it: "class" (the full
	// class name) and the strategy's options.
	Replication   map[string]string `json:"replication"`
	DurableWrites bool              `json:"durable_writes"`
	// Time orders changes (microseconds since the epoch, as CQL timestamps);
	// Seq, the order of creation among keyspaces, for describecluster.
	Time    int64 `json:"time"`
	Seq     int64 `json:"seq"`
	Dropped bool  `json:"dropped,omitempty"`
}

const (
	simpleStrategy = "org.apache.cassandra.locator.SimpleStrategy"
	ntsStrategy    = "org.apache.cassandra.locator.NetworkTopologyStrategy"
	localStrategy  = "org.apache.cassandra.locator.LocalStrategy"
)

// ReplicationInfo is how describecluster prints a keyspace's replication
// (StorageService.getKeyspaceReplicationInfo): the strategy's simple class
// name and its options, e.g. "SimpleStrategy {replication_factor=3}".
func (k Keyspace) ReplicationInfo() string {
	class := k.Replication["class"]
	var opts []string
	for o, v := range k.Replication {
		if o != "class" {
			opts = append(opts, o+"="+v)
		}
	}
	sort.Strings(opts)
	return class[strings.LastIndex(class, ".")+1:] + " {" + strings.Join(opts, ", ") + "}"
}

// RF is the keyspace's replication factor in datacenter dc.
func (k Keyspace) RF(dc string) int {
	key := "replication_factor"
	if k.Replication["class"] == ntsStrategy {
		key = dc
	}
	n, _ := strconv.Atoi(k.Replication[key])
	return n
}

// systemKeyspaceDefs are the distributed system keyspaces of a fresh 5.0
// cluster, as definitions.
func systemKeyspaceDefs() []Keyspace {
	return []Keyspace{
		{Name: "system_traces", Replication: map[string]string{"class": simpleStrategy, "replication_factor": "2"}, DurableWrites: true},
		{Name: "system_distributed", Replication: map[string]string{"class": simpleStrategy, "replication_factor": "3"}, DurableWrites: true},
		{Name: "system_auth", Replication: map[string]string{"class": simpleStrategy, "replication_factor": "1"}, DurableWrites: true},
	}
}

var localKeyspaces = []string{"system_schema", "system"}

// isDistributedSystem: a system keyspace whose replication ALTER KEYSPACE
// may change (system_auth's is commonly raised), as Cassandra allows.
func isDistributedSystem(ks string) bool {
	return ks == "system_traces" || ks == "system_distributed" || ks == "system_auth"
}

// System returns the distributed system keyspaces with their replication:
// the defaults, or what ALTER KEYSPACE made of them.
func (s Schema) System() []Keyspace {
	defs := systemKeyspaceDefs()
	for i, d := range defs {
		if k, ok := s[d.Name]; ok && !k.Dropped {
			defs[i].Replication, defs[i].DurableWrites = k.Replication, k.DurableWrites
		}
	}
	return defs
}

// Schema is the user keyspaces a node knows, dropped ones as tombstones.
type Schema map[string]Keyspace

// Live returns the user keyspaces that exist, in the order they were created.
func (s Schema) Live() []Keyspace {
	var out []Keyspace
	for _, k := range s {
		if !k.Dropped && !isDistributedSystem(k.Name) {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Seq != out[j].Seq {
			return out[i].Seq < out[j].Seq
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Merge takes in definitions heard from another node; it reports whether
// anything changed.
func (s Schema) Merge(defs []Keyspace) bool {
	changed := false
	for _, d := range defs {
		cur, ok := s[d.Name]
		if !ok || d.Time > cur.Time || (d.Time == cur.Time && d.Dropped && !cur.Dropped) {
			s[d.Name] = d
			changed = true
		}
	}
	return changed
}

// All returns every definition, tombstones included, ordered by name.
func (s Schema) All() []Keyspace {
	out := make([]Keyspace, 0, len(s))
	for _, k := range s {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Version is the schema version nodes gossip: the version of a fresh
// cluster without user keyspaces, else a name UUID of the definitions, so
// that nodes that agree on the schema report one version.
func (s Schema) Version() string {
	if len(s.All()) == 0 {
		return SchemaVersion
	}
	b, _ := json.Marshal(s.All())
	return nameUUID(append([]byte(SchemaVersion), b...))
}

// KeyspaceList is describecluster's "Keyspaces:" section: the distributed
// system keyspaces, the user keyspaces in the order they were created, then
// the local ones, as Cassandra 5.0.8 lists them.
func (s Schema) KeyspaceList() []KeyspaceInfo {
	var out []KeyspaceInfo
	for _, k := range append(s.System(), s.Live()...) {
		out = append(out, KeyspaceInfo{k.Name, k.ReplicationInfo()})
	}
	for _, k := range localKeyspaces {
		out = append(out, KeyspaceInfo{k, "LocalStrategy {}"})
	}
	return out
}

// ReplicationCheckOrder is the order decommission checks keyspaces in:
// user keyspaces first (real 5.0.8 named a user keyspace before
// system_distributed and system_traces, which also failed), then the
// distributed system keyspaces.
func (s Schema) ReplicationCheckOrder() []Keyspace {
	sys := s.System()
	return append(s.Live(), sys[1], sys[0], sys[2])
}

// ownershipReplication is the replication nodetool status computes
// effective ownership with when given no keyspace
// (StorageService.effectiveOwnership(null)): that of the user keyspaces
// when they all have the same, system_traces' when there are none; ok is
// false when they differ (Cassandra's IllegalStateException, so status
// prints "Owns" with "?" and a note).
func (s Schema) ownershipReplication() (repl map[string]string, ok bool) {
	live := s.Live()
	if len(live) == 0 {
		return s.System()[0].Replication, true
	}
	first := live[0].Replication
	for _, k := range live[1:] {
		if !sameMap(k.Replication, first) {
			return nil, false
		}
	}
	return first, true
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// MsgOwnershipMeaningless is StorageService.effectiveOwnership's refusal.
const MsgOwnershipMeaningless = "Non-system keyspaces don't have the same replication settings, effective ownership information is meaningless"

func schemaPath(dataDir string) string { return filepath.Join(dataDir, "cassim", "schema.json") }

// LoadSchema reads the saved schema; none gives an empty one.
func LoadSchema(dataDir string) (Schema, error) {
	s := Schema{}
	b, err := os.ReadFile(schemaPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read schema: %w", err)
	}
	var defs []Keyspace
	if err := json.Unmarshal(b, &defs); err != nil {
		return s, fmt.Errorf("read schema %s: %w", schemaPath(dataDir), err)
	}
	s.Merge(defs)
	return s, nil
}

// Save writes the schema atomically.
func (s Schema) Save(dataDir string) error {
	p := schemaPath(dataDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("save schema: %w", err)
	}
	b, _ := json.MarshalIndent(s.All(), "", "  ")
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("save schema: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("save schema: %w", err)
	}
	return nil
}

// parseReplication checks a CREATE/ALTER KEYSPACE's replication map as
// Cassandra does (ReplicationParams, AbstractReplicationStrategy
// .validateReplicationStrategy) and returns it with the full class name.
func parseReplication(ks string, m map[string]string) (map[string]string, error) {
	class, ok := m["class"]
	if !ok {
		return nil, &cqlError{code: errConfig, msg: "Missing replication strategy class"}
	}
	out := map[string]string{}
	switch strings.TrimPrefix(class, "org.apache.cassandra.locator.") {
	case "SimpleStrategy":
		out["class"] = simpleStrategy
	case "NetworkTopologyStrategy":
		out["class"] = ntsStrategy
	case "LocalStrategy", "EverywhereStrategy", "MetaStrategy":
		return nil, &cqlError{code: errConfig, msg: fmt.Sprintf("Unable to use given strategy class: LocalStrategy is reserved for internal use.")}
	default:
		return nil, &cqlError{code: errConfig, msg: fmt.Sprintf("Unable to find replication strategy class 'org.apache.cassandra.locator.%s'", strings.TrimPrefix(class, "org.apache.cassandra.locator."))}
	}
	for k, v := range m {
		if k == "class" {
			continue
		}
		if out["class"] == simpleStrategy && k != "replication_factor" {
			return nil, &cqlError{code: errConfig, msg: fmt.Sprintf("Unrecognized strategy option {%s} passed to SimpleStrategy for keyspace %s", k, ks)}
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, &cqlError{code: errConfig, msg: fmt.Sprintf("Replication factor must be numeric; found %s", v)}
		}
		if n < 0 {
			return nil, &cqlError{code: errConfig, msg: fmt.Sprintf("Replication factor must be non-negative; found %s", v)}
		}
		out[k] = strconv.Itoa(n)
	}
	if out["class"] == simpleStrategy && out["replication_factor"] == "" {
		return nil, &cqlError{code: errConfig, msg: "SimpleStrategy requires a replication_factor strategy option."}
	}
	return out, nil
}
