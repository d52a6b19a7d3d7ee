package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// Turning authentication on for a cluster bootstrapped with --auth=false,
// as Cassandra's documentation enables PasswordAuthenticator across a live
// cluster: system_auth's replication raised first, then the authenticator
// switched node by node, each restarted; once the first node authenticates,
// log in there as the default superuser, create another and disable the
// default one. What real Cassandra 5.0.8 did here (two nodes, swarmcass's
// node image on the offline base, probed by hand):
//
//   - On an open cluster (AllowAllAuthenticator) CassandraRoleManager still
//     makes the default role: `Created default superuser role 'cassandra'`
//     some 10 s after the first start, and system_auth.roles lists
//     cassandra (superuser, login).
//   - An open cluster cannot make the superuser: an anonymous CREATE ROLE
//     ... SUPERUSER = true is refused (code 2100 Unauthorized, `Only
//     superusers can create a role with superuser status`; without it `You
//     have to be logged in and not anonymous to perform this request`), and
//     ALTER ROLE cassandra too (`Only superusers are allowed to alter
//     superuser status`). So the roles wait for the first node that
//     authenticates.
//   - ALTER KEYSPACE system_auth is taken from an anonymous client (with
//     the warning that a full repair must follow), and nodetool repair
//     --full system_auth works: that comes first, while every node is open.
//   - The first node restarted with PasswordAuthenticator on its data takes
//     cassandra/cassandra at once (the role exists), refuses no credentials
//     (`Remote end requires authentication`) and the generated superuser
//     until it is created (`Provided username ... and/or password are
//     incorrect`).
//   - Mixed nodes: an open node answers every client, with or without
//     credentials (a driver given credentials logs in only where the node
//     asks), also after cassandra is disabled; roles created through the
//     authenticating node are at once in the open node's system_auth.roles.
//     A driver without credentials given both nodes connects through the
//     open one. So clients configured with the generated superuser
//     (swarmcass credentials) before the roll keep working throughout, but
//     for the seconds between the first node's restart and the superuser's
//     creation, on that node alone.

// authEnableOp is the operation's name: its lock, its rollout record.
const authEnableOp = "auth enable"

// EnableAuth turns authentication on for a cluster that runs without it,
// one node at a time: the credentials secret (an existing one is reused,
// never replaced), system_auth replicated to min(3, N) nodes and repaired
// while every node is open, then each node drained and restarted with
// PasswordAuthenticator and CassandraAuthorizer (the node contract's
// SWARMCASS_AUTH=true, the secret mounted: what bootstrap gives a node of a
// cluster that authenticates), each waited for as restart waits. Once the
// first node authenticates the superuser of the secret is created through
// Cassandra's default role, which is then disabled. A re-run after a
// failure or Ctrl-C continues with the nodes still open; on a cluster that
// authenticates already it does nothing.
func EnableAuth(ctx context.Context, cfg Config) (*Result, error) {
	return operate(ctx, authEnableOp, cfg, []op.Step[*run]{
		{Name: "Preflight", Run: attach},                // operation.go: the engines, the swarm, Consul, the record, the nodes
		{Name: "Lock", Run: lockFor(authEnableOp)},      // operation.go: one operation per cluster at a time
		{Name: "Check", Run: checkAuthEnable},           // open nodes left? the gate; resuming an interrupted run; the plan
		{Name: "Plan", Run: showPlan(true)},             // operation.go: print it; stop on --dry-run; ask
		{Name: "Credentials", Run: authEnableSecret},    // auth.go's ensureCredentials: the secret, reused or made; each node's new spec
		{Name: "Replication", Run: authEnableReplicate}, // system_auth NetworkTopologyStrategy min(3, N), repaired, while nodes are open
		{Name: "Prepared", Run: authEnablePrepared},     // --prepare: stop here, every node still open
		{Name: "Superuser", Run: authEnableResumed},     // a re-run: the superuser through a node an earlier run did
		{Name: "Roll", Run: rollNodes},                  // rolling.go: drain, restart with auth, wait; the superuser after the first
	})
}

// checkAuthEnable plans the nodes still open, in node order; nodes whose
// service authenticates already (an earlier, interrupted run) are left as
// they are. A cluster whose every node authenticates has nothing to do,
// unless an earlier run stopped before its last step.
func checkAuthEnable(ctx context.Context, r *run) error {
	names := r.nodeNames()
	if len(names) == 0 {
		return op.Hinted("bring it back first: swarmcass bootstrap --auth=false --cluster "+r.cfg.Cluster,
			"cluster %s has no node service (it is down)", r.cfg.Cluster)
	}
	if ro := r.rec.Rollout; ro != nil && ro.Op != authEnableOp {
		return op.Hinted(fmt.Sprintf("finish it first: run swarmcass %s --cluster %s again", ro.Op, r.cfg.Cluster),
			"an interrupted %s of cluster %s is in its record (at %s)", ro.Op, r.cfg.Cluster, ro.Current)
	}
	pending, _ := r.resumeFrom(authEnableOp)
	ours := r.rec.Rollout != nil
	ro := &rollout{op: authEnableOp, target: map[string]engine.ServiceSpec{}, before: map[string]engine.ServiceSpec{},
		after: authEnableFinish, back: authEnableBack}
	for _, n := range names {
		switch {
		case n == pending:
			ro.pending, ro.acted = n, r.resumeActed
		case serviceAuth(r.services[n]):
			ro.done = append(ro.done, n)
		default:
			ro.nodes = append(ro.nodes, n)
		}
	}
	if len(ro.nodes) == 0 && pending == "" && !ours {
		r.p.Infof("cluster %s authenticates clients already (every node runs with PasswordAuthenticator): nothing to do; swarmcass credentials --cluster %s names the superuser", r.cfg.Cluster, r.cfg.Cluster)
		return nil // no plan: showPlan ends the run
	}
	if pending == "" {
		if err := r.rollGate(ctx); err != nil {
			return err
		}
	}
	r.roll = ro
	if len(ro.done) > 0 {
		r.p.Infof("%s authenticate already (an earlier run): left as they are", strings.Join(ro.done, ", "))
	}
	secret := credentials.SecretName(r.cfg.Cluster)
	secrets, err := r.manager.Engine.SecretList(ctx, nil)
	if err != nil {
		return fmt.Errorf("list the swarm's secrets on %s: %w", r.manager.name(), err)
	}
	if _, exists := r.namedCredentials(secrets); exists {
		r.plan = append(r.plan, "keep Swarm secret "+secret+" and the superuser it names (never replaced)")
	} else {
		r.plan = append(r.plan, "create Swarm secret "+secret+" with a generated superuser (swarmcass credentials says where its password is; clients given it work against open nodes too)")
	}
	if len(ro.nodes) > 0 || pending != "" {
		r.plan = append(r.plan, fmt.Sprintf("system_auth: NetworkTopologyStrategy %d in the nodes' datacenter, then nodetool repair --full system_auth (unless it is so already)", min(3, len(names))))
	}
	if r.cfg.AuthPrepare {
		r.plan = append(r.plan, "stop there (--prepare): every node stays open; give clients the credentials, then run again without --prepare")
		return nil
	}
	if pending != "" {
		r.plan = append(r.plan, fmt.Sprintf("wait for %s, which an interrupted run was acting on", pending))
	}
	first := len(ro.done) == 0
	for _, n := range ro.nodes {
		line := fmt.Sprintf("%s on %s: drain, restart with PasswordAuthenticator and CassandraAuthorizer (SWARMCASS_AUTH=true, the secret mounted): from then on it refuses clients without credentials", n, r.hostOf(n))
		if first && pending == "" {
			line += "; then create the superuser through the default role cassandra and disable cassandra"
			first = false
		}
		r.plan = append(r.plan, line)
	}
	if len(ro.nodes) == 0 && pending == "" {
		r.plan = append(r.plan, "finish what an earlier run began: the superuser, the default role disabled, system_auth replicated")
	}
	return nil
}

// authEnableSecret makes or finds the credentials secret as bootstrap
// does (ensureCredentials: a secret that exists is reused, never made
// again), then each node's new spec: its own, with authentication on and
// the secret mounted (setAuth, as createNode makes a node).
func authEnableSecret(ctx context.Context, r *run) error {
	r.enablingAuth, r.cfg.NoAuth = true, false
	if err := ensureCredentials(ctx, r); err != nil {
		return err
	}
	ro := r.roll
	for _, n := range append([]string{ro.pending}, ro.nodes...) {
		if n == "" {
			continue
		}
		cur := r.services[n].Spec
		t := cloneSpec(cur)
		setAuth(&t, true, r.secret)
		ro.target[n], ro.before[n] = t, cur
	}
	return nil
}

// authEnableReplicate raises system_auth's replication through a node that
// is still open, which Cassandra allows an anonymous client, before any
// node authenticates: a login then finds its role with a node down. With
// no open node left, authEnableFinish does it, logged in.
func authEnableReplicate(ctx context.Context, r *run) error {
	names := r.nodeNames()
	for _, n := range names {
		if n == r.roll.pending || serviceAuth(r.services[n]) {
			continue
		}
		t, err := r.cqlTarget(ctx, n)
		if err != nil {
			return err
		}
		return r.replicateAuth(ctx, t, names, false, "")
	}
	return nil
}

// authEnablePrepared ends a --prepare run: the secret exists, system_auth
// is replicated, and no node was restarted.
func authEnablePrepared(ctx context.Context, r *run) error {
	if !r.cfg.AuthPrepare {
		return nil
	}
	r.res.Auth.On, r.res.Auth.Prepared, r.res.Auth.User = false, true, r.creds.User
	r.p.Infof("prepared: every node is still open. Give clients the superuser's credentials (swarmcass credentials --cluster %s; a driver given them works against open nodes too), then run swarmcass auth enable --cluster %s", r.cfg.Cluster, r.cfg.Cluster)
	return fmt.Errorf("prepared: %w", op.ErrStop)
}

// authEnableResumed: when an earlier run restarted nodes with
// authentication already, the superuser is made (or checked) through the
// first of them before any other node goes out.
func authEnableResumed(ctx context.Context, r *run) error {
	if len(r.roll.done) == 0 {
		return nil
	}
	return authEnableBack(ctx, r, r.roll.done[0])
}

// authEnableBack, after a node is back with authentication on: the first
// time, the superuser of the secret through it (created through the
// default role, which is then disabled: ensureSuperuser).
func authEnableBack(ctx context.Context, r *run, node string) error {
	if r.superuserOK {
		return nil
	}
	t, err := r.cqlTarget(ctx, node)
	if err != nil {
		return err
	}
	if _, err := r.ensureSuperuser(ctx, t, false, 0); err != nil {
		return op.WithHint(err, "run swarmcass auth enable --cluster "+r.cfg.Cluster+" again: it continues from here")
	}
	r.superuserOK = true
	return nil
}

// authEnableFinish, once every node authenticates: the superuser and the
// default role checked (or done, after a run that stopped before), and
// system_auth replicated, logged in as the superuser.
func authEnableFinish(ctx context.Context, r *run) error {
	names := r.nodeNames()
	t, err := r.cqlTarget(ctx, names[0])
	if err != nil {
		return err
	}
	state, err := r.ensureSuperuser(ctx, t, false, 0)
	if err != nil {
		return op.WithHint(err, "run swarmcass auth enable --cluster "+r.cfg.Cluster+" again: it finishes from here")
	}
	return r.replicateAuth(ctx, t, names, false, state)
}
