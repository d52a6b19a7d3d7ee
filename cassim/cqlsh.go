package cassim

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cqlsh is the cassim image's cqlsh: enough of Cassandra's to run
// statements non-interactively, as `cqlsh [HOST [PORT]] -e STATEMENTS` or
// with statements on stdin, the way swarmcass and tests use it: a
// keyspace's creation, a SELECT of the system tables. Results print as
// cqlsh prints them (a table, then "(N rows)"); errors as
// `<stdin>:1:Code: message` with exit status 2. It is not Cassandra's
// cqlsh: there is no interactive shell.

// CqlshMain runs cqlsh with args; it returns the exit status.
func CqlshMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	host, port := "127.0.0.1", strconv.Itoa(CQLPort)
	// cqlsh's own variables, then the node's port when it is not 9042
	for _, v := range []string{"CASSANDRA_NATIVE_TRANSPORT_PORT", "CQLSH_PORT"} {
		if p := os.Getenv(v); p != "" {
			port = p
		}
	}
	if h := os.Getenv("CQLSH_HOST"); h != "" {
		host = h
	}
	var exec *string
	var pos []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "-e" || a == "--execute") && i+1 < len(args):
			exec = &args[i+1]
			i++
		case (a == "-u" || a == "--username" || a == "-p" || a == "--password" || a == "-k" || a == "--keyspace" ||
			a == "--request-timeout" || a == "--connect-timeout" || a == "--cqlshrc" || a == "--cqlversion") && i+1 < len(args):
			i++ // authentication and timeouts: not needed here
		case a == "-h" || a == "--help":
			fmt.Fprintln(stdout, "usage: cqlsh [HOST [PORT]] [-e STATEMENTS]   (cassim's cqlsh: no interactive shell)")
			return 0
		case strings.HasPrefix(a, "-"):
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) > 0 {
		host = pos[0]
	}
	if len(pos) > 1 {
		port = pos[1]
	}
	var text string
	if exec != nil {
		text = *exec
	} else {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, "cqlsh:", err)
			return 1
		}
		text = string(b)
	}
	addr := net.JoinHostPort(host, port)
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintf(stdout, "Connection error: ('Unable to connect to any servers', {'%s': ConnectionRefusedError(111, \"Tried connecting to [('%s', %s)]. Last error: Connection refused\")})\n", addr, host, port)
		return 1
	}
	defer c.Close()
	s := &cqlshSession{c: c, r: bufio.NewReader(c)}
	if err := s.startup(); err != nil {
		fmt.Fprintf(stdout, "Connection error: ('Unable to connect to any servers', {'%s': %v})\n", addr, err)
		return 1
	}
	status := 0
	for i, stmt := range splitStatements(text) {
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		if err := s.run(stmt, stdout); err != nil {
			fmt.Fprintf(stderr, "<stdin>:%d:%v\n", i+1, err)
			status = 2
		}
	}
	return status
}

type cqlshSession struct {
	c      net.Conn
	r      *bufio.Reader
	stream int16
}

func (s *cqlshSession) call(op byte, body []byte) (frame, error) {
	s.stream++
	if err := writeFrame(s.c, 4, s.stream, op, body); err != nil {
		return frame{}, err
	}
	return readFrame(s.r)
}

func (s *cqlshSession) startup() error {
	var b buf
	b.short(1)
	b.str("CQL_VERSION")
	b.str(CQLVersion)
	f, err := s.call(opStartup, b)
	if err != nil {
		return err
	}
	if f.op != opReady {
		return fmt.Errorf("STARTUP: %s", describeResponse(f.op, f.body))
	}
	return nil
}

// cqlErrorNames are cqlsh's names of the error codes.
var cqlErrorNames = map[int]string{errServer: "ServerError", errProtocol: "ProtocolError", errSyntax: "SyntaxException",
	errUnauthorized: "Unauthorized", errInvalid: "InvalidRequest", errConfig: "ConfigurationException",
	errAlreadyExists: "AlreadyExists", errUnprepared: "Unprepared"}

func (s *cqlshSession) run(stmt string, out io.Writer) error {
	var b buf
	b.longStr(stmt)
	b.short(0x0001) // ONE
	b.byte(0)
	f, err := s.call(opQuery, b)
	if err != nil {
		return fmt.Errorf("NoHostAvailable: %v", err)
	}
	rd := &reader{b: f.body}
	if f.op == opError {
		code, msg := rd.int(), rd.str()
		name := cqlErrorNames[code]
		if name == "" {
			name = fmt.Sprintf("Error 0x%04x", code)
		}
		if code == errAlreadyExists {
			return fmt.Errorf("%s: %s", name, msg)
		}
		return fmt.Errorf("%s: Error from server: code=%04x [%s] message=\"%s\"", name, code, cqlshErrorKind(code), msg)
	}
	if f.op != opResult || rd.int() != resultRows {
		return nil // USE, schema changes: cqlsh prints nothing
	}
	flags, ncol := rd.int(), rd.int()
	if flags&metaHasMorePages != 0 {
		rd.value()
	}
	global := flags&metaGlobalTableSpec != 0
	if global {
		rd.str()
		rd.str()
	}
	names := make([]string, ncol)
	types := make([]colType, ncol)
	for i := range ncol {
		if !global {
			rd.str()
			rd.str()
		}
		names[i] = rd.str()
		types[i] = readColType(rd)
	}
	var rows [][]string
	for n := rd.int(); n > 0 && rd.err == nil; n-- {
		row := make([]string, ncol)
		for i := range ncol {
			row[i] = types[i].format(rd.value(), false)
		}
		rows = append(rows, row)
	}
	if rd.err != nil {
		return fmt.Errorf("ProtocolError: malformed rows")
	}
	printTable(out, names, rows)
	return nil
}

func cqlshErrorKind(code int) string {
	switch code {
	case errSyntax:
		return "Syntax error in CQL query"
	case errInvalid:
		return "Invalid query"
	case errConfig:
		return "Query invalid because of configuration issue"
	case errUnauthorized:
		return "Unauthorized"
	}
	return "Server error"
}

// colType is a result column's type option.
type colType struct {
	id   int
	args []colType
}

func readColType(rd *reader) colType {
	t := colType{id: rd.short()}
	switch t.id {
	case typeList, typeSet:
		t.args = []colType{readColType(rd)}
	case typeMap:
		t.args = []colType{readColType(rd), readColType(rd)}
	}
	return t
}

// format prints a value as cqlsh does; inner values of collections quote text.
func (t colType) format(v []byte, inner bool) string {
	if v == nil {
		return "null"
	}
	switch t.id {
	case typeASCII, typeVarchar:
		if inner {
			return "'" + strings.ReplaceAll(string(v), "'", "''") + "'"
		}
		return string(v)
	case typeInt:
		if len(v) == 4 {
			return strconv.Itoa(int(int32(binary.BigEndian.Uint32(v))))
		}
	case typeBigint:
		if len(v) == 8 {
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)
		}
	case typeBoolean:
		if len(v) == 1 {
			if v[0] != 0 {
				return "True"
			}
			return "False"
		}
	case typeDouble:
		if len(v) == 8 {
			return strconv.FormatFloat(math.Float64frombits(binary.BigEndian.Uint64(v)), 'g', -1, 64)
		}
	case typeUUID, typeTimeUUID:
		if len(v) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
		}
	case typeInet:
		return net.IP(v).String()
	case typeTimestamp:
		if len(v) == 8 {
			return time.UnixMilli(int64(binary.BigEndian.Uint64(v))).UTC().Format("2006-01-02 15:04:05.000000+0000")
		}
	case typeList, typeSet, typeMap:
		rd := &reader{b: v}
		var parts []string
		for n := rd.int(); n > 0 && rd.err == nil; n-- {
			if t.id == typeMap {
				parts = append(parts, t.args[0].format(rd.value(), true)+": "+t.args[1].format(rd.value(), true))
			} else {
				parts = append(parts, t.args[0].format(rd.value(), true))
			}
		}
		if t.id == typeSet {
			sort.Strings(parts)
		}
		open, end := "[", "]"
		if t.id != typeList {
			open, end = "{", "}"
		}
		return open + strings.Join(parts, ", ") + end
	}
	return "0x" + hex.EncodeToString(v)
}

// printTable prints rows as cqlsh does: a blank line, the header (names
// left-aligned), a rule, the values right-aligned, the rows, a blank line and "(N rows)".
func printTable(out io.Writer, names []string, rows [][]string) {
	width := make([]int, len(names))
	for i, n := range names {
		width[i] = len(n)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	line := func(cells []string, left bool) string {
		parts := make([]string, len(cells))
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len(c))
			if left {
				parts[i] = " " + c + pad + " "
			} else {
				parts[i] = " " + pad + c + " "
			}
		}
		return strings.TrimRight(strings.Join(parts, "|"), " ")
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, line(names, true))
	rule := make([]string, len(names))
	for i := range names {
		rule[i] = strings.Repeat("-", width[i]+2)
	}
	fmt.Fprintln(out, strings.Join(rule, "+"))
	for _, r := range rows {
		fmt.Fprintln(out, line(r, false))
	}
	fmt.Fprintf(out, "\n(%d rows)\n", len(rows))
}

// splitStatements splits text at semicolons outside quotes; blank
// statements are dropped.
func splitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
