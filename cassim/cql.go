package cassim

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Enough of the CQL native protocol (v3 and v4) for readiness probes and
// for the DataStax drivers and gocql to connect with their defaults and
// learn the ring: OPTIONS, STARTUP, REGISTER, QUERY, PREPARE and EXECUTE of
// the SELECTs in cqlquery.go. A v5 (or newer) frame gets Cassandra's
// protocol error for a version it does not support, on which drivers retry
// with v4; cassim does not implement v5's segment framing.

// Opcodes.
const (
	opError        = 0x00
	opStartup      = 0x01
	opReady        = 0x02
	opOptions      = 0x05
	opSupported    = 0x06
	opQuery        = 0x07
	opResult       = 0x08
	opPrepare      = 0x09
	opExecute      = 0x0A
	opRegister     = 0x0B
	opBatch        = 0x0D
	opAuthResponse = 0x0F
)

var opNames = map[byte]string{opStartup: "STARTUP", opOptions: "OPTIONS", opQuery: "QUERY", opPrepare: "PREPARE",
	opExecute: "EXECUTE", opRegister: "REGISTER", opBatch: "BATCH", opAuthResponse: "AUTH_RESPONSE"}

// Error codes.
const (
	errServer     = 0x0000
	errProtocol   = 0x000A
	errSyntax     = 0x2000
	errInvalid    = 0x2200
	errUnprepared = 0x2500
)

// Result kinds.
const (
	resultRows        = 0x0002
	resultSetKeyspace = 0x0003
	resultPrepared    = 0x0004
)

// Result metadata flags.
const (
	metaGlobalTableSpec = 0x0001
	metaHasMorePages    = 0x0002
	metaNoMetadata      = 0x0004
)

// The native protocol versions cassim speaks (Cassandra 5.0: 3 to 5, and 6 as a beta).
const (
	minProtocolVersion = 3
	maxProtocolVersion = 4
)

// CQLVersion is Cassandra 5.0's CQL version (QueryProcessor.CQL_VERSION).
const CQLVersion = "3.4.7"

// protocolVersions lists the versions as Cassandra names them: 3/v3, 4/v4.
func protocolVersions() []string {
	var vs []string
	for v := minProtocolVersion; v <= maxProtocolVersion; v++ {
		vs = append(vs, fmt.Sprintf("%d/v%d", v, v))
	}
	return vs
}

func speaks(v byte) bool { return v >= minProtocolVersion && v <= maxProtocolVersion }

// MsgUnsupportedProtocol is ProtocolVersion.invalidVersionMessage, with
// cassim's versions; drivers look for "unsupported protocol version" in it
// to retry with a lower version.
func MsgUnsupportedProtocol(v int) string {
	return fmt.Sprintf("Invalid or unsupported protocol version (%d); supported versions are (%s)", v, strings.Join(protocolVersions(), ", "))
}

func (n *Node) openCQL() error {
	l, err := net.Listen("tcp", n.CQLAddr)
	if err != nil {
		return fmt.Errorf("CQL port: %w", err)
	}
	var tlsCfg *tls.Config
	if n.cfg.TLS {
		if tlsCfg, err = n.cfg.serverTLS(); err != nil {
			l.Close()
			return fmt.Errorf("CQL port: %w", err)
		}
	}
	n.mu.Lock()
	n.cqlLn = l
	n.mu.Unlock()
	n.cql.start()
	n.log.Info("main", "PipelineConfigurator.java:125", "Using Netty Version: [cassim]")
	enc := "unencrypted"
	if tlsCfg != nil {
		enc = "encrypted"
	}
	n.log.Info("main", "PipelineConfigurator.java:126", "Starting listening for CQL clients on /%s (%s)...", n.CQLAddr, enc)
	// The role manager makes the default role with AllowAllAuthenticator
	// too: real 5.0.8 logs it on an open cluster (auth.go).
	go n.setupDefaultRole()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				if tlsCfg != nil {
					var ok bool
					if c, ok = n.acceptTLS(c, tlsCfg); !ok {
						return
					}
				}
				n.serveCQL(c)
			}()
		}
	}()
	return nil
}

// cqlConns are a node's client connections and prepared statements.
type cqlConns struct {
	mu       sync.Mutex
	open     map[*cqlConn]bool // nil once the node stopped listening
	prepared map[string]statement
}

// add registers c; false when the node no longer serves clients.
func (cs *cqlConns) add(c *cqlConn) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.open == nil {
		return false
	}
	cs.open[c] = true
	return true
}

func (cs *cqlConns) remove(c *cqlConn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.open, c)
}

// start lets clients in again (the node opens its CQL port).
func (cs *cqlConns) start() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.open = map[*cqlConn]bool{}
}

// closeAll drops every client connection, as Cassandra does when it stops
// listening for CQL clients.
func (cs *cqlConns) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c := range cs.open {
		c.conn.Close()
	}
	cs.open = nil
}

func (cs *cqlConns) prepare(id string, s statement) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.prepared == nil {
		cs.prepared = map[string]statement{}
	}
	cs.prepared[id] = s
}

func (cs *cqlConns) lookup(id string) statement {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.prepared[id]
}

// cqlConn is one client connection.
type cqlConn struct {
	n        *Node
	conn     net.Conn
	version  byte // of the connection's first frame
	ready    bool // after STARTUP (and, with authentication on, AUTH_RESPONSE)
	keyspace string
	// authenticating: STARTUP was answered AUTHENTICATE; user: who logged in.
	authenticating bool
	user           string
}

func (n *Node) serveCQL(c net.Conn) {
	defer c.Close()
	cc := &cqlConn{n: n, conn: c}
	if !n.cql.add(cc) {
		return
	}
	defer n.cql.remove(cc)
	r := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
		f, err := readFrame(r)
		if err != nil {
			return
		}
		stream := f.stream
		version, op, body, fatal := cc.handle(f)
		if !speaks(f.version) {
			// Cassandra fails to decode the header of a version it does not
			// speak, so it answers on stream 0 (gocql relies on that).
			stream = 0
		}
		if n.cfg.CQLTrace {
			n.log.Debug("Native-Transport-Requests-1", "cassim", "%s v%d #%d %s -> v%d #%d %s", c.RemoteAddr(), f.version, f.stream,
				describeRequest(f), version, stream, describeResponse(op, body))
		}
		if err := writeFrame(c, version, stream, op, body); err != nil || fatal {
			return
		}
	}
}

// handle answers one request frame: the response's version, opcode and
// body, and whether the connection must close after it (a protocol error).
func (cc *cqlConn) handle(f frame) (version, op byte, body []byte, fatal bool) {
	protocolErr := func(msg string) (byte, byte, []byte, bool) {
		return version, opError, errorBody(&cqlError{code: errProtocol, msg: msg}), true
	}
	if !speaks(f.version) {
		// Cassandra answers an old version in that version, a newer one in its own.
		version = maxProtocolVersion
		if f.version < minProtocolVersion {
			version = f.version
		}
		return protocolErr(MsgUnsupportedProtocol(int(f.version)))
	}
	if cc.version == 0 {
		cc.version = f.version
	}
	version = cc.version
	if f.version != cc.version {
		return protocolErr(fmt.Sprintf("Invalid message version. Got %d/v%d but previous messages on this connection had version %d/v%d",
			f.version, f.version, cc.version, cc.version))
	}
	if f.flags&flagCompression != 0 {
		return protocolErr("cassim does not implement compression; its SUPPORTED message offers none")
	}
	rd := &reader{b: f.body}
	if f.flags&flagCustomPayload != 0 {
		rd.bytesMap()
	}
	if cc.authenticating && f.op != opAuthResponse {
		// ServerConnection's AUTHENTICATION state.
		return version, opError, errorBody(&cqlError{code: errProtocol, msg: fmt.Sprintf("Unexpected message %s, expecting SASL_RESPONSE", opName(f.op))}), false
	}
	if !cc.ready && !cc.authenticating && f.op != opOptions && f.op != opStartup {
		name := opNames[f.op]
		if name == "" {
			name = fmt.Sprint(f.op)
		}
		return version, opError, errorBody(&cqlError{code: errProtocol, msg: fmt.Sprintf("Unexpected message %s, expecting STARTUP or OPTIONS", name)}), false
	}
	var err error
	switch f.op {
	case opOptions:
		var b buf
		b.short(3)
		b.str("CQL_VERSION")
		b.strList([]string{CQLVersion})
		b.str("COMPRESSION")
		b.strList(nil)
		b.str("PROTOCOL_VERSIONS")
		b.strList(protocolVersions())
		op, body = opSupported, b
	case opStartup:
		opts := rd.strMap()
		switch {
		case rd.err != nil:
			return protocolErr("malformed STARTUP message")
		case opts["CQL_VERSION"] == "":
			return protocolErr("Missing value CQL_VERSION in STARTUP message")
		case opts["COMPRESSION"] != "":
			return protocolErr(fmt.Sprintf("cassim does not implement %s compression; its SUPPORTED message offers none", opts["COMPRESSION"]))
		}
		if cc.n.cfg.Auth { // auth.go
			cc.authenticating = true
			var b buf
			b.str(Authenticator)
			op, body = opAuthenticate, b
			break
		}
		cc.ready = true
		op = opReady
	case opRegister:
		for _, e := range rd.strList() {
			if e != "TOPOLOGY_CHANGE" && e != "STATUS_CHANGE" && e != "SCHEMA_CHANGE" {
				return protocolErr("Invalid event type " + e)
			}
		}
		if rd.err != nil {
			return protocolErr("malformed REGISTER message")
		}
		op = opReady
	case opQuery:
		q := rd.longStr()
		var p queryParams
		if p, err = readParams(rd); err == nil {
			var s statement
			if s, err = parseStatement(q, cc.keyspace); err == nil {
				op, body, err = cc.execute(s, p)
			}
		}
	case opPrepare:
		q := rd.longStr()
		if rd.err != nil {
			return protocolErr("malformed PREPARE message")
		}
		var s statement
		if s, err = parseStatement(q, cc.keyspace); err == nil {
			op, body = opResult, cc.prepared(s, preparedID(q, cc.keyspace))
		}
	case opExecute:
		id := rd.take(rd.short())
		var p queryParams
		if p, err = readParams(rd); err == nil {
			s := cc.n.cql.lookup(string(id))
			if s == nil {
				err = &cqlError{code: errUnprepared, id: id, msg: fmt.Sprintf("Prepared query with ID %x not found"+
					" (either the query was not prepared on this host (maybe the host has been restarted?)"+
					" or you have prepared too many queries and it has been evicted from the internal cache)", id)}
			} else {
				op, body, err = cc.execute(s, p)
			}
		}
	case opBatch:
		err = invalid("cassim does not run BATCH statements: %s", cassimServes)
	case opAuthResponse:
		if !cc.authenticating {
			return protocolErr("Unexpected message AUTH_RESPONSE, expecting STARTUP or OPTIONS")
		}
		token := rd.value()
		if rd.err != nil {
			return protocolErr("malformed AUTH_RESPONSE message")
		}
		user, e := cc.n.login(token)
		if e != nil {
			return version, opError, errorBody(e), false
		}
		cc.authenticating, cc.ready, cc.user = false, true, user
		var b buf
		b.int(-1) // no final SASL token
		op, body = opAuthSuccess, b
	default:
		return protocolErr(fmt.Sprintf("Unknown opcode %d", f.op))
	}
	var ce *cqlError
	switch {
	case errors.Is(err, errMalformed):
		return protocolErr(fmt.Sprintf("malformed %s message", opNames[f.op]))
	case errors.As(err, &ce):
		return version, opError, errorBody(ce), false
	case err != nil:
		return version, opError, errorBody(&cqlError{code: errServer, msg: err.Error()}), false
	}
	return version, op, body, false
}

func errorBody(e *cqlError) []byte {
	var b buf
	b.int(e.code)
	b.str(e.msg)
	if e.code == errUnprepared {
		b.shortBytes(e.id)
	}
	if e.code == errAlreadyExists {
		b.str(e.alreadyExists)
		b.str("") // no table: a keyspace
	}
	if e.code == errUnavailable {
		b.short(map[string]int{"QUORUM": 4, "LOCAL_QUORUM": 6, "EACH_QUORUM": 7}[e.cl])
		b.int(e.required)
		b.int(e.alive)
	}
	return b
}

// queryParams are a QUERY's or EXECUTE's <query_parameters> (v3 and v4).
type queryParams struct {
	values       [][]byte
	skipMetadata bool
	pageSize     int // 0: no paging
	pagingState  []byte
}

func readParams(rd *reader) (queryParams, error) {
	var p queryParams
	rd.short() // consistency: every answer is local
	flags := rd.byte()
	if flags&0x40 != 0 {
		return p, invalid("cassim does not implement named values: %s", cassimServes)
	}
	if flags&0x01 != 0 {
		for n := rd.short(); n > 0 && rd.err == nil; n-- {
			p.values = append(p.values, rd.value())
		}
	}
	p.skipMetadata = flags&0x02 != 0
	if flags&0x04 != 0 {
		p.pageSize = rd.int()
	}
	if flags&0x08 != 0 {
		p.pagingState = rd.value()
	}
	return p, rd.err // serial consistency and timestamp do not matter
}

func preparedID(q, keyspace string) string {
	id := md5.Sum([]byte(keyspace + q))
	return string(id[:])
}

// execute runs a statement: a Rows or Set_keyspace result.
func (cc *cqlConn) execute(s statement, p queryParams) (byte, []byte, error) {
	var b buf
	switch s := s.(type) {
	case *authStmt:
		return cc.runAuth(s) // auth.go
	case *useStmt:
		if !isKeyspace(s.ks) && !cc.n.hasKeyspace(s.ks) {
			return 0, nil, invalid("Keyspace '%s' does not exist", s.ks)
		}
		cc.keyspace = s.ks
		b.int(resultSetKeyspace)
		b.str(s.ks)
	case *selectStmt:
		rows, err := s.run(cc.n, p.values)
		if err != nil {
			return 0, nil, err
		}
		start := 0
		if len(p.pagingState) == 4 {
			start = min(int(binary.BigEndian.Uint32(p.pagingState)), len(rows))
		}
		rows = rows[start:]
		var next []byte
		if p.pageSize > 0 && len(rows) > p.pageSize {
			rows = rows[:p.pageSize]
			next = binary.BigEndian.AppendUint32(nil, uint32(start+p.pageSize))
		}
		b.int(resultRows)
		s.writeMetadata(&b, next, p.skipMetadata)
		b.int(len(rows))
		for _, row := range rows {
			for _, cell := range row {
				b.bytes(cell)
			}
		}
	case *keyspaceStmt:
		if err := cc.mayChangeKeyspace(s); err != nil { // auth.go
			return 0, nil, err
		}
		body, err := cc.n.changeKeyspace(s)
		if err != nil {
			return 0, nil, err
		}
		if body == nil {
			b.int(resultVoid)
		} else {
			b = body
		}
	}
	return opResult, b, nil
}

// writeMetadata writes a Rows result's <metadata>.
func (s *selectStmt) writeMetadata(b *buf, pagingState []byte, noMetadata bool) {
	flags := metaGlobalTableSpec
	if pagingState != nil {
		flags |= metaHasMorePages
	}
	if noMetadata {
		flags = flags&^metaGlobalTableSpec | metaNoMetadata
	}
	b.int(flags)
	b.int(len(s.cols))
	if pagingState != nil {
		b.bytes(pagingState)
	}
	if noMetadata {
		return
	}
	b.str(s.table.ks)
	b.str(s.table.name)
	for i, c := range s.cols {
		b.str(s.names[i])
		s.table.cols[c].typ.writeOption(b)
	}
}

// prepared keeps s under id and returns the Prepared result.
func (cc *cqlConn) prepared(s statement, id string) []byte {
	cc.n.cql.prepare(id, s)
	var b buf
	b.int(resultPrepared)
	b.shortBytes([]byte(id))
	vars := s.markers()
	flags := 0
	if len(vars) > 0 {
		flags = metaGlobalTableSpec
	}
	b.int(flags)
	b.int(len(vars))
	if cc.version >= 4 {
		var pk []int
		if sel, ok := s.(*selectStmt); ok {
			pk = sel.pkIndexes()
		}
		b.int(len(pk))
		for _, i := range pk {
			b.short(i)
		}
	}
	if len(vars) > 0 {
		b.str(vars[0].ks)
		b.str(vars[0].table)
	}
	for _, v := range vars {
		b.str(v.name)
		v.typ.writeOption(&b)
	}
	if sel, ok := s.(*selectStmt); ok {
		sel.writeMetadata(&b, nil, false)
	} else {
		b.int(metaNoMetadata)
		b.int(0)
	}
	return b
}

// describeRequest and describeResponse summarize frames for CASSIM_CQL_TRACE.
func describeRequest(f frame) string {
	name := opNames[f.op]
	if name == "" {
		name = fmt.Sprintf("opcode 0x%02x", f.op)
	}
	rd := &reader{b: f.body}
	if f.version >= minProtocolVersion && f.flags&flagCustomPayload != 0 {
		rd.bytesMap()
	}
	switch f.op {
	case opQuery, opPrepare:
		return fmt.Sprintf("%s %q", name, rd.longStr())
	case opExecute:
		return fmt.Sprintf("%s %x", name, rd.take(rd.short()))
	case opStartup:
		return fmt.Sprintf("%s %v", name, rd.strMap())
	case opRegister:
		return fmt.Sprintf("%s %v", name, rd.strList())
	}
	return name
}

func describeResponse(op byte, body []byte) string {
	rd := &reader{b: body}
	switch op {
	case opError:
		code := rd.int()
		return fmt.Sprintf("ERROR 0x%04x %q", code, rd.str())
	case opReady:
		return "READY"
	case opSupported:
		return "SUPPORTED"
	case opResult:
		switch rd.int() {
		case resultRows:
			rd.rowsMetadata()
			return fmt.Sprintf("RESULT Rows (%d)", rd.int())
		case resultSetKeyspace:
			return "RESULT Set_keyspace " + rd.str()
		case resultPrepared:
			return fmt.Sprintf("RESULT Prepared %x", rd.take(rd.short()))
		}
	}
	return fmt.Sprintf("opcode 0x%02x", op)
}

// rowsMetadata reads a Rows result's <metadata>: the number of columns
// and the paging state (nil: no more pages).
func (rd *reader) rowsMetadata() (ncol int, pagingState []byte) {
	flags := rd.int()
	ncol = rd.int()
	if flags&metaHasMorePages != 0 {
		pagingState = rd.value()
	}
	if flags&metaNoMetadata != 0 {
		return ncol, pagingState
	}
	if flags&metaGlobalTableSpec != 0 {
		rd.str()
		rd.str()
	}
	for i := 0; i < ncol; i++ {
		if flags&metaGlobalTableSpec == 0 {
			rd.str()
			rd.str()
		}
		rd.str()
		skipOption(rd)
	}
	return ncol, pagingState
}

func skipOption(rd *reader) {
	switch rd.short() {
	case typeList, typeSet:
		skipOption(rd)
	case typeMap:
		skipOption(rd)
		skipOption(rd)
	}
}

func tokenStrings(ts []int64) []string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprint(t))
	}
	return out
}

// Probe is a CQL readiness probe: it connects to addr, negotiates v4 (and
// logs in with cqlsh's default credentials file when the node asks), and
// reads bootstrapped and release_version from system.local. It succeeds
// only when bootstrapped is COMPLETED; a refused login is an *AuthError.
func Probe(addr string, timeout time.Duration) (release string, err error) {
	user, password, creds := readCredentials(credentialsPath(), io.Discard)
	tlsCfg, err := loadCqlshSSL(false).clientTLS()
	if err != nil {
		return "", err
	}
	c, err := dialCqlsh(context.Background(), addr, timeout, tlsCfg, creds, user, password)
	if err != nil {
		return "", err
	}
	defer c.Close()
	q := "SELECT bootstrapped, release_version FROM system.local WHERE key='local'"
	var qb buf
	qb.longStr(q)
	qb.short(0x0001) // ONE
	qb.byte(0)
	f, err := c.call(opQuery, qb)
	if err != nil {
		return "", err
	}
	vals, err := parseSingleRow(f.body)
	if err != nil {
		return "", err
	}
	if len(vals) != 2 || vals[0] != "COMPLETED" {
		return "", fmt.Errorf("system.local says bootstrapped=%v", vals)
	}
	return vals[1], nil
}

// parseSingleRow reads the text values of the first row of a Rows result.
func parseSingleRow(b []byte) ([]string, error) {
	rd := &reader{b: b}
	if rd.int() != resultRows {
		return nil, errors.New("cql: not a Rows result")
	}
	ncol, _ := rd.rowsMetadata()
	if rd.int() < 1 {
		return nil, errors.New("cql: no rows")
	}
	var out []string
	for i := 0; i < ncol; i++ {
		out = append(out, string(rd.value()))
	}
	if rd.err != nil {
		return nil, errors.New("cql: malformed Rows result")
	}
	return out, nil
}
