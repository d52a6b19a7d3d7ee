package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcass/swarmcass/engine"
)

// Fake is one in-memory engine of a World. Make it with World.NewFake.
type Fake struct {
	w    *World
	name string
	addr string

	// Spec is what Info reports (its Swarm field is computed). Tests may
	// change it before the fake is used.
	Spec engine.Info

	containers  map[string]*container
	volumes     map[string]engine.Labels
	volumeFiles map[string]map[string][]byte // volume -> path in it -> content
	networks    map[string]*engine.Network   // local scope
	images      map[string]*image            // by ID
	tags        map[string]string            // ref -> image ID
	swarm       *swarm
	faults      map[string]error
	closed      bool
}

var _ engine.Engine = (*Fake)(nil)

type container struct {
	engine.Container
	spec  engine.ContainerSpec
	owner *Fake
	files map[string][]byte // ContainerWriteFile's files outside volumes, by path
}

func (c *container) view() engine.Container {
	v := c.Container
	v.Labels = maps.Clone(c.Labels)
	v.Networks = maps.Clone(c.Networks)
	return v
}

type image struct {
	engine.Image
}

// Fail makes every later call of method (e.g. "Info", "ImagePush") return
// err; a nil err clears it.
func (f *Fake) Fail(method string, err error) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	if err == nil {
		delete(f.faults, method)
		return
	}
	f.faults[method] = err
}

// AddImage makes ref present on this engine, as a pull or a load would.
func (f *Fake) AddImage(ref string) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	id := "sha256:" + hash(ref)
	f.images[id] = &image{engine.Image{ID: id, RepoTags: []string{ref}, Labels: engine.Labels{}}}
	f.tags[ref] = id
}

// Addr is the address the fake is reached at.
func (f *Fake) Addr() string { return f.addr }

func (f *Fake) Name() string { return f.name }
func (f *Fake) Host() string { return "tcp://" + net.JoinHostPort(f.addr, "2376") }

func (f *Fake) Close() error {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	f.closed = true
	return nil
}

// begin takes the world's lock and checks the context and injected faults.
func (f *Fake) begin(ctx context.Context, method string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.w.mu.Lock()
	if f.closed {
		f.w.mu.Unlock()
		return fmt.Errorf("%s: engine %s: client is closed", method, f.name)
	}
	if err := f.faults[method]; err != nil {
		f.w.mu.Unlock()
		return err
	}
	return nil
}

func (f *Fake) end() { f.w.mu.Unlock() }

func (f *Fake) Info(ctx context.Context) (engine.Info, error) {
	if err := f.begin(ctx, "Info"); err != nil {
		return engine.Info{}, err
	}
	defer f.end()
	info := f.Spec
	info.InsecureRegistries = append([]string(nil), f.Spec.InsecureRegistries...)
	info.Swarm = engine.SwarmInfo{State: "inactive"}
	if s := f.swarm; s != nil {
		m := s.member(f)
		info.Swarm = engine.SwarmInfo{State: "active", NodeID: m.node.ID, NodeAddr: m.node.Addr, Manager: m.node.Role == "manager", RemoteManagers: []string{s.managerAddr}}
		if info.Swarm.Manager {
			info.Swarm.ClusterID = s.id
		}
	}
	return info, nil
}

func (f *Fake) ContainerCreate(ctx context.Context, spec engine.ContainerSpec) (string, error) {
	if err := f.begin(ctx, "ContainerCreate"); err != nil {
		return "", err
	}
	defer f.end()
	for _, c := range f.containers {
		if spec.Name != "" && c.Name == spec.Name {
			return "", fmt.Errorf("container name %q: %w", spec.Name, engine.ErrConflict)
		}
	}
	if _, ok := f.resolve(spec.Image); !ok {
		return "", fmt.Errorf("no such image: %s: %w", spec.Image, engine.ErrNotFound)
	}
	f.ensureVolumes(spec.Mounts)
	netName := spec.Network
	if netName == "" {
		netName = "bridge"
	}
	if f.network(netName) == nil {
		return "", fmt.Errorf("network %s: %w", netName, engine.ErrNotFound)
	}
	c := &container{spec: spec, owner: f, Container: engine.Container{
		ID: f.w.id("ctr"), Name: spec.Name, Image: spec.Image, Labels: maps.Clone(spec.Labels),
		State: "created", Networks: map[string]string{netName: ""},
	}}
	if c.Labels == nil {
		c.Labels = engine.Labels{}
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	f.containers[c.ID] = c
	f.w.record(f, "ContainerCreate %s", c.Name)
	return c.ID, nil
}

// container finds a container by ID or name.
func (f *Fake) container(id string) (*container, error) {
	if c, ok := f.containers[id]; ok {
		return c, nil
	}
	for _, c := range f.containers {
		if c.Name == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", id, engine.ErrNotFound)
}

func (f *Fake) ContainerStart(ctx context.Context, id string) error {
	if err := f.begin(ctx, "ContainerStart"); err != nil {
		return err
	}
	defer f.end()
	c, err := f.container(id)
	if err != nil {
		return err
	}
	if c.Running {
		return nil
	}
	for _, p := range c.spec.Ports {
		key := net.JoinHostPort(f.addr, strconv.Itoa(p.HostPort))
		if other, ok := f.w.ports[key]; ok && other != c && other.Running {
			return fmt.Errorf("driver failed programming external connectivity on endpoint %s: Bind for 0.0.0.0:%d failed: port is already allocated", c.Name, p.HostPort)
		}
	}
	for _, p := range c.spec.Ports {
		f.w.ports[net.JoinHostPort(f.addr, strconv.Itoa(p.HostPort))] = c
	}
	for name := range c.Networks {
		if f.swarm != nil && f.swarm.networks[name] != nil {
			// An attachable overlay: addresses unique across the swarm.
			o := f.swarm.networks[name]
			o.next++
			c.Networks[name] = hostAddr(o.Subnets[0], o.next)
			continue
		}
		if n := f.network(name); n != nil && len(n.Subnets) > 0 {
			c.Networks[name] = hostAddr(n.Subnets[0], len(f.containers))
		}
	}
	c.Running, c.State, c.StartedAt = true, "running", f.w.now()
	f.w.record(f, "ContainerStart %s", c.Name)
	return nil
}

func (f *Fake) ContainerStop(ctx context.Context, id string, timeout time.Duration) error {
	if err := f.begin(ctx, "ContainerStop"); err != nil {
		return err
	}
	defer f.end()
	c, err := f.container(id)
	if err != nil {
		return err
	}
	c.Running, c.State = false, "exited"
	f.w.record(f, "ContainerStop %s", c.Name)
	return nil
}

func (f *Fake) ContainerRemove(ctx context.Context, id string) error {
	if err := f.begin(ctx, "ContainerRemove"); err != nil {
		return err
	}
	defer f.end()
	c, err := f.container(id)
	if err != nil {
		return err
	}
	for k, p := range f.w.ports {
		if p == c {
			delete(f.w.ports, k)
		}
	}
	delete(f.containers, c.ID)
	f.w.record(f, "ContainerRemove %s", c.Name)
	return nil
}

func (f *Fake) ContainerInspect(ctx context.Context, id string) (engine.Container, error) {
	if err := f.begin(ctx, "ContainerInspect"); err != nil {
		return engine.Container{}, err
	}
	defer f.end()
	c, err := f.container(id)
	if err != nil {
		return engine.Container{}, err
	}
	return c.view(), nil
}

func (f *Fake) ContainerList(ctx context.Context, labels map[string]string) ([]engine.Container, error) {
	if err := f.begin(ctx, "ContainerList"); err != nil {
		return nil, err
	}
	defer f.end()
	var out []engine.Container
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		if c := f.containers[id]; hasLabels(c.Labels, labels) {
			out = append(out, c.view())
		}
	}
	return out, nil
}

func (f *Fake) ContainerLogs(ctx context.Context, id string, tail int) (string, error) {
	if err := f.begin(ctx, "ContainerLogs"); err != nil {
		return "", err
	}
	c, err := f.container(id)
	f.end()
	if err != nil {
		return "", err
	}
	if f.w.Logs == nil {
		return "", nil
	}
	return f.w.Logs(f, c.view(), tail), nil
}

func (f *Fake) Exec(ctx context.Context, id string, cmd []string) (engine.ExecResult, error) {
	view, err := f.running(ctx, "Exec", id)
	if err != nil {
		return engine.ExecResult{}, err
	}
	if f.w.Exec == nil {
		return engine.ExecResult{}, nil
	}
	return f.w.Exec(f, view, cmd)
}

// running is the running container id, for an exec.
func (f *Fake) running(ctx context.Context, method, id string) (engine.Container, error) {
	if err := f.begin(ctx, method); err != nil {
		return engine.Container{}, err
	}
	defer f.end()
	c, err := f.container(id)
	if err != nil {
		return engine.Container{}, err
	}
	if !c.Running {
		return engine.Container{}, fmt.Errorf("container %s is not running", c.Name)
	}
	return c.view(), nil
}

func (f *Fake) ExecStream(ctx context.Context, id string, cmd []string, s engine.ExecIO) (int, error) {
	view, err := f.running(ctx, "ExecStream", id)
	if err != nil {
		return 0, err
	}
	if f.w.Streams != nil {
		return f.w.Streams(f, view, cmd, s)
	}
	if s.Stdin != nil {
		in, err := io.ReadAll(s.Stdin)
		if err != nil {
			return 0, err
		}
		f.w.mu.Lock()
		f.w.Stdin = append(f.w.Stdin, string(in))
		f.w.mu.Unlock()
	}
	var res engine.ExecResult
	if f.w.Exec != nil {
		if res, err = f.w.Exec(f, view, cmd); err != nil {
			return 0, err
		}
	}
	stderr := s.Stderr
	if s.TTY {
		stderr = s.Stdout
	}
	io.WriteString(s.Stdout, res.Stdout)
	io.WriteString(stderr, res.Stderr)
	return res.ExitCode, nil
}

// fileKey is where a file at path in container c lives: in the volume
// mounted at the longest prefix of path, else in the container itself.
func (c *container) fileKey(p string) (vol, rel string) {
	best := ""
	for _, m := range c.spec.Mounts {
		t := strings.TrimSuffix(m.Target, "/")
		if (m.Type == "" || m.Type == "volume") && (p == t || strings.HasPrefix(p, t+"/")) && len(t) > len(best) {
			best, vol = t, m.Source
		}
	}
	if vol == "" {
		return "", p
	}
	return vol, strings.TrimPrefix(p, best+"/")
}

// readFile is the file at path in c: from its volume or from itself.
func (c *container) readFile(p string) ([]byte, bool) {
	vol, rel := c.fileKey(p)
	if vol == "" {
		b, ok := c.files[rel]
		return b, ok
	}
	b, ok := c.owner.volumeFiles[vol][rel]
	return b, ok
}

// ContainerWriteFile keeps the file in the container's volume when a
// volume is mounted over its path (it outlives the container), else in
// the container.
func (f *Fake) ContainerWriteFile(ctx context.Context, id, dir, name string, data []byte, mode os.FileMode) error {
	if err := f.begin(ctx, "ContainerWriteFile"); err != nil {
		return err
	}
	defer f.end()
	c, err := f.container(id)
	if err != nil {
		return err
	}
	if _, err := engine.FileTar(name, data, mode); err != nil {
		return err
	}
	p := path.Join(dir, name)
	vol, rel := c.fileKey(p)
	if vol == "" {
		if c.files == nil {
			c.files = map[string][]byte{}
		}
		c.files[rel] = slices.Clone(data)
	} else {
		if f.volumeFiles[vol] == nil {
			f.volumeFiles[vol] = map[string][]byte{}
		}
		f.volumeFiles[vol][rel] = slices.Clone(data)
	}
	f.w.record(f, "ContainerWriteFile %s %s", c.Name, p)
	return nil
}

func (f *Fake) ContainerReadFile(ctx context.Context, id, p string) ([]byte, error) {
	if err := f.begin(ctx, "ContainerReadFile"); err != nil {
		return nil, err
	}
	defer f.end()
	c, err := f.container(id)
	if err != nil {
		return nil, err
	}
	b, ok := c.readFile(p)
	if !ok {
		return nil, fmt.Errorf("read %s in container %s on %s: Could not find the file %s in container %s: %w", p, c.Name, f.name, p, c.Name, engine.ErrNotFound)
	}
	return slices.Clone(b), nil
}

// ServiceRegistryAuth is what ServiceCreate was given as the service's
// registry auth (which ServiceInspect, like Swarm, never shows).
func (f *Fake) ServiceRegistryAuth(name string) *engine.RegistryAuth {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	_, svc, err := f.service(name)
	if err != nil || svc.auth == nil {
		return nil
	}
	a := *svc.auth
	return &a
}

// ContainerLogsStream writes what World.Logs answers on stdout; it does
// not follow.
func (f *Fake) ContainerLogsStream(ctx context.Context, id string, tail int, follow bool, stdout, stderr io.Writer) error {
	out, err := f.ContainerLogs(ctx, id, tail)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

func (f *Fake) VolumeCreate(ctx context.Context, name string, labels map[string]string) error {
	if err := f.begin(ctx, "VolumeCreate"); err != nil {
		return err
	}
	defer f.end()
	if _, ok := f.volumes[name]; ok {
		return nil // as dockerd: creating an existing volume is not an error
	}
	f.volumes[name] = maps.Clone(labels)
	if f.volumes[name] == nil {
		f.volumes[name] = engine.Labels{}
	}
	f.w.record(f, "VolumeCreate %s", name)
	return nil
}

func (f *Fake) VolumeRemove(ctx context.Context, name string) error {
	if err := f.begin(ctx, "VolumeRemove"); err != nil {
		return err
	}
	defer f.end()
	if _, ok := f.volumes[name]; !ok {
		return fmt.Errorf("volume %s: %w", name, engine.ErrNotFound)
	}
	delete(f.volumes, name)
	delete(f.volumeFiles, name)
	f.w.record(f, "VolumeRemove %s", name)
	return nil
}

func (f *Fake) VolumeList(ctx context.Context, labels map[string]string) ([]string, error) {
	if err := f.begin(ctx, "VolumeList"); err != nil {
		return nil, err
	}
	defer f.end()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(f.volumes)) {
		if hasLabels(f.volumes[name], labels) {
			out = append(out, name)
		}
	}
	return out, nil
}

// network finds a local network or an overlay of this fake's swarm.
func (f *Fake) network(name string) *engine.Network {
	if n, ok := f.networks[name]; ok {
		return n
	}
	if f.swarm != nil {
		if n, ok := f.swarm.networks[name]; ok {
			return &n.Network
		}
	}
	for _, n := range f.networks {
		if n.ID == name {
			return n
		}
	}
	return nil
}

func (f *Fake) NetworkCreate(ctx context.Context, spec engine.NetworkSpec) (string, error) {
	if err := f.begin(ctx, "NetworkCreate"); err != nil {
		return "", err
	}
	defer f.end()
	if f.network(spec.Name) != nil {
		return "", fmt.Errorf("network with name %s: %w", spec.Name, engine.ErrConflict)
	}
	n := engine.Network{ID: f.w.id("net"), Name: spec.Name, Driver: spec.Driver, Scope: "local",
		Attachable: spec.Attachable, Encrypted: spec.Encrypted, Labels: maps.Clone(spec.Labels), Subnets: []string{spec.Subnet}}
	if n.Driver == "" {
		n.Driver = "bridge"
	}
	if spec.Subnet != "" && n.Driver != "overlay" {
		// As dockerd: a local network's pool may not overlap another's.
		want, err := netip.ParsePrefix(spec.Subnet)
		if err != nil {
			return "", fmt.Errorf("invalid subnet %s: %w", spec.Subnet, err)
		}
		for _, other := range f.networks {
			for _, s := range other.Subnets {
				if p, err := netip.ParsePrefix(s); err == nil && p.Overlaps(want) {
					return "", errors.New("Error response from daemon: Pool overlaps with other one on this address space")
				}
			}
		}
	}
	if n.Driver == "overlay" {
		if f.swarm == nil || f.swarm.member(f).node.Role != "manager" {
			return "", errors.New("this node is not a swarm manager; use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again")
		}
		n.Scope = "swarm"
	}
	if spec.Subnet == "" {
		f.w.nextNet++
		if n.Driver == "overlay" {
			n.Subnets = []string{fmt.Sprintf("10.0.%d.0/24", f.w.nextNet)}
		} else {
			n.Subnets = []string{fmt.Sprintf("172.%d.0.0/16", 17+f.w.nextNet)}
		}
	}
	if n.Scope == "swarm" {
		f.swarm.networks[n.Name] = &overlay{Network: n}
	} else {
		f.networks[n.Name] = &n
	}
	f.w.record(f, "NetworkCreate %s", n.Name)
	return n.ID, nil
}

func (f *Fake) NetworkInspect(ctx context.Context, name string) (engine.Network, error) {
	if err := f.begin(ctx, "NetworkInspect"); err != nil {
		return engine.Network{}, err
	}
	defer f.end()
	n := f.network(name)
	if n == nil {
		return engine.Network{}, fmt.Errorf("network %s: %w", name, engine.ErrNotFound)
	}
	v := *n
	v.Labels = maps.Clone(n.Labels)
	return v, nil
}

func (f *Fake) NetworkRemove(ctx context.Context, name string) error {
	if err := f.begin(ctx, "NetworkRemove"); err != nil {
		return err
	}
	defer f.end()
	if _, ok := f.networks[name]; ok {
		delete(f.networks, name)
	} else if f.swarm != nil && f.swarm.networks[name] != nil {
		delete(f.swarm.networks, name)
	} else {
		return fmt.Errorf("network %s: %w", name, engine.ErrNotFound)
	}
	f.w.record(f, "NetworkRemove %s", name)
	return nil
}

func (f *Fake) NetworkList(ctx context.Context, labels map[string]string) ([]engine.Network, error) {
	if err := f.begin(ctx, "NetworkList"); err != nil {
		return nil, err
	}
	defer f.end()
	var out []engine.Network
	for _, name := range slices.Sorted(maps.Keys(f.networks)) {
		if n := f.networks[name]; hasLabels(n.Labels, labels) {
			out = append(out, *n)
		}
	}
	if f.swarm != nil {
		for _, name := range slices.Sorted(maps.Keys(f.swarm.networks)) {
			if n := f.swarm.networks[name]; hasLabels(n.Labels, labels) {
				out = append(out, n.Network)
			}
		}
	}
	return out, nil
}

// resolve finds a local image by reference or ID, or pulls a reference
// from a registry of the world this engine may pull from.
func (f *Fake) resolve(ref string) (*image, bool) {
	if id, ok := f.tags[ref]; ok {
		return f.images[id], true
	}
	if im, ok := f.images[ref]; ok {
		return im, true
	}
	for _, im := range f.images {
		for _, d := range im.RepoDigests {
			if d == ref {
				return im, true
			}
		}
	}
	host, _, ok := strings.Cut(ref, "/")
	if !ok || !strings.Contains(host, ":") || !f.Spec.PullsOverHTTP(host) {
		return nil, false
	}
	im, ok := f.w.pushed[f.registryKey(ref)]
	if !ok {
		return nil, false
	}
	c := &image{im.Image}
	c.RepoDigests = append([]string(nil), im.RepoDigests...)
	c.RepoTags = []string{ref}
	if strings.Contains(ref, "@") {
		c.RepoTags = nil
	}
	f.images[c.ID] = c
	f.tags[ref] = c.ID
	return c, true
}

// local reports whether ref is on this engine already: no pull needed.
func (f *Fake) local(ref string) bool {
	if _, ok := f.tags[ref]; ok {
		return true
	}
	if _, ok := f.images[ref]; ok {
		return true
	}
	for _, im := range f.images {
		if slices.Contains(im.RepoDigests, ref) {
			return true
		}
	}
	return false
}

// registryKeyHost is registryKey for a registry's host:port alone.
func (f *Fake) registryKeyHost(host string) string {
	k := f.registryKey(host + "/")
	return strings.TrimSuffix(k, "/")
}

// registryKey rewrites a reference to 127.0.0.1:P/... as addr:P/..., since
// loopback is this engine's own host.
func (f *Fake) registryKey(ref string) string {
	if rest, ok := strings.CutPrefix(ref, "127.0.0.1:"); ok {
		return f.addr + ":" + rest
	}
	if rest, ok := strings.CutPrefix(ref, "localhost:"); ok {
		return f.addr + ":" + rest
	}
	return ref
}

func (f *Fake) ImageInspect(ctx context.Context, ref string) (engine.Image, error) {
	if err := f.begin(ctx, "ImageInspect"); err != nil {
		return engine.Image{}, err
	}
	defer f.end()
	id, ok := f.tags[ref]
	if !ok {
		if _, ok := f.images[ref]; !ok {
			return engine.Image{}, fmt.Errorf("no such image: %s: %w", ref, engine.ErrNotFound)
		}
		id = ref
	}
	im := f.images[id].Image
	im.RepoTags = append([]string(nil), im.RepoTags...)
	im.RepoDigests = append([]string(nil), im.RepoDigests...)
	im.Labels = maps.Clone(im.Labels)
	return im, nil
}

func (f *Fake) ImageList(ctx context.Context, labels map[string]string) ([]engine.Image, error) {
	if err := f.begin(ctx, "ImageList"); err != nil {
		return nil, err
	}
	defer f.end()
	var out []engine.Image
	for _, id := range slices.Sorted(maps.Keys(f.images)) {
		im := f.images[id].Image
		if !hasLabels(im.Labels, labels) {
			continue
		}
		im.RepoTags = append([]string(nil), im.RepoTags...)
		im.RepoDigests = append([]string(nil), im.RepoDigests...)
		im.Labels = maps.Clone(im.Labels)
		out = append(out, im)
	}
	return out, nil
}

// ImageRemove removes one reference of an image, or the whole image when
// ref is its ID or its last reference, as dockerd does: an image a running
// container uses is refused, and without force so is one that several
// references name (by ID) or any container uses.
func (f *Fake) ImageRemove(ctx context.Context, ref string, force bool) error {
	if err := f.begin(ctx, "ImageRemove"); err != nil {
		return err
	}
	defer f.end()
	im, ok := f.localImage(ref)
	if !ok {
		return fmt.Errorf("No such image: %s: %w", ref, engine.ErrNotFound)
	}
	refs := len(im.RepoTags) + len(im.RepoDigests)
	byID := ref == im.ID || strings.TrimPrefix(im.ID, "sha256:") == ref
	if byID && refs > 1 && !force {
		return fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories: %w", ref, engine.ErrConflict)
	}
	if !byID && refs > 1 {
		im.RepoTags = slices.DeleteFunc(im.RepoTags, func(t string) bool { return t == ref })
		im.RepoDigests = slices.DeleteFunc(im.RepoDigests, func(d string) bool { return d == ref })
		delete(f.tags, ref)
		f.w.record(f, "ImageRemove %s", ref)
		return nil
	}
	for _, c := range f.containers {
		if c.Image != ref && c.Image != im.ID && !slices.Contains(im.RepoTags, c.Image) && !slices.Contains(im.RepoDigests, c.Image) {
			continue
		}
		if c.Running || !force {
			return fmt.Errorf("conflict: unable to delete %s - image is being used by container %s: %w", ref, c.ID, engine.ErrConflict)
		}
	}
	for t, id := range f.tags {
		if id == im.ID {
			delete(f.tags, t)
		}
	}
	delete(f.images, im.ID)
	f.w.record(f, "ImageRemove %s", ref)
	return nil
}

// localImage is the image this engine holds under ref (a tag, an ID or a
// repo digest), not one it could pull.
func (f *Fake) localImage(ref string) (*image, bool) {
	if id, ok := f.tags[ref]; ok && f.images[id] != nil {
		return f.images[id], true
	}
	if im, ok := f.images[ref]; ok {
		return im, true
	}
	for _, im := range f.images {
		if slices.Contains(im.RepoDigests, ref) || strings.TrimPrefix(im.ID, "sha256:") == ref {
			return im, true
		}
	}
	return nil, false
}

// keepPulled makes an image found in a registry (resolve) this engine's
// own, as a pull or a task's start leaves it: by its reference and its
// labels.
func (f *Fake) keepPulled(ref string, im *image) {
	if f.local(ref) {
		return
	}
	id := im.ID
	own, ok := f.images[id]
	if !ok {
		own = &image{engine.Image{ID: id, Labels: maps.Clone(im.Labels), Size: im.Size}}
		f.images[id] = own
	}
	if strings.Contains(ref, "@") {
		own.RepoDigests = append(own.RepoDigests, ref)
		return
	}
	f.tag(id, ref)
}

// ImageBuild reads the tar context; the image ID is a hash of its content,
// so building the same context again yields the same image, as the build
// cache does. A context without the Dockerfile fails as dockerd does.
func (f *Fake) ImageBuild(ctx context.Context, spec engine.BuildSpec, progress io.Writer) error {
	if err := f.begin(ctx, "ImageBuild"); err != nil {
		return err
	}
	defer f.end()
	dockerfile := spec.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	h := sha256.New()
	found := false
	var labels engine.Labels
	tr := tar.NewReader(spec.Context)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		var content bytes.Buffer
		fmt.Fprintf(h, "%s %d\n", hdr.Name, hdr.Mode)
		if _, err := io.Copy(io.MultiWriter(h, &content), tr); err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == dockerfile {
			found = true
			labels = dockerfileLabels(content.String())
		}
	}
	if !found {
		return fmt.Errorf("Cannot locate specified Dockerfile: %s", dockerfile)
	}
	for _, k := range slices.Sorted(maps.Keys(spec.BuildArgs)) {
		fmt.Fprintf(h, "arg %s=%s\n", k, spec.BuildArgs[k])
	}
	id := "sha256:" + hex.EncodeToString(h.Sum(nil))
	im, ok := f.images[id]
	if !ok {
		maps.Copy(labels, spec.Labels)
		im = &image{engine.Image{ID: id, Labels: labels, Size: 1 << 20}}
		f.images[id] = im
	}
	for _, t := range spec.Tags {
		f.tag(id, t)
	}
	if progress != nil {
		fmt.Fprintf(progress, "Successfully built %s\n", id[7:19])
	}
	f.w.record(f, "ImageBuild %s", strings.Join(spec.Tags, ","))
	return nil
}

// dockerfileLabels are the LABEL key=value pairs of a Dockerfile, one
// instruction a line (values unquoted); the image carries them, as a build
// would.
func dockerfileLabels(dockerfile string) engine.Labels {
	labels := engine.Labels{}
	for line := range strings.SplitSeq(dockerfile, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "LABEL ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
	}
	return labels
}

func (f *Fake) tag(id, ref string) {
	if old, ok := f.tags[ref]; ok {
		im := f.images[old]
		for i, t := range im.RepoTags {
			if t == ref {
				im.RepoTags = append(im.RepoTags[:i], im.RepoTags[i+1:]...)
				break
			}
		}
	}
	f.tags[ref] = id
	f.images[id].RepoTags = append(f.images[id].RepoTags, ref)
}

// ImagePull finds what was pushed to a registry of the world this engine
// may pull from, and what World.Publish published, like an engine that
// reaches a registry holding just those images.
func (f *Fake) ImagePull(ctx context.Context, ref string, auth *engine.RegistryAuth, progress io.Writer) error {
	if err := f.begin(ctx, "ImagePull"); err != nil {
		return err
	}
	if host, _, ok := strings.Cut(ref, "/"); ok && !f.local(ref) {
		if err := f.w.registryDenies(f.registryKeyHost(host), auth); err != nil {
			f.end()
			return fmt.Errorf("pull %s on %s: Error response from daemon: %w", ref, f.name, err)
		}
	}
	im, fromRegistry := f.resolve(ref)
	published := f.w.hub[ref]
	if fromRegistry {
		f.keepPulled(ref, im)
		f.w.record(f, "ImagePull %s", ref)
		f.end()
		return nil
	}
	f.end()
	if !published {
		return fmt.Errorf("pull %s on %s: Error response from daemon: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host", ref, f.name)
	}
	f.AddImage(ref)
	f.w.mu.Lock()
	f.w.record(f, "ImagePull %s", ref)
	f.w.mu.Unlock()
	return nil
}

func (f *Fake) ImageTag(ctx context.Context, source, target string) error {
	if err := f.begin(ctx, "ImageTag"); err != nil {
		return err
	}
	defer f.end()
	im, ok := f.resolve(source)
	if !ok {
		return fmt.Errorf("no such image: %s: %w", source, engine.ErrNotFound)
	}
	f.tag(im.ID, target)
	f.w.record(f, "ImageTag %s", target)
	return nil
}

// ImagePush needs a running container publishing the registry's port on
// the fake the reference names (127.0.0.1 is this fake itself).
func (f *Fake) ImagePush(ctx context.Context, ref string, auth *engine.RegistryAuth, progress io.Writer) (string, error) {
	if err := f.begin(ctx, "ImagePush"); err != nil {
		return "", err
	}
	defer f.end()
	id, ok := f.tags[ref]
	if !ok {
		return "", fmt.Errorf("an image does not exist locally with the tag: %s: %w", ref, engine.ErrNotFound)
	}
	key := f.registryKey(ref)
	host, _, _ := strings.Cut(key, "/")
	if c, ok := f.w.ports[host]; !ok || !c.Running {
		return "", fmt.Errorf("Get \"https://%s/v2/\": dial tcp %s: connect: connection refused", host, host)
	}
	if !strings.HasPrefix(ref, "127.0.0.1:") && !f.Spec.PullsOverHTTP(host) {
		return "", fmt.Errorf("Get \"https://%s/v2/\": http: server gave HTTP response to HTTPS client", host)
	}
	if err := f.w.registryDenies(host, auth); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	repo := key[:strings.LastIndex(key, ":")]
	origRepo := ref[:strings.LastIndex(ref, ":")]
	digest := "sha256:" + hash(id+" "+repo)
	im := f.images[id]
	d := origRepo + "@" + digest
	if !slices.Contains(im.RepoDigests, d) {
		im.RepoDigests = append(im.RepoDigests, d)
	}
	f.w.pushed[key] = im
	f.w.pushed[repo+"@"+digest] = im
	if progress != nil {
		fmt.Fprintf(progress, "%s: digest: %s size: 1234\n", ref[strings.LastIndex(ref, ":")+1:], digest)
	}
	f.w.record(f, "ImagePush %s", ref)
	return digest, nil
}

type savedImage struct {
	ID   string
	Tags []string
}

func (f *Fake) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	if err := f.begin(ctx, "ImageSave"); err != nil {
		return nil, err
	}
	defer f.end()
	var out []savedImage
	for _, ref := range refs {
		id, ok := f.tags[ref]
		if !ok {
			return nil, fmt.Errorf("no such image: %s: %w", ref, engine.ErrNotFound)
		}
		out = append(out, savedImage{ID: id, Tags: []string{ref}})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *Fake) ImageLoad(ctx context.Context, r io.Reader) error {
	var in []savedImage
	if err := json.NewDecoder(r).Decode(&in); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := f.begin(ctx, "ImageLoad"); err != nil {
		return err
	}
	defer f.end()
	for _, s := range in {
		if _, ok := f.images[s.ID]; !ok {
			f.images[s.ID] = &image{engine.Image{ID: s.ID, Labels: engine.Labels{}}}
		}
		for _, t := range s.Tags {
			f.tag(s.ID, t)
		}
	}
	f.w.record(f, "ImageLoad")
	return nil
}

func (f *Fake) SwarmInit(ctx context.Context, advertiseAddr string, labels engine.Labels) error {
	if err := f.begin(ctx, "SwarmInit"); err != nil {
		return err
	}
	defer f.end()
	if f.swarm != nil {
		return errors.New("this node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one")
	}
	if advertiseAddr == "" {
		advertiseAddr = f.addr
	}
	s := &swarm{id: f.w.id("swarm"), labels: maps.Clone(labels), networks: map[string]*overlay{}, services: map[string]*service{}, managerAddr: net.JoinHostPort(advertiseAddr, "2377")}
	s.workerToken = "SWMTKN-1-" + s.id + "-worker"
	s.managerToken = "SWMTKN-1-" + s.id + "-manager"
	s.members = append(s.members, &member{fake: f, node: engine.Node{ID: f.w.id("node"), Hostname: f.Spec.Hostname, Addr: advertiseAddr, Role: "manager", State: "ready"}})
	f.swarm = s
	f.w.swarms = append(f.w.swarms, s)
	f.w.record(f, "SwarmInit %s", advertiseAddr)
	return nil
}

func (f *Fake) SwarmJoin(ctx context.Context, advertiseAddr, remoteAddr, token string) error {
	if err := f.begin(ctx, "SwarmJoin"); err != nil {
		return err
	}
	defer f.end()
	if f.swarm != nil {
		return errors.New("this node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one")
	}
	var s *swarm
	for _, cand := range f.w.swarms {
		if cand.managerAddr == remoteAddr {
			s = cand
		}
	}
	if s == nil {
		return fmt.Errorf("could not connect to %s: connection refused", remoteAddr)
	}
	role := ""
	switch token {
	case s.workerToken:
		role = "worker"
	case s.managerToken:
		role = "manager"
	default:
		return errors.New("rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster")
	}
	if advertiseAddr == "" {
		advertiseAddr = f.addr
	}
	s.members = append(s.members, &member{fake: f, node: engine.Node{ID: f.w.id("node"), Hostname: f.Spec.Hostname, Addr: advertiseAddr, Role: role, State: "ready"}})
	f.swarm = s
	f.w.record(f, "SwarmJoin %s", remoteAddr)
	return nil
}

func (f *Fake) manager() (*swarm, error) {
	if f.swarm == nil || f.swarm.member(f).node.Role != "manager" {
		return nil, errors.New("this node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again")
	}
	return f.swarm, nil
}

func (f *Fake) SwarmInspect(ctx context.Context) (engine.Swarm, error) {
	if err := f.begin(ctx, "SwarmInspect"); err != nil {
		return engine.Swarm{}, err
	}
	defer f.end()
	s, err := f.manager()
	if err != nil {
		return engine.Swarm{}, err
	}
	return engine.Swarm{ID: s.id, Labels: maps.Clone(s.labels), WorkerToken: s.workerToken, ManagerToken: s.managerToken}, nil
}

// SwarmLeave takes this engine out of its swarm, as dockerd does: a
// manager only with force (the swarm's last manager ends it: its other
// members are left in a swarm without a manager); its task containers go.
func (f *Fake) SwarmLeave(ctx context.Context, force bool) error {
	if err := f.begin(ctx, "SwarmLeave"); err != nil {
		return err
	}
	defer f.end()
	s := f.swarm
	if s == nil {
		return errors.New("This node is not part of a swarm")
	}
	m := s.member(f)
	if m.node.Role == "manager" && !force {
		return errors.New("You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
	}
	for id, c := range f.containers {
		if c.Labels["com.docker.swarm.task.id"] != "" {
			delete(f.containers, id)
		}
	}
	s.members = slices.DeleteFunc(s.members, func(o *member) bool { return o.fake == f })
	if m.node.Role == "manager" {
		s.managerAddr = "" // nobody can join it any more
		s.services = map[string]*service{}
	}
	f.swarm = nil
	f.w.record(f, "SwarmLeave")
	return nil
}

func (f *Fake) NodeList(ctx context.Context) ([]engine.Node, error) {
	if err := f.begin(ctx, "NodeList"); err != nil {
		return nil, err
	}
	defer f.end()
	s, err := f.manager()
	if err != nil {
		return nil, err
	}
	var out []engine.Node
	for _, m := range s.members {
		n := m.node
		n.Labels = maps.Clone(n.Labels)
		out = append(out, n)
	}
	return out, nil
}

func (f *Fake) ServiceCreate(ctx context.Context, spec engine.ServiceSpec) (string, error) {
	if err := f.begin(ctx, "ServiceCreate"); err != nil {
		return "", err
	}
	defer f.end()
	s, err := f.manager()
	if err != nil {
		return "", err
	}
	if _, ok := s.services[spec.Name]; ok {
		return "", fmt.Errorf("service %s: %w", spec.Name, engine.ErrConflict)
	}
	for _, n := range spec.Networks {
		if _, ok := s.networks[n]; !ok {
			return "", fmt.Errorf("network %s: %w", n, engine.ErrNotFound)
		}
	}
	for _, r := range spec.Secrets {
		if sec, ok := s.secrets[r.Name]; !ok || sec.ID != r.ID {
			// dockerd's words (swarmkit's controlapi validation).
			return "", fmt.Errorf("secret not found: %s: %w", r.Name, engine.ErrNotFound)
		}
	}
	spec.Secrets = slices.Clone(spec.Secrets)
	spec.Labels = maps.Clone(spec.Labels)
	spec.ContainerLabels = maps.Clone(spec.ContainerLabels)
	// Swarm keeps the registry auth with the service and never shows it.
	var auth *engine.RegistryAuth
	if spec.RegistryAuth != nil {
		a := *spec.RegistryAuth
		auth, spec.RegistryAuth = &a, nil
	}
	svc := &service{Service: engine.Service{ID: f.w.id("svc"), Name: spec.Name, Image: spec.Image, Labels: spec.Labels, Spec: spec}, auth: auth}
	s.services[spec.Name] = svc
	f.w.record(f, "ServiceCreate %s", spec.Name)
	f.w.schedule(s, svc)
	return svc.ID, nil
}

func (f *Fake) service(name string) (*swarm, *service, error) {
	s, err := f.manager()
	if err != nil {
		return nil, nil, err
	}
	if svc, ok := s.services[name]; ok {
		return s, svc, nil
	}
	for _, svc := range s.services {
		if svc.ID == name {
			return s, svc, nil
		}
	}
	return nil, nil, fmt.Errorf("service %s: %w", name, engine.ErrNotFound)
}

func (f *Fake) ServiceInspect(ctx context.Context, name string) (engine.Service, error) {
	if err := f.begin(ctx, "ServiceInspect"); err != nil {
		return engine.Service{}, err
	}
	defer f.end()
	_, svc, err := f.service(name)
	if err != nil {
		return engine.Service{}, err
	}
	return svc.Service, nil
}

// ServiceUpdate replaces the service's spec, shuts its running task down
// (its container stops, as Swarm's stop-first update does) and schedules a
// new task from the new spec. With force and an unchanged spec it restarts
// the task all the same; without force an unchanged spec changes nothing.
func (f *Fake) ServiceUpdate(ctx context.Context, name string, spec engine.ServiceSpec, force bool) error {
	if err := f.begin(ctx, "ServiceUpdate"); err != nil {
		return err
	}
	defer f.end()
	s, svc, err := f.service(name)
	if err != nil {
		return err
	}
	for _, n := range spec.Networks {
		if _, ok := s.networks[n]; !ok {
			return fmt.Errorf("network %s: %w", n, engine.ErrNotFound)
		}
	}
	spec.Name = svc.Name
	spec.Labels = maps.Clone(spec.Labels)
	spec.ContainerLabels = maps.Clone(spec.ContainerLabels)
	if !force && reflect.DeepEqual(spec, svc.Spec) {
		return nil
	}
	svc.Spec, svc.Image, svc.Labels = spec, spec.Image, spec.Labels
	for _, t := range svc.tasks {
		if t.DesiredState == "running" {
			t.DesiredState = "shutdown"
			if t.State == "running" || t.State == "starting" {
				t.State = "shutdown"
			}
			t.Updated = f.w.now()
			if c := f.w.containerByID(t.ContainerID); c != nil && c.Running {
				c.Running, c.State, c.ExitCode = false, "exited", 0
			}
		}
	}
	svc.restart = false
	f.w.record(f, "ServiceUpdate %s", svc.Name)
	f.w.schedule(s, svc)
	return nil
}

func (f *Fake) ServiceRemove(ctx context.Context, name string) error {
	if err := f.begin(ctx, "ServiceRemove"); err != nil {
		return err
	}
	defer f.end()
	s, svc, err := f.service(name)
	if err != nil {
		return err
	}
	for _, t := range svc.tasks {
		for _, g := range f.w.fakes {
			delete(g.containers, t.ContainerID)
		}
	}
	delete(s.services, svc.Name)
	f.w.record(f, "ServiceRemove %s", svc.Name)
	return nil
}

func (f *Fake) ServiceList(ctx context.Context, labels map[string]string) ([]engine.Service, error) {
	if err := f.begin(ctx, "ServiceList"); err != nil {
		return nil, err
	}
	defer f.end()
	s, err := f.manager()
	if err != nil {
		return nil, err
	}
	var out []engine.Service
	for _, name := range slices.Sorted(maps.Keys(s.services)) {
		if svc := s.services[name]; hasLabels(svc.Labels, labels) {
			out = append(out, svc.Service)
		}
	}
	return out, nil
}

func (f *Fake) TaskList(ctx context.Context, name string) ([]engine.Task, error) {
	if err := f.begin(ctx, "TaskList"); err != nil {
		return nil, err
	}
	defer f.end()
	s, svc, err := f.service(name)
	if err != nil {
		return nil, err
	}
	if svc.restart {
		svc.restart = false
		f.w.schedule(s, svc)
	}
	out := make([]engine.Task, 0, len(svc.tasks))
	for i := len(svc.tasks) - 1; i >= 0; i-- {
		t := *svc.tasks[i]
		t.Addresses = maps.Clone(t.Addresses)
		out = append(out, t)
	}
	return out, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ensureVolumes creates the named volumes that mounts use and f lacks, as
// dockerd does when a container starts. The world's lock is held.
func (f *Fake) ensureVolumes(mounts []engine.Mount) {
	for _, m := range mounts {
		if (m.Type == "" || m.Type == "volume") && m.Source != "" {
			if _, ok := f.volumes[m.Source]; !ok {
				f.volumes[m.Source] = engine.Labels{}
			}
		}
	}
}

func (f *Fake) SecretCreate(ctx context.Context, spec engine.SecretSpec) (string, error) {
	if err := f.begin(ctx, "SecretCreate"); err != nil {
		return "", err
	}
	defer f.end()
	s, err := f.manager()
	if err != nil {
		return "", err
	}
	if s.secrets == nil {
		s.secrets = map[string]*secret{}
	}
	if _, ok := s.secrets[spec.Name]; ok {
		return "", fmt.Errorf("secret %s: %w", spec.Name, engine.ErrConflict)
	}
	sec := &secret{Secret: engine.Secret{ID: f.w.id("secret"), Name: spec.Name, Labels: maps.Clone(spec.Labels)}, data: bytes.Clone(spec.Data)}
	s.secrets[spec.Name] = sec
	f.w.record(f, "SecretCreate %s", spec.Name)
	return sec.ID, nil
}

func (f *Fake) SecretList(ctx context.Context, labels map[string]string) ([]engine.Secret, error) {
	if err := f.begin(ctx, "SecretList"); err != nil {
		return nil, err
	}
	defer f.end()
	s, err := f.manager()
	if err != nil {
		return nil, err
	}
	var out []engine.Secret
	for _, name := range slices.Sorted(maps.Keys(s.secrets)) {
		if sec := s.secrets[name]; hasLabels(sec.Labels, labels) {
			c := sec.Secret
			c.Labels = maps.Clone(c.Labels)
			out = append(out, c)
		}
	}
	return out, nil
}
