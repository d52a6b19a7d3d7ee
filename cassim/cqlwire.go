package cassim

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"strings"
)

// The native protocol's wire format (native_protocol_v4.spec): frames,
// the notation's [short], [int], [string], [bytes] ..., CQL types and
// their values.

type frame struct {
	version byte
	flags   byte
	stream  int16
	op      byte
	body    []byte
}

// Frame header flags cassim looks at (it ignores tracing: it traces nothing).
const (
	flagCompression   = 0x01
	flagCustomPayload = 0x04
)

// readFrame reads a frame. Versions 1 and 2 have a one-byte stream id
// (an 8-byte header); cassim reads them only to refuse them in kind.
func readFrame(r io.Reader) (frame, error) {
	var h [9]byte
	if _, err := io.ReadFull(r, h[:1]); err != nil {
		return frame{}, err
	}
	f := frame{version: h[0] & 0x7f}
	var size uint32
	if f.version < 3 {
		if _, err := io.ReadFull(r, h[1:8]); err != nil {
			return f, err
		}
		f.flags, f.stream, f.op, size = h[1], int16(int8(h[2])), h[3], binary.BigEndian.Uint32(h[4:8])
	} else {
		if _, err := io.ReadFull(r, h[1:9]); err != nil {
			return f, err
		}
		f.flags, f.stream, f.op, size = h[1], int16(binary.BigEndian.Uint16(h[2:4])), h[4], binary.BigEndian.Uint32(h[5:9])
	}
	if size > 256<<20 {
		return f, errors.New("frame too large")
	}
	f.body = make([]byte, size)
	_, err := io.ReadFull(r, f.body)
	return f, err
}

// writeFrame writes a response frame of the given version.
func writeFrame(w io.Writer, version byte, stream int16, op byte, body []byte) error {
	h := []byte{0x80 | version, 0}
	if version < 3 {
		h = append(h, byte(stream))
	} else {
		h = binary.BigEndian.AppendUint16(h, uint16(stream))
	}
	h = append(h, op)
	h = binary.BigEndian.AppendUint32(h, uint32(len(body)))
	_, err := w.Write(append(h, body...))
	return err
}

// buf builds a message body.
type buf []byte

func (b *buf) byte(v byte)  { *b = append(*b, v) }
func (b *buf) short(v int)  { *b = binary.BigEndian.AppendUint16(*b, uint16(v)) }
func (b *buf) int(v int)    { *b = binary.BigEndian.AppendUint32(*b, uint32(v)) }
func (b *buf) str(s string) { b.short(len(s)); *b = append(*b, s...) }
func (b *buf) longStr(s string) {
	b.int(len(s))
	*b = append(*b, s...)
}
func (b *buf) bytes(v []byte) {
	if v == nil {
		b.int(-1)
		return
	}
	b.int(len(v))
	*b = append(*b, v...)
}
func (b *buf) shortBytes(v []byte) { b.short(len(v)); *b = append(*b, v...) }
func (b *buf) strList(l []string) {
	b.short(len(l))
	for _, s := range l {
		b.str(s)
	}
}

// errMalformed: a request body that does not parse.
var errMalformed = errors.New("malformed message body")

// reader reads a request body; the first short read sets err and every
// later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errMalformed
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) short() int {
	if v := r.take(2); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *reader) int() int {
	if v := r.take(4); v != nil {
		return int(int32(binary.BigEndian.Uint32(v)))
	}
	return 0
}

func (r *reader) str() string     { return string(r.take(r.short())) }
func (r *reader) longStr() string { return string(r.take(r.int())) }

// value reads a [value]: nil for null (-1) and for not set (-2).
func (r *reader) value() []byte {
	n := r.int()
	if n < 0 {
		if n < -2 {
			r.err = errMalformed
		}
		return nil
	}
	return r.take(n)
}

func (r *reader) bytesMap() {
	for n := r.short(); n > 0 && r.err == nil; n-- {
		r.str()
		r.value()
	}
}

func (r *reader) strMap() map[string]string {
	m := map[string]string{}
	for n := r.short(); n > 0 && r.err == nil; n-- {
		k := r.str()
		m[k] = r.str()
	}
	return m
}

func (r *reader) strList() []string {
	var l []string
	for n := r.short(); n > 0 && r.err == nil; n-- {
		l = append(l, r.str())
	}
	return l
}

// CQL type option ids.
const (
	typeASCII     = 0x0001
	typeBigint    = 0x0002
	typeBlob      = 0x0003
	typeBoolean   = 0x0004
	typeDouble    = 0x0007
	typeFloat     = 0x0008
	typeInt       = 0x0009
	typeTimestamp = 0x000B
	typeUUID      = 0x000C
	typeVarchar   = 0x000D
	typeTimeUUID  = 0x000F
	typeInet      = 0x0010
	typeList      = 0x0020
	typeMap       = 0x0021
	typeSet       = 0x0022
)

var nativeTypes = map[string]int{"ascii": typeASCII, "bigint": typeBigint, "blob": typeBlob,
	"boolean": typeBoolean, "double": typeDouble, "float": typeFloat, "int": typeInt,
	"timestamp": typeTimestamp, "uuid": typeUUID, "text": typeVarchar, "varchar": typeVarchar,
	"timeuuid": typeTimeUUID, "inet": typeInet}

// cqlType is a column's type: name as system_schema.columns writes it
// ("text", "set<text>", "frozen<map<text, text>>"), its option id, and the
// element types of a collection.
type cqlType struct {
	name string
	id   int
	args []*cqlType
}

// parseType reads a CQL type such as frozen<map<text, text>>.
func parseType(s string) *cqlType {
	s = strings.TrimSpace(s)
	outer, inner, ok := strings.Cut(s, "<")
	if !ok {
		id, known := nativeTypes[s]
		if !known {
			panic("cassim: unknown CQL type " + s)
		}
		if s == "varchar" {
			s = "text"
		}
		return &cqlType{name: s, id: id}
	}
	inner = strings.TrimSuffix(inner, ">")
	var args []*cqlType
	depth, start := 0, 0
	for i, c := range inner {
		switch c {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				args = append(args, parseType(inner[start:i]))
				start = i + 1
			}
		}
	}
	args = append(args, parseType(inner[start:]))
	var names []string
	for _, a := range args {
		names = append(names, a.name)
	}
	t := &cqlType{name: outer + "<" + strings.Join(names, ", ") + ">", args: args}
	switch outer {
	case "frozen":
		t.id, t.args = args[0].id, args[0].args
	case "list":
		t.id = typeList
	case "set":
		t.id = typeSet
	case "map":
		t.id = typeMap
	default:
		panic("cassim: unknown CQL type " + s)
	}
	return t
}

// writeOption writes the type as an [option] of result metadata.
func (t *cqlType) writeOption(b *buf) {
	b.short(t.id)
	for _, a := range t.args {
		a.writeOption(b)
	}
}

// encode serializes a Go value as the type's [bytes] content: string for
// text, inet, uuid and blob; int, int64 (bigint, timestamp in ms), bool,
// float64; []string for lists and sets; map[string]string for maps. nil
// is null.
func (t *cqlType) encode(v any) []byte {
	if v == nil {
		return nil
	}
	switch t.id {
	case typeInt:
		return binary.BigEndian.AppendUint32(nil, uint32(v.(int)))
	case typeBigint, typeTimestamp:
		return binary.BigEndian.AppendUint64(nil, uint64(v.(int64)))
	case typeBoolean:
		if v.(bool) {
			return []byte{1}
		}
		return []byte{0}
	case typeDouble:
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(v.(float64)))
	case typeFloat:
		return binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(v.(float64))))
	case typeUUID, typeTimeUUID:
		u, err := hex.DecodeString(strings.ReplaceAll(v.(string), "-", ""))
		if err != nil || len(u) != 16 {
			panic("cassim: not a UUID: " + v.(string))
		}
		return u
	case typeInet:
		ip := net.ParseIP(v.(string))
		if ip4 := ip.To4(); ip4 != nil {
			return ip4
		}
		return ip
	case typeList, typeSet:
		items := v.([]string)
		b := buf{}
		b.int(len(items))
		for _, s := range items {
			b.bytes(t.args[0].encode(s))
		}
		return b
	case typeMap:
		m := v.(map[string]string)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b := buf{}
		b.int(len(keys))
		for _, k := range keys {
			b.bytes(t.args[0].encode(k))
			b.bytes(t.args[1].encode(m[k]))
		}
		return b
	}
	return []byte(v.(string)) // text, ascii, blob
}

// literal turns a CQL constant of the WHERE clause into a value of type
// t, for encode.
func (t *cqlType) literal(col string, tok token) (any, error) {
	bad := invalid("Invalid %s constant (%s) for \"%s\" of type %s", tok.kindName(), tok.text, col, t.name)
	switch t.id {
	case typeVarchar, typeASCII, typeInet:
		if tok.kind != tokString {
			return nil, bad
		}
		if t.id == typeInet && net.ParseIP(tok.text) == nil {
			return nil, invalid("Unable to make inet address from '%s'", tok.text)
		}
		return tok.text, nil
	case typeUUID, typeTimeUUID:
		if tok.kind != tokUUID {
			return nil, bad
		}
		return tok.text, nil
	case typeInt:
		var n int
		if _, err := fmt.Sscan(tok.text, &n); tok.kind != tokNumber || err != nil || n != int(int32(n)) {
			return nil, bad
		}
		return n, nil
	case typeBoolean:
		if tok.kind != tokIdent || (tok.text != "true" && tok.text != "false") {
			return nil, bad
		}
		return tok.text == "true", nil
	}
	return nil, invalid("cassim does not compare \"%s\" (of type %s) with a constant: %s", col, t.name, cassimServes)
}
