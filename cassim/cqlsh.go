package cassim

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cassim's cqlsh, the cassim image's cqlsh and the client of cassim's own
// health check: enough of Cassandra's cqlsh (6.2, Cassandra 5.0) to run
// statements non-interactively, as `cqlsh [HOST [PORT]] -e STATEMENTS` or
// with statements on stdin, the way swarmcass and tests use it. It connects
// to one node over the native protocol (v4) and logs in when the node asks,
// with -u/-p or a credentials file ([plain_text_auth] username/password;
// ~/.cassandra/credentials by default, ignored unless only its owner can
// read it, as cqlsh does). Rows print as cqlsh prints them (a table, then
// "(N rows)"), errors as `<stdin>:N:Name: message` with exit status 2, a
// failed connection or login as `Connection error: ...` on stderr with exit
// status 1. It is NOT cqlsh: no interactive shell, no DESCRIBE, no COPY.

// AuthError is a login the server refused, or one it asked for and no
// credentials were given.
type AuthError struct {
	Addr string
	Msg  string // the server's message, or "" when no credentials were given
}

func (e *AuthError) Error() string {
	if e.Msg == "" {
		return "Remote end requires authentication"
	}
	return fmt.Sprintf("Failed to authenticate to %s: Error from server: code=0100 [Bad credentials] message=\"%s\"", e.Addr, e.Msg)
}

// serverError is an ERROR response to a request.
type serverError struct {
	code int
	msg  string
	// ks: an Already_exists error's keyspace; cl, required, alive: an
	// Unavailable error's.
	ks, table       string
	cl              string
	required, alive int
}

// errorNames are the Python driver's exception class and summary of each
// error code, as cqlsh prints them.
var errorNames = map[int][2]string{
	errServer: {"ServerError", "Server error"}, errProtocol: {"ProtocolException", "Protocol error"},
	errBadCredentials: {"AuthenticationFailed", "Bad credentials"}, errUnavailable: {"Unavailable", "Unavailable exception"},
	errSyntax: {"SyntaxException", "Syntax error in CQL query"}, errUnauthorized: {"Unauthorized", "Unauthorized"},
	errInvalid: {"InvalidRequest", "Invalid query"}, errConfig: {"ConfigurationException", "Query invalid because of configuration issue"},
	errAlreadyExists: {"AlreadyExists", "Already exists"}, errUnprepared: {"PreparedQueryNotFound", "Unprepared"},
}

// consistencyNames are the consistency levels' names by code.
var consistencyNames = map[int]string{0: "ANY", 1: "ONE", 2: "TWO", 3: "THREE", 4: "QUORUM", 5: "ALL",
	6: "LOCAL_QUORUM", 7: "EACH_QUORUM", 8: "SERIAL", 9: "LOCAL_SERIAL", 10: "LOCAL_ONE"}

// Error is what cqlsh prints after `<stdin>:N:`: the driver's exception
// class, then its message.
func (e *serverError) Error() string {
	n, ok := errorNames[e.code]
	if !ok {
		n = [2]string{"ServerError", "Server error"}
	}
	return n[0] + ": " + e.message()
}

// message is the driver's exception's message (str() of it).
func (e *serverError) message() string {
	n, ok := errorNames[e.code]
	if !ok {
		n = [2]string{"ServerError", "Server error"}
	}
	switch e.code {
	case errAlreadyExists: // the driver's AlreadyExists
		if e.table != "" {
			return fmt.Sprintf("Table '%s.%s' already exists", e.ks, e.table)
		}
		return fmt.Sprintf("Keyspace '%s' already exists", e.ks)
	case errUnavailable:
		return fmt.Sprintf("Error from server: code=%04x [%s] message=\"%s\" info={'consistency': '%s', 'required_replicas': %d, 'alive_replicas': %d}",
			e.code, n[1], e.msg, e.cl, e.required, e.alive)
	}
	return fmt.Sprintf("Error from server: code=%04x [%s] message=\"%s\"", e.code, n[1], e.msg)
}

// cqlshConn is one connection.
type cqlshConn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration // of a request
	stream  int16
}

// dialCqlsh connects to addr and logs in with user and password when the
// server asks (creds false: none given); timeout bounds the connection and
// then each request.
func dialCqlsh(ctx context.Context, addr string, timeout time.Duration, tlsCfg *tls.Config, creds bool, user, password string) (*cqlshConn, error) {
	d := &net.Dialer{Timeout: timeout}
	var c net.Conn
	var err error
	if tlsCfg != nil {
		c, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	cl := &cqlshConn{c: c, r: bufio.NewReader(c), timeout: timeout}
	var st buf
	st.short(1)
	st.str("CQL_VERSION")
	st.str(CQLVersion)
	f, err := cl.call(opStartup, st)
	if err != nil {
		c.Close()
		return nil, err
	}
	if f.op == opAuthenticate {
		if !creds {
			c.Close()
			return nil, &AuthError{Addr: addr}
		}
		var b buf
		b.bytes([]byte("\x00" + user + "\x00" + password))
		if f, err = cl.call(opAuthResponse, b); err != nil {
			c.Close()
			var se *serverError
			if errors.As(err, &se) && se.code == errBadCredentials {
				return nil, &AuthError{Addr: addr, Msg: se.msg}
			}
			return nil, err
		}
		if f.op != opAuthSuccess {
			c.Close()
			return nil, fmt.Errorf("cql: got opcode 0x%02x after AUTH_RESPONSE", f.op)
		}
	} else if f.op != opReady {
		c.Close()
		return nil, fmt.Errorf("cql: got opcode 0x%02x after STARTUP", f.op)
	}
	return cl, nil
}

func (cl *cqlshConn) Close() error { return cl.c.Close() }

// call sends one request; an ERROR response is a *serverError.
func (cl *cqlshConn) call(op byte, body []byte) (frame, error) {
	_ = cl.c.SetDeadline(time.Now().Add(cl.timeout))
	cl.stream++
	if err := writeFrame(cl.c, 4, cl.stream, op, body); err != nil {
		return frame{}, err
	}
	f, err := readFrame(cl.r)
	if err != nil {
		return frame{}, err
	}
	if f.op == opError {
		rd := &reader{b: f.body}
		se := &serverError{code: rd.int(), msg: rd.str()}
		switch se.code {
		case errAlreadyExists:
			se.ks, se.table = rd.str(), rd.str()
		case errUnavailable:
			se.cl, se.required, se.alive = consistencyNames[rd.short()], rd.int(), rd.int()
		}
		return f, se
	}
	return f, nil
}

// cqlResult is a statement's result: rows with their column names, as
// cqlsh prints them, or none.
type cqlResult struct {
	cols     []string
	rows     [][]string
	rowsKind bool
}

func (cl *cqlshConn) query(q string) (cqlResult, error) {
	var qb buf
	qb.longStr(q)
	qb.short(0x0001) // ONE
	qb.byte(0)
	f, err := cl.call(opQuery, qb)
	if err != nil {
		return cqlResult{}, err
	}
	rd := &reader{b: f.body}
	if f.op != opResult || rd.int() != resultRows {
		return cqlResult{}, nil // USE, schema changes: cqlsh prints nothing
	}
	res := cqlResult{rowsKind: true}
	flags, ncol := rd.int(), rd.int()
	if flags&metaHasMorePages != 0 {
		rd.value()
	}
	global := flags&metaGlobalTableSpec != 0
	if global {
		rd.str()
		rd.str()
	}
	types := make([]colType, ncol)
	for i := range ncol {
		if !global {
			rd.str()
			rd.str()
		}
		res.cols = append(res.cols, rd.str())
		types[i] = readColType(rd)
	}
	for n := rd.int(); n > 0 && rd.err == nil; n-- {
		row := make([]string, ncol)
		for i := range ncol {
			row[i] = types[i].format(rd.value(), false)
		}
		res.rows = append(res.rows, row)
	}
	if rd.err != nil {
		return cqlResult{}, errors.New("ProtocolException: malformed Rows result")
	}
	return res, nil
}

// colType is a result column's type option.
type colType struct {
	id   int
	args []colType
}

func readColType(rd *reader) colType {
	t := colType{id: rd.short()}
	switch t.id {
	case 0x0000: // custom: the class name
		rd.str()
	case typeList, typeSet:
		t.args = []colType{readColType(rd)}
	case typeMap:
		t.args = []colType{readColType(rd), readColType(rd)}
	}
	return t
}

// format prints a value as cqlsh does: text bare at the top, quoted inside
// collections (inner); booleans True and False; null.
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
	case typeFloat:
		if len(v) == 4 {
			return strconv.FormatFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(v))), 'g', -1, 32)
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
func printTable(out io.Writer, res cqlResult) {
	names, rows := res.cols, res.rows
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

// readCredentials reads a cqlsh credentials file; ok is false when there is
// none, or cqlsh would not use it (not owned by the user alone).
func readCredentials(path string, stderr io.Writer) (user, password string, ok bool) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", false
	}
	if sys, isUnix := st.Sys().(*syscall.Stat_t); (isUnix && int(sys.Uid) != os.Getuid()) || st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "\nWarning: Credentials file '%s' exists but is not used, because:\n  a. the file owner is not the current user; or\n  b. the file is readable by group or other.\n", path)
		return "", "", false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", false
	}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if k, v, found := strings.Cut(line, "="); found && section == "plain_text_auth" {
			switch strings.TrimSpace(k) {
			case "username":
				user = strings.TrimSpace(v)
			case "password":
				password = strings.TrimSpace(v)
			}
		}
	}
	return user, password, user != ""
}

// credentialsPath is cqlsh's default credentials file.
func credentialsPath() string {
	home := os.Getenv("HOME")
	if home == "" {
		home = "/root"
	}
	return filepath.Join(home, ".cassandra", "credentials")
}

// LinkCredentials makes file root's (or $HOME's) ~/.cassandra/credentials,
// as the node image's entrypoint does, so that cqlsh logs in on its own.
func LinkCredentials(file string) error {
	link := credentialsPath()
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		return err
	}
	_ = os.Remove(link)
	return os.Symlink(file, link)
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

// plainIdent is a name cqlsh does not quote (protect_name).
var plainIdent = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// connectionError is how cqlsh reports a node it could not connect to or
// log in on: the driver's NoHostAvailable, with the error per host.
func connectionError(addr, host, port string, err error) string {
	var ae *AuthError
	var ne net.Error
	var cause string
	switch {
	case errors.As(err, &ae):
		cause = fmt.Sprintf("AuthenticationFailed('%s')", ae.Error())
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF):
		// A TLS-only port talked to in plaintext, as Cassandra resets it.
		cause = "ConnectionResetError(104, 'Connection reset by peer')"
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = fmt.Sprintf("ConnectionRefusedError(111, \"Tried connecting to [('%s', %s)]. Last error: Connection refused\")", host, port)
	case errors.As(err, &ne) && ne.Timeout():
		cause = "OperationTimedOut('errors=Timed out creating connection, last_host=None')"
	default:
		cause = fmt.Sprintf("ConnectionException('%v')", err)
	}
	return fmt.Sprintf("Connection error: ('Unable to connect to any servers', {'%s': %s})", addr, cause)
}

// CqlshMain runs cassim's cqlsh with args; it returns the exit status: 1
// when it cannot connect or log in, 2 when a statement failed, as cqlsh's.
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
	var user, password, credFile, keyspace string
	ssl := false
	var execute *string
	var positional []string
	userGiven := false
	connectTimeout, requestTimeout := 5*time.Second, 10*time.Second // cqlsh's defaults
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, inline, hasInline := strings.Cut(a, "=")
		if !strings.HasPrefix(name, "--") {
			name, hasInline = a, false
		}
		val := func() string {
			if hasInline {
				return inline
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch name {
		case "-u", "--username":
			user, userGiven = val(), true
		case "-p", "--password":
			password = val()
			fmt.Fprintln(stderr, "\nWarning: Using a password on the command line interface can be insecure.\nRecommendation: use the credentials file to securely provide the password.")
		case "--credentials":
			credFile = val()
		case "--ssl":
			ssl = true
		case "-e", "--execute":
			v := val()
			execute = &v
		case "-k", "--keyspace":
			keyspace = val()
		case "--connect-timeout", "--request-timeout":
			v := val()
			s, err := strconv.Atoi(v)
			if err != nil {
				fmt.Fprintf(stderr, "cqlsh: error: option %s: invalid integer value: '%s'\n", name, v)
				return 2
			}
			if name == "--connect-timeout" {
				connectTimeout = time.Duration(s) * time.Second
			} else {
				requestTimeout = time.Duration(s) * time.Second
			}
		case "--cqlshrc", "--cqlversion":
			val() // not needed here
		case "-h", "--help":
			fmt.Fprintln(stdout, "Usage: cqlsh [options] [host [port]]  (cassim's cqlsh, a stand-in: -u, -p, --credentials, -k, --ssl, -e or statements on stdin; ~/.cassandra/cqlshrc's [connection] ssl and [ssl] certfile, validate; no interactive shell)")
			return 0
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintf(stderr, "cqlsh: error: no such option: %s (cassim's cqlsh is a stand-in)\n", name)
				return 2
			}
			positional = append(positional, a)
		}
	}
	if len(positional) > 0 {
		host = positional[0]
	}
	if len(positional) > 1 {
		port = positional[1]
	}
	creds := userGiven
	if !userGiven {
		if credFile == "" {
			credFile = credentialsPath()
		}
		user, password, creds = readCredentials(credFile, stderr)
	}
	var text string
	if execute != nil {
		text = *execute
	} else {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, "cqlsh:", err)
			return 1
		}
		text = string(b)
	}
	addr := net.JoinHostPort(host, port)
	tlsCfg, err := loadCqlshSSL(ssl).clientTLS()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cl, err := dialCqlsh(ctx, addr, connectTimeout, tlsCfg, creds, user, password)
	if err != nil {
		fmt.Fprintln(stderr, connectionError(addr, host, port, err))
		return 1
	}
	defer cl.Close()
	cl.timeout = requestTimeout
	stmts := splitStatements(text)
	if keyspace != "" { // the driver's connect(keyspace)
		if !plainIdent.MatchString(keyspace) {
			keyspace = `"` + strings.ReplaceAll(keyspace, `"`, `""`) + `"`
		}
		if _, err := cl.query("USE " + keyspace); err != nil {
			var se *serverError
			if errors.As(err, &se) {
				err = errors.New(se.message())
			}
			fmt.Fprintf(stderr, "Connection error: %v\n", err)
			return 1
		}
	}
	status := 0
	for i, st := range stmts {
		if ctx.Err() != nil {
			return 130
		}
		res, err := cl.query(st)
		var se *serverError
		switch {
		case errors.As(err, &se):
			fmt.Fprintf(stderr, "<stdin>:%d:%v\n", i+1, err)
			status = 2
		case err != nil:
			fmt.Fprintf(stderr, "<stdin>:%d:NoHostAvailable: %v\n", i+1, err)
			status = 2
		case res.rowsKind:
			printTable(stdout, res)
		}
	}
	return status
}
