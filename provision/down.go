package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/swarmcass/swarmcass/consulstore"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/op"
)

// Down stops the cluster without losing data: nodetool drain on every node
// at once (each flushes and leaves gossip), then the node services go. The
// volumes, the network, Consul, the registry and the record stay, the
// nodes recorded as down, so that swarmcass bootstrap brings the same
// nodes back on their volumes, on their recorded hosts, with their host
// IDs. With purge it removes, instead of keeping them, everything
// swarmcass made for this cluster (found by its swarmcass.cluster label):
// the volumes, the network, the images (built, and copies pulled on every
// host), the registrations and the record; the infra containers, their
// volumes and the images swarmcass pulled for them when no other
// cluster's record is left in that Consul (see ensureInfra); and last the
// swarm, when swarmcass made it and nothing else runs in it.
func Down(ctx context.Context, cfg Config, purge bool) (*Result, error) {
	d := &downing{purge: purge}
	steps := []op.Step[*run]{
		{Name: "Preflight", Run: attach},     // operation.go
		{Name: "Lock", Run: lockFor("down")}, // operation.go
		{Name: "Check", Run: d.check},        // below: the plan
		{Name: "Plan", Run: showPlan(purge)}, // operation.go: --purge needs a yes
		{Name: "Drain", Run: d.drain},        // below: every running node at once
		{Name: "Services", Run: d.services},  // below: record the nodes down, remove their services
	}
	if purge {
		steps = append(steps,
			op.Step[*run]{Name: "Volumes", Run: d.volumes}, // below: every volume of the cluster, on every engine
			op.Step[*run]{Name: "Network", Run: d.network}, // below: the overlay
			op.Step[*run]{Name: "Images", Run: d.images},   // below: the cluster's images, on every engine
			op.Step[*run]{Name: "Consul", Run: d.consul},   // below: registrations and record
			op.Step[*run]{Name: "Infra", Run: d.infra},     // below: Consul and the registry, if no other cluster uses them
			op.Step[*run]{Name: "Swarm", Run: d.swarm},     // below: the swarm, if swarmcass made it and nothing else runs there
		)
	}
	return operate(ctx, "down", cfg, steps)
}

// Record state of a node swarmcass down stopped.
const stateDown = "down"

type downing struct {
	purge   bool
	running []string // nodes whose service exists
	others  []string // other clusters whose records this Consul holds
}

func (d *downing) check(ctx context.Context, r *run) error {
	d.running = r.nodeNames()
	if len(d.running) > 0 {
		r.plan = append(r.plan, fmt.Sprintf("drain %s at once (each flushes its data and leaves gossip), then remove their services", strings.Join(d.running, ", ")))
	}
	if !d.purge {
		if len(d.running) > 0 {
			r.plan = append(r.plan, "keep the volumes, the network, Consul, the registry and the record: swarmcass bootstrap brings the same nodes back")
		}
		return nil
	}
	kv, err := r.consul.List(ctx, "swarmcass/")
	if err != nil {
		return fmt.Errorf("list the clusters in Consul: %w", err)
	}
	seen := map[string]bool{}
	for key := range kv {
		c, _, _ := strings.Cut(strings.TrimPrefix(key, "swarmcass/"), "/")
		if c != r.cfg.Cluster && !seen[c] {
			seen[c] = true
			d.others = append(d.others, c)
		}
	}
	slices.Sort(d.others)
	r.plan = append(r.plan,
		"remove every volume of cluster "+r.cfg.Cluster+" on every engine (its data, for good)",
		"remove network "+r.cfg.Network,
		"remove the images of cluster "+r.cfg.Cluster+" on every engine (the Cassandra and probe images built on infra, their copies pulled on the swarm hosts, a base image the build pulled)",
		"remove the nodes' Consul registrations and the record swarmcass/"+r.cfg.Cluster+"/")
	if len(d.others) == 0 {
		r.plan = append(r.plan, fmt.Sprintf("remove %s and %s on %s, their volumes and the images swarmcass pulled for them: no other cluster's record is in that Consul", ConsulContainer, RegistryContainer, r.infra.name()))
	} else {
		r.plan = append(r.plan, fmt.Sprintf("keep %s and %s on %s: clusters %s keep their records there", ConsulContainer, RegistryContainer, r.infra.name(), strings.Join(d.others, ", ")))
	}
	if len(d.others) == 0 {
		r.plan = append(r.plan, "end the swarm (every engine leaves it) if swarmcass made it and no other service is left in it; else it stays")
	}
	return nil
}

// drain drains every node whose container runs, all at once: each flushes
// its memtables and stops, so stopping it next loses nothing and replays
// no commit log. A node that does not run has nothing to drain.
func (d *downing) drain(ctx context.Context, r *run) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, node := range d.running {
		if _, _, ok, err := r.wait.Container(ctx, node); err != nil || !ok {
			r.p.Infof("%s does not run: nothing to drain", node)
			continue
		}
		wg.Go(func() {
			err := r.drain(ctx, node)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return op.WithHint(err, "no service was removed; fix the node (swarmcass logs NODE) and run down again")
	}
	return nil
}

// services records every node as down, then removes the node services,
// waiting until their containers are gone (so that a bootstrap right after
// never starts a node on a volume its old container still holds).
func (d *downing) services(ctx context.Context, r *run) error {
	for _, node := range r.allNodes() {
		if _, ok := r.rec.Nodes[node]; ok && r.rec.Nodes[node].State != stateDown {
			if err := r.setState(ctx, node, stateDown); err != nil {
				return err
			}
		}
	}
	for _, node := range d.running {
		if err := r.removeService(ctx, node); err != nil {
			return err
		}
	}
	return nil
}

// volumes removes every volume that carries the cluster's label, on every
// engine that answers.
func (d *downing) volumes(ctx context.Context, r *run) error {
	for _, h := range r.allHosts() {
		vols, err := h.Engine.VolumeList(ctx, engine.Labels{engine.LabelCluster: r.cfg.Cluster})
		if err != nil {
			return fmt.Errorf("list volumes on %s: %w", h.name(), err)
		}
		for _, v := range vols {
			if err := h.Engine.VolumeRemove(ctx, v); err != nil && !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("remove volume %s on %s: %w", v, h.name(), err)
			}
			r.removed("volume %s on %s", v, h.name())
		}
	}
	for name := range r.unreached {
		r.p.Infof("engine %s does not answer: the cluster's volumes there stay; run down --purge again once it is back", name)
	}
	return nil
}

// network removes the cluster's overlay, if it is the cluster's (by label).
// Swarm frees a network's endpoints a moment after the tasks on it end.
func (d *downing) network(ctx context.Context, r *run) error {
	n, err := r.manager.Engine.NetworkInspect(ctx, r.cfg.Network)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("inspect network %s: %w", r.cfg.Network, err)
	case n.Labels[engine.LabelCluster] != r.cfg.Cluster:
		r.p.Infof("network %s does not carry cluster %s's label: it stays", r.cfg.Network, r.cfg.Cluster)
		return nil
	}
	var last error
	err = op.Poll(ctx, r.cfg.PollInterval, r.cfg.InfraTimeout, "network "+r.cfg.Network+" to be free", func() (bool, error) {
		last = r.manager.Engine.NetworkRemove(ctx, r.cfg.Network)
		return last == nil || errors.Is(last, engine.ErrNotFound), nil
	})
	if err != nil {
		return fmt.Errorf("remove network %s: %w (last: %v)", r.cfg.Network, err, last)
	}
	r.removed("network %s", r.cfg.Network)
	return nil
}

// consul removes the nodes' registrations and every key of the record but
// the lock, which the run still holds (Infra, or the run's end, gives it
// back; Infra removes it).
func (d *downing) consul(ctx context.Context, r *run) error {
	for _, node := range r.allNodes() {
		if err := r.consul.Deregister(ctx, consulstore.ServiceID(r.cfg.Cluster, node)); err != nil {
			return fmt.Errorf("deregister %s: %w", node, err)
		}
	}
	kv, err := r.consul.List(ctx, consulstore.Prefix(r.cfg.Cluster))
	if err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(kv)) {
		if key == consulstore.Key(r.cfg.Cluster, "lock") {
			continue
		}
		if err := r.consul.Delete(ctx, key); err != nil {
			return fmt.Errorf("delete %s: %w", key, err)
		}
	}
	r.removed("the registrations and the record of cluster %s in Consul", r.cfg.Cluster)
	return nil
}

// infra gives the lock back and removes its key; then, when no other
// cluster keeps a record in this Consul, removes the Consul and registry
// containers and their volumes (ensureInfra's rule).
func (d *downing) infra(ctx context.Context, r *run) error {
	r.unlock()
	if err := r.consul.Delete(ctx, consulstore.Key(r.cfg.Cluster, "lock")); err != nil {
		return fmt.Errorf("delete the lock key: %w", err)
	}
	if kv, err := r.consul.List(ctx, "swarmcass/"); err != nil {
		return err
	} else if len(kv) > 0 {
		r.p.Infof("Consul and the registry stay on %s: other clusters keep their records there", r.infra.name())
		return nil
	}
	var pulled []string // the images swarmcass pulled for them
	for _, c := range r.infraContainers() {
		if got, err := r.infra.Engine.ContainerInspect(ctx, c.spec.Name); err == nil && got.Labels[engine.LabelPulled] != "" {
			pulled = append(pulled, got.Labels[engine.LabelPulled])
		}
		err := r.infra.Engine.ContainerRemove(ctx, c.spec.Name)
		switch {
		case errors.Is(err, engine.ErrNotFound):
		case err != nil:
			return fmt.Errorf("remove container %s on %s: %w", c.spec.Name, r.infra.name(), err)
		default:
			r.removed("container %s on %s", c.spec.Name, r.infra.name())
		}
		if err := r.infra.Engine.VolumeRemove(ctx, c.volume); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("remove volume %s on %s: %w", c.volume, r.infra.name(), err)
		} else if err == nil {
			r.removed("volume %s on %s", c.volume, r.infra.name())
		}
	}
	for _, ref := range pulled {
		if err := d.removeImage(ctx, r, r.infra, ref, false); err != nil {
			return err
		}
	}
	return nil
}

// images removes, on every engine that answers, the images swarmcass made
// for the cluster: those carrying its label (the Cassandra image built on
// infra with every tag it was pushed under, the probe image, and their
// copies pulled on the swarm hosts, which keep the labels), the node
// images its record names (the current one and the history's, which an
// image given with --image does not label), and then any base image a
// build pulled (its name in the built image's swarmcass.pulled label).
// An image the engine refuses to remove because something else uses it
// stays, and the run says so.
func (d *downing) images(ctx context.Context, r *run) error {
	var bases []string
	for _, h := range r.allHosts() {
		ims, err := h.Engine.ImageList(ctx, engine.Labels{engine.LabelCluster: r.cfg.Cluster})
		if err != nil {
			return fmt.Errorf("list images on %s: %w", h.name(), err)
		}
		for _, im := range ims {
			if b := im.Labels[engine.LabelPulled]; b != "" && h == r.infra && !slices.Contains(bases, b) {
				bases = append(bases, b)
			}
			// force: one image under several references (its build tag
			// and the registry's) goes whole.
			if err := d.removeImage(ctx, r, h, im.ID, true); err != nil {
				return err
			}
		}
	}
	refs := []string{r.rec.Image}
	for _, rel := range r.rec.History {
		refs = append(refs, rel.Image)
	}
	for _, h := range r.swarm {
		if r.unreached[h.name()] != nil {
			continue
		}
		for _, ref := range refs {
			if ref != "" {
				if err := d.removeImage(ctx, r, h, ref, false); err != nil {
					return err
				}
			}
		}
	}
	for _, b := range bases {
		if err := d.removeImage(ctx, r, r.infra, b, false); err != nil {
			return err
		}
	}
	return nil
}

// removeImage removes ref on h; one that is not there is no error, and one
// the engine keeps because something else uses it stays, said.
func (d *downing) removeImage(ctx context.Context, r *run, h *host, ref string, force bool) error {
	err := h.Engine.ImageRemove(ctx, ref, force)
	switch {
	case err == nil:
		r.removed("image %s on %s", ref, h.name())
	case errors.Is(err, engine.ErrNotFound):
	case errors.Is(err, engine.ErrConflict):
		r.p.Infof("image %s stays on %s: something else uses it (%v)", ref, h.name(), firstLine(err.Error()))
	default:
		return fmt.Errorf("remove image %s on %s: %w", ref, h.name(), err)
	}
	return nil
}

// swarm ends the swarm, every engine leaving it (workers, then the
// manager), but only when swarmcass made it (its spec carries
// swarmcass.role=swarm), no service is left in it (another cluster's or
// anyone's), no other cluster keeps a record in this Consul (a cluster
// that is down has no service but comes back on this swarm) and each of
// its nodes is one of this run's engines. Otherwise it stays, and the run
// says why.
func (d *downing) swarm(ctx context.Context, r *run) error {
	m := r.manager
	if len(d.others) > 0 {
		r.p.Infof("the swarm stays: clusters %s keep their records in this Consul", strings.Join(d.others, ", "))
		return nil
	}
	sw, err := m.Engine.SwarmInspect(ctx)
	if err != nil {
		return fmt.Errorf("inspect the swarm on %s: %w", m.name(), err)
	}
	if sw.Labels[engine.LabelRole] != engine.RoleSwarm {
		r.p.Infof("the swarm stays: swarmcass did not make it (its spec carries no %s=%s label)", engine.LabelRole, engine.RoleSwarm)
		return nil
	}
	services, err := m.Engine.ServiceList(ctx, nil)
	if err != nil {
		return fmt.Errorf("list the swarm's services on %s: %w", m.name(), err)
	}
	if len(services) > 0 {
		var names []string
		for _, s := range services {
			names = append(names, s.Name)
		}
		r.p.Infof("the swarm stays: services %s still run in it", strings.Join(names, ", "))
		return nil
	}
	nodes, err := m.Engine.NodeList(ctx)
	if err != nil {
		return fmt.Errorf("list the swarm's nodes on %s: %w", m.name(), err)
	}
	var leave []*host
	for _, n := range nodes {
		h := r.byNode[n.ID]
		if h == nil {
			r.p.Infof("the swarm stays: node %s (%s) is none of this cluster's engines", n.Hostname, n.Addr)
			return nil
		}
		if h != m && r.unreached[h.name()] == nil {
			leave = append(leave, h)
		}
	}
	hint := "leave it by hand: docker swarm leave on each engine still in it (--force on the manager " + m.name() + ")"
	for _, h := range leave {
		if err := h.Engine.SwarmLeave(ctx, false); err != nil {
			return op.WithHint(fmt.Errorf("%s: leave the swarm: %w", h.name(), err), hint)
		}
		r.removed("swarm membership of %s", h.name())
	}
	// The last manager's leaving ends the swarm: it needs force.
	if err := m.Engine.SwarmLeave(ctx, true); err != nil {
		return op.WithHint(fmt.Errorf("%s: leave the swarm: %w", m.name(), err), hint)
	}
	r.removed("the swarm (manager %s)", m.name())
	return nil
}
