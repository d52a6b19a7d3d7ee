package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/credentials"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetls"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/provision"
)

func init() { register(newCredentialsCommand) }

type credentialsOptions struct {
	nodeOptions
	password bool
}

func newCredentialsCommand() *cobra.Command {
	o := &credentialsOptions{}
	c := &cobra.Command{
		Use:   "credentials",
		Short: "Print the cluster's CQL superuser and where its password is kept",
		Long: `credentials prints the CQL superuser bootstrap made for the cluster and where
its password is: in the Swarm secret CLUSTER-cql-credentials, mounted in every
node at ` + credentials.MountPath + ` (the Engine API never gives a
secret's data back), and in a 0600 copy under ~/.swarmcass/credentials/, a
cqlsh credentials file. When that copy is missing it is read back from a
running node and written again.

swarmcass cqlsh and every other command log in on their own; nobody types
the password. --password prints it alone, for a script's client.

For a cluster bootstrapped with --tls it also prints where the CA
certificate is that clients trust (the cluster's CA, kept under
~/.swarmcass/tls/, and the Swarm secret CLUSTER-tls-ca mounted in every node
at ` + nodetls.TruststorePath + `); --ca prints that file's path alone.`,
		Example: `  swarmcass credentials
  swarmcass credentials --cluster prod
  cqlsh --credentials "$(swarmcass credentials --file)" 10.0.1.4 9042
  CQL_PASSWORD=$(swarmcass credentials --password)   # the password alone, for a script
  SSL_CERTFILE=$(swarmcass credentials --ca) cqlsh --ssl 10.0.1.4 9042   # a --tls cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCredentials(cmd, o) },
	}
	fs := c.Flags()
	o.hosts.AddFlags(fs)
	fs.StringVar(&o.cluster, "cluster", provision.DefaultCluster, "cluster name, as given to bootstrap")
	fs.BoolVar(&o.password, "password", false, "print the password alone on stdout")
	fs.Bool("file", false, "print the path of the local credentials file alone")
	fs.Bool("ca", false, "print the path of the CA certificate clients trust alone (a cluster bootstrapped with --tls)")
	return c
}

func runCredentials(cmd *cobra.Command, o *credentialsOptions) error {
	c, err := o.open(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Err(); err != nil {
		return err
	}
	ctx := cmd.Context()
	file, _ := cmd.Flags().GetBool("file")
	if len(c.Swarm) == 0 {
		return op.Hinted("name the swarm hosts (--swarm, --context or --host)", "no swarm engines")
	}
	info, err := lookCredentials(ctx, c.Swarm[0].Engine, c.Engines(), o.cluster, credentials.DefaultHome())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if ca, _ := cmd.Flags().GetBool("ca"); ca {
		if info.tlsCA == "" {
			return op.Hinted("bootstrap a cluster with --tls for encrypted connections; this one's clients connect without TLS", "cluster %s runs without TLS", o.cluster)
		}
		fmt.Fprintln(out, info.tlsCA)
		return nil
	}
	switch {
	case !info.on && !info.prepared:
		fmt.Fprintf(out, "Cluster %s runs without authentication (bootstrapped with --auth=false): clients need no credentials, and anyone who reaches a CQL port can read, write and drop every keyspace.\n", o.cluster)
		info.printTLS(out)
		return nil
	case o.password:
		fmt.Fprintln(out, info.creds.Password)
		return nil
	case file:
		fmt.Fprintln(out, info.file)
		return nil
	}
	if info.recovered != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "the local copy was missing: read it back from %s's secret mount\n", info.recovered)
	}
	if info.prepared {
		fmt.Fprintf(out, "Cluster %s runs without authentication yet: swarmcass auth enable --prepare made these credentials, which clients can be given now (a node that does not authenticate takes them too); swarmcass auth enable --cluster %s turns authentication on.\n", o.cluster, o.cluster)
	}
	fmt.Fprintf(out, "Cluster %s: CQL superuser %s\n", o.cluster, info.creds.User)
	fmt.Fprintf(out, "Password: in %s (0600, a cqlsh credentials file),\n", info.file)
	fmt.Fprintf(out, "  and in Swarm secret %s, mounted in every node at %s.\n", info.secret, credentials.MountPath)
	fmt.Fprintf(out, "  `docker secret inspect` never shows it; `swarmcass credentials --password` prints it.\n")
	fmt.Fprintf(out, "Log in: swarmcass cqlsh NODE (on its own), or cqlsh --credentials %s HOST 9042\n", info.file)
	info.printTLS(out)
	return nil
}

// printTLS says how clients connect to a --tls cluster.
func (info credentialsInfo) printTLS(out io.Writer) {
	if info.tlsCA == "" {
		return
	}
	fmt.Fprintf(out, "TLS on (internode and client encryption; CQL ports speak TLS only). Clients trust the cluster's CA:\n")
	fmt.Fprintf(out, "  %s%s,\n", info.tlsCA, info.tlsMissing)
	fmt.Fprintf(out, "  also Swarm secret %s, mounted in every node at %s.\n", info.tlsSecret, nodetls.TruststorePath)
	fmt.Fprintf(out, "  cqlsh: SSL_CERTFILE=%s cqlsh --ssl HOST 9042 (swarmcass cqlsh NODE needs nothing)\n", info.tlsCA)
}

type credentialsInfo struct {
	on        bool
	prepared  bool // no node authenticates yet, but auth enable --prepare made the secret
	creds     credentials.Credentials
	secret    string
	file      string
	recovered string // node the credentials were read back from
	// tlsCA is the CA certificate file of a --tls cluster ("" without
	// TLS), tlsSecret its secret; tlsMissing says when the file is not here.
	tlsCA, tlsSecret, tlsMissing string
}

// lookCredentials finds the cluster's credentials: the local copy, else
// the secret as a running node has it mounted (then saved again).
func lookCredentials(ctx context.Context, m engine.Engine, engines []engine.Engine, name, home string) (credentialsInfo, error) {
	var info credentialsInfo
	services, err := m.ServiceList(ctx, engine.Labels{engine.LabelCluster: name, engine.LabelRole: engine.RoleCassandra})
	if err != nil {
		return info, fmt.Errorf("list the services of cluster %s on %s: %w", name, m.Name(), err)
	}
	if len(services) == 0 {
		return info, op.Hinted("check --cluster and the host flags; swarmcass bootstrap makes a cluster", "cluster %s has no nodes on the swarm of %s", name, m.Name())
	}
	for _, s := range services {
		if slices.Contains(s.Spec.Env, "SWARMCASS_AUTH=true") {
			info.on = true
		}
	}
	if !info.on {
		// Open, but auth enable --prepare may have made the credentials.
		secrets, err := m.SecretList(ctx, engine.Labels{engine.LabelCluster: name, engine.LabelRole: provision.RoleCredentials})
		if err != nil {
			return info, fmt.Errorf("list the swarm's secrets on %s: %w", m.Name(), err)
		}
		info.prepared = slices.ContainsFunc(secrets, func(s engine.Secret) bool { return s.Name == credentials.SecretName(name) })
	}
	tls := slices.ContainsFunc(services, func(s engine.Service) bool { return slices.Contains(s.Spec.Env, nodetls.Env+"=true") })
	if !info.on && !info.prepared && !tls {
		return info, nil
	}
	sw, err := m.SwarmInspect(ctx)
	if err != nil {
		return info, fmt.Errorf("inspect the swarm on %s: %w", m.Name(), err)
	}
	if tls {
		info.tlsCA = nodetls.CAFile(nodetls.Dir(home, name, sw.ID))
		info.tlsSecret = nodetls.CASecretName(name)
		if _, err := os.Stat(info.tlsCA); err != nil {
			info.tlsMissing = " (not on this machine: copy it from the machine that bootstrapped the cluster, or from " + nodetls.TruststorePath + " in a node)"
		}
	}
	if !info.on && !info.prepared {
		return info, nil
	}
	info.secret = credentials.SecretName(name)
	info.file = credentials.LocalPath(home, name, sw.ID)
	if info.creds, err = credentials.ReadLocal(info.file); err == nil {
		return info, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return info, op.WithHint(err, "remove it: swarmcass credentials reads the credentials back from a node and writes it again")
	}
	if !info.on {
		return info, op.Hinted("run swarmcass credentials on the machine that ran auth enable --prepare, or turn authentication on (swarmcass auth enable): the nodes then mount the secret, and this reads it back from one",
			"no local copy at %s, and no node mounts secret %s yet (the Engine API never gives a secret's data back)", info.file, info.secret)
	}
	nodes, err := nodewait.Nodes(ctx, engines, name)
	if err != nil {
		return info, err
	}
	var errs []error
	for _, n := range nodes {
		f, err := findNode(ctx, engines, name, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cr, err := credentials.FromNode(ctx, f.Engine, f.Container.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
			continue
		}
		info.creds, info.recovered = cr, n
		if err := credentials.WriteLocal(info.file, cr); err != nil {
			return info, err
		}
		return info, nil
	}
	return info, op.WithHint(fmt.Errorf("no local copy at %s, and no running node to read secret %s from: %w", info.file, info.secret, errors.Join(errs...)),
		"start the cluster's nodes (swarmcass bootstrap), then run swarmcass credentials again")
}
