package cassim

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// cqlClient speaks the native protocol to one node, frame by frame.
type cqlClient struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	next int16
}

func dialCQL(t *testing.T, addr string) *cqlClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	return &cqlClient{t: t, c: c, r: bufio.NewReader(c), next: 1}
}

// call sends one request and returns the response frame.
func (cl *cqlClient) call(version, op byte, body []byte) frame {
	cl.t.Helper()
	cl.next++
	if err := writeFrame(cl.c, version&0x7f, cl.next, op, body); err != nil {
		cl.t.Fatal(err)
	}
	f, err := readFrame(cl.r)
	if err != nil {
		cl.t.Fatalf("no answer to opcode 0x%02x: %v", op, err)
	}
	return f
}

func (cl *cqlClient) startup() {
	cl.t.Helper()
	var b buf
	b.short(1)
	b.str("CQL_VERSION")
	b.str("3.0.0")
	if f := cl.call(4, opStartup, b); f.op != opReady {
		cl.t.Fatalf("STARTUP: %s", describeResponse(f.op, f.body))
	}
}

// query runs q at v4 with values and the page size (0: none) and paging state.
func (cl *cqlClient) query(q string, pageSize int, paging []byte, values ...[]byte) frame {
	cl.t.Helper()
	var b buf
	b.longStr(q)
	writeTestParams(&b, pageSize, paging, values)
	return cl.call(4, opQuery, b)
}

func writeTestParams(b *buf, pageSize int, paging []byte, values [][]byte) {
	b.short(1) // ONE
	flags := byte(0)
	if len(values) > 0 {
		flags |= 0x01
	}
	if pageSize > 0 {
		flags |= 0x04
	}
	if paging != nil {
		flags |= 0x08
	}
	b.byte(flags)
	if len(values) > 0 {
		b.short(len(values))
		for _, v := range values {
			b.bytes(v)
		}
	}
	if pageSize > 0 {
		b.int(pageSize)
	}
	if paging != nil {
		b.bytes(paging)
	}
}

// rowsOf decodes a Rows result: its rows as text and the paging state.
func rowsOf(t *testing.T, f frame) (rows [][]string, paging []byte) {
	t.Helper()
	if f.op != opResult {
		t.Fatalf("want rows, got %s", describeResponse(f.op, f.body))
	}
	rd := &reader{b: f.body}
	if kind := rd.int(); kind != resultRows {
		t.Fatalf("result kind %d", kind)
	}
	ncol, paging := rd.rowsMetadata()
	for n := rd.int(); n > 0; n-- {
		var row []string
		for i := 0; i < ncol; i++ {
			row = append(row, string(rd.value()))
		}
		rows = append(rows, row)
	}
	if rd.err != nil || len(rd.b) != 0 {
		t.Fatalf("malformed rows (%v, %d bytes left)", rd.err, len(rd.b))
	}
	return rows, paging
}

// errorOf decodes an ERROR.
func errorOf(t *testing.T, f frame) (int, string) {
	t.Helper()
	if f.op != opError {
		t.Fatalf("want an error, got %s", describeResponse(f.op, f.body))
	}
	rd := &reader{b: f.body}
	return rd.int(), rd.str()
}

// A version cassim does not speak gets Cassandra's error in cassim's own
// version on stream 0 (an old one in that version's framing), and the
// connection closes.
func TestCQLUnsupportedVersions(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	n := l.start(1, t.TempDir(), nil)
	n.waitLog(t, "Starting listening for CQL clients")
	for _, v := range []byte{5, 6, 0x41, 0x42, 2} {
		cl := dialCQL(t, l.ip(1)+":9042")
		f := cl.call(v, opOptions, nil)
		code, msg := errorOf(t, f)
		wantVersion := byte(maxProtocolVersion)
		if v < minProtocolVersion {
			wantVersion = v
		}
		if f.version != wantVersion || f.stream != 0 || code != errProtocol || msg != MsgUnsupportedProtocol(int(v)) ||
			!strings.Contains(msg, "unsupported protocol version") {
			t.Errorf("v%d: answered v%d on stream %d: 0x%04x %q", v, f.version, f.stream, code, msg)
		}
		if _, err := readFrame(cl.r); err != io.EOF {
			t.Errorf("v%d: the connection stays open (%v)", v, err)
		}
	}
	if want := "supported versions are (3/v3, 4/v4)"; !strings.HasSuffix(MsgUnsupportedProtocol(5), want) {
		t.Errorf("%q does not end in %q", MsgUnsupportedProtocol(5), want)
	}
}

// What cassim answers and refuses over CQL, and how.
func TestCQLStatements(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	n := l.start(1, t.TempDir(), nil)
	n.waitLog(t, "Starting listening for CQL clients")
	cl := dialCQL(t, l.ip(1)+":9042")

	if code, msg := errorOf(t, cl.query("SELECT * FROM system.local", 0, nil)); code != errProtocol ||
		msg != "Unexpected message QUERY, expecting STARTUP or OPTIONS" {
		t.Errorf("QUERY before STARTUP: 0x%04x %q", code, msg)
	}
	f := cl.call(4, opOptions, nil)
	if f.op != opSupported {
		t.Fatalf("OPTIONS: %s", describeResponse(f.op, f.body))
	}
	supported := map[string][]string{}
	rd := &reader{b: f.body}
	for k := rd.short(); k > 0; k-- {
		name := rd.str()
		supported[name] = rd.strList()
	}
	if strings.Join(supported["CQL_VERSION"], ",") != CQLVersion || strings.Join(supported["PROTOCOL_VERSIONS"], ",") != "3/v3,4/v4" ||
		len(supported["COMPRESSION"]) != 0 {
		t.Errorf("SUPPORTED %v", supported)
	}
	cl.startup()

	rows, _ := rowsOf(t, cl.query("SELECT release_version, cql_version, native_protocol_version, host_id FROM system.local WHERE key = 'local'", 0, nil))
	if len(rows) != 1 || rows[0][0] != DefaultReleaseVersion || rows[0][1] != CQLVersion || rows[0][2] != "4" || len(rows[0][3]) != 16 {
		t.Errorf("system.local: %q", rows)
	}
	rows, _ = rowsOf(t, cl.query(`SELECT "keyspace_name" AS ks, replication FROM system_schema.keyspaces WHERE keyspace_name IN ('system_traces', 'nope')`, 0, nil))
	if len(rows) != 1 || rows[0][0] != "system_traces" || !strings.Contains(rows[0][1], "replication_factor") {
		t.Errorf("system_traces: %q", rows)
	}

	// system_schema describes the tables cassim answers, with 5.0's columns.
	for table, want := range map[string]int{"local": 20, "peers_v2": 12, "peers": 9} {
		rows, _ := rowsOf(t, cl.query("SELECT column_name, kind FROM system_schema.columns WHERE keyspace_name = 'system' AND table_name = ?", 0, nil, []byte(table)))
		if len(rows) != want {
			t.Errorf("system.%s has %d columns, want %d: %q", table, len(rows), want, rows)
		}
	}
	for table, want := range map[string]int{"tables": 25, "views": 28, "columns": 8, "keyspaces": 3} {
		rows, _ := rowsOf(t, cl.query("SELECT column_name FROM system_schema.columns WHERE keyspace_name = 'system_schema' AND table_name = ?", 0, nil, []byte(table)))
		if len(rows) != want {
			t.Errorf("system_schema.%s has %d columns, want %d", table, len(rows), want)
		}
	}

	// Paging through system_schema.columns.
	all, more := rowsOf(t, cl.query("SELECT * FROM system_schema.columns", 0, nil))
	if more != nil || len(all) < 100 {
		t.Fatalf("%d columns, paging state %x", len(all), more)
	}
	var paged [][]string
	for page, state := 0, []byte(nil); page == 0 || state != nil; page++ {
		var rows [][]string
		rows, state = rowsOf(t, cl.query("SELECT * FROM system_schema.columns", 50, state))
		paged = append(paged, rows...)
		if len(rows) > 50 || page > len(all)/50 {
			t.Fatalf("page %d has %d rows", page, len(rows))
		}
	}
	if len(paged) != len(all) {
		t.Errorf("pages hold %d rows, want %d", len(paged), len(all))
	}

	// USE and unqualified names.
	if f := cl.query("USE system", 0, nil); f.op != opResult || describeResponse(f.op, f.body) != "RESULT Set_keyspace system" {
		t.Errorf("USE system: %s", describeResponse(f.op, f.body))
	}
	if rows, _ := rowsOf(t, cl.query("SELECT key FROM local", 0, nil)); len(rows) != 1 || rows[0][0] != "local" {
		t.Errorf("SELECT key FROM local: %q", rows)
	}

	for _, c := range []struct{ q, want string }{
		{"SELECT * FROM ks.t", "table ks.t does not exist: " + cassimServes},
		{"INSERT INTO ks.t (a) VALUES (1)", "cassim does not run INSERT statements: " + cassimServes},
		{"CREATE TABLE ks.t (a int PRIMARY KEY)", "cassim does not run CREATE TABLE statements: " + cassimServes},
		{"BEGIN BATCH INSERT INTO ks.t (a) VALUES (1) APPLY BATCH", "cassim does not run BATCH statements: " + cassimServes},
		{"USE ks", "Keyspace 'ks' does not exist"},
		{"SELECT count(*) FROM system.local", "cassim does not implement function calls such as count(...) in a selection: " + cassimServes},
		{"SELECT nope FROM system.local", "Undefined column name nope in table system.local"},
		{"SELECT * FROM system.peers WHERE data_center = 'dc1'", "Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING"},
		{"SELECT * FROM system.peers WHERE host_id = 'x' ALLOW FILTERING", `Invalid STRING constant (x) for "host_id" of type uuid`},
	} {
		if code, msg := errorOf(t, cl.query(c.q, 0, nil)); code != errInvalid || msg != c.want {
			t.Errorf("%s:\n got 0x%04x %q\nwant 0x2200 %q", c.q, code, msg, c.want)
		}
	}
	// With AllowAllAuthenticator the client is anonymous: it may not
	// manage roles (real 5.0.8's refusals), yet the role manager makes the
	// default role as with authentication on, and the table lists it.
	for q, want := range map[string]string{
		"CREATE ROLE IF NOT EXISTS admin_x WITH PASSWORD = 'pw' AND SUPERUSER = true AND LOGIN = true": "Only superusers can create a role with superuser status",
		"CREATE ROLE IF NOT EXISTS nopw WITH SUPERUSER = false AND LOGIN = false":                      "You have to be logged in and not anonymous to perform this request",
		"ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false":                                "Only superusers are allowed to alter superuser status",
	} {
		if code, msg := errorOf(t, cl.query(q, 0, nil)); code != errUnauthorized || msg != want {
			t.Errorf("anonymous %s:\n got 0x%04x %q\nwant 0x2100 %q", q, code, msg, want)
		}
	}
	n.waitLog(t, "Created default superuser role 'cassandra'")
	if rows, _ := rowsOf(t, cl.query("SELECT role, is_superuser, can_login FROM system_auth.roles", 0, nil)); len(rows) != 1 || (rows[0][0] != "cassandra" || rows[0][1] != "\x01" || rows[0][2] != "\x01") {
		t.Errorf("system_auth.roles without authentication: %q, want the default role", rows)
	}
	if code, msg := errorOf(t, cl.query("SELEC * FROM system.local", 0, nil)); code != errSyntax || !strings.Contains(msg, "SELEC") {
		t.Errorf("a syntax error: 0x%04x %q", code, msg)
	}
	if rows, _ := rowsOf(t, cl.query("SELECT peer FROM system.peers WHERE data_center = 'dc1' ALLOW FILTERING", 0, nil)); len(rows) != 0 {
		t.Errorf("filtering: %q", rows)
	}

	// PREPARE says which bound values form the partition key; EXECUTE
	// binds them; an unknown ID is Unprepared.
	var b buf
	b.longStr("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name IN ? LIMIT ?")
	f = cl.call(4, opPrepare, b)
	if f.op != opResult {
		t.Fatalf("PREPARE: %s", describeResponse(f.op, f.body))
	}
	rd = &reader{b: f.body}
	rd.int()
	id := rd.take(rd.short())
	flags, nvars, npk := rd.int(), rd.int(), rd.int()
	pk0 := rd.short()
	rd.str()
	rd.str()
	var names []string
	for i := 0; i < nvars; i++ {
		names = append(names, rd.str())
		skipOption(rd)
	}
	if flags != metaGlobalTableSpec || nvars != 3 || npk != 1 || pk0 != 0 || strings.Join(names, ",") != "keyspace_name,in(table_name),[limit]" || rd.err != nil {
		t.Errorf("prepared metadata: flags %d, %d vars %v, pk %d at %d (%v)", flags, nvars, names, npk, pk0, rd.err)
	}
	var list buf
	list.int(2)
	list.bytes([]byte("local"))
	list.bytes([]byte("peers"))
	var ex buf
	ex.shortBytes(id)
	writeTestParams(&ex, 0, nil, [][]byte{[]byte("system"), list, binary.BigEndian.AppendUint32(nil, 1)})
	if rows, _ := rowsOf(t, cl.call(4, opExecute, ex)); len(rows) != 1 || rows[0][0] != "local" {
		t.Errorf("EXECUTE with a limit of 1: %q", rows)
	}
	var unknown buf
	unknown.shortBytes([]byte("0123456789abcdef"))
	writeTestParams(&unknown, 0, nil, nil)
	f = cl.call(4, opExecute, unknown)
	if code, msg := errorOf(t, f); code != errUnprepared || !strings.HasPrefix(msg, "Prepared query with ID 30313233") ||
		!strings.HasSuffix(string(f.body), "\x00\x100123456789abcdef") {
		t.Errorf("unknown ID: 0x%04x %q", code, msg)
	}

	// A stopped node drops its clients.
	n.stop()
	if _, err := readFrame(cl.r); err != io.EOF {
		t.Errorf("a stopped node's connection: %v", err)
	}
}
