package cassim

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Just enough of the CQL native protocol (v3 and v4 framing) for readiness
// probes and driver handshakes: OPTIONS -> SUPPORTED, STARTUP and REGISTER
// -> READY, and SELECTs on system.local, system.peers and system.peers_v2
// -> Rows. A v5 (or newer) frame gets the protocol error Cassandra 3.x
// sends, on which drivers retry with v4; cassim does not implement v5's
// segment framing.

const (
	opError     = 0x00
	opStartup   = 0x01
	opReady     = 0x02
	opOptions   = 0x05
	opSupported = 0x06
	opQuery     = 0x07
	opResult    = 0x08
	opRegister  = 0x0B

	errProtocol = 0x000A
	errInvalid  = 0x2200
	errServer   = 0x0000
)

// CQL type option ids.
const (
	typeInt     = 0x0009
	typeUUID    = 0x000C
	typeVarchar = 0x000D
	typeInet    = 0x0010
	typeSet     = 0x0022
)

func (n *Node) openCQL() error {
	l, err := net.Listen("tcp", n.CQLAddr)
	if err != nil {
		return fmt.Errorf("CQL port: %w", err)
	}
	n.mu.Lock()
	n.cqlLn = l
	n.mu.Unlock()
	n.log.Info("main", "PipelineConfigurator.java:125", "Using Netty Version: [cassim]")
	n.log.Info("main", "PipelineConfigurator.java:126", "Starting listening for CQL clients on /%s (unencrypted)...", n.CQLAddr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go n.serveCQL(c)
		}
	}()
	return nil
}

type frame struct {
	version byte
	flags   byte
	stream  int16
	op      byte
	body    []byte
}

func readFrame(r io.Reader) (frame, error) {
	var h [9]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	f := frame{version: h[0] & 0x7f, flags: h[1], stream: int16(binary.BigEndian.Uint16(h[2:4])), op: h[4]}
	size := binary.BigEndian.Uint32(h[5:9])
	if size > 256<<20 {
		return f, errors.New("frame too large")
	}
	f.body = make([]byte, size)
	_, err := io.ReadFull(r, f.body)
	return f, err
}

func writeFrame(w io.Writer, version byte, stream int16, op byte, body []byte) error {
	var h [9]byte
	h[0] = 0x80 | version
	binary.BigEndian.PutUint16(h[2:4], uint16(stream))
	h[4] = op
	binary.BigEndian.PutUint32(h[5:9], uint32(len(body)))
	_, err := w.Write(append(h[:], body...))
	return err
}

// wire encoding helpers
type buf []byte

func (b *buf) short(v int)  { *b = binary.BigEndian.AppendUint16(*b, uint16(v)) }
func (b *buf) int(v int)    { *b = binary.BigEndian.AppendUint32(*b, uint32(v)) }
func (b *buf) str(s string) { b.short(len(s)); *b = append(*b, s...) }
func (b *buf) bytes(v []byte) {
	if v == nil {
		b.int(-1)
		return
	}
	b.int(len(v))
	*b = append(*b, v...)
}

func errorBody(code int, msg string) []byte {
	var b buf
	b.int(code)
	b.str(msg)
	return b
}

func (n *Node) serveCQL(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
		f, err := readFrame(r)
		if err != nil {
			return
		}
		if f.version < 3 || f.version > 4 {
			_ = writeFrame(c, 4, f.stream, opError, errorBody(errProtocol,
				fmt.Sprintf("Invalid or unsupported protocol version (%d); supported versions are (3/v3, 4/v4)", f.version)))
			continue
		}
		var op byte
		var body []byte
		switch f.op {
		case opOptions:
			var b buf
			b.short(3)
			for _, kv := range []struct {
				k string
				v []string
			}{{"CQL_VERSION", []string{"3.4.5"}}, {"COMPRESSION", nil}, {"PROTOCOL_VERSIONS", []string{"3/v3", "4/v4"}}} {
				b.str(kv.k)
				b.short(len(kv.v))
				for _, s := range kv.v {
					b.str(s)
				}
			}
			op, body = opSupported, b
		case opStartup, opRegister:
			op = opReady
		case opQuery:
			if len(f.body) < 4 {
				op, body = opError, errorBody(errProtocol, "malformed QUERY")
				break
			}
			l := int(binary.BigEndian.Uint32(f.body))
			if l > len(f.body)-4 {
				op, body = opError, errorBody(errProtocol, "malformed QUERY")
				break
			}
			op, body = n.query(string(f.body[4 : 4+l]))
		default:
			op, body = opError, errorBody(errProtocol, fmt.Sprintf("cassim does not implement opcode 0x%02x", f.op))
		}
		if err := writeFrame(c, f.version, f.stream, op, body); err != nil {
			return
		}
	}
}

var selectRE = regexp.MustCompile(`(?is)^\s*select\s+(.+?)\s+from\s+([a-z0-9_."]+)`)

type column struct {
	name string
	typ  int // typeSet means set<text>
}

// query answers a SELECT on the system tables a probe or driver reads.
func (n *Node) query(q string) (byte, []byte) {
	m := selectRE.FindStringSubmatch(q)
	if m == nil {
		return opError, errorBody(errInvalid, "cassim answers only SELECTs on system.local, system.peers and system.peers_v2")
	}
	table := strings.ToLower(strings.ReplaceAll(m[2], `"`, ""))
	cols, rows := n.table(table)
	if cols == nil {
		return opError, errorBody(errInvalid, fmt.Sprintf("cassim answers only SELECTs on system.local, system.peers and system.peers_v2, not %s", m[2]))
	}
	want := cols
	if sel := strings.TrimSpace(m[1]); sel != "*" {
		want = nil
		for _, f := range strings.Split(sel, ",") {
			name := strings.ToLower(strings.Trim(strings.TrimSpace(f), `"`))
			idx := -1
			for i, c := range cols {
				if c.name == name {
					idx = i
				}
			}
			if idx < 0 {
				return opError, errorBody(errInvalid, "Undefined column name "+name)
			}
			want = append(want, cols[idx])
		}
	}
	var b buf
	b.int(0x0002) // Rows
	b.int(0x0001) // global table spec
	b.int(len(want))
	ks, tb, _ := strings.Cut(table, ".")
	b.str(ks)
	b.str(tb)
	for _, c := range want {
		b.str(c.name)
		if c.typ == typeSet {
			b.short(typeSet)
			b.short(typeVarchar)
		} else {
			b.short(c.typ)
		}
	}
	b.int(len(rows))
	for _, row := range rows {
		for _, c := range want {
			b.bytes(encodeValue(c.typ, row[c.name]))
		}
	}
	return opResult, b
}

func encodeValue(typ int, v any) []byte {
	if v == nil {
		return nil
	}
	switch typ {
	case typeInt:
		return binary.BigEndian.AppendUint32(nil, uint32(v.(int)))
	case typeUUID:
		u, _ := hex.DecodeString(strings.ReplaceAll(v.(string), "-", ""))
		return u
	case typeInet:
		ip := net.ParseIP(v.(string))
		if ip4 := ip.To4(); ip4 != nil {
			return ip4
		}
		return ip
	case typeSet:
		var b buf
		items := v.([]string)
		b.int(len(items))
		for _, s := range items {
			b.bytes([]byte(s))
		}
		return b
	}
	return []byte(fmt.Sprint(v))
}

func tokenStrings(ts []int64) []string {
	var out []string
	for _, t := range ts {
		out = append(out, strconv.FormatInt(t, 10))
	}
	return out
}

// table returns the columns and rows of a system table.
func (n *Node) table(name string) ([]column, []map[string]any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	local := n.view.LocalState()
	switch name {
	case "system.local":
		cols := []column{{"key", typeVarchar}, {"bootstrapped", typeVarchar}, {"broadcast_address", typeInet},
			{"broadcast_port", typeInt}, {"cluster_name", typeVarchar}, {"cql_version", typeVarchar},
			{"data_center", typeVarchar}, {"gossip_generation", typeInt}, {"host_id", typeUUID},
			{"listen_address", typeInet}, {"listen_port", typeInt}, {"native_protocol_version", typeVarchar},
			{"partitioner", typeVarchar}, {"rack", typeVarchar}, {"release_version", typeVarchar},
			{"rpc_address", typeInet}, {"rpc_port", typeInt}, {"schema_version", typeUUID}, {"tokens", typeSet}}
		bootstrapped := "NEEDS_BOOTSTRAP"
		if n.id.BootstrapInProgress {
			bootstrapped = "IN_PROGRESS"
		}
		if n.id.Bootstrapped {
			bootstrapped = "COMPLETED"
		}
		row := map[string]any{"key": "local", "bootstrapped": bootstrapped, "broadcast_address": n.addr,
			"broadcast_port": GossipPort, "cluster_name": n.cfg.ClusterName, "cql_version": "3.4.5",
			"data_center": n.cfg.DC, "gossip_generation": int(local.Generation), "host_id": n.id.HostID,
			"listen_address": n.bind.String(), "listen_port": GossipPort, "native_protocol_version": "4",
			"partitioner": "org.apache.cassandra.dht.Murmur3Partitioner", "rack": n.cfg.Rack,
			"release_version": n.cfg.ReleaseVersion, "rpc_address": n.rpcAddr(), "rpc_port": CQLPort,
			"schema_version": SchemaVersion, "tokens": tokenStrings(n.id.Tokens)}
		return cols, []map[string]any{row}
	case "system.peers", "system.peers_v2":
		cols := []column{{"peer", typeInet}, {"data_center", typeVarchar}, {"host_id", typeUUID},
			{"preferred_ip", typeInet}, {"rack", typeVarchar}, {"release_version", typeVarchar},
			{"rpc_address", typeInet}, {"schema_version", typeUUID}, {"tokens", typeSet}}
		if name == "system.peers_v2" {
			cols = []column{{"peer", typeInet}, {"peer_port", typeInt}, {"data_center", typeVarchar},
				{"host_id", typeUUID}, {"native_address", typeInet}, {"native_port", typeInt},
				{"preferred_ip", typeInet}, {"preferred_port", typeInt}, {"rack", typeVarchar},
				{"release_version", typeVarchar}, {"schema_version", typeUUID}, {"tokens", typeSet}}
		}
		var rows []map[string]any
		for _, p := range n.view.Peers() {
			if p.Addr == n.addr || p.Status != StatusNormal {
				continue
			}
			rows = append(rows, map[string]any{"peer": p.Addr, "peer_port": GossipPort, "data_center": p.DC,
				"host_id": p.HostID, "rack": p.Rack, "release_version": p.Release, "rpc_address": p.RPCAddr,
				"native_address": p.RPCAddr, "native_port": CQLPort, "schema_version": p.Schema,
				"tokens": tokenStrings(p.Tokens)})
		}
		return cols, rows
	}
	return nil, nil
}

// Probe is a CQL readiness probe: it connects to addr, negotiates v4,
// and reads bootstrapped and release_version from system.local. It
// succeeds only when bootstrapped is COMPLETED.
func Probe(addr string, timeout time.Duration) (release string, err error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	call := func(op byte, body []byte, want byte) ([]byte, error) {
		if err := writeFrame(c, 4, 1, op, body); err != nil {
			return nil, err
		}
		f, err := readFrame(r)
		if err != nil {
			return nil, err
		}
		if f.op == opError && len(f.body) >= 6 {
			l := int(binary.BigEndian.Uint16(f.body[4:6]))
			return nil, fmt.Errorf("cql error: %s", f.body[6:min(6+l, len(f.body))])
		}
		if f.op != want {
			return nil, fmt.Errorf("cql: got opcode 0x%02x, want 0x%02x", f.op, want)
		}
		return f.body, nil
	}
	if _, err := call(opOptions, nil, opSupported); err != nil {
		return "", err
	}
	var st buf
	st.short(1)
	st.str("CQL_VERSION")
	st.str("3.0.0")
	if _, err := call(opStartup, st, opReady); err != nil {
		return "", err
	}
	q := "SELECT bootstrapped, release_version FROM system.local WHERE key='local'"
	var qb buf
	qb.int(len(q))
	qb = append(qb, q...)
	qb.short(0x0001) // ONE
	qb = append(qb, 0)
	body, err := call(opQuery, qb, opResult)
	if err != nil {
		return "", err
	}
	vals, err := parseSingleRow(body)
	if err != nil {
		return "", err
	}
	if len(vals) != 2 || vals[0] != "COMPLETED" {
		return "", fmt.Errorf("system.local says bootstrapped=%v", vals)
	}
	return vals[1], nil
}

// parseSingleRow reads the text values of the first row of a Rows result
// whose metadata has a global table spec and simple column types.
func parseSingleRow(b []byte) ([]string, error) {
	bad := errors.New("cql: malformed Rows result")
	p := 0
	u32 := func() (int, error) {
		if p+4 > len(b) {
			return 0, bad
		}
		v := int(int32(binary.BigEndian.Uint32(b[p:])))
		p += 4
		return v, nil
	}
	u16 := func() (int, error) {
		if p+2 > len(b) {
			return 0, bad
		}
		v := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		return v, nil
	}
	str := func() error {
		l, err := u16()
		if err != nil || p+l > len(b) {
			return bad
		}
		p += l
		return nil
	}
	if kind, err := u32(); err != nil || kind != 2 {
		return nil, bad
	}
	flags, _ := u32()
	ncol, err := u32()
	if err != nil {
		return nil, err
	}
	if flags&1 != 0 {
		if str() != nil || str() != nil {
			return nil, bad
		}
	}
	for i := 0; i < ncol; i++ {
		if str() != nil {
			return nil, bad
		}
		if _, err := u16(); err != nil {
			return nil, bad
		}
	}
	nrows, err := u32()
	if err != nil || nrows < 1 {
		return nil, errors.New("cql: no rows")
	}
	var out []string
	for i := 0; i < ncol; i++ {
		l, err := u32()
		if err != nil || p+max(l, 0) > len(b) {
			return nil, bad
		}
		if l < 0 {
			out = append(out, "")
			continue
		}
		out = append(out, string(b[p:p+l]))
		p += l
	}
	return out, nil
}
