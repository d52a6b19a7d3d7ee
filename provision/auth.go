package provision

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
)

// Authentication: unless --auth=false, every node runs with
// PasswordAuthenticator and CassandraAuthorizer (the node contract's
// SWARMCASS_AUTH=true) and mounts the cluster's credentials secret.
// ensureCredentials, before the nodes, makes or finds that secret;
// ensureAuth, after them, makes the superuser it names, disables Cassandra's
// default role and replicates system_auth to min(3, N) nodes.

// RoleCredentials is the LabelRole of the credentials secret.
const RoleCredentials = "credentials"

// AuthResult says how clients log in to the cluster.
type AuthResult struct {
	On bool
	// User is the superuser; Secret the Swarm secret that keeps its
	// password (mounted in every node at credentials.MountPath); File the
	// CLI's 0600 copy. The password itself is never in a Result.
	User, Secret, File string
	// Replication is system_auth's replication factor per datacenter.
	Replication int
	// Prepared: auth enable --prepare made the credentials, but no node
	// authenticates yet (On is false).
	Prepared bool
}

// authEnv is the node contract's switch, as createNode passes it.
func authEnv(on bool) string { return "SWARMCASS_AUTH=" + strconv.FormatBool(on) }

// serviceAuth says whether an existing node runs with authentication.
func serviceAuth(s engine.Service) bool { return slices.Contains(s.Spec.Env, authEnv(true)) }

// setAuth makes spec a node that authenticates clients (on) or not, as
// createNode makes every node and auth enable rolls the open ones: the
// node contract's switch in its environment, in place, and the credentials
// secret mounted first among its secrets (none when off).
func setAuth(spec *engine.ServiceSpec, on bool, secret engine.SecretRef) {
	spec.Env = setEnv(slices.Clone(spec.Env), authEnv(on))
	var keep []engine.SecretRef
	if on {
		keep = append(keep, secret)
	}
	for _, s := range spec.Secrets {
		if s.File != credentials.File {
			keep = append(keep, s)
		}
	}
	spec.Secrets = keep
}

// adoptCredentials is ensureCredentials for a day-2 operation (scale,
// replace), whose flags do not say: the cluster's nodes do. A node it
// creates then authenticates, and mounts the secret, as the others do.
func adoptCredentials(ctx context.Context, r *run) error {
	_, on, off, err := r.nodeServices(ctx, serviceAuth)
	if err != nil {
		return err
	}
	r.cfg.NoAuth = on == 0 && off > 0
	return ensureCredentials(ctx, r)
}

// ensureCredentials decides, before any node starts, whether the cluster
// authenticates, and when it does makes sure its secret exists: created
// with a new superuser on a new cluster, reused as it is on a re-run. An
// existing cluster keeps what it was created with: turning authentication
// on or off is an operation of its own.
func ensureCredentials(ctx context.Context, r *run) error {
	m := r.manager
	list, on, off, err := r.nodeServices(ctx, serviceAuth)
	if err != nil {
		return err
	}
	switch {
	case on > 0 && off > 0 && !r.enablingAuth:
		return op.Hinted("finish it: swarmcass auth enable --cluster "+r.cfg.Cluster+" continues with the nodes still open",
			"cluster %s is part way to authentication (%d of %d nodes authenticate clients: an auth enable stopped)", r.cfg.Cluster, on, on+off)
	case on > 0 && r.cfg.NoAuth:
		return op.Hinted("drop --auth=false: this cluster's nodes authenticate clients, and turning that off is not something bootstrap does",
			"cluster %s has authentication on; --auth=false cannot turn it off", r.cfg.Cluster)
	case off > 0 && !r.cfg.NoAuth && !r.enablingAuth:
		return op.Hinted(fmt.Sprintf("run bootstrap with --auth=false to keep the cluster as it is (open), or turn authentication on, one node at a time: swarmcass auth enable --cluster %s", r.cfg.Cluster),
			"cluster %s was created without authentication (its nodes run with AllowAllAuthenticator)", r.cfg.Cluster)
	}
	r.res.Auth = AuthResult{On: !r.cfg.NoAuth}
	r.authKnown = true
	if r.cfg.NoAuth {
		return nil
	}
	sw, err := m.Engine.SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("inspect the swarm on %s: %w", m.name(), err)
	}
	r.res.Auth.Secret = credentials.SecretName(r.cfg.Cluster)
	r.res.Auth.File = credentials.LocalPath(r.cfg.Home, r.cfg.Cluster, sw.ID)
	secrets, err := m.Engine.SecretList(ctx, nil)
	if err != nil {
		return fmt.Errorf("list the swarm's secrets on %s: %w", m.name(), err)
	}
	use := func(s engine.Secret) error {
		r.res.Auth.Secret, r.secret = s.Name, secretRef(s)
		if c, err := credentials.ReadLocal(r.res.Auth.File); err == nil {
			r.creds = c // else ensureAuth reads it back from a node
		}
		return nil
	}
	// The secret the nodes mount, which a rotation may have replaced
	// (README: Security); else the one of the cluster's name.
	for _, svc := range list {
		for _, ref := range svc.Spec.Secrets {
			if i := slices.IndexFunc(secrets, func(s engine.Secret) bool { return s.ID == ref.ID }); ref.File == credentials.File && i >= 0 {
				return use(secrets[i])
			}
		}
	}
	if s, ok := r.namedCredentials(secrets); ok {
		return use(s)
	}
	if on > 0 {
		return op.Hinted(fmt.Sprintf("the nodes keep the copy they mounted: run `swarmcass credentials --cluster %s` while one runs to save it, then recreate the secret from that file: docker secret create --label %s=%s --label %s=%s %s FILE",
			r.cfg.Cluster, engine.LabelCluster, r.cfg.Cluster, engine.LabelRole, RoleCredentials, r.res.Auth.Secret),
			"cluster %s authenticates clients, but its credentials secret %s is missing from the swarm", r.cfg.Cluster, r.res.Auth.Secret)
	}
	c, err := credentials.Generate()
	if err != nil {
		return err
	}
	id, err := m.Engine.SecretCreate(ctx, engine.SecretSpec{Name: r.res.Auth.Secret, Data: c.Marshal(), Labels: r.labels(RoleCredentials, "")})
	if err != nil {
		return fmt.Errorf("create secret %s: %w", r.res.Auth.Secret, err)
	}
	r.created("secret %s (superuser %s)", r.res.Auth.Secret, c.User)
	r.secret = secretRef(engine.Secret{ID: id, Name: r.res.Auth.Secret})
	r.creds = c
	if err := credentials.WriteLocal(r.res.Auth.File, c); err != nil {
		// The secret holds them: swarmcass credentials reads them back.
		r.p.Infof("the credentials are in secret %s, but not saved here: %v", r.res.Auth.Secret, err)
	}
	return nil
}

// namedCredentials is the cluster's credentials secret among secrets, by
// its name and labels (a rotation's secret is found by its mount instead).
func (r *run) namedCredentials(secrets []engine.Secret) (engine.Secret, bool) {
	name := credentials.SecretName(r.cfg.Cluster)
	for _, s := range secrets {
		if s.Name == name && s.Labels[engine.LabelCluster] == r.cfg.Cluster && s.Labels[engine.LabelRole] == RoleCredentials {
			return s, true
		}
	}
	return engine.Secret{}, false
}

// secretRef mounts the credentials secret as a file root alone reads, as
// cqlsh wants its credentials file (it ignores one that others can read).
func secretRef(s engine.Secret) engine.SecretRef {
	return engine.SecretRef{ID: s.ID, Name: s.Name, File: credentials.File, UID: "0", GID: "0", Mode: 0o400}
}

// cqlsh outcomes that say something about the login, in cqlsh's words
// (seen from real Cassandra 5.0.8): the server's 0x0100 error messages,
// and the driver's when no credentials were given.
var (
	errBadCredentials = errors.New("bad credentials")
	errNoLogin        = errors.New("role may not log in")
	errNoCredentials  = errors.New("no credentials")
	errAuthUnavail    = errors.New("authentication unavailable")
	// errReplicaTimeout: the coordinator's replicas did not answer in time
	// (WriteTimeout, code 0x1100; ReadTimeout, 0x1200), as a busy node
	// does; the statements swarmcass sends are idempotent, so a try again
	// is safe (CI saw EACH_QUORUM's CREATE ROLE time out once on 2 cores).
	errReplicaTimeout = errors.New("replicas timed out")
)

func classifyCQL(out string) error {
	switch {
	case strings.Contains(out, "and/or password are incorrect"):
		return errBadCredentials
	case strings.Contains(out, "is not permitted to log in"):
		return errNoLogin
	case strings.Contains(out, "Remote end requires authentication"):
		return errNoCredentials
	case strings.Contains(out, "Unable to perform authentication"), strings.Contains(out, "Cannot achieve consistency level"):
		return errAuthUnavail
	case strings.Contains(out, "WriteTimeout: Error from server: code=1100"), strings.Contains(out, "ReadTimeout: Error from server: code=1200"):
		return errReplicaTimeout
	}
	return nil
}

// cqlTarget is a running node container statements go to.
type cqlTarget struct {
	node, container string
	e               engine.Engine
	port            string // the node's native_transport_port in its container
}

// cql runs statements (on stdin, so that no password is on a command line)
// through cqlsh in the node's container: logged in with the mounted
// credentials file, or as Cassandra's default role when asDefault. What it
// prints comes back with the password, should it appear, blanked.
func (r *run) cql(ctx context.Context, t cqlTarget, asDefault bool, statements string) (string, error) {
	cmd := []string{"cqlsh"}
	if asDefault {
		// The well-known default password of every new cluster: no secret.
		cmd = append(cmd, "-u", credentials.DefaultRole, "-p", credentials.DefaultRole)
	}
	cmd = append(cmd, "127.0.0.1", t.port)
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(ctx, cqlshTimeout)
	defer cancel()
	code, err := t.e.ExecStream(ctx, t.container, cmd, engine.ExecIO{Stdin: strings.NewReader(statements), Stdout: &out, Stderr: &errOut})
	all := out.String() + errOut.String()
	if r.creds.Password != "" {
		all = strings.ReplaceAll(all, r.creds.Password, "<password>")
	}
	if err != nil {
		return "", fmt.Errorf("cqlsh in %s: %w", t.node, err)
	}
	if code != 0 {
		msg := strings.TrimSpace(all)
		if kind := classifyCQL(all); kind != nil {
			return all, fmt.Errorf("cqlsh in %s: %w: %s", t.node, kind, lastLine(msg))
		}
		return all, fmt.Errorf("cqlsh in %s exited %d: %s", t.node, code, lastLine(msg))
	}
	return out.String(), nil
}

// cqlPoll is the pause between tries of a cqlsh run (and of the schema
// check after one) that waits on Cassandra: a quarter of --poll-interval,
// as the run itself takes its time (a Python start, 0.5 s on real 5.0.8):
// the default role appears 1 s after a new node opens CQL, and schema
// agreement takes a gossip round, so a full interval between tries was up
// to a second of waiting each (measured: two such pauses made most of
// cassim fast's 2.3 s Authentication step).
func (r *run) cqlPoll() time.Duration { return r.cfg.PollInterval / 4 }

// cqlshTimeout bounds one cqlsh run: seconds normally (a Python start and a
// few statements), never a hang of the whole bootstrap.
const cqlshTimeout = 2 * time.Minute

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// cqlTarget finds node's running container: its newest task's, also while
// the image's health check has not passed yet (nodewait.Runs).
func (r *run) cqlTarget(ctx context.Context, node string) (cqlTarget, error) {
	tasks, err := r.manager.Engine.TaskList(ctx, node)
	if err != nil {
		return cqlTarget{}, fmt.Errorf("list tasks of %s: %w", node, err)
	}
	port := "9042"
	if s, err := r.manager.Engine.ServiceInspect(ctx, node); err == nil {
		for _, kv := range s.Spec.Env {
			if v, ok := strings.CutPrefix(kv, "CASSANDRA_NATIVE_TRANSPORT_PORT="); ok {
				port = v // --clients host: the port it publishes
			}
		}
	}
	if len(tasks) > 0 && nodewait.Runs(tasks[0]) {
		if h, ok := r.wait.Hosts[tasks[0].NodeID]; ok {
			return cqlTarget{node: node, container: tasks[0].ContainerID, e: h.Engine, port: port}, nil
		}
	}
	return cqlTarget{}, op.Hinted("run bootstrap again once it runs (swarmcass ring shows the nodes)", "%s has no running container", node)
}

// superuserSetupTimeout bounds the wait for Cassandra's default role:
// CassandraRoleManager creates it about 10 s after a new cluster's first node
// starts (cassandra.superuser_setup_delay_ms), once it can write at QUORUM.
const superuserSetupTimeout = 3 * time.Minute

// ensureAuth, once the nodes are UN: the superuser of the credentials
// secret exists and logs in, Cassandra's default role cannot log in and is
// no superuser (ensureSuperuser), and system_auth is replicated
// NetworkTopologyStrategy min(3, N) in the nodes' datacenter, repaired when
// that changed or nodes were added, so that a login still works with a
// node down (replicateAuth). Each part is looked at first; credentials
// that work are never changed.
func ensureAuth(ctx context.Context, r *run) error {
	if !r.res.Auth.On || len(r.res.Nodes) == 0 {
		return nil
	}
	t, err := r.cqlTarget(ctx, r.res.Nodes[0].Name)
	if err != nil {
		return err
	}
	changes := len(r.res.Created)
	var nodes []string
	added := false
	for _, n := range r.res.Nodes {
		nodes = append(nodes, n.Name)
		added = added || n.Created
	}
	// A brand-new cluster's system_auth holds only the default role,
	// written at RF 1: raised to min(3, N) before the superuser is made,
	// it gets the superuser and the default role's disabling on every
	// replica, and there is nothing to repair.
	fresh := r.brandNew && added
	state, err := r.ensureSuperuser(ctx, t, fresh, min(3, len(nodes)))
	if err != nil {
		return err
	}
	if r.authReplicatedFirst {
		added = false
	}
	if err := r.replicateAuth(ctx, t, nodes, added, state); err != nil {
		return err
	}
	if len(r.res.Created) == changes {
		return nil
	}
	// Roles and system_auth's replication are schema and data this step
	// changed: done once every view agrees on the schema again.
	return r.settleSchema(ctx, nodes)
}

// authStateQuery is what the Authentication step reads, in one cqlsh run
// (each is a Python start, seconds on a busy real node): the roles, the
// node's datacenter and system_auth's replication.
const authStateQuery = "SELECT role, is_superuser, can_login FROM system_auth.roles;\n" + dcQuery + replicationQuery

const (
	dcQuery          = "SELECT data_center FROM system.local;\n"
	replicationQuery = "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth';\n"
)

// ensureSuperuser, through t, a node that authenticates: the superuser of
// the credentials secret logs in (created through Cassandra's default role
// when it does not), and the default role cannot log in and is no
// superuser. Credentials that work are never changed. It returns what it
// read last of authStateQuery, logged in as the superuser. fresh: a
// brand-new cluster's superuser is made after system_auth's replication
// is set to rf (createSuperuser).
func (r *run) ensureSuperuser(ctx context.Context, t cqlTarget, fresh bool, rf int) (string, error) {
	if r.creds.User == "" {
		// The local copy is lost (or this machine did not bootstrap the
		// cluster): the node has the secret mounted.
		c, err := credentials.FromNode(ctx, t.e, t.container)
		if err != nil {
			return "", op.WithHint(err, "the secret "+r.res.Auth.Secret+" is mounted into every node; check that "+t.node+" runs the image bootstrap built")
		}
		r.creds = c
		if err := credentials.WriteLocal(r.res.Auth.File, c); err == nil {
			r.p.Infof("saved the credentials of %s again in %s", r.res.Auth.Secret, r.res.Auth.File)
		}
	}
	r.res.Auth.User = r.creds.User
	if fresh {
		return r.freshSuperuser(ctx, t, rf)
	}
	out, err := r.cql(ctx, t, false, authStateQuery)
	if errors.Is(err, errBadCredentials) {
		if err := r.createSuperuser(ctx, t, fresh, rf); err != nil {
			return "", err
		}
		// The new role is read at LOCAL_QUORUM: poll until this node sees it.
		err = op.Poll(ctx, r.cqlPoll(), time.Minute, "the login of role "+r.creds.User, func() (bool, error) {
			out, err = r.cql(ctx, t, false, authStateQuery)
			return err == nil, nil
		})
	}
	if err != nil {
		return "", op.WithHint(fmt.Errorf("log in as %s: %w", r.creds.User, err),
			"the superuser's credentials are in secret "+r.res.Auth.Secret+"; check the node's log (swarmcass logs "+t.node+")")
	}
	if row := roleRow(out, credentials.DefaultRole); row != nil && (row[1] == "True" || row[2] == "True") {
		// Not dropped: the role manager would create it again if it ever
		// found no role at all; disabled, it is harmless.
		if _, err := r.cql(ctx, t, false, disableDefaultRole); err != nil {
			return "", fmt.Errorf("disable the default role %s: %w", credentials.DefaultRole, err)
		}
		r.created("default role %s disabled (no login, no superuser)", credentials.DefaultRole)
	}
	return out, nil
}

// freshSuperuser is ensureSuperuser on a brand-new cluster, whose
// system_auth holds Cassandra's default role alone: no login is tried
// before the superuser is made (createSuperuser, system_auth replicated
// first), and its first login also disables the default role, two cqlsh
// runs in all once the default role exists.
func (r *run) freshSuperuser(ctx context.Context, t cqlTarget, rf int) (string, error) {
	if err := r.createSuperuser(ctx, t, true, rf); err != nil {
		return "", err
	}
	var out string
	var last error
	// The new role is read at LOCAL_QUORUM: poll until this node sees it.
	err := op.Poll(ctx, r.cqlPoll(), time.Minute, "the login of role "+r.creds.User, func() (bool, error) {
		out, last = r.cql(ctx, t, false, disableDefaultRole+authStateQuery)
		return last == nil, nil
	})
	if err != nil {
		return "", op.WithHint(fmt.Errorf("log in as %s and disable the default role %s: %w (last: %v)", r.creds.User, credentials.DefaultRole, err, last),
			"the superuser's credentials are in secret "+r.res.Auth.Secret+"; check the node's log (swarmcass logs "+t.node+") and run bootstrap again")
	}
	r.created("default role %s disabled (no login, no superuser)", credentials.DefaultRole)
	return out, nil
}

// disableDefaultRole leaves Cassandra's default role in place (the role
// manager would make it again if it ever found no role at all), unable to
// log in and no superuser.
const disableDefaultRole = "ALTER ROLE " + credentials.DefaultRole + " WITH SUPERUSER = false AND LOGIN = false;\n"

// createSuperuser logs in as Cassandra's default role, waiting until the
// role manager has made it, and creates the secret's superuser. fresh: in
// the same run, before the CREATE, it sets system_auth to
// NetworkTopologyStrategy rf in every datacenter.
func (r *run) createSuperuser(ctx context.Context, t cqlTarget, fresh bool, rf int) error {
	stmt := fmt.Sprintf("CREATE ROLE IF NOT EXISTS %s WITH PASSWORD = '%s' AND SUPERUSER = true AND LOGIN = true;\n", r.creds.User, r.creds.Password)
	first := stmt // the statements that wait for the default role
	if fresh {
		// 'replication_factor' is every datacenter's factor, expanded by
		// Cassandra when the statement runs (checked on 5.0.8), so the
		// datacenter need not be read first. ALTER and CREATE are each
		// idempotent: a try cut off between them is made again whole.
		first = fmt.Sprintf("ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': %d};\n", rf) + stmt
	}
	var last error
	err := op.Poll(ctx, r.cqlPoll(), superuserSetupTimeout, "Cassandra's default superuser", func() (bool, error) {
		_, last = r.cql(ctx, t, true, first)
		switch {
		case last == nil:
			return true, nil
		case errors.Is(last, errBadCredentials), errors.Is(last, errAuthUnavail), errors.Is(last, errReplicaTimeout):
			return false, nil // not created yet, no QUORUM yet, or a replica too busy to answer in time
		}
		return false, last
	})
	switch {
	case errors.Is(last, errNoLogin):
		return op.WithHint(fmt.Errorf("neither %s (from secret %s) nor the default role %s logs in: %w", r.creds.User, r.res.Auth.Secret, credentials.DefaultRole, last),
			fmt.Sprintf("someone changed the roles by hand: as a superuser you know, run ALTER ROLE %s WITH PASSWORD = ... (the password in the secret; swarmcass credentials says where it is), or CREATE ROLE it", r.creds.User))
	case err != nil:
		return fmt.Errorf("create superuser %s: %w (last: %v)", r.creds.User, err, last)
	}
	if fresh {
		r.created("system_auth replication NetworkTopologyStrategy: %d in every datacenter", rf)
		r.authReplicatedFirst = true
	}
	r.created("superuser role %s", r.creds.User)
	return nil
}

// replicateStmt sets system_auth to NetworkTopologyStrategy rf in dc.
func replicateStmt(dc string, rf int) string {
	return fmt.Sprintf("ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', '%s': %d};\n", dc, rf)
}

// roleRow is the row of role in cqlsh's table of system_auth.roles: role,
// is_superuser, can_login.
func roleRow(out, role string) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) == 3 && strings.TrimSpace(f[0]) == role {
			return []string{role, strings.TrimSpace(f[1]), strings.TrimSpace(f[2])}
		}
	}
	return nil
}

var rfEntry = regexp.MustCompile(`'([A-Za-z0-9._-]+)': '(\d+)'`)

// cellAfter is the one cell of cqlsh's table whose header is column: the
// first line after the header and its dashes; "" when there is none.
func cellAfter(out, column string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != column {
			continue
		}
		for _, v := range lines[i+1:] {
			if v = strings.TrimSpace(v); v != "" && !strings.HasPrefix(v, "-") {
				return v
			}
		}
	}
	return ""
}

// replicateAuth sets system_auth to NetworkTopologyStrategy min(3, N) in the
// datacenter of nodes (N of them, t among them) and repairs it when that
// changed or nodes were added. Cassandra takes this ALTER KEYSPACE from an
// anonymous client too: auth enable runs it before any node authenticates.
// state is what t printed for authStateQuery (ensureSuperuser); "" asks t.
func (r *run) replicateAuth(ctx context.Context, t cqlTarget, nodes []string, added bool, state string) error {
	out := state
	if out == "" {
		var err error
		if out, err = r.cql(ctx, t, false, dcQuery+replicationQuery); err != nil {
			return fmt.Errorf("read the datacenter and system_auth's replication: %w", err)
		}
	}
	dc := cellAfter(out, "data_center")
	if dc == "" {
		return fmt.Errorf("read the datacenter from system.local: %q", out)
	}
	want := min(3, len(nodes))
	r.res.Auth.Replication = want
	have := map[string]string{}
	for _, m := range rfEntry.FindAllStringSubmatch(out, -1) {
		have[m[1]] = m[2]
	}
	changed := false
	if !strings.Contains(out, "NetworkTopologyStrategy") || len(have) != 1 || have[dc] != strconv.Itoa(want) {
		if _, err := r.cql(ctx, t, false, replicateStmt(dc, want)); err != nil {
			return fmt.Errorf("replicate system_auth: %w", err)
		}
		r.created("system_auth replication NetworkTopologyStrategy %s: %d", dc, want)
		changed = true
	}
	if !changed && !added {
		return nil
	}
	// A full repair on a node covers the ranges it replicates: with RF = N
	// one node holds them all, else every node repairs its own.
	targets := []string{t.node}
	if len(nodes) > want {
		targets = nodes
	}
	for _, node := range targets {
		nt, err := r.cqlTarget(ctx, node)
		if err != nil {
			return err
		}
		r.p.Infof("repairing system_auth on %s", node)
		if _, output, err := nodewait.Nodetool(ctx, nt.e, nt.container, "repair", "--full", "system_auth"); err != nil {
			return op.WithHint(fmt.Errorf("repair system_auth on %s: %w", node, err),
				"run bootstrap again once every node is UN; until then a login may fail while a node is down\n"+lastLine(output))
		}
	}
	return nil
}
