package cassim

import (
	"cmp"
	"crypto/md5"
	"fmt"
	"sort"
	"strings"
)

// The tables cassim answers over CQL, with Cassandra 5.0's columns
// (SystemKeyspace, SchemaKeyspace, VirtualSchemaKeyspace). system_schema
// and system_virtual_schema describe exactly these tables, so a driver's
// schema metadata matches what the node serves; the keyspaces are those of
// a fresh 5.0 cluster. cassim stores no data: no other table exists.

// sysColumn is one column of a table.
type sysColumn struct {
	name string
	typ  *cqlType
	kind string // partition_key, clustering or regular, as system_schema.columns says
	pos  int    // position within the partition key or clustering; -1 for regular columns
}

// sysTable is a table cassim answers, its columns in the order SELECT *
// returns them: partition key, clustering columns, then the others by name.
type sysTable struct {
	ks, name, comment string
	virtual           bool
	cols              []sysColumn
	// rows returns the table's rows, column name -> value (see cqlType.encode);
	// nil for a table that is always empty.
	rows func(n *Node) []map[string]any
}

func (t *sysTable) String() string { return t.ks + "." + t.name }

func (t *sysTable) column(name string) (int, bool) {
	for i, c := range t.cols {
		if c.name == name {
			return i, true
		}
	}
	return -1, false
}

// defTable declares a table: columns as "name type" separated by
// semicolons, the partition key columns and then the clustering columns.
func defTable(ks, name, comment, columns string, partitionKey, clustering []string, rows func(*Node) []map[string]any) *sysTable {
	t := &sysTable{ks: ks, name: name, comment: comment, rows: rows}
	var regular []sysColumn
	byName := map[string]*cqlType{}
	for _, def := range strings.Split(columns, ";") {
		colName, typ, _ := strings.Cut(strings.TrimSpace(def), " ")
		byName[colName] = parseType(typ)
	}
	for i, c := range partitionKey {
		t.cols = append(t.cols, sysColumn{c, byName[c], "partition_key", i})
		delete(byName, c)
	}
	for i, c := range clustering {
		t.cols = append(t.cols, sysColumn{c, byName[c], "clustering", i})
		delete(byName, c)
	}
	for c, typ := range byName {
		regular = append(regular, sysColumn{c, typ, "regular", -1})
	}
	sort.Slice(regular, func(i, j int) bool { return regular[i].name < regular[j].name })
	t.cols = append(t.cols, regular...)
	return t
}

func virtual(t *sysTable) *sysTable { t.virtual = true; return t }

var ksKey, ksTableKey = []string{"keyspace_name"}, []string{"table_name"}

// sysTables are all tables cassim answers (set in init: system_schema's
// rows are read from it).
var sysTables []*sysTable

func init() {
	sysTables = []*sysTable{
		defTable("system", "local", "information about the local node",
			"key text; bootstrapped text; broadcast_address inet; broadcast_port int; cluster_name text; cql_version text; "+
				"data_center text; gossip_generation int; host_id uuid; listen_address inet; listen_port int; "+
				"native_protocol_version text; partitioner text; rack text; release_version text; rpc_address inet; "+
				"rpc_port int; schema_version uuid; tokens set<varchar>; truncated_at map<uuid, blob>",
			[]string{"key"}, nil, (*Node).localRows),
		defTable("system", "peers_v2", "information about known peers in the cluster",
			"peer inet; peer_port int; data_center text; host_id uuid; preferred_ip inet; preferred_port int; rack text; "+
				"release_version text; native_address inet; native_port int; schema_version uuid; tokens set<varchar>",
			[]string{"peer"}, []string{"peer_port"}, (*Node).peerRows),
		defTable("system", "peers", "information about known peers in the cluster",
			"peer inet; data_center text; host_id uuid; preferred_ip inet; rack text; release_version text; "+
				"rpc_address inet; schema_version uuid; tokens set<varchar>",
			[]string{"peer"}, nil, (*Node).peerRows),

		defTable("system_auth", "roles", "role definitions",
			"role text; can_login boolean; is_superuser boolean; member_of set<text>; salted_hash text",
			[]string{"role"}, nil, roleRows), // auth.go

		defTable("system_schema", "keyspaces", "keyspace definitions",
			"keyspace_name text; durable_writes boolean; replication frozen<map<text, text>>", ksKey, nil, keyspaceRows),
		defTable("system_schema", "tables", "table definitions",
			"keyspace_name text; table_name text; flags frozen<set<text>>; "+tableParamColumns,
			ksKey, ksTableKey, func(*Node) []map[string]any { return tableRows(false) }),
		defTable("system_schema", "columns", "column definitions", columnsColumns,
			ksKey, []string{"table_name", "column_name"}, func(*Node) []map[string]any { return columnRows(false) }),
		defTable("system_schema", "column_masks", "column dynamic data masks",
			"keyspace_name text; table_name text; column_name text; function_keyspace text; function_name text; "+
				"function_argument_types frozen<list<text>>; function_argument_values frozen<list<text>>; "+
				"function_argument_nulls frozen<list<boolean>>",
			ksKey, []string{"table_name", "column_name"}, nil),
		defTable("system_schema", "dropped_columns", "dropped column registry",
			"keyspace_name text; table_name text; column_name text; dropped_time timestamp; kind text; type text",
			ksKey, []string{"table_name", "column_name"}, nil),
		defTable("system_schema", "triggers", "trigger definitions",
			"keyspace_name text; table_name text; trigger_name text; options frozen<map<text, text>>",
			ksKey, []string{"table_name", "trigger_name"}, nil),
		defTable("system_schema", "views", "view definitions",
			"keyspace_name text; view_name text; base_table_id uuid; base_table_name text; where_clause text; "+
				"include_all_columns boolean; "+tableParamColumns,
			ksKey, []string{"view_name"}, nil),
		defTable("system_schema", "types", "user defined type definitions",
			"keyspace_name text; type_name text; field_names frozen<list<text>>; field_types frozen<list<text>>",
			ksKey, []string{"type_name"}, nil),
		defTable("system_schema", "functions", "user defined function definitions",
			"keyspace_name text; function_name text; argument_types frozen<list<text>>; argument_names frozen<list<text>>; "+
				"body text; language text; return_type text; called_on_null_input boolean",
			ksKey, []string{"function_name", "argument_types"}, nil),
		defTable("system_schema", "aggregates", "user defined aggregate definitions",
			"keyspace_name text; aggregate_name text; argument_types frozen<list<text>>; final_func text; "+
				"initcond text; return_type text; state_func text; state_type text",
			ksKey, []string{"aggregate_name", "argument_types"}, nil),
		defTable("system_schema", "indexes", "secondary index definitions",
			"keyspace_name text; table_name text; index_name text; kind text; options frozen<map<text, text>>",
			ksKey, []string{"table_name", "index_name"}, nil),

		virtual(defTable("system_virtual_schema", "keyspaces", "virtual keyspace definitions",
			"keyspace_name text", ksKey, nil, func(*Node) []map[string]any {
				return []map[string]any{{"keyspace_name": "system_views"}, {"keyspace_name": "system_virtual_schema"}}
			})),
		virtual(defTable("system_virtual_schema", "tables", "virtual table definitions",
			"keyspace_name text; table_name text; comment text", ksKey, ksTableKey,
			func(*Node) []map[string]any { return tableRows(true) })),
		virtual(defTable("system_virtual_schema", "columns", "virtual column definitions", columnsColumns,
			ksKey, []string{"table_name", "column_name"}, func(*Node) []map[string]any { return columnRows(true) })),
	}
}

// tableParamColumns are the table parameters system_schema.tables and
// views share.
const tableParamColumns = "allow_auto_snapshot boolean; bloom_filter_fp_chance double; caching frozen<map<text, text>>; " +
	"comment text; compaction frozen<map<text, text>>; compression frozen<map<text, text>>; memtable text; " +
	"crc_check_chance double; dclocal_read_repair_chance double; default_time_to_live int; " +
	"extensions frozen<map<text, blob>>; gc_grace_seconds int; incremental_backups boolean; id uuid; " +
	"max_index_interval int; memtable_flush_period_in_ms int; min_index_interval int; read_repair_chance double; " +
	"speculative_retry text; additional_write_policy text; cdc boolean; read_repair text"

const columnsColumns = "keyspace_name text; table_name text; column_name text; clustering_order text; " +
	"column_name_bytes blob; kind text; position int; type text"

// lookupTable finds a table cassim answers.
func lookupTable(ks, name string) *sysTable {
	for _, t := range sysTables {
		if t.ks == ks && t.name == name {
			return t
		}
	}
	return nil
}

// isKeyspace: a keyspace of a fresh 5.0 cluster, virtual ones included.
func isKeyspace(ks string) bool {
	for _, k := range SystemKeyspaces {
		if k.Name == ks {
			return true
		}
	}
	return ks == "system_views" || ks == "system_virtual_schema"
}

// keyspaceRows: the replication of describecluster's system keyspaces as
// system_schema.keyspaces holds it, e.g. "SimpleStrategy
// {replication_factor=3}" -> {class: org.apache.cassandra.locator.SimpleStrategy,
// replication_factor: 3}.
func keyspaceRows(n *Node) []map[string]any {
	var rows []map[string]any
	for _, k := range SystemKeyspaces {
		if n != nil && isDistributedSystem(k.Name) {
			continue // with their replication as it is now, below
		}
		class, opts, _ := strings.Cut(k.Replication, " ")
		repl := map[string]string{"class": "org.apache.cassandra.locator." + class}
		for _, kv := range strings.Split(strings.Trim(opts, "{}"), ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
				repl[k] = v
			}
		}
		rows = append(rows, map[string]any{"keyspace_name": k.Name, "durable_writes": true, "replication": repl})
	}
	if n != nil {
		rows = append(rows, n.keyspaceRowsOf()...)
	}
	return rows
}

// nameUUID is Java's UUID.nameUUIDFromBytes: an MD5, version 3, UUID.
func nameUUID(b []byte) string {
	h := md5.Sum(b)
	h[6] = h[6]&0x0f | 0x30
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// tableRows describes the tables cassim answers in system_schema.tables,
// with the parameters Cassandra gives its system tables (TableParams'
// defaults; gc_grace_seconds 0 in system, 7 days in system_schema; a memtable
// flush period of an hour), or in system_virtual_schema.tables.
func tableRows(virtualTables bool) []map[string]any {
	var rows []map[string]any
	for _, t := range sysTables {
		if t.virtual != virtualTables {
			continue
		}
		row := map[string]any{"keyspace_name": t.ks, "table_name": t.name, "comment": t.comment}
		if !t.virtual {
			gcGrace := 0
			if t.ks == "system_schema" {
				gcGrace = 7 * 24 * 3600
			}
			for k, v := range map[string]any{
				"bloom_filter_fp_chance": 0.01, "caching": map[string]string{"keys": "ALL", "rows_per_partition": "NONE"},
				"compaction": map[string]string{"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
					"max_threshold": "32", "min_threshold": "4"},
				"compression":      map[string]string{"chunk_length_in_kb": "16", "class": "org.apache.cassandra.io.compress.LZ4Compressor"},
				"crc_check_chance": 1.0, "dclocal_read_repair_chance": 0.0, "default_time_to_live": 0,
				"extensions": map[string]string{}, "flags": []string{"compound"}, "gc_grace_seconds": gcGrace,
				"id": nameUUID([]byte(t.ks + t.name)), "max_index_interval": 2048, "memtable_flush_period_in_ms": 3600000,
				"min_index_interval": 128, "read_repair_chance": 0.0, "speculative_retry": "99p",
				"additional_write_policy": "99p", "read_repair": "BLOCKING",
			} {
				row[k] = v
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// columnRows describes the columns of the tables cassim answers.
func columnRows(virtualTables bool) []map[string]any {
	var rows []map[string]any
	for _, t := range sysTables {
		if t.virtual != virtualTables {
			continue
		}
		for _, c := range t.cols {
			order := "none"
			if c.kind == "clustering" {
				order = "asc"
			}
			rows = append(rows, map[string]any{"keyspace_name": t.ks, "table_name": t.name, "column_name": c.name,
				"clustering_order": order, "column_name_bytes": c.name, "kind": c.kind, "position": c.pos, "type": c.typ.name})
		}
	}
	return rows
}

// localRows is system.local.
func (n *Node) localRows() []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	bootstrapped := "NEEDS_BOOTSTRAP"
	if n.id.BootstrapInProgress {
		bootstrapped = "IN_PROGRESS"
	}
	if n.id.Bootstrapped {
		bootstrapped = "COMPLETED"
	}
	return []map[string]any{{"key": "local", "bootstrapped": bootstrapped, "broadcast_address": n.addr,
		"broadcast_port": GossipPort, "cluster_name": n.cfg.ClusterName, "cql_version": CQLVersion,
		"data_center": n.cfg.DC, "gossip_generation": int(n.view.LocalState().Generation), "host_id": n.id.HostID,
		"listen_address": n.bind.String(), "listen_port": GossipPort,
		"native_protocol_version": fmt.Sprint(maxProtocolVersion),
		"partitioner":             "org.apache.cassandra.dht.Murmur3Partitioner", "rack": n.cfg.Rack,
		"release_version": n.cfg.ReleaseVersion, "rpc_address": n.rpcAddr(), "rpc_port": n.cfg.NativePort,
		"schema_version": n.schema.Version(), "tokens": tokenStrings(n.id.Tokens)}}
}

// peerRows is system.peers and system.peers_v2: the other ring members
// (NORMAL or LEAVING), reachable or not.
func (n *Node) peerRows() []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	var rows []map[string]any
	for _, p := range n.view.Peers() {
		if p.Addr == n.addr || (p.Status != StatusNormal && p.Status != StatusLeaving) {
			continue
		}
		rows = append(rows, map[string]any{"peer": p.Addr, "peer_port": GossipPort, "data_center": p.DC,
			"host_id": p.HostID, "rack": p.Rack, "release_version": p.Release, "rpc_address": p.RPCAddr,
			"native_address": p.RPCAddr, "native_port": cmp.Or(p.RPCPort, CQLPort), "schema_version": p.Schema,
			"tokens": tokenStrings(p.Tokens)})
	}
	return rows
}
