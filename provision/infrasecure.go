package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/infracreds"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
)

// Consul's ACLs and the registry's credentials: what bootstrap makes of
// them when it makes Consul and the registry, and how a re-run finds them
// again. The rules:
//
//   - A credential that works is never changed: a re-run reads it (the
//     local file, else the copy in the infra container's volume: package
//     infracreds) and checks it against Consul or the registry.
//   - A new credential is written to its copy in the container before it
//     is used, so a run cut short after Consul took the token can still
//     find it; then to the local 0600 file.
//   - A lost or stale local file is replaced by the copy.
//   - Consul or a registry made by an older swarmcass, open to anyone, is
//     left as it is, and the run says how to protect it.

// registryAuthEnv makes the registry (distribution, registry:3 and the
// offline image alike) want swarmcass's credentials for every request:
// pushes, deletes, pulls and the catalog.
var registryAuthEnv = []string{
	"REGISTRY_AUTH=htpasswd",
	"REGISTRY_AUTH_HTPASSWD_REALM=swarmcass",
	"REGISTRY_AUTH_HTPASSWD_PATH=" + infracreds.RegistryDataDir + "/" + infracreds.HtpasswdFile,
}

// ensureConsulACL makes sure Consul's ACL system is bootstrapped with a
// management token swarmcass has, kept in both places, and set up
// (consulstore.Admin.Setup), and returns that token; "" when Consul runs
// without ACLs (made by an older swarmcass), which it reports.
func ensureConsulACL(ctx context.Context, r *run, admin consulstore.Admin) (string, error) {
	addr := r.infra.Addr
	k := infracreds.ConsulToken
	local, haveLocal, err := infracreds.ReadLocal(k, addr)
	if err != nil {
		return "", err
	}
	copied, haveCopy, err := infracreds.ReadCopy(ctx, r.infra.Engine, k)
	if err != nil {
		return "", err
	}
	var candidates []string
	for _, t := range []struct {
		v  string
		ok bool
	}{{local, haveLocal}, {copied, haveCopy}} {
		if t.ok && !slices.Contains(candidates, t.v) {
			candidates = append(candidates, t.v)
		}
	}
	// Consul may not take ACL requests the moment it has a leader.
	check := func(token string) (consulstore.TokenState, error) {
		var state consulstore.TokenState
		err := op.Poll(ctx, r.cfg.PollInterval, r.cfg.InfraTimeout, "Consul to answer an ACL request", func() (bool, error) {
			var err error
			state, err = admin.Check(ctx, token)
			r.p.Debugf("consul: token check: %v, %v", state, err)
			return err == nil, nil
		})
		return state, err
	}
	for _, t := range append(candidates, "") {
		if t == "" && len(candidates) > 0 {
			break // "" only asks whether ACLs are on, when there is no token to ask with
		}
		state, err := check(t)
		if err != nil {
			return "", r.infraFailed(ctx, ConsulContainer, err)
		}
		switch state {
		case consulstore.ACLsOff:
			r.warn("Consul on %s runs without ACLs (made by an older swarmcass): anyone who reaches %s can rewrite the record and take the lock. "+
				"To turn them on: remove the container on %s (`docker rm -f %s`; its volume keeps the record) and run bootstrap again",
				r.infra.name(), consulstore.Addr(addr), r.infra.name(), ConsulContainer)
			r.res.ConsulACL = "off"
			return "", nil
		case consulstore.TokenValid:
			if !haveCopy || copied != t {
				if err := infracreds.WriteCopy(ctx, r.infra.Engine, k, t); err != nil {
					return "", err
				}
			}
			if err := keepLocal(r, k, t, local, haveLocal); err != nil {
				return "", err
			}
			return t, setupACL(ctx, r, admin, t)
		}
		r.p.Debugf("consul: a token swarmcass kept is unknown to Consul")
	}
	// No token swarmcass has works: bootstrap the ACL system with one. A
	// token it kept that Consul does not know may serve (a run cut short
	// before Consul took it); else a new one.
	token := copied
	if !haveCopy {
		token = local
	}
	if token == "" {
		if token, err = consulstore.NewToken(); err != nil {
			return "", err
		}
	}
	if !haveCopy || copied != token {
		if err := infracreds.WriteCopy(ctx, r.infra.Engine, k, token); err != nil {
			return "", err
		}
	}
	var berr error
	err = op.Poll(ctx, r.cfg.PollInterval, r.cfg.InfraTimeout, "Consul to bootstrap its ACL system", func() (bool, error) {
		berr = admin.Bootstrap(ctx, token)
		r.p.Debugf("consul: ACL bootstrap: %v", berr)
		return berr == nil || errors.Is(berr, consulstore.ErrBootstrapped), nil
	})
	if err != nil && berr != nil {
		err = fmt.Errorf("%w: %w", err, berr)
	}
	if errors.Is(berr, consulstore.ErrBootstrapped) {
		err = berr
		path, _ := infracreds.LocalPath(k, addr)
		return "", op.WithHint(err, fmt.Sprintf("Consul's ACL system was bootstrapped with a management token swarmcass does not have (neither %s nor the copy in container %s on %s holds one Consul knows). "+
			"If you have the token, write it to %s and run again; else reset the ACL bootstrap as Consul documents it (acl-bootstrap-reset in its data directory) and run again",
			path, ConsulContainer, r.infra.name(), path))
	}
	if err != nil {
		return "", r.infraFailed(ctx, ConsulContainer, err)
	}
	r.created("Consul ACL management token (kept in container %s and locally)", ConsulContainer)
	r.aclFresh = true
	if err := keepLocal(r, k, token, local, haveLocal); err != nil {
		return "", err
	}
	return token, setupACL(ctx, r, admin, token)
}

// setupACL makes the anonymous and agent policies (idempotent).
func setupACL(ctx context.Context, r *run, admin consulstore.Admin, token string) error {
	if err := admin.Setup(ctx, token); err != nil {
		return op.WithHint(err, "swarmcass's token is Consul's management token; see `docker logs "+ConsulContainer+"` on "+r.infra.name())
	}
	r.res.ConsulACL = "on"
	return nil
}

// keepLocal writes value to k's local file unless it holds it already.
func keepLocal(r *run, k infracreds.Kind, value, local string, haveLocal bool) error {
	if haveLocal && local == value {
		return nil
	}
	if err := infracreds.WriteLocal(k, r.infra.Addr, value); err != nil {
		return op.WithHint(err, "swarmcass keeps "+k.What+" under SWARMCASS_HOME (default ~/.swarmcass): make that writable, or point SWARMCASS_HOME elsewhere")
	}
	path, _ := infracreds.LocalPath(k, r.infra.Addr)
	r.p.Debugf("kept %s in %s", k.What, path)
	return nil
}

// prepareRegistry runs before the registry container starts: the user
// swarmcass pushes and pulls as, in the volume (htpasswd and the password
// copy) and locally. An existing password is kept: the copy's, else the
// local file's (the volume was lost); else a new one.
func prepareRegistry(ctx context.Context, r *run) error {
	k := infracreds.RegistryPassword
	e := r.infra.Engine
	copied, haveCopy, err := infracreds.ReadCopy(ctx, e, k)
	if err != nil {
		return err
	}
	local, haveLocal, err := infracreds.ReadLocal(k, r.infra.Addr)
	if err != nil {
		return err
	}
	var u *registry.User
	switch {
	case haveCopy:
		u = &registry.User{Name: registry.UserName, Password: copied}
	case haveLocal:
		u = &registry.User{Name: registry.UserName, Password: local}
	default:
		if u, err = registry.NewUser(); err != nil {
			return err
		}
		r.created("registry user %s (kept in container %s and locally)", u.Name, RegistryContainer)
	}
	if !haveCopy {
		if err := infracreds.WriteCopy(ctx, e, k, u.Password); err != nil {
			return err
		}
	}
	htpasswd, err := e.ContainerReadFile(ctx, RegistryContainer, infracreds.RegistryDataDir+"/"+infracreds.HtpasswdFile)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("read the registry's htpasswd: %w", err)
	}
	if !u.In(htpasswd) {
		line, err := u.Htpasswd()
		if err != nil {
			return err
		}
		if err := e.ContainerWriteFile(ctx, RegistryContainer, infracreds.RegistryDataDir, infracreds.HtpasswdFile, line, 0o600); err != nil {
			return fmt.Errorf("write the registry's htpasswd: %w", err)
		}
	}
	if err := keepLocal(r, k, u.Password, local, haveLocal); err != nil {
		return err
	}
	r.registryUser = u
	return nil
}

// checkRegistryUser, once the registry answers: one that wants
// credentials must take swarmcass's (read back when the registry was
// running already); one that wants none was made by an older swarmcass,
// which the run reports.
func checkRegistryUser(ctx context.Context, r *run) error {
	wants, err := r.cfg.Remote.RegistryWantsAuth(ctx, r.res.Registry)
	if err != nil {
		return r.infraFailed(ctx, RegistryContainer, err)
	}
	if !wants {
		r.warn("the registry on %s lets anyone push and pull (made by an older swarmcass). To protect it: remove the container on %s (`docker rm -f %s`; its volume keeps the images) and run bootstrap again",
			r.infra.name(), r.infra.name(), RegistryContainer)
		r.registryUser = nil
		r.res.RegistryAuth = "off"
		return nil
	}
	k := infracreds.RegistryPassword
	if r.registryUser == nil {
		u, err := knownRegistryUser(ctx, r)
		if err != nil {
			return err
		}
		if u == nil {
			return op.Hinted(fmt.Sprintf("stop the container on %s (`docker stop %s`) and run bootstrap again: it then gives the registry a user swarmcass keeps", r.infra.name(), RegistryContainer),
				"the registry on %s wants credentials, and swarmcass has none for it (no local file, no copy in container %s)", r.infra.name(), RegistryContainer)
		}
		r.registryUser = u
	}
	if err := r.cfg.Remote.PingRegistry(ctx, r.res.Registry, r.registryUser); err != nil {
		path, _ := infracreds.LocalPath(k, r.infra.Addr)
		return op.WithHint(err, fmt.Sprintf("the registry refuses the password swarmcass keeps (%s, and %s in container %s): remove both and stop the container (`docker stop %s`), then run bootstrap again to give it a new one",
			path, k.CopyPath(), RegistryContainer, RegistryContainer))
	}
	r.res.RegistryAuth = "on"
	return nil
}

// knownRegistryUser is the registry user swarmcass keeps: the copy in the
// registry's volume (which then replaces a missing or different local
// file), else the local file's; nil when neither exists.
func knownRegistryUser(ctx context.Context, r *run) (*registry.User, error) {
	k := infracreds.RegistryPassword
	copied, haveCopy, err := infracreds.ReadCopy(ctx, r.infra.Engine, k)
	if err != nil {
		return nil, err
	}
	local, haveLocal, err := infracreds.ReadLocal(k, r.infra.Addr)
	if err != nil {
		return nil, err
	}
	switch {
	case haveCopy:
		if err := keepLocal(r, k, copied, local, haveLocal); err != nil {
			return nil, err
		}
		return &registry.User{Name: registry.UserName, Password: copied}, nil
	case haveLocal:
		return &registry.User{Name: registry.UserName, Password: local}, nil
	}
	return nil, nil
}

// pullAuth are the credentials the nodes' services pull image with, for
// the registry its reference names (as the swarm engines reach it); nil
// when the registry wants none.
func (r *run) pullAuth(image string) *engine.RegistryAuth {
	host, _, _ := strings.Cut(image, "/")
	return r.registryUser.Auth(host)
}

// warn tells the user something they should act on, and keeps it for the
// summary.
func (r *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Warnings = append(r.res.Warnings, msg)
	r.p.Infof("warning: %s", msg)
}
