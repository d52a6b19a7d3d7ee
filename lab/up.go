package lab

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/machinestore"
	"github.com/swarmcass/swarmcass/pki"
	"github.com/swarmcass/swarmcass/registry"
)

// recordFile in the store says the directory is a lab's, so Down may
// remove it, and which host engine the lab's machines run on.
const recordFile = "swarmcass-lab.json"

// Record is what a lab's store says about the lab itself.
type Record struct {
	Name string
	// HostEngine is the engine the machines run on. Lab commands use it
	// rather than DOCKER_HOST, which `lab env --machine` points elsewhere.
	HostEngine string
}

// ReadRecord reads the lab record of the store at dir.
func ReadRecord(dir string) (Record, error) {
	var r Record
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return r, fmt.Errorf("read lab record: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("read lab record %s: %w", filepath.Join(dir, recordFile), err)
	}
	return r, nil
}

func writeRecord(dir string, r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, recordFile), append(b, '\n'), 0o644)
}

// engineWait is how long a machine's dockerd may take to answer.
const engineWait = 90 * time.Second

// Up creates the lab or completes it, step by step; each step inspects
// before it creates, so a re-run after an interruption finishes the job and
// a re-run of a complete lab changes nothing.
func (l *Lab) Up(ctx context.Context) ([]Machine, error) {
	var plan []Machine
	var ca *pki.CA
	var client *pki.KeyPair
	steps := []struct {
		name string
		run  func() error
	}{
		{"Checking the host engine", func() error {
			note, err := l.chooseSubnet(ctx)
			if err != nil {
				return err
			}
			if note != "" {
				l.out.Infof("%s", note)
			}
			plan = l.cfg.Plan()
			return l.preflight(ctx, plan)
		}},
		{"Writing certificates", func() (err error) { ca, client, err = l.ensureCA(); return err }},
		{"Creating network " + l.cfg.NetworkName(), func() error { return l.ensureNetwork(ctx) }},
		{fmt.Sprintf("Starting %d machines", l.cfg.Machines+1), func() error { return l.ensureMachines(ctx, plan, ca, client) }},
		{"Waiting for their engines (TLS on 2376)", func() error { return l.waitEngines(ctx, plan) }},
		{"Checking IPsec for encrypted overlays", func() error { l.checkIPsec(ctx, plan[0]); return nil }},
	}
	if len(l.cfg.Load) > 0 {
		steps = append(steps, struct {
			name string
			run  func() error
		}{"Loading " + strings.Join(l.cfg.Load, ", "), func() error { return l.LoadImages(ctx, l.cfg.Load, plan) }})
	}
	for _, s := range steps {
		if err := l.step(s.name, s.run); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// preflight refuses, before anything is created, what would fail later.
func (l *Lab) preflight(ctx context.Context, plan []Machine) error {
	info, err := l.host.Info(ctx)
	if err != nil {
		return hint(err, fmt.Sprintf("the lab's host engine is %s (DOCKER_HOST, else the local socket): start one with scripts/setup-engine.sh, or point DOCKER_HOST at one that runs", l.host.Host()))
	}
	need := int64(len(plan)) * MachineMemory
	if budget := info.MemTotal * 8 / 10; need > budget {
		return fmt.Errorf("%d machines need about %d MiB (%d MiB each) but the host engine has %d MiB: use fewer --machines (at most %d here)",
			len(plan), need>>20, MachineMemory>>20, info.MemTotal>>20, budget/MachineMemory)
	}
	if _, err := l.host.ImageInspect(ctx, l.cfg.MachineImage); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return hint(fmt.Errorf("machine image %s is not on the host engine", l.cfg.MachineImage),
				"build it with scripts/build-images.sh machine, or choose one with --machine-image")
		}
		return err
	}
	for _, img := range l.cfg.Load {
		if _, err := l.host.ImageInspect(ctx, img); err != nil {
			return hint(fmt.Errorf("image %s to load: %w", img, err), "build it first (scripts/build-images.sh builds the offline ones)")
		}
	}
	// The name must not be taken by anything that is not this lab's.
	if n, err := l.host.NetworkInspect(ctx, l.cfg.NetworkName()); err == nil && n.Labels[engine.LabelLab] != l.cfg.Name {
		return fmt.Errorf("network %s exists and is not lab %s's: choose another --name (nothing was changed)", n.Name, l.cfg.Name)
	}
	for _, m := range plan {
		c, err := l.host.ContainerInspect(ctx, m.Container)
		if err == nil && c.Labels[engine.LabelLab] != l.cfg.Name {
			return fmt.Errorf("container %s exists and is not lab %s's: choose another --name (nothing was changed)", m.Container, l.cfg.Name)
		}
	}
	existing, err := l.host.ContainerList(ctx, l.cfg.labels(engine.LabelRole, engine.RoleMachine))
	if err != nil {
		return err
	}
	if len(existing) > len(plan) {
		return hint(fmt.Errorf("lab %s already has %d machines, more than the %d asked for", l.cfg.Name, len(existing), len(plan)),
			fmt.Sprintf("keep it with --machines %d, or remove it first with `swarmcass lab down --name %s`", len(existing)-1, l.cfg.Name))
	}
	if err := os.MkdirAll(l.cfg.StoreDir, 0o755); err != nil {
		return fmt.Errorf("lab store: %w", err)
	}
	if entries, _ := os.ReadDir(l.cfg.StoreDir); len(entries) > 0 {
		if rec, err := ReadRecord(l.cfg.StoreDir); err != nil || rec.Name != l.cfg.Name {
			return fmt.Errorf("store %s is not empty and is not lab %s's: choose another --store (nothing was changed)", l.cfg.StoreDir, l.cfg.Name)
		}
	}
	return writeRecord(l.cfg.StoreDir, Record{Name: l.cfg.Name, HostEngine: l.host.Host()})
}

// ensureCA loads the lab's CA and client certificate, or makes them.
func (l *Lab) ensureCA() (*pki.CA, *pki.KeyPair, error) {
	store := machinestore.New(l.cfg.StoreDir)
	certs := store.CertsDir()
	caPath, caKey := filepath.Join(certs, machinestore.CACertFile), filepath.Join(certs, machinestore.CAKeyFile)
	cert, key := filepath.Join(certs, machinestore.CertFile), filepath.Join(certs, machinestore.KeyFile)
	if ca, err := pki.LoadCAFiles(caPath, caKey); err == nil {
		certPEM, err1 := os.ReadFile(cert)
		keyPEM, err2 := os.ReadFile(key)
		if err1 == nil && err2 == nil && pki.MatchKey(certPEM, keyPEM) == nil {
			c, err := pki.ParseCert(certPEM)
			if err == nil {
				return ca, &pki.KeyPair{Cert: c, CertPEM: certPEM, KeyPEM: keyPEM}, nil
			}
		}
	}
	ca, err := pki.NewCA("swarmcass lab "+l.cfg.Name, 10*365*24*time.Hour)
	if err != nil {
		return nil, nil, err
	}
	client, err := ca.IssueClient("swarmcass")
	if err != nil {
		return nil, nil, err
	}
	if err := ca.WriteFiles(caPath, caKey); err != nil {
		return nil, nil, err
	}
	if err := client.WriteFiles(cert, key); err != nil {
		return nil, nil, err
	}
	return ca, client, nil
}

func (l *Lab) ensureNetwork(ctx context.Context) error {
	name := l.cfg.NetworkName()
	n, err := l.host.NetworkInspect(ctx, name)
	if err == nil {
		if len(n.Subnets) != 1 || n.Subnets[0] != l.cfg.Subnet {
			return hint(fmt.Errorf("network %s has subnet %v, not %s", name, n.Subnets, l.cfg.Subnet),
				fmt.Sprintf("run with --subnet %s, or `swarmcass lab down --name %s` first", strings.Join(n.Subnets, ","), l.cfg.Name))
		}
		return nil
	}
	if !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	_, err = l.host.NetworkCreate(ctx, engine.NetworkSpec{
		Name: name, Driver: "bridge", Subnet: l.cfg.Subnet, Labels: l.cfg.labels(engine.LabelRole, engine.RoleNetwork),
	})
	if err != nil {
		return hint(err, "another network may overlap "+l.cfg.Subnet+": choose another --subnet")
	}
	return nil
}

// ensureMachines writes each machine's certificates and store entry, then
// creates and starts its container when missing or stopped.
func (l *Lab) ensureMachines(ctx context.Context, plan []Machine, ca *pki.CA, client *pki.KeyPair) error {
	store := machinestore.New(l.cfg.StoreDir)
	infra := plan[0].Addr
	// Every engine trusts bootstrap's registry on infra over plain HTTP,
	// as docker-machine's --engine-insecure-registry did in the original
	// procedure.
	insecure := []string{registry.Addr(infra)}
	for _, m := range plan {
		server, err := l.serverCert(store, m, ca)
		if err != nil {
			return err
		}
		if _, err := store.Save(machinestore.NewMachine{
			Name: m.Name, IP: m.Addr, URL: m.Host, // the "none" driver: docker-machine reads Driver.URL
			InsecureRegistries: insecure, CA: ca, Client: client, Server: server,
		}); err != nil {
			return err
		}
		if err := l.ensureMachine(ctx, m, ca, server, insecure); err != nil {
			return err
		}
	}
	return nil
}

// serverCert reuses a machine's server certificate when it still matches
// its address, so a re-run does not restart a healthy engine.
func (l *Lab) serverCert(store *machinestore.Store, m Machine, ca *pki.CA) (*pki.KeyPair, error) {
	dir := store.MachineDir(m.Name)
	certPEM, err1 := os.ReadFile(filepath.Join(dir, machinestore.ServerFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, machinestore.ServerKeyFile))
	if err1 == nil && err2 == nil && pki.Verify(ca.CertPEM, certPEM, x509.ExtKeyUsageServerAuth, m.Addr) == nil && pki.MatchKey(certPEM, keyPEM) == nil {
		if c, err := pki.ParseCert(certPEM); err == nil {
			return &pki.KeyPair{Cert: c, CertPEM: certPEM, KeyPEM: keyPEM}, nil
		}
	}
	return ca.IssueServer(m.Name, []net.IP{net.ParseIP(m.Addr), net.IPv4(127, 0, 0, 1)}, []string{m.Name, "localhost"})
}

// machineScript writes the TLS files it is given in its environment, then
// becomes dockerd. Passing them in the environment, not a bind mount, keeps
// the lab working when the host engine is remote.
const machineScript = `set -e
d=/etc/docker/tls; mkdir -p $d
printf '%s' "$SWARMCASS_TLS_CA" > $d/ca.pem
printf '%s' "$SWARMCASS_TLS_CERT" > $d/server.pem
printf '%s' "$SWARMCASS_TLS_KEY" > $d/server-key.pem; chmod 600 $d/server-key.pem
unset SWARMCASS_TLS_CA SWARMCASS_TLS_CERT SWARMCASS_TLS_KEY
exec dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2376 \
  --tlsverify --tlscacert=$d/ca.pem --tlscert=$d/server.pem --tlskey=$d/server-key.pem "$@"`

func (l *Lab) ensureMachine(ctx context.Context, m Machine, ca *pki.CA, server *pki.KeyPair, insecure []string) error {
	c, err := l.host.ContainerInspect(ctx, m.Container)
	switch {
	case err == nil && c.Running:
		return nil
	case err == nil:
		return l.host.ContainerStart(ctx, c.ID)
	case !errors.Is(err, engine.ErrNotFound):
		return err
	}
	labels := l.cfg.labels(engine.LabelRole, engine.RoleMachine, engine.LabelMachine, m.Name)
	vol := m.Container + "-docker"
	if err := l.host.VolumeCreate(ctx, vol, labels); err != nil && !errors.Is(err, engine.ErrConflict) {
		return err
	}
	args := []string{"sh", "-c", machineScript, "dockerd", "--label=" + engine.LabelMachine + "=" + m.Name}
	for _, r := range insecure {
		args = append(args, "--insecure-registry="+r)
	}
	id, err := l.host.ContainerCreate(ctx, engine.ContainerSpec{
		Name: m.Container, Hostname: m.Name, Image: l.cfg.MachineImage,
		Entrypoint: []string{}, Cmd: args,
		Env: []string{
			"SWARMCASS_TLS_CA=" + string(ca.CertPEM),
			"SWARMCASS_TLS_CERT=" + string(server.CertPEM),
			"SWARMCASS_TLS_KEY=" + string(server.KeyPEM),
		},
		Labels: labels, Network: l.cfg.NetworkName(), IPAddress: m.Addr,
		Mounts: []engine.Mount{
			{Source: vol, Target: "/var/lib/docker"}, // overlay2 cannot nest on overlay2
			{Type: "bind", Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"},
		},
		Tmpfs:       map[string]string{"/run": "rw,exec"},
		CapAdd:      machineCaps,
		SecurityOpt: machineSecurityOpts,
		UnmaskPaths: true,
		Restart:     "unless-stopped",
	})
	if err != nil {
		return err
	}
	return l.host.ContainerStart(ctx, id)
}

// TLSFiles are the store's client files for machine name.
func (l *Lab) TLSFiles(name string) *engine.TLSFiles {
	dir := machinestore.New(l.cfg.StoreDir).MachineDir(name)
	return &engine.TLSFiles{
		CA:   filepath.Join(dir, machinestore.CACertFile),
		Cert: filepath.Join(dir, machinestore.CertFile),
		Key:  filepath.Join(dir, machinestore.KeyFile),
	}
}

// waitEngines waits, in parallel, until every machine's engine answers over
// TLS, and checks that they are distinct engines.
func (l *Lab) waitEngines(ctx context.Context, plan []Machine) error {
	infos := make([]engine.Info, len(plan))
	g, gctx := errgroup.WithContext(ctx)
	for i, m := range plan {
		g.Go(func() error {
			var err error
			infos[i], err = l.waitEngine(gctx, m)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range infos {
		for j := range i {
			if engine.SameDaemon(infos[j], infos[i]) {
				return fmt.Errorf("machines %s and %s report the same engine ID %s: their /var/lib/docker volumes are shared", plan[j].Name, plan[i].Name, infos[i].ID)
			}
		}
	}
	return nil
}

func (l *Lab) waitEngine(ctx context.Context, m Machine) (engine.Info, error) {
	e, err := l.dial(m, l.TLSFiles(m.Name))
	if err != nil {
		return engine.Info{}, err
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(ctx, engineWait)
	defer cancel()
	var last error
	for {
		info, err := e.Info(ctx)
		if err == nil {
			return info, nil
		}
		last = err
		select {
		case <-ctx.Done():
			logs, _ := l.host.ContainerLogs(context.Background(), m.Container, 15)
			return engine.Info{}, fmt.Errorf("machine %s: engine did not answer on %s within %s: %w\nlast lines of its dockerd:\n%s",
				m.Name, m.Host, engineWait, last, logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkIPsec says whether encrypted overlays can work between the lab's
// machines: dockerd encrypts an --opt encrypted overlay's VXLAN traffic
// with IPsec ESP in transport mode, rfc4106(gcm(aes)), programmed with
// `ip xfrm`. A kernel without ESP or GCM (CONFIG_INET_ESP,
// CONFIG_CRYPTO_GCM; no modules can be loaded into a Docker-in-Docker
// machine) refuses the state ("function not implemented" in dockerd's log)
// while dockerd still installs the policy, so every packet between the
// machines is dropped. The same state is tried here, in machine m's own
// network namespace, with documentation addresses, and removed at once.
func (l *Lab) checkIPsec(ctx context.Context, m Machine) {
	state := []string{"src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x5ca1ab1e"}
	add := append(append([]string{"ip", "xfrm", "state", "add"}, state...), "reqid", "1", "mode", "transport",
		"aead", "rfc4106(gcm(aes))", "0x0102030405060708090a0b0c0d0e0f1011121314", "64")
	res, err := l.host.Exec(ctx, m.Container, add)
	if err != nil {
		l.out.Infof("could not check IPsec in %s: %v", m.Name, err)
		return
	}
	if res.ExitCode != 0 {
		l.out.Infof("note: this kernel has no IPsec ESP with AES-GCM (ip xfrm state add in %s: %s): encrypted overlays (bootstrap --encrypted) carry no traffic between lab machines; bootstrap's overlay check fails on them. Use an overlay without --encrypted here",
			m.Name, strings.TrimSpace(res.Stderr+res.Stdout))
		return
	}
	l.host.Exec(ctx, m.Container, append([]string{"ip", "xfrm", "state", "delete"}, state...))
}
