package cassim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The CQL cassim understands: SELECT on the tables in sysTables (columns or
// *, WHERE with = and IN on columns, LIMIT, ALLOW FILTERING) and USE of a
// keyspace a fresh 5.0 cluster has. Every other statement is refused with
// an Invalid error that says what cassim does not do.

// Refusals name cassim, so that nobody mistakes them for Cassandra's.
const cassimServes = "cassim, a stand-in for Cassandra, stores no data and answers only SELECTs on " +
	"system.local, system.peers, system.peers_v2, system_auth.roles and the system_schema and system_virtual_schema tables"

// cqlError is an ERROR response: a code and Cassandra's kind of message.
type cqlError struct {
	code int
	msg  string
	id   []byte // the statement ID of an Unprepared error
	// alreadyExists is the keyspace of an Already_exists error.
	alreadyExists string
	// cl, required and alive: an Unavailable error's body.
	cl              string
	required, alive int
}

func (e *cqlError) Error() string { return e.msg }

func invalid(format string, args ...any) *cqlError {
	return &cqlError{code: errInvalid, msg: fmt.Sprintf(format, args...)}
}

func syntaxErr(format string, args ...any) *cqlError {
	return &cqlError{code: errSyntax, msg: fmt.Sprintf(format, args...)}
}

// Tokens of a statement.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokQuoted // "Name"
	tokString // 'text'
	tokNumber
	tokUUID
	tokMarker // ? or :name
	tokPunct
)

type token struct {
	kind tokenKind
	text string // identifiers in lower case; strings unquoted
}

func (t token) kindName() string {
	switch t.kind {
	case tokString:
		return "STRING"
	case tokNumber:
		return "INTEGER"
	case tokUUID:
		return "UUID"
	}
	return "constant"
}

func (t token) is(kw string) bool { return t.kind == tokIdent && t.text == kw }

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	numberRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?`)
	identRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*`)
)

func tokenize(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		rest := q[i:]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(rest, "--") || strings.HasPrefix(rest, "//"):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '\'' || c == '"':
			var s strings.Builder
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						s.WriteByte(c)
						j++
						continue
					}
					break
				}
				s.WriteByte(q[j])
			}
			if j >= len(q) {
				return nil, syntaxErr("line 1:%d unterminated quoted text", i)
			}
			kind := tokString
			if c == '"' {
				kind = tokQuoted
			}
			toks = append(toks, token{kind, s.String()})
			i = j + 1
		case uuidRE.MatchString(rest):
			m := uuidRE.FindString(rest)
			toks = append(toks, token{tokUUID, strings.ToLower(m)})
			i += len(m)
		case numberRE.MatchString(rest) && (c != '-' || len(rest) > 1 && rest[1] >= '0' && rest[1] <= '9'):
			m := numberRE.FindString(rest)
			toks = append(toks, token{tokNumber, m})
			i += len(m)
		case identRE.MatchString(rest):
			m := identRE.FindString(rest)
			toks = append(toks, token{tokIdent, strings.ToLower(m)})
			i += len(m)
		case c == '?':
			toks = append(toks, token{tokMarker, "?"})
			i++
		case c == ':' && identRE.MatchString(q[i+1:]):
			m := identRE.FindString(q[i+1:])
			toks = append(toks, token{tokMarker, ":" + strings.ToLower(m)})
			i += 1 + len(m)
		case strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, ">=") || strings.HasPrefix(rest, "!="):
			toks = append(toks, token{tokPunct, rest[:2]})
			i += 2
		case strings.ContainsRune("(),.*=;<>[]{}+-:", rune(c)):
			toks = append(toks, token{tokPunct, string(c)})
			i++
		default:
			return nil, syntaxErr("line 1:%d no viable alternative at character '%c'", i, c)
		}
	}
	return append(toks, token{kind: tokEOF}), nil
}

// parser walks the tokens of one statement.
type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

// accept consumes the keyword or punctuation s if it comes next.
func (p *parser) accept(s string) bool {
	if t := p.peek(); (t.kind == tokIdent || t.kind == tokPunct) && t.text == s {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.accept(s) {
		return syntaxErr("line 1:%d mismatched input '%s' expecting '%s'", p.pos, p.peek().text, s)
	}
	return nil
}

func (p *parser) ident() (string, error) {
	t := p.next()
	if t.kind != tokIdent && t.kind != tokQuoted {
		return "", syntaxErr("line 1:%d no viable alternative at input '%s'", p.pos, t.text)
	}
	return t.text, nil
}

// statement is a parsed statement, ready to execute with bound values.
type statement interface {
	// markers are the bind variables' specifications, in order.
	markers() []varSpec
}

type varSpec struct {
	ks, table, name string
	typ             *cqlType
}

// useStmt is USE keyspace.
type useStmt struct{ ks string }

func (*useStmt) markers() []varSpec { return nil }

// selectStmt is a SELECT on one of sysTables.
type selectStmt struct {
	table     *sysTable
	cols      []int    // selected columns
	names     []string // their names in the result (aliases)
	where     []restriction
	limit     term // limit.marker < 0 && limit.lit == nil: no limit
	vars      []varSpec
	filtering bool
}

func (s *selectStmt) markers() []varSpec { return s.vars }

// restriction is "col = term" or "col IN (terms)" or "col IN ?".
type restriction struct {
	col    int
	in     bool
	terms  []term
	listAt int // the marker of "IN ?", else -1
}

// term is a constant (encoded for its column) or a bind marker.
type term struct {
	lit    []byte
	marker int // index into the bound values, or -1
}

var verbRE = regexp.MustCompile(`^\s*([A-Za-z]+)(?:\s+([A-Za-z]+))?`)

// parseStatement parses q; keyspace is the connection's (USE), "" if none.
func parseStatement(q, keyspace string) (statement, error) {
	if s, ok, err := parseAuth(q); ok { // auth.go
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	m := verbRE.FindStringSubmatch(q)
	if m == nil {
		return nil, syntaxErr("line 1:0 no viable alternative at input '%s'", firstWord(q))
	}
	verb := strings.ToUpper(m[1])
	switch verb {
	case "SELECT", "USE":
	case "INSERT", "UPDATE", "DELETE", "BATCH", "TRUNCATE", "GRANT", "REVOKE", "LIST", "DESCRIBE", "DESC":
		return nil, invalid("cassim does not run %s statements: %s", verb, cassimServes)
	case "BEGIN":
		return nil, invalid("cassim does not run BATCH statements: %s", cassimServes)
	case "CREATE", "ALTER", "DROP":
		if kw := strings.ToUpper(m[2]); kw == "KEYSPACE" || kw == "SCHEMA" {
			return parseKeyspaceStmt(verb, q)
		}
		return nil, invalid("cassim does not run %s %s statements: %s", verb, strings.ToUpper(m[2]), cassimServes)
	default:
		return nil, syntaxErr("line 1:0 no viable alternative at input '%s' (cassim understands SELECT and USE only)", m[1])
	}
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, pos: 1}
	if verb == "SELECT" {
		return p.selectStmt(keyspace)
	}
	ks, err := p.ident()
	if err != nil {
		return nil, err
	}
	p.accept(";")
	if p.peek().kind != tokEOF {
		return nil, syntaxErr("line 1:%d extraneous input '%s'", p.pos, p.peek().text)
	}
	return &useStmt{ks}, nil // the keyspace must exist when it runs
}

func firstWord(q string) string {
	if f := strings.Fields(q); len(f) > 0 {
		return f[0]
	}
	return ""
}

func (p *parser) selectStmt(keyspace string) (*selectStmt, error) {
	for _, kw := range []string{"json", "distinct"} {
		if p.peek().is(kw) {
			return nil, invalid("cassim does not implement SELECT %s: %s", strings.ToUpper(kw), cassimServes)
		}
	}
	type sel struct{ name, alias string }
	var sels []sel
	star := p.accept("*")
	for !star {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		if p.peek().text == "(" {
			return nil, invalid("cassim does not implement function calls such as %s(...) in a selection: %s", name, cassimServes)
		}
		alias := name
		if p.accept("as") {
			if alias, err = p.ident(); err != nil {
				return nil, err
			}
		}
		sels = append(sels, sel{name, alias})
		if !p.accept(",") {
			break
		}
	}
	if err := p.expect("from"); err != nil {
		return nil, err
	}
	ks, err := p.ident()
	if err != nil {
		return nil, err
	}
	name := ks
	if p.accept(".") {
		if name, err = p.ident(); err != nil {
			return nil, err
		}
	} else if ks = keyspace; ks == "" {
		return nil, invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
	}
	t := lookupTable(ks, name)
	if t == nil {
		return nil, invalid("table %s.%s does not exist: %s", ks, name, cassimServes)
	}
	s := &selectStmt{table: t, limit: term{marker: -1}}
	if star {
		for i, c := range t.cols {
			s.cols, s.names = append(s.cols, i), append(s.names, c.name)
		}
	}
	for _, c := range sels {
		i, ok := t.column(c.name)
		if !ok {
			return nil, invalid("Undefined column name %s in table %s", c.name, t)
		}
		s.cols, s.names = append(s.cols, i), append(s.names, c.alias)
	}
	if p.accept("where") {
		for {
			r, err := p.restriction(s)
			if err != nil {
				return nil, err
			}
			s.where = append(s.where, r)
			if !p.accept("and") {
				break
			}
		}
	}
	for _, kw := range []string{"group", "order", "per"} {
		if p.peek().is(kw) {
			return nil, invalid("cassim does not implement %s in a SELECT: %s", strings.ToUpper(kw), cassimServes)
		}
	}
	if p.accept("limit") {
		tok := p.next()
		switch tok.kind {
		case tokMarker:
			s.limit.marker = len(s.vars)
			s.vars = append(s.vars, varSpec{t.ks, t.name, "[limit]", parseType("int")})
		case tokNumber:
			n, err := strconv.Atoi(tok.text)
			if err != nil || n <= 0 {
				return nil, invalid("LIMIT must be strictly positive")
			}
			s.limit.lit = parseType("int").encode(n)
		default:
			return nil, syntaxErr("line 1:%d no viable alternative at input '%s'", p.pos, tok.text)
		}
	}
	if p.accept("allow") {
		if err := p.expect("filtering"); err != nil {
			return nil, err
		}
		s.filtering = true
	}
	p.accept(";")
	if p.peek().kind != tokEOF {
		return nil, syntaxErr("line 1:%d extraneous input '%s'", p.pos, p.peek().text)
	}
	return s, s.checkFiltering()
}

func (p *parser) restriction(s *selectStmt) (restriction, error) {
	name, err := p.ident()
	if err != nil {
		return restriction{}, err
	}
	if p.peek().text == "(" {
		return restriction{}, invalid("cassim does not implement %s(...) in a WHERE clause: %s", name, cassimServes)
	}
	col, ok := s.table.column(name)
	if !ok {
		return restriction{}, invalid("Undefined column name %s in table %s", name, s.table)
	}
	c := s.table.cols[col]
	r := restriction{col: col, listAt: -1}
	oneTerm := func() (term, error) {
		tok := p.next()
		if tok.kind == tokMarker {
			s.vars = append(s.vars, varSpec{s.table.ks, s.table.name, c.name, c.typ})
			return term{marker: len(s.vars) - 1}, nil
		}
		v, err := c.typ.literal(c.name, tok)
		if err != nil {
			return term{}, err
		}
		return term{lit: c.typ.encode(v), marker: -1}, nil
	}
	switch {
	case p.accept("="):
		t, err := oneTerm()
		if err != nil {
			return r, err
		}
		r.terms = []term{t}
	case p.accept("in"):
		r.in = true
		if p.peek().kind == tokMarker {
			p.next()
			r.listAt = len(s.vars)
			s.vars = append(s.vars, varSpec{s.table.ks, s.table.name, "in(" + c.name + ")", &cqlType{name: "list<" + c.typ.name + ">", id: typeList, args: []*cqlType{c.typ}}})
			break
		}
		if err := p.expect("("); err != nil {
			return r, err
		}
		for !p.accept(")") {
			t, err := oneTerm()
			if err != nil {
				return r, err
			}
			r.terms = append(r.terms, t)
			p.accept(",")
		}
	default:
		return r, invalid("cassim does not implement the relation %s %s: only = and IN; %s", name, p.peek().text, cassimServes)
	}
	return r, nil
}

// checkFiltering is Cassandra's rule: restricting a regular column, or a
// clustering column without the whole partition key and the clustering
// columns before it, needs ALLOW FILTERING.
func (s *selectStmt) checkFiltering() error {
	if s.filtering {
		return nil
	}
	restricted := map[int]bool{}
	for _, r := range s.where {
		restricted[r.col] = true
	}
	pkDone, prefix := true, true
	for i, c := range s.table.cols {
		switch c.kind {
		case "partition_key":
			pkDone = pkDone && restricted[i]
		case "clustering":
			if restricted[i] && (!pkDone || !prefix) {
				return invalid("Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING")
			}
			prefix = prefix && restricted[i]
		default:
			if restricted[i] {
				return invalid("Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING")
			}
		}
	}
	return nil
}

// pkIndexes are the bind markers that give the whole partition key (the
// routing information of a prepared statement), or nil.
func (s *selectStmt) pkIndexes() []int {
	var out []int
	for i, c := range s.table.cols {
		if c.kind != "partition_key" {
			continue
		}
		found := false
		for _, r := range s.where {
			if r.col == i && !r.in && r.terms[0].marker >= 0 {
				out, found = append(out, r.terms[0].marker), true
			}
		}
		if !found {
			return nil
		}
	}
	return out
}

// run executes the SELECT on n's tables with bound values: the selected
// rows' cells.
func (s *selectStmt) run(n *Node, values [][]byte) ([][][]byte, error) {
	if len(values) != len(s.vars) {
		return nil, invalid("Invalid amount of bind variables: expected %d but got %d", len(s.vars), len(values))
	}
	var rows []map[string]any
	if s.table.rows != nil {
		rows = s.table.rows(n)
	}
	// Each restriction's allowed cell values.
	allowed := make([][][]byte, len(s.where))
	for i, r := range s.where {
		col := s.table.cols[r.col]
		if r.listAt >= 0 {
			v := values[r.listAt]
			if v == nil {
				return nil, invalid("Invalid null value for %s", col.name)
			}
			rd := &reader{b: v}
			for k := rd.int(); k > 0 && rd.err == nil; k-- {
				allowed[i] = append(allowed[i], rd.value())
			}
			if rd.err != nil {
				return nil, invalid("Invalid list value for %s", col.name)
			}
			continue
		}
		for _, t := range r.terms {
			v := t.lit
			if t.marker >= 0 {
				v = values[t.marker]
			}
			if v == nil {
				return nil, invalid("Invalid null value in condition for column %s", col.name)
			}
			allowed[i] = append(allowed[i], v)
		}
	}
	limit := -1
	if l := s.limit.lit; l != nil || s.limit.marker >= 0 {
		if s.limit.marker >= 0 {
			l = values[s.limit.marker]
		}
		if len(l) != 4 || int32(binary.BigEndian.Uint32(l)) <= 0 {
			return nil, invalid("LIMIT must be strictly positive")
		}
		limit = int(binary.BigEndian.Uint32(l))
	}
	var out [][][]byte
	for _, row := range rows {
		cells := make([][]byte, len(s.table.cols))
		for i, c := range s.table.cols {
			cells[i] = c.typ.encode(row[c.name])
		}
		match := true
		for i, r := range s.where {
			ok := false
			for _, v := range allowed[i] {
				ok = ok || (cells[r.col] != nil && bytes.Equal(cells[r.col], v))
			}
			match = match && ok
		}
		if !match {
			continue
		}
		if limit >= 0 && len(out) == limit {
			break
		}
		sel := make([][]byte, len(s.cols))
		for i, c := range s.cols {
			sel[i] = cells[c]
		}
		out = append(out, sel)
	}
	return out, nil
}
