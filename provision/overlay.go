package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodewait"
	"github.com/swarmcass/swarmcass/op"
	"github.com/swarmcass/swarmcass/registry"
	"golang.org/x/sync/errgroup"
)

// The overlay check: before any node starts, a probe container on every
// swarm host, attached to the overlay, and every probe asks every other
// one over the overlay. A host whose firewall drops what Swarm's overlay
// needs (engine.OverlayNeeds) is found in seconds, not after a node
// timeout; and no Cassandra seed that cannot reach the others gets the
// chance to found a ring of its own.
//
// The probe is the Consul image, already on the infra host (the node image
// is built only later, and no image can be assumed on the swarm hosts): it
// is pushed to the infra registry under ProbeRepo, and each swarm host pulls
// it from there as it will pull the nodes' image. `consul agent -dev`
// listens on 8500 within a second; `consul members -http-addr` is the
// client. Both the official image and the offline one have /bin/consul.
// The probes are removed when the step ends, whatever its outcome; the
// pulled image stays, so later runs start the probes at once.

const (
	probePort = 8500
	// probeStart bounds a probe's start (a Consul dev agent answers in
	// about a second); probeReach one attempt to reach another probe.
	probeStart = 30 * time.Second
	probeReach = 3 * time.Second
	// probeAttempts: a pair counts as cut off only when this many
	// attempts, and every attempt for Config.OverlaySettle, failed: a slow
	// exec on a loaded host, or gossip that has not yet told the others
	// where a new probe is, is not read as a block.
	probeAttempts = 2
)

// probe is one probe container.
type probe struct {
	h    *host
	id   string
	addr string // on the overlay
}

// probeName is the probes' container name (one per engine).
func (r *run) probeName() string { return "swarmcass-probe-" + r.cfg.Cluster }

// checkOverlay is the step: skipped with one swarm engine, where no
// overlay traffic crosses hosts.
func checkOverlay(ctx context.Context, r *run) error {
	if len(r.swarm) < 2 {
		r.p.Debugf("overlay check skipped: one swarm engine (%s), so no overlay traffic crosses hosts", r.manager.name())
		return nil
	}
	if all, err := r.allNodesRun(ctx); err != nil || all {
		if all {
			r.p.Debugf("overlay check skipped: cass1..cass%d run already, so no node will start (ring checks their views)", r.cfg.Nodes)
		}
		return err
	}
	t0 := time.Now()
	started, err := r.probeOverlay(ctx)
	if err != nil {
		return fmt.Errorf("%w; no node was started", err)
	}
	r.p.Infof("overlay %s carries traffic between all %d swarm hosts (checked in %.1fs, %.1fs of it starting the probes)",
		r.cfg.Network, len(r.swarm), time.Since(t0).Seconds(), started.Seconds())
	return nil
}

// allNodesRun reports whether every node up to --nodes has a service
// whose one task runs, none having ended: a re-run on a healthy cluster,
// which starts no node.
func (r *run) allNodesRun(ctx context.Context) (bool, error) {
	m := r.manager.Engine
	list, err := m.ServiceList(ctx, r.labels(engine.RoleCassandra, ""))
	if err != nil {
		return false, fmt.Errorf("list the cluster's services on %s: %w", r.manager.name(), err)
	}
	have := map[string]bool{}
	for _, s := range list {
		have[s.Name] = true
	}
	for k := 1; k <= r.cfg.Nodes; k++ {
		if !have[nodeName(k)] {
			return false, nil
		}
		tasks, err := m.TaskList(ctx, nodeName(k))
		if err != nil {
			return false, fmt.Errorf("list tasks of %s: %w", nodeName(k), err)
		}
		// A task that died or exited (a node in a restart loop, or one
		// that waits for a seed it cannot reach) may mean the network:
		// check it. A task Swarm shut down to replace it (restart,
		// upgrade) says nothing about the network, nor does one whose
		// container runs while its first health check pends ("starting").
		if len(tasks) == 0 || !nodewait.Runs(tasks[0]) || slices.ContainsFunc(tasks, died) {
			return false, nil
		}
	}
	return true, nil
}

// died: the task's container died, or exited on its own.
func died(t engine.Task) bool { return nodewait.Failed(t) || t.State == "complete" }

// probeOverlay starts the probes, has each reach every other, and removes
// them; started is how long the probes took to answer on their own hosts.
func (r *run) probeOverlay(ctx context.Context) (started time.Duration, err error) {
	return r.probeOn(ctx, r.cfg.Network)
}

// probeOn is probeOverlay on network.
func (r *run) probeOn(ctx context.Context, network string) (started time.Duration, err error) {
	t0 := time.Now()
	ref, err := r.probeImage(ctx)
	if err != nil {
		return 0, err
	}
	r.p.Debugf("probe image %s pushed in %.1fs", ref, time.Since(t0).Seconds())
	probes := make([]*probe, len(r.swarm))
	defer func() {
		// Also after a failure or Ctrl-C: nothing of the check stays.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		r.removeProbes(cctx)
	}()
	var g errgroup.Group
	for i, h := range r.swarm {
		g.Go(func() error {
			p, err := r.startProbe(ctx, h, ref, network)
			probes[i] = p
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	started = time.Since(t0)
	cut := r.crossProbes(ctx, probes)
	if ctx.Err() != nil {
		return started, ctx.Err()
	}
	if len(cut) > 0 {
		return started, r.overlayError(ctx, network, cut)
	}
	return started, nil
}

// explainNodeFailure adds to a node's failure what the overlay check
// finds now (a network that stopped carrying traffic after the check
// passed shows as a node that never reaches the others).
func (r *run) explainNodeFailure(ctx context.Context, node string, err error) error {
	if len(r.swarm) < 2 || ctx.Err() != nil {
		return err
	}
	if _, perr := r.probeOverlay(ctx); perr != nil {
		return errors.Join(err, fmt.Errorf("why %s did not join, as far as the overlay check after its failure tells: %w", node, perr))
	}
	r.p.Debugf("overlay check after %s failed: every swarm host reaches every other", node)
	return err
}

// probeImage builds the probe on infra, the Consul image with the
// cluster's labels (so that down --purge finds every host's copy by
// label), pushes it to the registry and returns the reference the swarm
// hosts pull.
func (r *run) probeImage(ctx context.Context) (string, error) {
	e := r.infra.Engine
	// The image Consul runs from (a day-2 operation is not told which),
	// else the one this run was given.
	ref := r.cfg.ConsulImage
	if c, err := e.ContainerInspect(ctx, ConsulContainer); err == nil && c.Image != "" {
		ref = c.Image
	}
	if _, err := e.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("inspect the probe's base image %s on %s: %w", ref, r.infra.name(), err)
	}
	df, err := engine.FileTar("Dockerfile", []byte("FROM "+ref+"\n"), 0o644)
	if err != nil {
		return "", err
	}
	local := ProbeRepo + ":" + r.cfg.Cluster
	err = e.ImageBuild(ctx, engine.BuildSpec{Context: bytes.NewReader(df), Tags: []string{local}, Labels: r.labels(engine.RoleProbe, "")}, debugWriter{r.p})
	if err != nil {
		return "", fmt.Errorf("overlay check: build the probe image from %s on %s: %w", ref, r.infra.name(), err)
	}
	im, err := e.ImageInspect(ctx, local)
	if err != nil {
		return "", fmt.Errorf("inspect the probe image %s on %s: %w", local, r.infra.name(), err)
	}
	tag := strings.TrimPrefix(im.ID, "sha256:")
	if len(tag) > 12 {
		tag = tag[:12]
	}
	pushed, err := registry.Push(ctx, e, im.ID, registry.Addr("127.0.0.1"), ProbeRepo, tag, r.registryUser, debugWriter{r.p})
	if err != nil {
		return "", op.WithHint(fmt.Errorf("overlay check: %w", err), "check that the registry container "+RegistryContainer+" runs on "+r.infra.name())
	}
	_, digest, _ := registry.SplitDigest(pushed)
	return registry.DigestRef(r.pull, ProbeRepo, digest), nil
}

// startProbe starts h's probe on the overlay, once any leftover of an
// earlier run is gone, and waits until it answers on its own host.
func (r *run) startProbe(ctx context.Context, h *host, ref, network string) (*probe, error) {
	if err := r.removeProbe(ctx, h); err != nil {
		return nil, err
	}
	if _, err := h.Engine.ImageInspect(ctx, ref); errors.Is(err, engine.ErrNotFound) {
		t0 := time.Now()
		if err := h.Engine.ImagePull(ctx, ref, r.pullAuth(ref), debugWriter{r.p}); err != nil {
			return nil, fmt.Errorf("overlay check: pull the probe image %s on %s: %w", ref, h.name(), err)
		}
		r.p.Debugf("probe image pulled on %s in %.1fs", h.name(), time.Since(t0).Seconds())
	} else if err != nil {
		return nil, fmt.Errorf("overlay check: inspect %s on %s: %w", ref, h.name(), err)
	}
	spec := engine.ContainerSpec{
		Name:       r.probeName(),
		Image:      ref,
		Entrypoint: []string{"/bin/consul"},
		Cmd:        []string{"agent", "-dev", "-client", "0.0.0.0", "-log-level", "warn"},
		Labels:     r.labels(engine.RoleProbe, ""),
		Network:    network,
	}
	var p *probe
	for try := 1; ; try++ {
		id, err := h.Engine.ContainerCreate(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("overlay check: create the probe on %s: %w", h.name(), err)
		}
		p = &probe{h: h, id: id}
		err = h.Engine.ContainerStart(ctx, id)
		if err == nil {
			break
		}
		// An engine whose last task on the overlay just went (all node
		// services removed, as before nodes restart together) drops its
		// copy of the network and attaches a container to it again only
		// a moment later: "network ... not found" at start. Try again.
		if try == 5 || !errors.Is(err, engine.ErrNotFound) || ctx.Err() != nil {
			return p, fmt.Errorf("overlay check: start the probe on %s (attached to %s): %w", h.name(), network, err)
		}
		r.p.Debugf("probe on %s: %v; trying again", h.name(), err)
		if err := r.removeProbe(ctx, h); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	id := p.id
	c, err := h.Engine.ContainerInspect(ctx, id)
	if err != nil {
		return p, fmt.Errorf("overlay check: inspect the probe on %s: %w", h.name(), err)
	}
	if p.addr = c.Networks[network]; p.addr == "" {
		return p, fmt.Errorf("overlay check: the probe on %s has no address on %s", h.name(), network)
	}
	var last string
	err = op.Poll(ctx, min(r.cfg.PollInterval, 200*time.Millisecond), probeStart, "the probe on "+h.name()+" to answer", func() (bool, error) {
		res, err := h.Engine.Exec(ctx, id, []string{"/bin/consul", "members"})
		switch {
		case err != nil:
			last = err.Error()
		case res.ExitCode != 0:
			last = firstLine(res.Stderr + res.Stdout)
		default:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		logs, _ := h.Engine.ContainerLogs(ctx, id, 10)
		return p, fmt.Errorf("overlay check: %w (last: %s)\nprobe's log:\n%s", err, last, op.Indent(logs))
	}
	r.p.Debugf("probe on %s answers at %s", h.name(), p.addr)
	return p, nil
}

// cutPair is a probe that did not reach another.
type cutPair struct {
	from, to *host
	why      string
}

// crossProbes has every probe ask every other one, all pairs at once, and
// returns the pairs that failed every attempt.
func (r *run) crossProbes(ctx context.Context, probes []*probe) []cutPair {
	var mu sync.Mutex
	var cut []cutPair
	var wg sync.WaitGroup
	for _, a := range probes {
		for _, b := range probes {
			if a == b {
				continue
			}
			wg.Go(func() {
				why, attempts, took := r.reachSettled(ctx, a, b)
				if why == "" {
					if attempts > 1 {
						r.p.Debugf("probe on %s reaches %s (%s) over the overlay at attempt %d, after %.1fs", a.h.name(), b.h.name(), b.addr, attempts, took.Seconds())
					} else {
						r.p.Debugf("probe on %s reaches %s (%s) over the overlay", a.h.name(), b.h.name(), b.addr)
					}
					return
				}
				why = fmt.Sprintf("%s; %d attempts over %.1fs", why, attempts, took.Seconds())
				mu.Lock()
				cut = append(cut, cutPair{from: a.h, to: b.h, why: why})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	order := func(h *host) int { return slices.Index(r.swarm, h) }
	slices.SortFunc(cut, func(x, y cutPair) int {
		if d := order(x.from) - order(y.from); d != 0 {
			return d
		}
		return order(x.to) - order(y.to)
	})
	return cut
}

// reachSettled asks b's probe from a's until it answers, or until at
// least probeAttempts attempts have failed over Config.OverlaySettle: why
// is "" when it answered, else the last attempt's failure.
func (r *run) reachSettled(ctx context.Context, a, b *probe) (why string, attempts int, took time.Duration) {
	t0 := time.Now()
	for attempts = 1; ; attempts++ {
		why = reach(ctx, a, b)
		took = time.Since(t0)
		if why == "" || ctx.Err() != nil || (attempts >= probeAttempts && took >= r.cfg.OverlaySettle) {
			return why, attempts, took
		}
		select {
		case <-ctx.Done():
			return why, attempts, took
		case <-time.After(min(r.cfg.PollInterval, 500*time.Millisecond)):
		}
	}
}

// reach asks b's probe from a's, over the overlay: "" when it answered,
// else why not.
func reach(ctx context.Context, a, b *probe) string {
	actx, cancel := context.WithTimeout(ctx, probeReach)
	defer cancel()
	target := fmt.Sprintf("%s:%d", b.addr, probePort)
	res, err := a.h.Engine.Exec(actx, a.id, []string{"/bin/consul", "members", "-http-addr=http://" + target})
	switch {
	case actx.Err() != nil:
		return fmt.Sprintf("%s: no answer in %s", target, probeReach)
	case err != nil:
		return fmt.Sprintf("%s: %v", target, err)
	case res.ExitCode != 0:
		return fmt.Sprintf("%s: %s", target, firstLine(res.Stderr+res.Stdout))
	}
	return ""
}

// overlayError says which hosts cannot reach which on network, and what
// to open. On an encrypted overlay it tries a plain one too, to tell ESP
// from the rest.
func (r *run) overlayError(ctx context.Context, network string, cut []cutPair) error {
	var pairs []string
	involved := map[*host]int{}
	for _, c := range cut {
		pairs = append(pairs, fmt.Sprintf("%s cannot reach %s (%s)", c.from.name(), c.to.name(), c.why))
		involved[c.from]++
		involved[c.to]++
	}
	// A host in every failed pair is the one cut off (with two hosts,
	// both are, and the check cannot tell which one drops the traffic).
	var suspects, names []string
	for _, h := range r.swarm {
		if involved[h] == len(cut) {
			suspects = append(suspects, h.name())
		}
		if involved[h] > 0 {
			names = append(names, h.name())
		}
	}
	if len(suspects) == 0 {
		suspects = names
	}
	encrypted := r.cfg.Encrypted && network == r.cfg.Network && r.encryptedNetwork(ctx)
	enc := ""
	if encrypted {
		enc = "encrypted "
	}
	err := fmt.Errorf("the %soverlay network %s does not carry traffic between the swarm hosts %s: %s",
		enc, network, strings.Join(suspects, " and "), strings.Join(pairs, "; "))
	hint := "open between the swarm hosts (" + strings.Join(names, ", ") + ") what Swarm's overlay needs: " + engine.OverlayNeeds(encrypted) +
		"; check the firewall of " + strings.Join(suspects, " and ") + " (iptables -S, cloud security groups), then run bootstrap again"
	if encrypted {
		switch plain := r.plainWorks(ctx); {
		case plain == nil:
			err = fmt.Errorf("%w; a plain (unencrypted) overlay between the same hosts carries traffic, so it is the encryption: IP protocol 50 (ESP) does not pass, or the hosts' kernels lack IPsec ESP with AES-GCM", err)
			hint = "let IP protocol 50 (ESP) pass between the swarm hosts, on kernels with IPsec ESP and AES-GCM (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM; dockerd's log says \"Failed Adding ... SA ... function not implemented\" without them, as on this project's labs: README, Platform notes); or run without --encrypted (remove network " + r.cfg.Network + " first, or pass another --network)"
		default:
			r.p.Debugf("a plain overlay does not carry traffic either: %v", plain)
		}
	}
	return op.WithHint(err, hint)
}

// encryptedNetwork reports whether the cluster's network is encrypted (an
// existing one keeps what it was created with).
func (r *run) encryptedNetwork(ctx context.Context) bool {
	n, err := r.manager.Engine.NetworkInspect(ctx, r.cfg.Network)
	return err != nil || n.Encrypted
}

// plainWorks runs the probes on a plain overlay made for the purpose,
// removed after: nil when it carries traffic between every pair of hosts.
func (r *run) plainWorks(ctx context.Context) error {
	name := r.probeName()
	m := r.manager.Engine
	if _, err := m.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Driver: "overlay", Attachable: true,
		Labels: r.labels(engine.RoleProbe, "")}); err != nil && !errors.Is(err, engine.ErrConflict) {
		return fmt.Errorf("create the plain overlay %s: %w", name, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		r.removeProbes(cctx) // before the network: they are attached to it
		if err := m.NetworkRemove(cctx, name); err != nil && !errors.Is(err, engine.ErrNotFound) {
			r.p.Infof("overlay check: remove network %s on %s: %v", name, r.manager.name(), err)
		}
	}()
	_, err := r.probeOn(ctx, name)
	return err
}

// removeProbe removes h's probes of this cluster (found by label).
func (r *run) removeProbe(ctx context.Context, h *host) error {
	labels := r.labels(engine.RoleProbe, "")
	cs, err := h.Engine.ContainerList(ctx, labels)
	if err != nil {
		return fmt.Errorf("overlay check: list probes on %s: %w", h.name(), err)
	}
	for _, c := range cs {
		if err := h.Engine.ContainerRemove(ctx, c.ID); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("overlay check: remove probe %s on %s: %w", c.Name, h.name(), err)
		}
	}
	return nil
}

// removeProbes removes every swarm host's probes; what cannot be removed
// is said, not fatal (a re-run removes it first).
func (r *run) removeProbes(ctx context.Context) {
	var wg sync.WaitGroup
	for _, h := range r.swarm {
		wg.Go(func() {
			if err := r.removeProbe(ctx, h); err != nil {
				r.p.Infof("%v (bootstrap removes it when it runs again)", err)
			}
		})
	}
	wg.Wait()
}

// stopSplitNode handles a node that founded a ring of its own
// (nodewait.SplitError): it is stopped before it takes data, by removing
// its service, and its volume goes too. Such a node holds its own ring's
// identity (bootstrapped, its own tokens, and a seed never bootstraps):
// restarted into the cluster's ring on that volume it would claim token
// ranges without streaming their data. On an empty volume a re-run starts
// it afresh, and it joins the one ring once the network is fixed.
func (r *run) stopSplitNode(ctx context.Context, nr *NodeResult, err error) error {
	ctx = context.WithoutCancel(ctx)
	name := nr.Name
	volume := name + "-data"
	done := "its service " + name
	if rerr := r.manager.Engine.ServiceRemove(ctx, name); rerr != nil && !errors.Is(rerr, engine.ErrNotFound) {
		done = ""
		err = errors.Join(err, fmt.Errorf("stop %s: remove service %s: %w", name, name, rerr))
	}
	if h := r.byNode[nr.SwarmNode]; h != nil && done != "" {
		// The volume is free once Swarm has removed the task's container.
		var verr error
		perr := op.Poll(ctx, min(r.cfg.PollInterval, 200*time.Millisecond), 30*time.Second, "volume "+volume+" to be free", func() (bool, error) {
			verr = h.Engine.VolumeRemove(ctx, volume)
			return verr == nil || errors.Is(verr, engine.ErrNotFound), nil
		})
		if perr == nil {
			done += " and its volume " + volume + " on " + h.name()
		} else {
			err = errors.Join(err, fmt.Errorf("remove volume %s on %s: %w (last: %v)", volume, h.name(), perr, verr))
		}
	}
	enc := ""
	if r.cfg.Encrypted {
		enc = "encrypted "
	}
	msg := fmt.Errorf("%w\n%s founded a ring of its own: the %soverlay %s does not carry traffic between its host and the others'", err, name, enc, r.cfg.Network)
	if done != "" {
		msg = fmt.Errorf("%w; %s were removed, so that nothing of that second ring stays (its own tokens and data; Cassandra would not stream the cluster's data into it if it rejoined with them)", msg, done)
	}
	nr.State = "removed"
	return op.WithHint(msg, "open between the swarm hosts what Swarm's overlay needs: "+engine.OverlayNeeds(r.cfg.Encrypted)+
		"; then run bootstrap again: it creates "+name+" afresh, on an empty volume, into the one ring")
}
