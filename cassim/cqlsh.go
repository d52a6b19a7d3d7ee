package cassim

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cassim's cqlsh: enough of Cassandra's cqlsh (6.2, Cassandra 5.0) for the
// node image's users, bootstrap and the health check: it connects to one
// node over the native protocol (v4), logs in with -u/-p or a credentials
// file ([plain_text_auth] username/password; ~/.cassandra/credentials by
// default, ignored unless only its owner can read it, as cqlsh does), runs
// the statements of -e or stdin, prints rows as cqlsh's tables and errors
// in cqlsh's words. It is NOT cqlsh: no shell, no DESCRIBE, no COPY.

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
	return fmt.Sprintf("Failed to authenticate to %s: Error from server: code=0100 [Bad credentials] message=%q", e.Addr, e.Msg)
}

// serverError is an ERROR response to a statement.
type serverError struct {
	code int
	msg  string
}

var errorNames = map[int][2]string{
	0x0000: {"ServerError", "Server error"}, 0x000A: {"ProtocolException", "Protocol error"},
	0x0100: {"AuthenticationFailed", "Bad credentials"}, 0x1000: {"Unavailable", "Unavailable exception"},
	0x2000: {"SyntaxException", "Syntax error in CQL query"}, 0x2100: {"Unauthorized", "Unauthorized"},
	0x2200: {"InvalidRequest", "Invalid query"}, 0x2300: {"ConfigurationException", "Query invalid because of configuration issue"},
	0x2500: {"InvalidRequest", "Unprepared"},
}

func (e *serverError) Error() string {
	n, ok := errorNames[e.code]
	if !ok {
		n = [2]string{"ServerError", "Server error"}
	}
	return fmt.Sprintf("%s: Error from server: code=%04x [%s] message=%q", n[0], e.code, n[1], e.msg)
}

// cqlshConn is one connection.
type cqlshConn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// dialCqlsh connects to addr and logs in with user and password when the
// server asks (creds false: none given).
func dialCqlsh(addr string, timeout time.Duration, tlsCfg *tls.Config, creds bool, user, password string) (*cqlshConn, error) {
	var c net.Conn
	var err error
	if tlsCfg != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, tlsCfg)
	} else {
		c, err = net.DialTimeout("tcp", addr, timeout)
	}
	if err != nil {
		return nil, err
	}
	cl := &cqlshConn{c: c, r: bufio.NewReader(c), timeout: timeout}
	var st buf
	st.short(1)
	st.str("CQL_VERSION")
	st.str("3.0.0")
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

func (cl *cqlshConn) call(op byte, body []byte) (frame, error) {
	_ = cl.c.SetDeadline(time.Now().Add(cl.timeout))
	if err := writeFrame(cl.c, 4, 1, op, body); err != nil {
		return frame{}, err
	}
	f, err := readFrame(cl.r)
	if err != nil {
		return frame{}, err
	}
	if f.op == opError {
		rd := &reader{b: f.body}
		code := rd.int()
		return f, &serverError{code: code, msg: rd.str()}
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
	if rd.int() != resultRows {
		return cqlResult{}, nil
	}
	var res cqlResult
	res.rowsKind = true
	flags := rd.int()
	ncol := rd.int()
	if flags&metaHasMorePages != 0 {
		rd.value()
	}
	global := flags&metaGlobalTableSpec != 0
	if global {
		rd.str()
		rd.str()
	}
	var types []colType
	for i := 0; i < ncol; i++ {
		if !global {
			rd.str()
			rd.str()
		}
		res.cols = append(res.cols, rd.str())
		types = append(types, readColType(rd))
	}
	nrows := rd.int()
	for i := 0; i < nrows && rd.err == nil; i++ {
		var row []string
		for _, t := range types {
			row = append(row, t.format(rd.value(), true))
		}
		res.rows = append(res.rows, row)
	}
	if rd.err != nil {
		return cqlResult{}, errors.New("cql: malformed Rows result")
	}
	return res, nil
}

// colType is a column's type option.
type colType struct {
	id   int
	args []colType
}

func readColType(rd *reader) colType {
	t := colType{id: rd.short()}
	switch t.id {
	case 0x0000:
		rd.str()
	case 0x0020, 0x0022:
		t.args = []colType{readColType(rd)}
	case 0x0021:
		t.args = []colType{readColType(rd), readColType(rd)}
	}
	return t
}

// format prints a value as cqlsh does: text bare at the top, quoted inside
// collections; booleans True and False; null.
func (t colType) format(v []byte, top bool) string {
	if v == nil {
		return "null"
	}
	switch t.id {
	case 0x0001, 0x000D:
		if top {
			return string(v)
		}
		return "'" + strings.ReplaceAll(string(v), "'", "''") + "'"
	case 0x0004:
		if len(v) == 1 && v[0] != 0 {
			return "True"
		}
		return "False"
	case 0x0009:
		if len(v) == 4 {
			return strconv.Itoa(int(int32(binary.BigEndian.Uint32(v))))
		}
	case 0x0002:
		if len(v) == 8 {
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)
		}
	case 0x000C, 0x000F:
		if len(v) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
		}
	case 0x0010:
		return net.IP(v).String()
	case 0x0020, 0x0021, 0x0022:
		rd := &reader{b: v}
		n := rd.int()
		var parts []string
		for i := 0; i < n && rd.err == nil; i++ {
			if t.id == 0x0021 {
				k := t.args[0].format(rd.value(), false)
				parts = append(parts, k+": "+t.args[1].format(rd.value(), false))
			} else {
				parts = append(parts, t.args[0].format(rd.value(), false))
			}
		}
		open, closing := "{", "}"
		if t.id == 0x0020 {
			open, closing = "[", "]"
		}
		return open + strings.Join(parts, ", ") + closing
	}
	return fmt.Sprintf("0x%x", v)
}

// printTable prints rows as cqlsh does.
func printTable(w io.Writer, res cqlResult) {
	widths := make([]int, len(res.cols))
	for i, c := range res.cols {
		widths[i] = len(c)
		for _, r := range res.rows {
			widths[i] = max(widths[i], len(r[i]))
		}
	}
	var head, sep []string
	for i, c := range res.cols {
		head = append(head, c+strings.Repeat(" ", widths[i]-len(c)))
		sep = append(sep, strings.Repeat("-", widths[i]+2))
	}
	fmt.Fprintf(w, "\n %s\n%s\n", strings.Join(head, " | "), strings.Join(sep, "+"))
	for _, r := range res.rows {
		var cells []string
		for i, c := range r {
			cells = append(cells, strings.Repeat(" ", widths[i]-len(c))+c)
		}
		fmt.Fprintf(w, " %s\n", strings.Join(cells, " | "))
	}
	fmt.Fprintf(w, "\n(%d rows)\n", len(res.rows))
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

// splitStatements splits CQL text on semicolons outside quotes.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ';':
			if st := strings.TrimSpace(cur.String()); st != "" {
				out = append(out, st)
			}
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if st := strings.TrimSpace(cur.String()); st != "" {
		out = append(out, st)
	}
	return out
}

// CqlshMain runs cassim's cqlsh with args; it returns the exit code: 1 when
// it cannot connect or log in, 2 when a statement failed, as cqlsh does.
func CqlshMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var user, password, credFile, execute string
	ssl := false
	var positional []string
	userGiven := false
	timeout := 5 * time.Second
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() string {
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
				return v
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		name, _, _ := strings.Cut(a, "=")
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
			execute = val()
		case "--connect-timeout", "--request-timeout":
			if s, err := strconv.Atoi(val()); err == nil {
				timeout = time.Duration(s) * time.Second
			}
		case "-h", "--help":
			fmt.Fprintln(stdout, "Usage: cqlsh [options] [host [port]]  (cassim's stand-in: -u, -p, --credentials, --ssl, -e, stdin; ~/.cassandra/cqlshrc [connection] ssl, [ssl] certfile, validate)")
			return 0
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintf(stderr, "cqlsh: error: unrecognized arguments: %s (cassim's cqlsh is a stand-in)\n", a)
				return 2
			}
			positional = append(positional, a)
		}
	}
	host, port := "127.0.0.1", "9042"
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
	addr := net.JoinHostPort(host, port)
	tlsCfg, err := loadCqlshSSL(ssl).clientTLS()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cl, err := dialCqlsh(addr, timeout, tlsCfg, creds, user, password)
	if err != nil {
		var ae *AuthError
		switch {
		case errors.As(err, &ae):
			fmt.Fprintf(stderr, "Connection error: ('Unable to connect to any servers', {'%s': AuthenticationFailed('%s')})\n", addr, ae.Error())
		case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF):
			// A TLS-only port answering plaintext, as Cassandra resets it.
			fmt.Fprintf(stderr, "Connection error: ('Unable to connect to any servers', {'%s': ConnectionResetError(104, 'Connection reset by peer')})\n", addr)
		default:
			fmt.Fprintf(stderr, "Connection error: ('Unable to connect to any servers', {'%s': ConnectionRefusedError(%q)})\n", addr, err.Error())
		}
		return 1
	}
	defer cl.Close()
	text := execute
	if execute == "" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		text = string(b)
	}
	code := 0
	for i, st := range splitStatements(text) {
		if ctx.Err() != nil {
			return 130
		}
		res, err := cl.query(st)
		if err != nil {
			fmt.Fprintf(stderr, "<stdin>:%d:%s\n", i+1, err)
			code = 2
			continue
		}
		if res.rowsKind {
			printTable(stdout, res)
		}
	}
	return code
}
