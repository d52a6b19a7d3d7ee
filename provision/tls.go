package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetls"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/pki"
)

// TLS (--tls): every node runs with internode encryption (all, peers
// authenticating each other) and client encryption (required), the node
// contract's SWARMCASS_TLS=true, with two Swarm secrets mounted: its own
// keystore (key and certificate, issued from the cluster's CA) and the CA
// certificate. The CA lives in 0600 files under the user's swarmcass home
// (nodetls.Dir); ensureTLS, before the nodes, makes or finds it and the CA
// secret; createNode makes a node's keystore secret when it has none. A
// re-run never issues a certificate for a node whose secret exists.

// TLSMode is Config.TLS.
type TLSMode string

// Values of TLSMode.
const (
	TLSAuto TLSMode = ""
	TLSOn   TLSMode = "on"
	TLSOff  TLSMode = "off"
)

// TLSResult says how the cluster encrypts.
type TLSResult struct {
	On bool
	// CA is the CA certificate clients trust (a local file); CASecret the
	// Swarm secret that holds it, mounted in every node at
	// nodetls.TruststorePath.
	CA, CASecret string
}

// tlsState is what ensureTLS found.
type tlsState struct {
	dir string
	// ca is nil when its files are not on this machine: the nodes that
	// have their keystore run, a new node cannot get one.
	ca          *pki.CA
	fingerprint string
	caRef       engine.SecretRef
}

func tlsEnv() string { return nodetls.Env + "=true" }

// serviceTLS says whether an existing node runs with TLS.
func serviceTLS(s engine.Service) bool { return slices.Contains(s.Spec.Env, tlsEnv()) }

// nodeServices lists the cluster's node services and counts those that
// have a setting (has) and those that do not: what a cluster was created
// with, which a re-run keeps.
func (r *run) nodeServices(ctx context.Context, has func(engine.Service) bool) (list []engine.Service, on, off int, err error) {
	m := r.manager
	list, err = m.Engine.ServiceList(ctx, r.labels(engine.RoleCassandra, ""))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("list the cluster's services on %s: %w", m.name(), err)
	}
	for _, s := range list {
		if has(s) {
			on++
		} else {
			off++
		}
	}
	return list, on, off, nil
}

func fingerprint(certPEM []byte) (string, error) {
	c, err := pki.ParseCert(certPEM)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:]), nil
}

// ensureTLS decides whether the cluster's nodes use TLS and, when they do,
// makes sure its CA and the CA's secret exist. An existing cluster keeps
// what it was created with: a run without --tls on a TLS cluster keeps TLS
// on (and says so); --tls on a plain one, or --tls=false on a TLS one, is
// refused, since either is a rolling change of every node at once.
func ensureTLS(ctx context.Context, r *run) error {
	m := r.manager
	_, on, off, err := r.nodeServices(ctx, serviceTLS)
	if err != nil {
		return err
	}
	switch {
	case on > 0 && r.cfg.TLS == TLSOff:
		return op.Hinted("drop --tls=false: turning TLS off for a running cluster is not something bootstrap does (its clients and nodes expect it)",
			"cluster %s runs with TLS (internode and client encryption); --tls=false cannot turn it off", r.cfg.Cluster)
	case off > 0 && r.cfg.TLS == TLSOn:
		return op.Hinted("run bootstrap without --tls to keep the cluster as it is (no encryption); turning TLS on for an existing cluster is its own, rolling operation, which swarmcass does not have yet",
			"cluster %s was created without TLS (its nodes and clients talk in plaintext)", r.cfg.Cluster)
	case on > 0 && r.cfg.TLS == TLSAuto:
		r.p.Infof("cluster %s runs with TLS (internode and client encryption): this run keeps it on, although --tls was not given", r.cfg.Cluster)
	}
	r.res.TLS = TLSResult{On: on > 0 || r.cfg.TLS == TLSOn}
	r.tls = &tlsState{}
	if !r.res.TLS.On {
		return nil
	}
	sw, err := m.Engine.SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("inspect the swarm on %s: %w", m.name(), err)
	}
	st := &tlsState{dir: nodetls.Dir(r.cfg.Home, r.cfg.Cluster, sw.ID)}
	r.res.TLS.CA, r.res.TLS.CASecret = nodetls.CAFile(st.dir), nodetls.CASecretName(r.cfg.Cluster)
	secrets, err := m.Engine.SecretList(ctx, r.labels(nodetls.RoleCA, ""))
	if err != nil {
		return fmt.Errorf("list the swarm's secrets on %s: %w", m.name(), err)
	}
	var have *engine.Secret
	for i, s := range secrets {
		if s.Name == r.res.TLS.CASecret {
			have = &secrets[i]
		}
	}
	st.ca, err = nodetls.LoadCA(st.dir)
	switch {
	case errors.Is(err, nodetls.ErrNoCA) && have == nil:
		if st.ca, err = nodetls.NewCA(st.dir, r.cfg.Cluster); err != nil {
			return err
		}
		r.created("CA %s", r.res.TLS.CA)
	case errors.Is(err, nodetls.ErrNoCA):
		// The nodes that have their keystore still work; createNode says
		// what to do when a node needs a new one.
		r.p.Infof("the CA of cluster %s is not on this machine (%s): running nodes keep their certificates, but no new node can get one", r.cfg.Cluster, st.dir)
	case err != nil:
		return op.WithHint(err, fmt.Sprintf("the CA files in %s are damaged: restore ca.pem and ca-key.pem from a backup (or from the machine that bootstrapped the cluster)", st.dir))
	}
	if st.ca != nil {
		if st.fingerprint, err = fingerprint(st.ca.CertPEM); err != nil {
			return fmt.Errorf("cluster CA: %w", err)
		}
	}
	if have != nil {
		fp := have.Labels[engine.LabelCAFingerprint]
		if st.ca != nil && fp != st.fingerprint {
			return op.Hinted(fmt.Sprintf("the nodes trust the CA of secret %s: restore that CA's ca.pem and ca-key.pem into %s (or, if no node uses it, remove the secret: docker secret rm %s)", have.Name, st.dir, have.Name),
				"the CA in %s is not the one the cluster's secret %s holds", st.dir, have.Name)
		}
		st.fingerprint = fp
		st.caRef = caRef(*have)
	} else {
		labels := r.labels(nodetls.RoleCA, "")
		labels[engine.LabelCAFingerprint] = st.fingerprint
		id, err := m.Engine.SecretCreate(ctx, engine.SecretSpec{Name: r.res.TLS.CASecret, Data: st.ca.CertPEM, Labels: labels})
		if err != nil {
			return op.WithHint(fmt.Errorf("create secret %s: %w", r.res.TLS.CASecret, err),
				fmt.Sprintf("a secret of that name without swarmcass's labels is in the way: remove it (docker secret rm %s) and run bootstrap again", r.res.TLS.CASecret))
		}
		r.created("secret %s (the cluster's CA)", r.res.TLS.CASecret)
		st.caRef = caRef(engine.Secret{ID: id, Name: r.res.TLS.CASecret})
	}
	r.tls = st
	return nil
}

// caRef mounts the CA certificate where the node contract looks, readable
// by all: cqlsh in the container and Cassandra (user cassandra) read it.
func caRef(s engine.Secret) engine.SecretRef {
	return engine.SecretRef{ID: s.ID, Name: s.Name, File: nodetls.TruststoreFile, UID: "0", GID: "0", Mode: 0o444}
}

// keystoreRef mounts a node's keystore for the cassandra user alone.
func keystoreRef(s engine.Secret) engine.SecretRef {
	return engine.SecretRef{ID: s.ID, Name: s.Name, File: nodetls.KeystoreFile, UID: nodetls.CassandraUID, GID: nodetls.CassandraUID, Mode: 0o400}
}

// nodeTLS returns the secrets node mounts on host h: the CA's and its
// keystore, made from the CA when it has none. Its certificate is valid
// for its name, its service's DNS names, its overlay address when the
// record knows it, and its host's address when clients reach it there.
func (r *run) nodeTLS(ctx context.Context, node string, h *host) ([]engine.SecretRef, error) {
	m := r.manager
	st := r.tls
	name := nodetls.NodeSecretName(r.cfg.Cluster, node)
	secrets, err := m.Engine.SecretList(ctx, r.labels(nodetls.RoleNode, node))
	if err != nil {
		return nil, fmt.Errorf("list the swarm's secrets on %s: %w", m.name(), err)
	}
	for _, s := range secrets {
		if s.Name != name {
			continue
		}
		if s.Labels[engine.LabelCAFingerprint] != st.fingerprint {
			return nil, op.Hinted(fmt.Sprintf("remove it (docker secret rm %s; no node uses it while %s has no service) and run bootstrap again: a new one is issued from the current CA", name, node),
				"secret %s holds a certificate of another CA than the cluster's (%s)", name, r.res.TLS.CASecret)
		}
		return []engine.SecretRef{st.caRef, keystoreRef(s)}, nil
	}
	if st.ca == nil {
		return nil, op.Hinted(fmt.Sprintf("copy ca.pem and ca-key.pem from the machine that bootstrapped cluster %s into %s (mode 0600 for the key) and run again", r.cfg.Cluster, st.dir),
			"%s needs a certificate, but the CA of cluster %s is not on this machine", node, r.cfg.Cluster)
	}
	names := nodetls.Names{Node: node}
	if n, ok := r.rec.Nodes[node]; ok && net.ParseIP(n.Address) != nil {
		names.IPs = append(names.IPs, net.ParseIP(n.Address))
	}
	if r.cfg.Clients == ClientsHost && h != nil {
		if ip := net.ParseIP(h.Addr); ip != nil {
			names.IPs = append(names.IPs, ip)
		} else if h.Addr != "" {
			names.DNS = append(names.DNS, h.Addr)
		}
	}
	ks, err := nodetls.Keystore(st.ca, names)
	if err != nil {
		return nil, fmt.Errorf("certificate of %s: %w", node, err)
	}
	labels := r.labels(nodetls.RoleNode, node)
	labels[engine.LabelCAFingerprint] = st.fingerprint
	id, err := m.Engine.SecretCreate(ctx, engine.SecretSpec{Name: name, Data: ks, Labels: labels})
	if err != nil {
		return nil, op.WithHint(fmt.Errorf("create secret %s: %w", name, err),
			fmt.Sprintf("a secret of that name without swarmcass's labels is in the way: remove it (docker secret rm %s) and run again", name))
	}
	r.created("secret %s (certificate of %s)", name, node)
	return []engine.SecretRef{st.caRef, keystoreRef(engine.Secret{ID: id, Name: name})}, nil
}
