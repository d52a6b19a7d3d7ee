package cassim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Authentication, as Cassandra 5.0 with PasswordAuthenticator,
// CassandraAuthorizer and CassandraRoleManager (the node contract's
// SWARMCASS_AUTH=true): a client must log in over the native protocol
// (STARTUP is answered AUTHENTICATE, the client sends SASL PLAIN in
// AUTH_RESPONSE); about 10 s after the first node opens CQL the role
// manager creates the default superuser cassandra/cassandra; roles live in
// system_auth, whose replication is a keyspace definition like any other
// (schema.go: SimpleStrategy RF 1 until ALTER KEYSPACE changes it, spread
// by gossip with the schema), and a login reads the role at LOCAL_QUORUM
// (QUORUM for the default role) from its replicas, so it fails when too
// few of them are up. cassim gossips the roles whole with each node's
// state (the newest change wins) and judges availability by the replicas
// a ring walk from the role's Murmur3 token picks, as Cassandra does
// (racks are not considered).

// Authenticator is the class name AUTHENTICATE carries.
const Authenticator = "org.apache.cassandra.auth.PasswordAuthenticator"

// DefaultSuperuser is CassandraRoleManager's default role, and its password.
const DefaultSuperuser = "cassandra"

// Native protocol codes of authentication.
const (
	opAuthenticate    = 0x03
	opAuthSuccess     = 0x10
	errBadCredentials = 0x0100
	errUnavailable    = 0x1000
)

// AuthData is the data of system_auth: its roles. The keyspace's
// replication is in the schema (schema.go), as every keyspace's.
type AuthData struct {
	Version int64               `json:"v"` // unix nanoseconds of the last change
	Roles   map[string]AuthRole `json:"roles,omitempty"`
}

// AuthRole is one row of system_auth.roles. cassim hashes with salted
// SHA-256, not Cassandra's bcrypt: a stand-in, never a real password store.
type AuthRole struct {
	Hash  string `json:"hash"`
	Super bool   `json:"super"`
	Login bool   `json:"login"`
}

func (a AuthData) clone() AuthData {
	a.Roles = maps.Clone(a.Roles)
	if a.Roles == nil {
		a.Roles = map[string]AuthRole{}
	}
	return a
}

func hashPassword(pw string) string {
	salt := make([]byte, 8)
	rand.Read(salt)
	return hashWith(hex.EncodeToString(salt), pw)
}

func hashWith(salt, pw string) string {
	sum := sha256.Sum256([]byte(salt + pw))
	return "$cassim$" + salt + "$" + hex.EncodeToString(sum[:])
}

func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	return len(parts) == 4 && hashWith(parts[2], pw) == hash
}

// authFile is where a node keeps system_auth across restarts.
func (n *Node) authFile() string { return filepath.Join(n.cfg.DataDir, "cassim-auth.json") }

// adoptAuth is the gossip hook: the local state carries the newest
// system_auth this node has heard of (read from disk at the first beat),
// with authentication on or off: system_auth is a keyspace like any other,
// and an open node holds and serves its roles as Cassandra's does.
// n.mu is held.
func (n *Node) adoptAuth(s *EndpointState) {
	best := s.Auth
	if best == nil {
		if b, err := os.ReadFile(n.authFile()); err == nil {
			var a AuthData
			if json.Unmarshal(b, &a) == nil {
				best = &a
			}
		}
	}
	for _, st := range n.view.States() {
		if st.Auth != nil && (best == nil || st.Auth.Version > best.Version) {
			best = st.Auth
		}
	}
	if best != s.Auth {
		s.Auth = best
		n.saveAuth(*best)
	}
}

func (n *Node) saveAuth(a AuthData) {
	if b, err := json.Marshal(a); err == nil {
		_ = os.WriteFile(n.authFile(), b, 0o600)
	}
}

// auth is the newest system_auth this node knows.
func (n *Node) auth() AuthData {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.view.LocalState()
	n.adoptAuth(&s)
	if s.Auth == nil {
		return AuthData{}.clone()
	}
	return s.Auth.clone()
}

// changeAuth applies change to system_auth and gossips it.
func (n *Node) changeAuth(change func(*AuthData)) {
	a := n.auth()
	change(&a)
	a.Version = max(time.Now().UnixNano(), a.Version+1)
	n.setLocal(func(s *EndpointState) { s.Auth = &a })
	n.mu.Lock()
	n.saveAuth(a)
	n.mu.Unlock()
}

// superuserSetupDelay is cassandra.superuser_setup_delay_ms: 10 s, or ten
// gossip rounds in a faster profile.
func (n *Node) superuserSetupDelay() time.Duration {
	d := min(10*time.Second, 10*n.cfg.Timings.GossipInterval)
	for _, o := range n.cfg.JVMOpts { // the last one given wins, as in the JVM
		if v, ok := strings.CutPrefix(o, "-Dcassandra.superuser_setup_delay_ms="); ok {
			if ms, err := strconv.Atoi(v); err == nil {
				d = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return d
}

// setupDefaultRole is CassandraRoleManager's setup task: after the delay,
// when system_auth has no role at all, the default superuser is made (at
// QUORUM: it waits until enough replicas are up).
func (n *Node) setupDefaultRole() {
	time.Sleep(n.superuserSetupDelay())
	for {
		n.cql.mu.Lock()
		closed := n.cql.open == nil
		n.cql.mu.Unlock()
		if closed {
			return
		}
		a := n.auth()
		if len(a.Roles) > 0 {
			return
		}
		if n.available(DefaultSuperuser, "QUORUM") == nil {
			n.changeAuth(func(a *AuthData) {
				if len(a.Roles) == 0 {
					a.Roles[DefaultSuperuser] = AuthRole{Hash: hashPassword(DefaultSuperuser), Super: true, Login: true}
				}
			})
			n.log.Info("OptionalTasks:1", "CassandraRoleManager.java:454", "Created default superuser role '%s'", DefaultSuperuser)
			return
		}
		time.Sleep(n.cfg.Timings.GossipInterval)
	}
}

// systemAuth is system_auth's definition as this node knows it.
func (n *Node) systemAuth() Keyspace {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range n.schema.System() {
		if k.Name == "system_auth" {
			return k
		}
	}
	panic("cassim: no system_auth among the system keyspaces")
}

// replicas are the addresses that hold key's partition of system_auth: a
// walk of the ring of normal members from key's token; byDC's key is the
// datacenter with NetworkTopologyStrategy, "" with SimpleStrategy.
func (n *Node) replicas(key string) (byDC map[string][]string) {
	ks := n.systemAuth()
	nts := ks.Replication["class"] == ntsStrategy
	// The ring's members: a node restarted on a new address (a new Swarm
	// task) is its newest endpoint alone, as in Cassandra's token metadata;
	// its old state, still in gossip, holds no replica.
	n.mu.Lock()
	peers := n.view.Peers()
	n.mu.Unlock()
	type tok struct {
		t        int64
		addr, dc string
	}
	var ring []tok
	for _, s := range peers {
		if s.Status == StatusNormal {
			for _, t := range s.Tokens {
				ring = append(ring, tok{t, s.Addr, s.DC})
			}
		}
	}
	sort.Slice(ring, func(i, j int) bool { return ring[i].t < ring[j].t })
	start := sort.Search(len(ring), func(i int) bool { return ring[i].t >= murmur3Token([]byte(key)) })
	byDC = map[string][]string{}
	seen := map[string]bool{}
	for i := range ring {
		r := ring[(start+i)%len(ring)]
		dc := r.dc
		if !nts {
			dc = ""
		}
		if seen[r.addr] || len(byDC[dc]) >= ks.RF(r.dc) {
			continue
		}
		seen[r.addr] = true
		byDC[dc] = append(byDC[dc], r.addr)
	}
	return byDC
}

// available says whether a read or write of key at cl (QUORUM,
// LOCAL_QUORUM, EACH_QUORUM) finds enough live replicas; the error is
// Cassandra's UnavailableException.
func (n *Node) available(key, cl string) *cqlError {
	nts := n.systemAuth().Replication["class"] == ntsStrategy
	byDC := n.replicas(key)
	n.mu.Lock()
	defer n.mu.Unlock()
	live := func(addrs []string) int {
		k := 0
		for _, x := range addrs {
			if n.view.IsUp(x) {
				k++
			}
		}
		return k
	}
	var groups [][]string
	switch {
	case cl == "QUORUM" || !nts:
		var all []string
		for _, dc := range slices.Sorted(maps.Keys(byDC)) {
			all = append(all, byDC[dc]...)
		}
		groups = [][]string{all}
	case cl == "LOCAL_QUORUM":
		groups = [][]string{byDC[n.cfg.DC]}
	default: // EACH_QUORUM
		for _, dc := range slices.Sorted(maps.Keys(byDC)) {
			groups = append(groups, byDC[dc])
		}
	}
	for _, g := range groups {
		need := len(g)/2 + 1
		if l := live(g); l < need {
			return &cqlError{code: errUnavailable, msg: "Cannot achieve consistency level " + cl, cl: cl, required: need, alive: l}
		}
	}
	return nil
}

// login is PasswordAuthenticator's check of a SASL PLAIN token
// (authzid NUL authcid NUL password), then ClientState.login's.
func (n *Node) login(token []byte) (string, *cqlError) {
	bad := func(format string, args ...any) (string, *cqlError) {
		return "", &cqlError{code: errBadCredentials, msg: fmt.Sprintf(format, args...)}
	}
	parts := strings.Split(string(token), "\x00")
	user, pw := "", ""
	if len(parts) >= 2 {
		user, pw = parts[len(parts)-2], parts[len(parts)-1]
	}
	switch {
	case user == "":
		return bad("Authentication ID must not be null")
	case pw == "":
		return bad("Password must not be null")
	}
	a := n.auth()
	cl := "LOCAL_QUORUM" // auth_read_consistency_level
	if user == DefaultSuperuser {
		cl = "QUORUM"
	}
	if e := n.available(user, cl); e != nil {
		return bad("Unable to perform authentication: %s", e.msg)
	}
	r, ok := a.Roles[user]
	if !ok || !checkPassword(r.Hash, pw) {
		return bad("Provided username %s and/or password are incorrect", user)
	}
	if !r.Login {
		return bad("%s is not permitted to log in", user)
	}
	return user, nil
}

// authStmt is CREATE ROLE, ALTER ROLE or DROP ROLE. ALTER KEYSPACE
// system_auth is a keyspace statement as any other (cqlschema.go).
type authStmt struct {
	verb, role string // CREATE, ALTER, DROP
	ifExists   bool   // IF NOT EXISTS / IF EXISTS
	password   *string
	super      *bool
	login      *bool
}

func (*authStmt) markers() []varSpec { return nil }

// parseAuth parses the statements authStmt covers; ok is false for others.
func parseAuth(q string) (s *authStmt, ok bool, err error) {
	m := verbRE.FindStringSubmatch(q)
	if m == nil {
		return nil, false, nil
	}
	verb, what := strings.ToUpper(m[1]), strings.ToUpper(m[2])
	if what != "ROLE" || (verb != "CREATE" && verb != "ALTER" && verb != "DROP") {
		return nil, false, nil
	}
	toks, err := tokenize(q)
	if err != nil {
		return nil, true, err
	}
	p := &parser{toks: toks, pos: 2}
	s = &authStmt{verb: verb}
	if p.accept("if") {
		if verb == "CREATE" {
			if err := p.expect("not"); err != nil {
				return nil, true, err
			}
		}
		if err := p.expect("exists"); err != nil {
			return nil, true, err
		}
		s.ifExists = true
	}
	t := p.next()
	if t.kind != tokIdent && t.kind != tokQuoted && t.kind != tokString {
		return nil, true, syntaxErr("line 1:%d no viable alternative at input '%s'", p.pos, t.text)
	}
	s.role = t.text
	if p.accept("with") {
		for {
			opt := p.next()
			if err := p.expect("="); err != nil {
				return nil, true, err
			}
			v := p.next()
			switch {
			case opt.is("password") && v.kind == tokString:
				pw := v.text
				s.password = &pw
			case (opt.is("superuser") || opt.is("login")) && (v.is("true") || v.is("false")):
				b := v.is("true")
				if opt.is("superuser") {
					s.super = &b
				} else {
					s.login = &b
				}
			default:
				return nil, true, syntaxErr("line 1:%d no viable alternative at input '%s'", p.pos, opt.text)
			}
			if !p.accept("and") {
				break
			}
		}
	}
	return s, true, p.end()
}

func (p *parser) end() error {
	p.accept(";")
	if p.peek().kind != tokEOF {
		return syntaxErr("line 1:%d extraneous input '%s'", p.pos, p.peek().text)
	}
	return nil
}

// runAuth executes s for the connection's user.
func (cc *cqlConn) runAuth(s *authStmt) (byte, []byte, error) {
	n := cc.n
	a := n.auth()
	me := a.Roles[cc.user]
	unauthorized := func(format string, args ...any) (byte, []byte, error) {
		return 0, nil, &cqlError{code: errUnauthorized, msg: fmt.Sprintf(format, args...)}
	}
	if !n.cfg.Auth {
		// AllowAllAuthenticator: the client is anonymous, which may not
		// manage roles; 5.0.8's refusals, superuser status checked first.
		switch {
		case s.verb == "CREATE" && s.super != nil && *s.super:
			return unauthorized("Only superusers can create a role with superuser status")
		case s.verb == "ALTER" && s.super != nil:
			return unauthorized("Only superusers are allowed to alter superuser status")
		case s.verb == "DROP" && a.Roles[s.role].Super:
			return unauthorized("Only superusers can drop a role with superuser status")
		}
		return unauthorized("You have to be logged in and not anonymous to perform this request")
	}
	var b buf
	perm := map[string]string{"CREATE": "CREATE", "ALTER": "ALTER", "DROP": "DROP"}[s.verb]
	if !me.Super {
		return unauthorized("User %s has no %s permission on <all roles> or any of its parents", cc.user, perm)
	}
	if e := n.available(s.role, "EACH_QUORUM"); e != nil { // auth_write_consistency_level
		return 0, nil, e
	}
	r, exists := a.Roles[s.role]
	switch s.verb {
	case "CREATE":
		if exists {
			if s.ifExists {
				break
			}
			return 0, nil, invalid("%s already exists", s.role)
		}
		r = AuthRole{Super: s.super != nil && *s.super, Login: s.login != nil && *s.login}
		if s.password != nil {
			r.Hash = hashPassword(*s.password)
		}
		n.changeAuth(func(a *AuthData) { a.Roles[s.role] = r })
	case "ALTER":
		if !exists {
			return 0, nil, invalid("%s doesn't exist", s.role)
		}
		if s.role == cc.user && s.super != nil {
			return unauthorized("You aren't allowed to alter your own superuser status or that of a role granted to you")
		}
		if s.super != nil {
			r.Super = *s.super
		}
		if s.login != nil {
			r.Login = *s.login
		}
		if s.password != nil {
			r.Hash = hashPassword(*s.password)
		}
		n.changeAuth(func(a *AuthData) { a.Roles[s.role] = r })
	case "DROP":
		if !exists {
			if s.ifExists {
				break
			}
			return 0, nil, invalid("%s doesn't exist", s.role)
		}
		if s.role == cc.user {
			return 0, nil, invalid("Cannot DROP primary role for current login")
		}
		n.changeAuth(func(a *AuthData) { delete(a.Roles, s.role) })
	}
	b.int(resultVoid)
	return opResult, b, nil
}

// mayChangeKeyspace is CassandraAuthorizer's check of a keyspace statement
// (CREATE on <all keyspaces>, ALTER or DROP on <keyspace ks>). cassim has
// no GRANT: only superusers hold permissions.
func (cc *cqlConn) mayChangeKeyspace(s *keyspaceStmt) error {
	if !cc.n.cfg.Auth || cc.n.auth().Roles[cc.user].Super {
		return nil
	}
	resource := "<keyspace " + s.ks + ">"
	if s.verb == "CREATE" {
		resource = "<all keyspaces>"
	}
	return &cqlError{code: errUnauthorized, msg: fmt.Sprintf("User %s has no %s permission on %s or any of its parents", cc.user, s.verb, resource)}
}

// knowsDC: a datacenter of a ring member.
func (n *Node) knowsDC(dc string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.view.States() {
		if s.DC == dc {
			return true
		}
	}
	return false
}

// knownDCs are the datacenters the members of n's view are in, sorted.
func (n *Node) knownDCs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var dcs []string
	for _, s := range n.view.States() {
		if s.DC != "" && !slices.Contains(dcs, s.DC) {
			dcs = append(dcs, s.DC)
		}
	}
	slices.Sort(dcs)
	return dcs
}

// roleRows are system_auth.roles.
func roleRows(n *Node) []map[string]any {
	a := n.auth()
	var rows []map[string]any
	for _, name := range slices.Sorted(maps.Keys(a.Roles)) {
		r := a.Roles[name]
		rows = append(rows, map[string]any{"role": name, "can_login": r.Login, "is_superuser": r.Super, "salted_hash": r.Hash})
	}
	return rows
}

// murmur3Token is Murmur3Partitioner.getToken: the first half of
// MurmurHash3 x64 128 (seed 0), Long.MIN_VALUE mapped to MAX_VALUE.
// Cassandra's tail reads bytes signed; for keys of ASCII characters, as
// role names are, that is the same.
func murmur3Token(key []byte) int64 {
	const c1, c2 = 0x87c37b91114253d5, 0x4cf5ad432745937f
	var h1, h2 uint64
	nblocks := len(key) / 16
	for i := 0; i < nblocks; i++ {
		k1 := binary.LittleEndian.Uint64(key[i*16:])
		k2 := binary.LittleEndian.Uint64(key[i*16+8:])
		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
		h1 = bits.RotateLeft64(h1, 27)
		h1 += h2
		h1 = h1*5 + 0x52dce729
		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
		h2 = bits.RotateLeft64(h2, 31)
		h2 += h1
		h2 = h2*5 + 0x38495ab5
	}
	tail := key[nblocks*16:]
	var k1, k2 uint64
	for i := len(tail) - 1; i >= 8; i-- {
		k2 ^= uint64(int64(int8(tail[i]))) << (8 * (i - 8))
	}
	if len(tail) > 8 {
		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
	}
	for i := min(len(tail), 8) - 1; i >= 0; i-- {
		k1 ^= uint64(int64(int8(tail[i]))) << (8 * i)
	}
	if len(tail) > 0 {
		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
	}
	h1 ^= uint64(len(key))
	h2 ^= uint64(len(key))
	h1 += h2
	h2 += h1
	fmix := func(k uint64) uint64 {
		k ^= k >> 33
		k *= 0xff51afd7ed558ccd
		k ^= k >> 33
		k *= 0xc4ceb9fe1a85ec53
		k ^= k >> 33
		return k
	}
	h1, h2 = fmix(h1), fmix(h2)
	h1 += h2
	t := int64(h1)
	if t == -1<<63 {
		return 1<<63 - 1
	}
	return t
}

// opName is a request opcode's name in Cassandra's messages.
func opName(op byte) string {
	if name := opNames[op]; name != "" {
		return name
	}
	return fmt.Sprint(op)
}

// DefaultCredentialsFile is where bootstrap mounts the credentials secret.
const DefaultCredentialsFile = "/run/secrets/swarmcass-cql-credentials"
