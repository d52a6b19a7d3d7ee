package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// MinAPIVersion is the oldest Engine API swarmcass works with (Docker 19.03).
const MinAPIVersion = "1.40"

// TLSFiles are the PEM files of a TLS client: the CA that signed the
// engine's certificate, and the client's own certificate and key.
type TLSFiles struct {
	CA, Cert, Key string
}

// Docker is an Engine reached through the Docker Engine API.
type Docker struct {
	name string
	host string
	cli  *client.Client
}

var _ Engine = (*Docker)(nil)

// Option changes how NewDocker makes its client.
type Option func(name string) client.Opt

// WithTrace reports every API call the client makes, with the answer's
// status and how long it took (swarmcass -v).
func WithTrace(logf func(format string, args ...any)) Option {
	return func(name string) client.Opt {
		return client.WithHTTPResponseHook(func(resp *http.Response) {
			req := resp.Request
			logf("%s: %s %s -> %d", name, req.Method, req.URL.Path, resp.StatusCode)
		})
	}
}

// NewDocker makes one client for the engine at host (tcp://ADDR:2376,
// unix:///var/run/docker.sock). With tls it verifies the engine against
// tls.CA and presents tls.Cert. The API version is negotiated on first use,
// so old engines (API 1.40) and new ones both work. It does not contact the
// engine: Info does.
func NewDocker(name, host string, tls *TLSFiles, options ...Option) (*Docker, error) {
	opts := []client.Opt{
		client.WithHost(host),
		client.WithUserAgent("swarmcass"),
	}
	if tls != nil {
		opts = append(opts, client.WithTLSClientConfig(tls.CA, tls.Cert, tls.Key))
	}
	for _, o := range options {
		opts = append(opts, o(name))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("engine %s (%s): %w", name, host, err)
	}
	return &Docker{name: name, host: host, cli: cli}, nil
}

func (d *Docker) Name() string { return d.name }
func (d *Docker) Host() string { return d.host }
func (d *Docker) Close() error { return d.cli.Close() }

// wrap adds the engine's name and maps the client's error kinds onto
// ErrNotFound and ErrConflict.
func (d *Docker) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	switch {
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%s on %s: %w: %w", what, d.name, ErrNotFound, err)
	case cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err):
		return fmt.Errorf("%s on %s: %w: %w", what, d.name, ErrConflict, err)
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("%s: engine %s at %s does not answer (is it running, and are the address and certificates right?): %w", what, d.name, d.host, err)
	}
	return fmt.Errorf("%s on %s: %w", what, d.name, err)
}

func labelFilters(labels map[string]string) client.Filters {
	f := make(client.Filters)
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	return f
}

func (d *Docker) Info(ctx context.Context) (Info, error) {
	res, err := d.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Info{}, d.wrap(err, "read engine info")
	}
	i := res.Info
	info := Info{
		ID:            i.ID,
		Hostname:      i.Name,
		ServerVersion: i.ServerVersion,
		APIVersion:    d.cli.ClientVersion(),
		OS:            i.OperatingSystem,
		MemTotal:      i.MemTotal,
		NCPU:          i.NCPU,
		Swarm: SwarmInfo{
			State:    string(i.Swarm.LocalNodeState),
			NodeID:   i.Swarm.NodeID,
			NodeAddr: i.Swarm.NodeAddr,
			Manager:  i.Swarm.ControlAvailable,
		},
	}
	if i.Swarm.Cluster != nil {
		info.Swarm.ClusterID = i.Swarm.Cluster.ID
	}
	for _, p := range i.Swarm.RemoteManagers {
		info.Swarm.RemoteManagers = append(info.Swarm.RemoteManagers, p.Addr)
	}
	if rc := i.RegistryConfig; rc != nil {
		for _, p := range rc.InsecureRegistryCIDRs {
			info.InsecureRegistries = append(info.InsecureRegistries, p.String())
		}
		for name, idx := range rc.IndexConfigs {
			if idx != nil && !idx.Secure {
				info.InsecureRegistries = append(info.InsecureRegistries, name)
			}
		}
		sort.Strings(info.InsecureRegistries)
	}
	return info, nil
}

func (d *Docker) ContainerCreate(ctx context.Context, s ContainerSpec) (string, error) {
	cfg := &container.Config{
		Image:        s.Image,
		Entrypoint:   s.Entrypoint,
		Cmd:          s.Cmd,
		Env:          s.Env,
		Labels:       s.Labels,
		Hostname:     s.Hostname,
		ExposedPorts: network.PortSet{},
	}
	hc := &container.HostConfig{
		PortBindings: network.PortMap{},
		CapAdd:       s.CapAdd,
		SecurityOpt:  s.SecurityOpt,
		Tmpfs:        s.Tmpfs,
		Resources:    container.Resources{Memory: s.Memory},
	}
	if s.UnmaskPaths {
		hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{}
	}
	if s.Restart != "" {
		hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyMode(s.Restart)}
	}
	for _, p := range s.Ports {
		port, err := portOf(p)
		if err != nil {
			return "", err
		}
		b := network.PortBinding{HostPort: strconv.Itoa(p.HostPort)}
		if p.HostIP != "" {
			ip, err := netip.ParseAddr(p.HostIP)
			if err != nil {
				return "", fmt.Errorf("container %s: host address %q: %w", s.Name, p.HostIP, err)
			}
			b.HostIP = ip
		}
		cfg.ExposedPorts[port] = struct{}{}
		if s.Network == HostNetwork {
			continue // the host's own ports: nothing to publish
		}
		hc.PortBindings[port] = append(hc.PortBindings[port], b)
	}
	hc.Mounts = mountsOf(s.Mounts)
	var nc *network.NetworkingConfig
	if s.Network != "" {
		hc.NetworkMode = container.NetworkMode(s.Network)
		ep := &network.EndpointSettings{Aliases: s.Aliases}
		if s.IPAddress != "" {
			ip, err := netip.ParseAddr(s.IPAddress)
			if err != nil {
				return "", fmt.Errorf("container %s: address %q: %w", s.Name, s.IPAddress, err)
			}
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
		}
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network: ep}}
	}
	res, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: s.Name, Config: cfg, HostConfig: hc, NetworkingConfig: nc,
	})
	if err != nil {
		return "", d.wrap(err, "create container %s", s.Name)
	}
	return res.ID, nil
}

func portOf(p PortBinding) (network.Port, error) {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	port, err := network.ParsePort(fmt.Sprintf("%d/%s", p.ContainerPort, proto))
	if err != nil {
		return network.Port{}, fmt.Errorf("port %d/%s: %w", p.ContainerPort, proto, err)
	}
	return port, nil
}

func mountsOf(ms []Mount) []mount.Mount {
	var out []mount.Mount
	for _, m := range ms {
		t := mount.TypeVolume
		switch m.Type {
		case "bind":
			t = mount.TypeBind
		case "tmpfs":
			t = mount.TypeTmpfs
		}
		out = append(out, mount.Mount{Type: t, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	return out
}

func (d *Docker) ContainerStart(ctx context.Context, id string) error {
	_, err := d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return d.wrap(err, "start container %s", id)
}

func (d *Docker) ContainerStop(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout / time.Second)
	_, err := d.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	return d.wrap(err, "stop container %s", id)
}

func (d *Docker) ContainerRemove(ctx context.Context, id string) error {
	_, err := d.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return d.wrap(err, "remove container %s", id)
}

func (d *Docker) ContainerInspect(ctx context.Context, id string) (Container, error) {
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, d.wrap(err, "inspect container %s", id)
	}
	r := res.Container
	c := Container{
		ID:       r.ID,
		Name:     strings.TrimPrefix(r.Name, "/"),
		Networks: map[string]string{},
	}
	if r.Config != nil {
		c.Image = r.Config.Image
		c.Labels = r.Config.Labels
	}
	if r.State != nil {
		c.State = string(r.State.Status)
		c.Running = r.State.Running
		c.ExitCode = r.State.ExitCode
		c.StartedAt, _ = time.Parse(time.RFC3339Nano, r.State.StartedAt)
	}
	if r.NetworkSettings != nil {
		for name, ep := range r.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				c.Networks[name] = ep.IPAddress.String()
			} else {
				c.Networks[name] = ""
			}
		}
	}
	return c, nil
}

func (d *Docker) ContainerList(ctx context.Context, labels map[string]string) ([]Container, error) {
	res, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, d.wrap(err, "list containers")
	}
	var out []Container
	for _, s := range res.Items {
		c := Container{ID: s.ID, Image: s.Image, Labels: s.Labels, State: string(s.State),
			Running: s.State == container.StateRunning, Networks: map[string]string{}}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		if s.NetworkSettings != nil {
			for name, ep := range s.NetworkSettings.Networks {
				if ep != nil && ep.IPAddress.IsValid() {
					c.Networks[name] = ep.IPAddress.String()
				}
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *Docker) ContainerLogs(ctx context.Context, id string, tail int) (string, error) {
	rc, err := d.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(tail),
	})
	if err != nil {
		return "", d.wrap(err, "read logs of %s", id)
	}
	defer rc.Close()
	var buf bytes.Buffer
	// Both streams into one buffer keeps their order, as `docker logs` shows it.
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return buf.String(), d.wrap(err, "read logs of %s", id)
	}
	return buf.String(), nil
}

func (d *Docker) Exec(ctx context.Context, id string, cmd []string) (ExecResult, error) {
	created, err := d.cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return ExecResult{}, d.wrap(err, "exec %q in %s", strings.Join(cmd, " "), id)
	}
	att, err := d.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, d.wrap(err, "exec %q in %s", strings.Join(cmd, " "), id)
	}
	defer att.Close()
	// Close the connection when ctx ends, so a hung command cannot block us.
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		if ctx.Err() != nil {
			return ExecResult{}, ctx.Err()
		}
		return ExecResult{}, d.wrap(err, "read output of %q in %s", strings.Join(cmd, " "), id)
	}
	code, err := d.execExitCode(ctx, created.ID, id)
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: code}, nil
}

// execExitCode waits for exec execID in container id to end: its stream
// ends a moment before the engine records the exit code.
func (d *Docker) execExitCode(ctx context.Context, execID, id string) (int, error) {
	for {
		in, err := d.cli.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return 0, d.wrap(err, "inspect exec in %s", id)
		}
		if !in.Running {
			return in.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *Docker) ExecStream(ctx context.Context, id string, cmd []string, s ExecIO) (int, error) {
	size := client.ConsoleSize{Height: s.Height, Width: s.Width}
	created, err := d.cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd: cmd, AttachStdin: s.Stdin != nil, AttachStdout: true, AttachStderr: true, TTY: s.TTY, ConsoleSize: size,
	})
	if err != nil {
		return 0, d.wrap(err, "exec %q in %s", strings.Join(cmd, " "), id)
	}
	att, err := d.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: s.TTY, ConsoleSize: size})
	if err != nil {
		return 0, d.wrap(err, "exec %q in %s", strings.Join(cmd, " "), id)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()
	if s.TTY && s.Width > 0 && s.Height > 0 {
		// Engines before API 1.42 ignore ConsoleSize: size it once started,
		// as the docker CLI does. A failure leaves the default size.
		d.cli.ExecResize(ctx, created.ID, client.ExecResizeOptions{Height: s.Height, Width: s.Width})
	}
	if s.Stdin != nil {
		go func() {
			io.Copy(att.Conn, s.Stdin)
			if !s.TTY {
				att.CloseWrite() // end of input: the command sees EOF
			}
			// With a TTY, closing our side would end the session and lose
			// output still to come; the terminal's ^D is a byte it reads.
		}()
	}
	if s.TTY {
		_, err = io.Copy(s.Stdout, att.Reader) // one raw stream
	} else {
		_, err = stdcopy.StdCopy(s.Stdout, s.Stderr, att.Reader)
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, d.wrap(err, "read output of %q in %s", strings.Join(cmd, " "), id)
	}
	return d.execExitCode(ctx, created.ID, id)
}

func (d *Docker) ContainerWriteFile(ctx context.Context, id, dir, name string, data []byte, mode os.FileMode) error {
	archive, err := FileTar(name, data, mode)
	if err != nil {
		return fmt.Errorf("write %s in container %s on %s: %w", name, id, d.name, err)
	}
	_, err = d.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: bytes.NewReader(archive)})
	return d.wrap(err, "write %s/%s in container %s", dir, name, id)
}

func (d *Docker) ContainerReadFile(ctx context.Context, id, path string) ([]byte, error) {
	res, err := d.cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, d.wrap(err, "read %s in container %s", path, id)
	}
	defer res.Content.Close()
	b, err := ReadTarFile(res.Content)
	if err != nil {
		return nil, fmt.Errorf("read %s in container %s on %s: %w", path, id, d.name, err)
	}
	return b, nil
}

func (d *Docker) ContainerLogsStream(ctx context.Context, id string, tail int, follow bool, stdout, stderr io.Writer) error {
	rc, err := d.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: tailOption(tail), Follow: follow,
	})
	if err != nil {
		return d.wrap(err, "read logs of %s", id)
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil && ctx.Err() == nil {
		return d.wrap(err, "read logs of %s", id)
	}
	return ctx.Err()
}

// tailOption is the engine's tail parameter: a line count, or all.
func tailOption(tail int) string {
	if tail < 0 {
		return "all"
	}
	return strconv.Itoa(tail)
}

func (d *Docker) VolumeCreate(ctx context.Context, name string, labels map[string]string) error {
	_, err := d.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels})
	return d.wrap(err, "create volume %s", name)
}

func (d *Docker) VolumeRemove(ctx context.Context, name string) error {
	_, err := d.cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true})
	return d.wrap(err, "remove volume %s", name)
}

func (d *Docker) VolumeList(ctx context.Context, labels map[string]string) ([]string, error) {
	res, err := d.cli.VolumeList(ctx, client.VolumeListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, d.wrap(err, "list volumes")
	}
	var names []string
	for _, v := range res.Items {
		names = append(names, v.Name)
	}
	sort.Strings(names)
	return names, nil
}

func (d *Docker) NetworkCreate(ctx context.Context, s NetworkSpec) (string, error) {
	// Engines before API 1.44 accept a second network of the same name unless
	// asked to check, and this client no longer sends CheckDuplicate: look first.
	existing, err := d.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", s.Name)})
	if err != nil {
		return "", d.wrap(err, "create network %s", s.Name)
	}
	for _, n := range existing.Items {
		if n.Name == s.Name {
			return "", fmt.Errorf("create network %s on %s: %w", s.Name, d.name, ErrConflict)
		}
	}
	opts := client.NetworkCreateOptions{Driver: s.Driver, Attachable: s.Attachable, Labels: s.Labels}
	if s.Encrypted {
		opts.Options = map[string]string{"encrypted": ""}
	}
	if s.Subnet != "" {
		sub, err := netip.ParsePrefix(s.Subnet)
		if err != nil {
			return "", fmt.Errorf("network %s: subnet %q: %w", s.Name, s.Subnet, err)
		}
		cfg := network.IPAMConfig{Subnet: sub}
		if s.Gateway != "" {
			gw, err := netip.ParseAddr(s.Gateway)
			if err != nil {
				return "", fmt.Errorf("network %s: gateway %q: %w", s.Name, s.Gateway, err)
			}
			cfg.Gateway = gw
		}
		opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{cfg}}
	}
	res, err := d.cli.NetworkCreate(ctx, s.Name, opts)
	if err != nil {
		return "", d.wrap(err, "create network %s", s.Name)
	}
	return res.ID, nil
}

func networkOf(n network.Network) Network {
	out := Network{ID: n.ID, Name: n.Name, Driver: n.Driver, Scope: n.Scope,
		Attachable: n.Attachable, Labels: n.Labels}
	_, out.Encrypted = n.Options["encrypted"]
	for _, c := range n.IPAM.Config {
		if c.Subnet.IsValid() {
			out.Subnets = append(out.Subnets, c.Subnet.String())
		}
	}
	return out
}

func (d *Docker) NetworkInspect(ctx context.Context, name string) (Network, error) {
	res, err := d.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return Network{}, d.wrap(err, "inspect network %s", name)
	}
	// The engine matches a name prefix of an ID too; insist on the name.
	if res.Network.Name != name && res.Network.ID != name {
		return Network{}, fmt.Errorf("inspect network %s on %s: %w", name, d.name, ErrNotFound)
	}
	return networkOf(res.Network.Network), nil
}

func (d *Docker) NetworkRemove(ctx context.Context, name string) error {
	_, err := d.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	return d.wrap(err, "remove network %s", name)
}

// networkEndpoint is network.EndpointSettings, named apart from the
// parameter that names the network.
type networkEndpoint = network.EndpointSettings

func (d *Docker) NetworkConnect(ctx context.Context, network, container string, aliases []string) error {
	_, err := d.cli.NetworkConnect(ctx, network, client.NetworkConnectOptions{
		Container: container, EndpointConfig: &networkEndpoint{Aliases: aliases},
	})
	return d.wrap(err, "connect %s to network %s", container, network)
}

func (d *Docker) NetworkList(ctx context.Context, labels map[string]string) ([]Network, error) {
	res, err := d.cli.NetworkList(ctx, client.NetworkListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, d.wrap(err, "list networks")
	}
	var out []Network
	for _, n := range res.Items {
		out = append(out, networkOf(n.Network))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *Docker) ImageInspect(ctx context.Context, ref string) (Image, error) {
	res, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, d.wrap(err, "inspect image %s", ref)
	}
	img := Image{ID: res.ID, RepoTags: res.RepoTags, RepoDigests: res.RepoDigests, Size: res.Size}
	if res.Config != nil {
		img.Labels = res.Config.Labels
	}
	return img, nil
}

func (d *Docker) ImageList(ctx context.Context, labels map[string]string) ([]Image, error) {
	res, err := d.cli.ImageList(ctx, client.ImageListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, d.wrap(err, "list images")
	}
	var out []Image
	for _, im := range res.Items {
		out = append(out, Image{ID: im.ID, RepoTags: im.RepoTags, RepoDigests: im.RepoDigests, Labels: im.Labels, Size: im.Size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (d *Docker) ImageRemove(ctx context.Context, ref string, force bool) error {
	_, err := d.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: force, PruneChildren: true})
	return d.wrap(err, "remove image %s", ref)
}

func (d *Docker) ImagePull(ctx context.Context, ref string, auth *RegistryAuth, progress io.Writer) error {
	var opts client.ImagePullOptions
	if auth != nil {
		opts.RegistryAuth = auth.Encode()
	}
	res, err := d.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return d.wrap(err, "pull %s", ref)
	}
	defer res.Close()
	_, err = readStream(res, progress)
	return d.wrap(err, "pull %s", ref)
}

func (d *Docker) ImageBuild(ctx context.Context, s BuildSpec, progress io.Writer) error {
	args := map[string]*string{}
	for k, v := range s.BuildArgs {
		args[k] = &v
	}
	res, err := d.cli.ImageBuild(ctx, s.Context, client.ImageBuildOptions{
		Tags: s.Tags, Dockerfile: s.Dockerfile, BuildArgs: args, Labels: s.Labels,
		Remove: true, ForceRemove: true,
	})
	if err != nil {
		return d.wrap(err, "build image %s", strings.Join(s.Tags, ", "))
	}
	defer res.Body.Close()
	_, err = readStream(res.Body, progress)
	return d.wrap(err, "build image %s", strings.Join(s.Tags, ", "))
}

func (d *Docker) ImageTag(ctx context.Context, source, target string) error {
	_, err := d.cli.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target})
	return d.wrap(err, "tag %s as %s", source, target)
}

func (d *Docker) ImagePush(ctx context.Context, ref string, auth *RegistryAuth, progress io.Writer) (string, error) {
	// An unauthenticated push still needs a (empty) X-Registry-Auth header.
	header := "e30="
	if auth != nil {
		header = auth.Encode()
	}
	res, err := d.cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: header})
	if err != nil {
		return "", d.wrap(err, "push %s", ref)
	}
	defer res.Close()
	digest, err := readStream(res, progress)
	if err != nil {
		return "", d.wrap(err, "push %s", ref)
	}
	if digest == "" {
		return "", fmt.Errorf("push %s on %s: the engine reported no digest", ref, d.name)
	}
	return digest, nil
}

// readStream reads a build or push JSON stream to its end, copies progress
// lines to w, and returns the first error reported inside the stream and the
// digest a push reports in its aux message.
func readStream(r io.Reader, w io.Writer) (digest string, err error) {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return digest, nil
			}
			return digest, fmt.Errorf("read engine stream: %w", err)
		}
		if m.Error != nil {
			return digest, errors.New(strings.TrimSpace(m.Error.Message))
		}
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
		if w == nil {
			continue
		}
		switch {
		case m.Stream != "":
			io.WriteString(w, m.Stream)
		case m.Status != "" && m.Progress == nil:
			if m.ID != "" {
				fmt.Fprintf(w, "%s: %s\n", m.ID, m.Status)
			} else {
				fmt.Fprintln(w, m.Status)
			}
		}
	}
}

func (d *Docker) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	rc, err := d.cli.ImageSave(ctx, refs)
	if err != nil {
		return nil, d.wrap(err, "save %s", strings.Join(refs, ", "))
	}
	return rc, nil
}

func (d *Docker) ImageLoad(ctx context.Context, r io.Reader) error {
	res, err := d.cli.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return d.wrap(err, "load images")
	}
	defer res.Close()
	_, err = readStream(res, nil)
	return d.wrap(err, "load images")
}

func (d *Docker) SwarmInit(ctx context.Context, advertiseAddr string, labels Labels) error {
	_, err := d.cli.SwarmInit(ctx, client.SwarmInitOptions{
		ListenAddr: "0.0.0.0:2377", AdvertiseAddr: advertiseAddr,
		Spec: swarm.Spec{Annotations: swarm.Annotations{Labels: labels}},
	})
	return d.wrap(err, "init swarm")
}

func (d *Docker) SwarmLeave(ctx context.Context, force bool) error {
	_, err := d.cli.SwarmLeave(ctx, client.SwarmLeaveOptions{Force: force})
	return d.wrap(err, "leave the swarm")
}

func (d *Docker) SwarmJoin(ctx context.Context, advertiseAddr, remoteAddr, token string) error {
	_, err := d.cli.SwarmJoin(ctx, client.SwarmJoinOptions{
		ListenAddr: "0.0.0.0:2377", AdvertiseAddr: advertiseAddr,
		RemoteAddrs: []string{remoteAddr}, JoinToken: token,
	})
	return d.wrap(err, "join swarm at %s", remoteAddr)
}

func (d *Docker) SwarmInspect(ctx context.Context) (Swarm, error) {
	res, err := d.cli.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return Swarm{}, d.wrap(err, "inspect swarm")
	}
	return Swarm{ID: res.Swarm.ID, Labels: res.Swarm.Spec.Labels, WorkerToken: res.Swarm.JoinTokens.Worker,
		ManagerToken: res.Swarm.JoinTokens.Manager}, nil
}

func (d *Docker) NodeList(ctx context.Context) ([]Node, error) {
	res, err := d.cli.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, d.wrap(err, "list swarm nodes")
	}
	var out []Node
	for _, n := range res.Items {
		out = append(out, Node{
			ID: n.ID, Hostname: n.Description.Hostname, Addr: n.Status.Addr,
			Role: string(n.Spec.Role), State: string(n.Status.State), Labels: n.Spec.Labels,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hostname < out[j].Hostname })
	return out, nil
}

func (d *Docker) ServiceCreate(ctx context.Context, s ServiceSpec) (string, error) {
	opts := client.ServiceCreateOptions{Spec: swarmSpecOf(s)}
	if s.RegistryAuth != nil {
		opts.EncodedRegistryAuth = s.RegistryAuth.Encode()
	}
	res, err := d.cli.ServiceCreate(ctx, opts)
	if err != nil {
		return "", d.wrap(err, "create service %s", s.Name)
	}
	return res.ID, nil
}

// ServiceUpdate replaces the service's spec, stopping its task before
// starting the new one (one replica: stop-first, as a node's volume and
// ports allow no other order); force restarts the task even when the spec
// is unchanged. A new task that fails is left to the caller: Swarm neither
// pauses nor rolls back the update itself.
func (d *Docker) ServiceUpdate(ctx context.Context, name string, s ServiceSpec, force bool) error {
	old, err := d.cli.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
	if err != nil {
		return d.wrap(err, "inspect service %s", name)
	}
	spec := swarmSpecOf(s)
	spec.TaskTemplate.ForceUpdate = old.Service.Spec.TaskTemplate.ForceUpdate
	if force {
		spec.TaskTemplate.ForceUpdate++
	}
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStopFirst, FailureAction: swarm.UpdateFailureActionContinue}
	opts := client.ServiceUpdateOptions{Version: old.Service.Version, Spec: spec}
	if s.RegistryAuth != nil {
		opts.EncodedRegistryAuth = s.RegistryAuth.Encode()
	}
	if _, err := d.cli.ServiceUpdate(ctx, old.Service.ID, opts); err != nil {
		return d.wrap(err, "update service %s", name)
	}
	return nil
}

// swarmSpecOf is the Engine API's spec of s: one replica.
func swarmSpecOf(s ServiceSpec) swarm.ServiceSpec {
	one := uint64(1)
	cs := &swarm.ContainerSpec{
		Image: s.Image, Args: s.Args, Env: s.Env, Labels: s.ContainerLabels,
		Hostname: s.Hostname, Mounts: mountsOf(s.Mounts),
	}
	if s.StopGracePeriod > 0 {
		cs.StopGracePeriod = &s.StopGracePeriod
	}
	for _, r := range s.Secrets {
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretID: r.ID, SecretName: r.Name,
			File: &swarm.SecretReferenceFileTarget{Name: r.File, UID: orZero(r.UID), GID: orZero(r.GID), Mode: r.Mode}})
	}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: s.Name, Labels: s.Labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Placement:     &swarm.Placement{Constraints: s.Constraints},
		},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
	}
	if s.DNSRR {
		spec.EndpointSpec.Mode = swarm.ResolutionModeDNSRR
	}
	for _, n := range s.Networks {
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: n})
	}
	if s.MemoryLimit > 0 {
		spec.TaskTemplate.Resources = &swarm.ResourceRequirements{Limits: &swarm.Limit{MemoryBytes: s.MemoryLimit}}
	}
	if s.RestartCondition != "" {
		spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(s.RestartCondition)}
	}
	for _, p := range s.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, swarm.PortConfig{
			Protocol: network.IPProtocol(proto), TargetPort: uint32(p.ContainerPort),
			PublishedPort: uint32(p.HostPort), PublishMode: swarm.PortConfigPublishModeHost,
		})
	}
	return spec
}

func serviceOf(s swarm.Service) Service {
	out := Service{ID: s.ID, Name: s.Spec.Name, Labels: s.Spec.Labels}
	out.Spec = ServiceSpec{Name: s.Spec.Name, Labels: s.Spec.Labels}
	t := s.Spec.TaskTemplate
	if cs := t.ContainerSpec; cs != nil {
		out.Image = cs.Image
		out.Spec.Image, out.Spec.Args, out.Spec.Env = cs.Image, cs.Args, cs.Env
		out.Spec.ContainerLabels, out.Spec.Hostname = cs.Labels, cs.Hostname
		for _, m := range cs.Mounts {
			out.Spec.Mounts = append(out.Spec.Mounts, Mount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		}
		if cs.StopGracePeriod != nil {
			out.Spec.StopGracePeriod = *cs.StopGracePeriod
		}
		for _, r := range cs.Secrets {
			ref := SecretRef{ID: r.SecretID, Name: r.SecretName}
			if f := r.File; f != nil {
				ref.File, ref.UID, ref.GID, ref.Mode = f.Name, f.UID, f.GID, f.Mode
			}
			out.Spec.Secrets = append(out.Spec.Secrets, ref)
		}
	}
	if p := t.Placement; p != nil {
		out.Spec.Constraints = p.Constraints
	}
	if r := t.Resources; r != nil && r.Limits != nil {
		out.Spec.MemoryLimit = r.Limits.MemoryBytes
	}
	if rp := t.RestartPolicy; rp != nil {
		out.Spec.RestartCondition = string(rp.Condition)
	}
	if e := s.Spec.EndpointSpec; e != nil {
		out.Spec.DNSRR = e.Mode == swarm.ResolutionModeDNSRR
		for _, p := range e.Ports {
			out.Spec.Ports = append(out.Spec.Ports, PortBinding{
				HostPort: int(p.PublishedPort), ContainerPort: int(p.TargetPort), Protocol: string(p.Protocol),
			})
		}
	}
	for _, n := range s.Spec.TaskTemplate.Networks {
		out.Spec.Networks = append(out.Spec.Networks, n.Target)
	}
	return out
}

func (d *Docker) ServiceInspect(ctx context.Context, name string) (Service, error) {
	res, err := d.cli.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
	if err != nil {
		return Service{}, d.wrap(err, "inspect service %s", name)
	}
	// Like networks, the engine matches an ID prefix too; insist on the name.
	if res.Service.Spec.Name != name && res.Service.ID != name {
		return Service{}, fmt.Errorf("inspect service %s on %s: %w", name, d.name, ErrNotFound)
	}
	return serviceOf(res.Service), nil
}

func (d *Docker) ServiceRemove(ctx context.Context, name string) error {
	_, err := d.cli.ServiceRemove(ctx, name, client.ServiceRemoveOptions{})
	return d.wrap(err, "remove service %s", name)
}

func (d *Docker) ServiceList(ctx context.Context, labels map[string]string) ([]Service, error) {
	res, err := d.cli.ServiceList(ctx, client.ServiceListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, d.wrap(err, "list services")
	}
	var out []Service
	for _, s := range res.Items {
		out = append(out, serviceOf(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *Docker) TaskList(ctx context.Context, service string) ([]Task, error) {
	res, err := d.cli.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", service)})
	if err != nil {
		return nil, d.wrap(err, "list tasks of %s", service)
	}
	var out []Task
	for _, t := range res.Items {
		task := Task{
			ID: t.ID, ServiceID: t.ServiceID, NodeID: t.NodeID, Slot: t.Slot,
			State: string(t.Status.State), DesiredState: string(t.DesiredState),
			Message: t.Status.Message, Err: t.Status.Err, Created: t.CreatedAt, Updated: t.Status.Timestamp,
			Addresses: map[string]string{},
		}
		if cs := t.Status.ContainerStatus; cs != nil {
			task.ContainerID, task.ExitCode = cs.ContainerID, cs.ExitCode
		}
		for _, a := range t.NetworksAttachments {
			for _, addr := range a.Addresses {
				task.Addresses[a.Network.Spec.Name] = addr.Addr().String()
			}
		}
		out = append(out, task)
	}
	// Newest first, by when Swarm made the task: status times are the
	// machines' own and say when a task last changed, not which is newest.
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

func orZero(id string) string {
	if id == "" {
		return "0"
	}
	return id
}

func (d *Docker) SecretCreate(ctx context.Context, s SecretSpec) (string, error) {
	res, err := d.cli.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: s.Name, Labels: s.Labels}, Data: s.Data,
	}})
	if err != nil {
		return "", d.wrap(err, "create secret %s", s.Name)
	}
	return res.ID, nil
}

func (d *Docker) SecretList(ctx context.Context, labels map[string]string) ([]Secret, error) {
	res, err := d.cli.SecretList(ctx, client.SecretListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, d.wrap(err, "list secrets")
	}
	var out []Secret
	for _, s := range res.Items {
		out = append(out, Secret{ID: s.ID, Name: s.Spec.Name, Labels: s.Spec.Labels})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
