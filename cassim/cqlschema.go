package cassim

import (
	"fmt"
	"strings"
	"time"
)

// CREATE, ALTER and DROP KEYSPACE: the only schema changes cassim runs
// (schema.go keeps the definitions). Tables stay refused.

// More error codes.
const (
	errConfig        = 0x2300
	errAlreadyExists = 0x2400
)

// Result kinds of schema changes.
const (
	resultVoid         = 0x0001
	resultSchemaChange = 0x0005
)

// hasKeyspace: a user keyspace that exists.
func (n *Node) hasKeyspace(ks string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	k, ok := n.schema[ks]
	return ok && !k.Dropped
}

// keyspaceRowsOf are the distributed system keyspaces and the user
// keyspaces as system_schema.keyspaces holds them.
func (n *Node) keyspaceRowsOf() []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	var rows []map[string]any
	for _, k := range append(n.schema.System(), n.schema.Live()...) {
		rows = append(rows, map[string]any{"keyspace_name": k.Name, "durable_writes": k.DurableWrites, "replication": k.Replication})
	}
	return rows
}

// keyspaceStmt is CREATE KEYSPACE, ALTER KEYSPACE or DROP KEYSPACE.
type keyspaceStmt struct {
	verb        string // CREATE, ALTER, DROP
	ks          string
	ifExists    bool // IF NOT EXISTS for CREATE, IF EXISTS for DROP
	replication map[string]string
	durable     *bool
}

func (*keyspaceStmt) markers() []varSpec { return nil }

// parseKeyspaceStmt parses what follows CREATE/ALTER/DROP KEYSPACE (or SCHEMA).
func parseKeyspaceStmt(verb, q string) (*keyspaceStmt, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, pos: 2}
	s := &keyspaceStmt{verb: verb}
	if p.accept("if") {
		if verb == "CREATE" {
			if err := p.expect("not"); err != nil {
				return nil, err
			}
		}
		if err := p.expect("exists"); err != nil {
			return nil, err
		}
		s.ifExists = true
	}
	if s.ks, err = p.ident(); err != nil {
		return nil, err
	}
	if verb != "DROP" {
		if err := p.expect("with"); err != nil {
			return nil, err
		}
		for {
			prop, err := p.ident()
			if err != nil {
				return nil, err
			}
			if err := p.expect("="); err != nil {
				return nil, err
			}
			switch prop {
			case "replication":
				if s.replication, err = p.stringMap(); err != nil {
					return nil, err
				}
			case "durable_writes":
				t := p.next()
				b := t.is("true")
				if !b && !t.is("false") && !(t.kind == tokString && (t.text == "true" || t.text == "false")) {
					return nil, syntaxErr("Invalid boolean value %s for 'durable_writes' property", t.text)
				}
				b = b || t.text == "true"
				s.durable = &b
			default:
				return nil, &cqlError{code: errSyntax, msg: "Unknown property '" + prop + "'"}
			}
			if !p.accept("and") {
				break
			}
		}
		if verb == "CREATE" && s.replication == nil {
			return nil, &cqlError{code: errConfig, msg: "Missing mandatory option 'replication'"}
		}
	}
	p.accept(";")
	if p.peek().kind != tokEOF {
		return nil, syntaxErr("line 1:%d extraneous input '%s'", p.pos, p.peek().text)
	}
	if s.replication != nil {
		if s.replication, err = parseReplication(s.ks, s.replication); err != nil {
			return nil, err
		}
	}
	if isKeyspace(s.ks) && !(verb == "ALTER" && isDistributedSystem(s.ks)) {
		return nil, &cqlError{code: errUnauthorized, msg: "Cannot " + strings.ToLower(verb) + " system keyspace " + s.ks}
	}
	return s, nil
}

const errUnauthorized = 0x2100

// stringMap parses { 'k': 'v', 'k2': 3 }.
func (p *parser) stringMap() (map[string]string, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for !p.accept("}") {
		k := p.next()
		if k.kind != tokString {
			return nil, syntaxErr("line 1:%d no viable alternative at input '%s'", p.pos, k.text)
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v := p.next()
		if v.kind != tokString && v.kind != tokNumber && v.kind != tokIdent {
			return nil, syntaxErr("line 1:%d no viable alternative at input '%s'", p.pos, v.text)
		}
		m[k.text] = v.text
		p.accept(",")
	}
	return m, nil
}

// changeKeyspace runs s on n's schema: the change's result body, or nil
// for a Void result (IF [NOT] EXISTS with nothing to do).
func (n *Node) changeKeyspace(s *keyspaceStmt) ([]byte, error) {
	if s.replication["class"] == ntsStrategy {
		// NetworkTopologyStrategy.validateExpectedOptions: a factor for a
		// datacenter no member is in is refused.
		for dc := range s.replication {
			if dc != "class" && dc != "replication_factor" && !n.knowsDC(dc) {
				return nil, &cqlError{code: errConfig, msg: fmt.Sprintf("Unrecognized strategy option {%s} passed to NetworkTopologyStrategy for keyspace %s", dc, s.ks)}
			}
		}
		// 'replication_factor' stands for every datacenter a member is in
		// that is not named: expanded when the statement runs, and not
		// kept (seen on real 5.0.8: {'class': ..., 'replication_factor':
		// 1} is stored as {'class': ..., 'datacenter1': '1'}).
		if rf, ok := s.replication["replication_factor"]; ok {
			delete(s.replication, "replication_factor")
			for _, dc := range n.knownDCs() {
				if _, named := s.replication[dc]; !named {
					s.replication[dc] = rf
				}
			}
		}
	}
	n.mu.Lock()
	cur, exists := n.schema[s.ks]
	exists = exists && !cur.Dropped
	if isDistributedSystem(s.ks) && !exists { // ALTER of a system keyspace not altered yet
		for _, d := range n.schema.System() {
			if d.Name == s.ks {
				cur, exists = d, true
				cur.Seq = -1
			}
		}
	}
	now := time.Now().UnixMicro()
	if now <= cur.Time { // a later change, even with a clock behind
		now = cur.Time + 1
	}
	var change string
	next := Keyspace{Name: s.ks, Time: now}
	switch s.verb {
	case "CREATE":
		if exists {
			n.mu.Unlock()
			if s.ifExists {
				return nil, nil
			}
			return nil, &cqlError{code: errAlreadyExists, msg: "Keyspace '" + s.ks + "' already exists", alreadyExists: s.ks}
		}
		next.Replication, next.DurableWrites, change = s.replication, true, "CREATED"
		if s.durable != nil {
			next.DurableWrites = *s.durable
		}
		for _, k := range n.schema {
			next.Seq = max(next.Seq, k.Seq+1)
		}
	case "ALTER", "DROP":
		if !exists {
			n.mu.Unlock()
			if s.ifExists {
				return nil, nil
			}
			return nil, invalid("Keyspace '%s' doesn't exist", s.ks)
		}
		next.Seq, next.Replication, next.DurableWrites = cur.Seq, cur.Replication, cur.DurableWrites
		change = "UPDATED"
		if s.verb == "DROP" {
			next.Dropped, change = true, "DROPPED"
		}
		if s.replication != nil {
			next.Replication = s.replication
		}
		if s.durable != nil {
			next.DurableWrites = *s.durable
		}
	}
	n.schema[s.ks] = next
	err := n.schema.Save(n.cfg.DataDir)
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	n.schemaChanged()
	var b buf
	b.int(resultSchemaChange)
	b.str(change)
	b.str("KEYSPACE")
	b.str(s.ks)
	return b, nil
}

// schemaChanged puts the node's schema into its gossip state.
func (n *Node) schemaChanged() {
	n.mu.Lock()
	defs, version := n.schema.All(), n.schema.Version()
	n.mu.Unlock()
	n.setLocal(func(s *EndpointState) { s.Keyspaces, s.Schema = defs, version })
}

// mergeLocked takes in gossip states heard: the view's, and the schema's
// definitions, saved and gossiped on when they changed. n.mu is held.
func (n *Node) mergeLocked(states []EndpointState) []Event {
	evs := n.view.Merge(time.Now(), states)
	if n.mergeSchemaLocked(states) {
		if err := n.schema.Save(n.cfg.DataDir); err != nil {
			n.log.Error("GossipStage:1", "SchemaKeyspace.java:1", "%v", err)
		}
		if s := n.view.LocalState(); s.HostID != "" {
			s.Keyspaces, s.Schema = n.schema.All(), n.schema.Version()
			s.Version++
			n.view.SetLocal(s)
		}
	}
	return evs
}

// mergeSchemaLocked takes in the definitions of the states heard; n.mu is held.
// It reports whether the node's schema changed (the caller then saves it
// and gossips it).
func (n *Node) mergeSchemaLocked(states []EndpointState) bool {
	changed := false
	for _, s := range states {
		if s.Addr != n.addr && n.schema.Merge(s.Keyspaces) {
			changed = true
		}
	}
	return changed
}
