package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/machinestore"
)

// Removed counts what Down removed.
type Removed struct {
	Containers, Volumes, Networks int
	Store                         bool
}

// Down removes everything lab cfg.Name created on the host engine
// (containers, volumes, network, all found by label) and its store, and
// nothing else. Removing a lab that does not exist is not an error. It
// removes machines whole, with every cluster and the infra they share on
// them; removing one cluster keeps shared infra (see provision.ensureInfra).
func (l *Lab) Down(ctx context.Context) (Removed, error) {
	var r Removed
	sel := l.cfg.labels()
	cs, err := l.host.ContainerList(ctx, sel)
	if err != nil {
		return r, hint(err, "start an engine with scripts/setup-engine.sh, or point DOCKER_HOST at one")
	}
	for _, c := range cs {
		if err := l.host.ContainerRemove(ctx, c.ID); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return r, err
		}
		r.Containers++
	}
	vols, err := l.host.VolumeList(ctx, sel)
	if err != nil {
		return r, err
	}
	for _, v := range vols {
		if err := l.host.VolumeRemove(ctx, v); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return r, err
		}
		r.Volumes++
	}
	nets, err := l.host.NetworkList(ctx, sel)
	if err != nil {
		return r, err
	}
	for _, n := range nets {
		if err := l.host.NetworkRemove(ctx, n.ID); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return r, err
		}
		r.Networks++
	}
	// The store goes only when it carries this lab's record.
	if rec, err := ReadRecord(l.cfg.StoreDir); err == nil && rec.Name == l.cfg.Name {
		if err := os.RemoveAll(l.cfg.StoreDir); err != nil {
			return r, fmt.Errorf("remove lab store: %w", err)
		}
		r.Store = true
	}
	return r, nil
}

// Status is one machine as `lab ls` shows it.
type Status struct {
	Machine
	Container string // the container's state: running, exited, ...
	Engine    string // the engine's version, or why it does not answer
	EngineID  string
	Answers   bool
}

// List reports the lab's machines, found by label, with their container and
// engine states. A machine whose dockerd died shows it here.
func (l *Lab) List(ctx context.Context) ([]Status, error) {
	cs, err := l.host.ContainerList(ctx, l.cfg.labels(engine.LabelRole, engine.RoleMachine))
	if err != nil {
		return nil, hint(err, "start an engine with scripts/setup-engine.sh, or point DOCKER_HOST at one")
	}
	out := make([]Status, len(cs))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range cs {
		m := l.machineOf(c)
		out[i] = Status{Machine: m, Container: c.State}
		if !c.Running {
			out[i].Engine = "machine stopped"
			continue
		}
		g.Go(func() error {
			e, err := l.dial(m, l.TLSFiles(m.Name))
			if err != nil {
				out[i].Engine = err.Error()
				return nil
			}
			defer e.Close()
			ictx, cancel := context.WithTimeout(gctx, 3*time.Second)
			defer cancel()
			info, err := e.Info(ictx)
			if err != nil {
				out[i].Engine = "not answering"
				if logs, lerr := l.host.ContainerLogs(ctx, c.ID, 1); lerr == nil && strings.TrimSpace(logs) != "" {
					out[i].Engine += ": " + lastLine(logs)
				}
				return nil
			}
			out[i].Engine, out[i].EngineID, out[i].Answers = "docker "+info.ServerVersion, info.ID, true
			return nil
		})
	}
	_ = g.Wait()
	slices.SortFunc(out, func(a, b Status) int { return compareMachines(a.Name, b.Name) })
	return out, nil
}

// compareMachines orders infra first, then swarm-0, swarm-1, ..., swarm-10.
func compareMachines(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == InfraName:
		return -1
	case b == InfraName:
		return 1
	}
	return machinestore.CompareNames(a, b)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Env returns the shell lines that point tools at the lab: the store for
// swarmcass bootstrap, and with machine set, DOCKER_HOST and friends for the
// docker CLI, like `docker-machine env`.
func (l *Lab) Env(machine string) ([]string, error) {
	lines := []string{fmt.Sprintf("export %s=%q", machinestore.EnvStoragePath, l.cfg.StoreDir)}
	if machine == "" {
		return lines, nil
	}
	m, err := machinestore.New(l.cfg.StoreDir).Load(machine)
	if err != nil {
		return nil, err
	}
	return append(lines,
		fmt.Sprintf("export DOCKER_HOST=%q", m.URL),
		fmt.Sprintf("export DOCKER_CERT_PATH=%q", m.Dir),
		`export DOCKER_TLS_VERIFY="1"`,
	), nil
}

// LoadImages copies images from the host engine into machines (all of the
// given), since machines cannot pull. An image a machine
// already has, by ID, is not copied again.
func (l *Lab) LoadImages(ctx context.Context, images []string, machines []Machine) error {
	ids := map[string]string{}
	for _, ref := range images {
		img, err := l.host.ImageInspect(ctx, ref)
		if err != nil {
			return hint(fmt.Errorf("image %s: %w", ref, err), "build it on the host engine first")
		}
		ids[ref] = img.ID
	}
	// Save once to a file, then load into every machine in parallel.
	f, err := os.CreateTemp("", "swarmcass-lab-images-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	saved := false
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range machines {
		e, err := l.dial(m, l.TLSFiles(m.Name))
		if err != nil {
			return err
		}
		defer e.Close()
		missing := false
		for _, ref := range images {
			if img, err := e.ImageInspect(ctx, ref); err != nil || img.ID != ids[ref] {
				missing = true
			}
		}
		if !missing {
			continue
		}
		if !saved {
			rc, err := l.host.ImageSave(ctx, images)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("save %s: %w", strings.Join(images, ", "), err)
			}
			saved = true
		}
		g.Go(func() error {
			r, err := os.Open(f.Name())
			if err != nil {
				return err
			}
			defer r.Close()
			if err := e.ImageLoad(gctx, r); err != nil {
				return fmt.Errorf("machine %s: %w", m.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// machineOf reads a machine back from its container.
func (l *Lab) machineOf(c engine.Container) Machine {
	addr := c.Networks[l.cfg.NetworkName()]
	return Machine{Name: c.Labels[engine.LabelMachine], Container: c.Name, Addr: addr, Host: "tcp://" + addr + ":2376"}
}

// Machines finds the lab's machines on the host engine, by label: all of
// them when names is empty, else the ones named.
func (l *Lab) Machines(ctx context.Context, names ...string) ([]Machine, error) {
	cs, err := l.host.ContainerList(ctx, l.cfg.labels(engine.LabelRole, engine.RoleMachine))
	if err != nil {
		return nil, hint(err, "start an engine with scripts/setup-engine.sh, or point DOCKER_HOST at one")
	}
	var all []Machine
	for _, c := range cs {
		all = append(all, l.machineOf(c))
	}
	slices.SortFunc(all, func(a, b Machine) int { return compareMachines(a.Name, b.Name) })
	if len(all) == 0 {
		return nil, fmt.Errorf("lab %s has no machines: create it with `swarmcass lab up --name %s`", l.cfg.Name, l.cfg.Name)
	}
	if len(names) == 0 {
		return all, nil
	}
	var out []Machine
	for _, n := range names {
		i := slices.IndexFunc(all, func(m Machine) bool { return m.Name == n })
		if i < 0 {
			var known []string
			for _, m := range all {
				known = append(known, m.Name)
			}
			return nil, fmt.Errorf("lab %s has no machine %q; it has %s", l.cfg.Name, n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// Stop stops machines (all when none are named), as a host that goes down:
// their engines stop answering and their containers stop with them.
func (l *Lab) Stop(ctx context.Context, names ...string) ([]Machine, error) {
	ms, err := l.Machines(ctx, names...)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if err := l.host.ContainerStop(ctx, m.Container, 10*time.Second); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// Start starts stopped machines (all when none are named) and waits until
// their engines answer.
func (l *Lab) Start(ctx context.Context, names ...string) ([]Machine, error) {
	ms, err := l.Machines(ctx, names...)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if err := l.host.ContainerStart(ctx, m.Container); err != nil {
			return nil, err
		}
	}
	// A stopped container has no address on its networks: read the
	// machines again now that they run, or their engines are looked for at
	// tcp://:2376.
	if ms, err = l.Machines(ctx, names...); err != nil {
		return nil, err
	}
	return ms, l.waitEngines(ctx, ms)
}
