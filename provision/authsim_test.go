package provision

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
)

// authSim is the lab's Cassandra roles and system_auth, as cqlsh in a node
// container sees them: one set for the whole ring (system_auth replicated),
// with Cassandra's words for refused logins (as cqlsh 6.2 prints them
// against 5.0.8). Cassandra's default role appears only after
// defaultAfter cqlsh runs, as CassandraRoleManager makes it some seconds
// after the first node starts: on an open cluster too (5.0.8 does), where
// an anonymous client may not create or alter roles (Unauthorized) but may
// alter system_auth's replication.
type authSim struct {
	w            *enginetest.World
	mu           sync.Mutex
	roles        map[string]*simRole
	defaultAfter int
	tries        int
	// createTimeouts: the next CREATE ROLE statements time out at
	// EACH_QUORUM, unapplied, as a busy replica made one in CI.
	createTimeouts int
	replication    string
	statements     []string // every statement run, in order
	ranBy          []string // for each statement: "NODE as USER" ("anonymous" on an open node)
	updatesAt      []int    // for each statement: how many ServiceUpdate calls the world had seen
	logins         []string // user of each login
	refused        []string // user of each refused login
	repairs        []string // nodes system_auth was repaired on
	reads          []string // nodes the secret file was read in
	ports          []string // the port of each cqlsh run
}

type simRole struct {
	password     string
	super, login bool
}

func newAuthSim(w *enginetest.World) *authSim {
	return &authSim{w: w, roles: map[string]*simRole{}, defaultAfter: 1,
		replication: "{'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '1'}"}
}

// mounted is the credentials file in c: the secret its service mounts.
func (a *authSim) mounted(f *enginetest.Fake, c engine.Container) ([]byte, bool) {
	node := c.Labels[engine.LabelNode]
	for _, m := range a.w.Fakes() {
		svc, err := m.ServiceInspect(context.Background(), node)
		if err != nil {
			continue
		}
		for _, ref := range svc.Spec.Secrets {
			if ref.File == credentials.File {
				return a.w.SecretData(m, ref.Name)
			}
		}
	}
	return nil, false
}

// authOn: c's service runs with the node contract's SWARMCASS_AUTH=true.
func (a *authSim) authOn(c engine.Container) bool {
	for _, m := range a.w.Fakes() {
		if svc, err := m.ServiceInspect(context.Background(), c.Labels[engine.LabelNode]); err == nil {
			return slices.Contains(svc.Spec.Env, "SWARMCASS_AUTH=true")
		}
	}
	return false
}

// exec answers cat of the secret file and nodetool repair.
func (a *authSim) exec(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, bool) {
	switch strings.Join(cmd, " ") {
	case "cat " + credentials.MountPath:
		data, ok := a.mounted(f, c)
		if !ok {
			return engine.ExecResult{ExitCode: 1, Stderr: "cat: " + credentials.MountPath + ": No such file or directory"}, true
		}
		a.mu.Lock()
		a.reads = append(a.reads, c.Labels[engine.LabelNode])
		a.mu.Unlock()
		return engine.ExecResult{Stdout: string(data)}, true
	case "nodetool repair --full system_auth":
		a.mu.Lock()
		a.repairs = append(a.repairs, c.Labels[engine.LabelNode])
		a.mu.Unlock()
		return engine.ExecResult{Stdout: "[2026-12-01 23:40:23,664] Repair command #1 finished\n"}, true
	}
	return engine.ExecResult{}, false
}

var (
	createRole = regexp.MustCompile(`^CREATE ROLE IF NOT EXISTS (\w+) WITH PASSWORD = '([^']*)' AND SUPERUSER = true AND LOGIN = true;$`)
	alterRF    = regexp.MustCompile(`^ALTER KEYSPACE system_auth WITH replication = \{'class': 'NetworkTopologyStrategy', '(\w+)': (\d+)\};$`)
)

// streams runs cqlsh with its statements on stdin.
func (a *authSim) streams(f *enginetest.Fake, c engine.Container, cmd []string, s engine.ExecIO) (int, error) {
	if len(cmd) == 0 || cmd[0] != "cqlsh" {
		fmt.Fprintln(s.Stderr, "unknown command")
		return 127, nil
	}
	in, _ := io.ReadAll(s.Stdin)
	a.mu.Lock()
	defer a.mu.Unlock()
	user, pw := "", ""
	if len(cmd) < 3 || cmd[len(cmd)-2] != "127.0.0.1" {
		fmt.Fprintf(s.Stderr, "cqlsh %v: want the node's own address and port last\n", cmd)
		return 2, nil
	}
	a.ports = append(a.ports, cmd[len(cmd)-1])
	cmd = cmd[:len(cmd)-2]
	if len(cmd) == 5 && cmd[1] == "-u" && cmd[3] == "-p" {
		user, pw = cmd[2], cmd[4]
	} else if data, ok := a.mounted(f, c); ok {
		cr, err := credentials.Parse(data)
		if err != nil {
			return 1, err
		}
		user, pw = cr.User, cr.Password
	}
	a.tries++
	if a.tries > a.defaultAfter && a.roles[credentials.DefaultRole] == nil && len(a.roles) == 0 {
		a.roles[credentials.DefaultRole] = &simRole{password: credentials.DefaultRole, super: true, login: true}
	}
	on := a.authOn(c)
	if !on {
		user = "" // AllowAllAuthenticator: no AUTHENTICATE, the client is anonymous
	}
	if on {
		refuse := func(msg string) (int, error) {
			a.refused = append(a.refused, user)
			fmt.Fprintf(s.Stderr, "Connection error: ('Unable to connect to any servers', {'127.0.0.1:9042': AuthenticationFailed('Failed to authenticate to 127.0.0.1:9042: Error from server: code=0100 [Bad credentials] message=\"%s\"')})\n", msg)
			return 1, nil
		}
		switch r := a.roles[user]; {
		case user == "":
			fmt.Fprintln(s.Stderr, "Connection error: ('Unable to connect to any servers', {'127.0.0.1:9042': AuthenticationFailed('Remote end requires authentication')})")
			return 1, nil
		case r == nil || r.password != pw:
			return refuse(fmt.Sprintf("Provided username %s and/or password are incorrect", user))
		case !r.login:
			return refuse(user + " is not permitted to log in")
		}
		a.logins = append(a.logins, user)
	}
	updates := 0
	for _, e := range a.w.Log() {
		if strings.Contains(e, "ServiceUpdate ") {
			updates++
		}
	}
	unauthorized := func(msg string) (int, error) {
		fmt.Fprintf(s.Stderr, "<stdin>:2:Unauthorized: Error from server: code=2100 [Unauthorized] message=\"%s\"\n", msg)
		return 2, nil
	}
	for _, st := range strings.Split(strings.TrimSpace(string(in)), "\n") {
		a.statements = append(a.statements, st)
		a.ranBy = append(a.ranBy, c.Labels[engine.LabelNode]+" as "+cmp.Or(user, "anonymous"))
		a.updatesAt = append(a.updatesAt, updates)
		switch {
		case user == "" && strings.HasPrefix(st, "CREATE ROLE") && strings.Contains(st, "SUPERUSER = true"):
			return unauthorized("Only superusers can create a role with superuser status")
		case user == "" && strings.HasPrefix(st, "ALTER ROLE") && strings.Contains(st, "SUPERUSER"):
			return unauthorized("Only superusers are allowed to alter superuser status")
		case user == "" && strings.Contains(st, " ROLE "):
			return unauthorized("You have to be logged in and not anonymous to perform this request")
		case st == "SELECT role, is_superuser, can_login FROM system_auth.roles;":
			fmt.Fprintln(s.Stdout, "\n role        | is_superuser | can_login\n-------------+--------------+-----------")
			for _, name := range slices.Sorted(maps.Keys(a.roles)) {
				r := a.roles[name]
				fmt.Fprintf(s.Stdout, " %s | %s | %s\n", name, pyBool(r.super), pyBool(r.login))
			}
		case createRole.MatchString(st) && a.createTimeouts > 0:
			a.createTimeouts--
			fmt.Fprintln(s.Stderr, `<stdin>:3:WriteTimeout: Error from server: code=1100 [Coordinator node timed out waiting for replica nodes' responses] message="Operation timed out - received only 1 responses." info={'consistency': 'EACH_QUORUM', 'required_responses': 2, 'received_responses': 1, 'write_type': 'SIMPLE'}`)
			return 2, nil
		case createRole.MatchString(st):
			m := createRole.FindStringSubmatch(st)
			if a.roles[m[1]] == nil {
				a.roles[m[1]] = &simRole{password: m[2], super: true, login: true}
			}
		case st == "ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false;":
			a.roles["cassandra"].super, a.roles["cassandra"].login = false, false
		case st == "SELECT data_center FROM system.local;":
			fmt.Fprintln(s.Stdout, "\n data_center\n-------------\n datacenter1\n\n(1 rows)")
		case strings.HasPrefix(st, "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'"):
			fmt.Fprintf(s.Stdout, "\n replication\n-------------\n %s\n\n(1 rows)\n", a.replication)
		case alterRF.MatchString(st):
			m := alterRF.FindStringSubmatch(st)
			if m[1] == "replication_factor" { // every datacenter, as Cassandra expands it
				m[1] = "datacenter1"
			}
			a.replication = fmt.Sprintf("{'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', '%s': '%s'}", m[1], m[2])
		default:
			fmt.Fprintf(s.Stderr, "<stdin>:1:SyntaxException: line 1:0 no viable alternative at input (%s)\n", st)
			return 2, nil
		}
	}
	return 0, nil
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
