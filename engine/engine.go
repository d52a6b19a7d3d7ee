// Package engine is swarmcass's one narrow view of a Docker Engine: only the
// calls swarmcass makes, in small types of its own. Docker implements it over
// github.com/moby/moby/client; enginetest.Fake implements it in memory for
// unit tests.
//
// Every method takes ctx first, so Ctrl-C and timeouts cancel API calls.
// Lookups of something that does not exist return an error that matches
// ErrNotFound with errors.Is; create calls for a name in use return one that
// matches ErrConflict.
package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

var (
	// ErrNotFound: the container, service, network, volume, image or task does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is already in use.
	ErrConflict = errors.New("already exists")
)

// Engine is one Docker Engine, reached through its API.
type Engine interface {
	// Name is what the user calls this engine: a machine name, a context
	// name, or "local".
	Name() string
	// Host is the daemon's URL (tcp://10.0.0.2:2376, unix:///var/run/docker.sock).
	Host() string
	// Info reports the engine's identity, resources and swarm membership.
	Info(ctx context.Context) (Info, error)

	ContainerCreate(ctx context.Context, spec ContainerSpec) (id string, err error)
	ContainerStart(ctx context.Context, id string) error
	ContainerStop(ctx context.Context, id string, timeout time.Duration) error
	// ContainerRemove removes a container by force, with its anonymous volumes.
	ContainerRemove(ctx context.Context, id string) error
	ContainerInspect(ctx context.Context, id string) (Container, error)
	// ContainerList lists containers, stopped ones too, carrying every given label.
	ContainerList(ctx context.Context, labels map[string]string) ([]Container, error)
	// ContainerLogs returns the last tail lines of stdout and stderr, interleaved.
	ContainerLogs(ctx context.Context, id string, tail int) (string, error)
	// Exec runs cmd in a running container, without a TTY, and waits for it.
	// A command that runs and exits non-zero is not an error: see ExitCode.
	Exec(ctx context.Context, id string, cmd []string) (ExecResult, error)
	// ExecStream runs cmd in a running container with its streams attached
	// as io says, copying output as it comes, and returns its exit code.
	ExecStream(ctx context.Context, id string, cmd []string, io ExecIO) (exitCode int, err error)
	// ContainerLogsStream writes the last tail lines of stdout and stderr
	// (all when tail < 0) and, with follow, new lines until ctx ends or the
	// container stops.
	ContainerLogsStream(ctx context.Context, id string, tail int, follow bool, stdout, stderr io.Writer) error
	// ContainerWriteFile writes data as the file name (it may hold
	// slashes: missing directories are made, mode 0700) under dir, a
	// directory that exists in the container, through the archive API: no
	// shell needed in the image, and the container need not run. Files
	// under a volume's mount point land in the volume.
	ContainerWriteFile(ctx context.Context, id, dir, name string, data []byte, mode os.FileMode) error
	// ContainerReadFile reads one regular file from the container through
	// the archive API; a path that does not exist is ErrNotFound.
	ContainerReadFile(ctx context.Context, id, path string) ([]byte, error)

	VolumeCreate(ctx context.Context, name string, labels map[string]string) error
	VolumeRemove(ctx context.Context, name string) error
	VolumeList(ctx context.Context, labels map[string]string) ([]string, error)

	NetworkCreate(ctx context.Context, spec NetworkSpec) (id string, err error)
	NetworkInspect(ctx context.Context, name string) (Network, error)
	NetworkRemove(ctx context.Context, name string) error
	NetworkList(ctx context.Context, labels map[string]string) ([]Network, error)

	ImageInspect(ctx context.Context, ref string) (Image, error)
	// ImageList lists the images carrying every given label in their
	// config (a copy pulled from a registry keeps the labels it was built
	// with).
	ImageList(ctx context.Context, labels map[string]string) ([]Image, error)
	// ImageRemove removes the image ref names (a reference or an ID) and
	// its untagged parents. force also removes an image with several
	// references or one only stopped containers use; an image a running
	// container uses is refused either way, and without force an image
	// with other references, with children or in use by any container.
	ImageRemove(ctx context.Context, ref string, force bool) error
	// ImagePull pulls ref from its registry with auth's credentials (nil:
	// none) and reads the stream to its end.
	ImagePull(ctx context.Context, ref string, auth *RegistryAuth, progress io.Writer) error
	// ImageBuild builds a tar build context and reads the build stream to its
	// end; an error reported inside the stream is returned. Progress lines go
	// to progress when it is not nil.
	ImageBuild(ctx context.Context, spec BuildSpec, progress io.Writer) error
	ImageTag(ctx context.Context, source, target string) error
	// ImagePush pushes ref with auth's credentials (nil: none), reads the
	// stream to its end and returns the pushed manifest's digest (sha256:...).
	ImagePush(ctx context.Context, ref string, auth *RegistryAuth, progress io.Writer) (digest string, err error)
	// ImageSave streams `docker save` of refs; the caller closes it.
	ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error)
	// ImageLoad loads a `docker save` stream and reads the answer to its end.
	ImageLoad(ctx context.Context, r io.Reader) error

	// SwarmInit makes this engine the manager of a new swarm, whose spec
	// carries labels.
	SwarmInit(ctx context.Context, advertiseAddr string, labels Labels) error
	// SwarmJoin joins the swarm whose manager listens at remoteAddr (ip:2377).
	SwarmJoin(ctx context.Context, advertiseAddr, remoteAddr, token string) error
	// SwarmInspect reads the swarm, its labels and its join tokens;
	// managers only.
	SwarmInspect(ctx context.Context) (Swarm, error)
	// SwarmLeave takes this engine out of its swarm; a manager needs
	// force (the last manager's leaving ends the swarm).
	SwarmLeave(ctx context.Context, force bool) error
	NodeList(ctx context.Context) ([]Node, error)
	ServiceCreate(ctx context.Context, spec ServiceSpec) (id string, err error)
	ServiceInspect(ctx context.Context, name string) (Service, error)
	// ServiceUpdate replaces the service's spec; its task is stopped and a
	// new one started from spec (on the same host when the constraints
	// say so, with the same volumes). force starts a new task even when
	// spec is unchanged: a restart.
	ServiceUpdate(ctx context.Context, name string, spec ServiceSpec, force bool) error
	ServiceRemove(ctx context.Context, name string) error
	ServiceList(ctx context.Context, labels map[string]string) ([]Service, error)
	// TaskList lists the tasks of one service, newest first.
	TaskList(ctx context.Context, service string) ([]Task, error)
	// SecretCreate stores a Swarm secret (managers only); its data can
	// never be read back through the API, only by the containers of the
	// services that mount it.
	SecretCreate(ctx context.Context, spec SecretSpec) (id string, err error)
	// SecretList lists the swarm's secrets carrying every given label,
	// without their data.
	SecretList(ctx context.Context, labels map[string]string) ([]Secret, error)

	Close() error
}

// Info is what swarmcass needs from GET /info and /version.
type Info struct {
	ID            string // engine ID: distinct for each engine
	Hostname      string
	ServerVersion string
	APIVersion    string // negotiated API version in use
	OS            string
	MemTotal      int64 // bytes
	NCPU          int
	// InsecureRegistries lists the CIDRs and host:port names this engine
	// pulls from over plain HTTP (127.0.0.0/8 is always among them).
	InsecureRegistries []string
	Swarm              SwarmInfo
}

// PullsOverHTTP reports whether the engine pulls from the registry at addr
// (host:port) over plain HTTP, as dockerd decides: addr is among its
// insecure registries by name, or its IP address falls in a listed CIDR
// (127.0.0.0/8 is always listed, so loopback works only on the engine's
// own host).
func (i Info) PullsOverHTTP(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	for _, s := range i.InsecureRegistries {
		if s == addr {
			return true
		}
		if _, n, err := net.ParseCIDR(s); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// SameDaemon reports two engines that answer with one engine ID: one
// daemon reached by two different URLs (or, in a lab, machines that share
// /var/lib/docker). hosts.SameEngine decides by URL, so such a pair is two
// engines there; callers refuse it rather than guess which one is meant.
func SameDaemon(a, b Info) bool { return a.ID != "" && a.ID == b.ID }

// SwarmInfo is this engine's membership in a swarm.
type SwarmInfo struct {
	State     string // "inactive", "pending", "active", "error", "locked"
	NodeID    string
	NodeAddr  string
	ClusterID string // empty unless the engine is a manager
	Manager   bool
	// RemoteManagers are the manager addresses this node knows (ip:2377).
	RemoteManagers []string
}

// HostNetwork is the network of a container that shares its host's
// network namespace (docker run --network host): what the host reaches, it
// reaches at the same addresses, 127.0.0.1 included.
const HostNetwork = "host"

// Labels select and mark the things swarmcass creates.
type Labels = map[string]string

// ContainerSpec is a plain container to create.
type ContainerSpec struct {
	Name       string
	Image      string
	Entrypoint []string
	Cmd        []string
	Env        []string
	Labels     Labels
	Hostname   string
	// Network attaches the container to one network, optionally at a fixed
	// address and with DNS aliases; HostNetwork shares the host's network
	// namespace instead.
	Network   string
	IPAddress string
	Aliases   []string
	// Ports are published on the host. A container on HostNetwork listens on
	// the host's ports itself: Ports then say which it takes there, and the
	// engine publishes nothing.
	Ports  []PortBinding
	Mounts []Mount
	Tmpfs  map[string]string // path -> mount options
	// Restart is the restart policy: "", "no", "always", "unless-stopped", "on-failure".
	Restart     string
	CapAdd      []string
	SecurityOpt []string
	// UnmaskPaths leaves /proc and /sys unmasked and writable, as the CLI's
	// --security-opt systempaths=unconfined does (a nested dockerd needs it).
	UnmaskPaths bool
	Memory      int64 // bytes; 0 means unlimited
}

// PortBinding publishes a container port on the host.
type PortBinding struct {
	HostIP        string // "" means all addresses
	HostPort      int
	ContainerPort int
	Protocol      string // "tcp" (default) or "udp"
}

// Mount is a volume, bind or tmpfs mount.
type Mount struct {
	Type     string // "volume" (default), "bind" or "tmpfs"
	Source   string // volume name or host path
	Target   string
	ReadOnly bool
}

// Container is what swarmcass reads back about a container.
type Container struct {
	ID       string
	Name     string // without the leading slash
	Image    string
	Labels   Labels
	State    string // "created", "running", "exited", ...
	Running  bool
	ExitCode int
	// Networks maps each attached network's name to the container's address on it.
	Networks  map[string]string
	StartedAt time.Time
}

// ExecIO are the streams of an ExecStream. Stdin nil attaches none; with
// TTY the command gets a terminal of Width x Height, and its stderr comes
// on Stdout, as with docker exec -t.
type ExecIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Width, Height  uint
}

// ExecResult is the outcome of a command run with Exec.
type ExecResult struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// NetworkSpec is a network to create.
type NetworkSpec struct {
	Name       string
	Driver     string // "bridge" or "overlay"
	Subnet     string // CIDR; empty lets the engine choose
	Gateway    string
	Attachable bool
	Encrypted  bool // overlay only
	Labels     Labels
}

// Network is what swarmcass reads back about a network.
type Network struct {
	ID         string
	Name       string
	Driver     string
	Scope      string // "local" or "swarm"
	Subnets    []string
	Attachable bool
	Encrypted  bool
	Labels     Labels
}

// Image is what swarmcass reads back about an image.
type Image struct {
	ID          string
	RepoTags    []string
	RepoDigests []string // name@sha256:..., one per registry it was pushed to or pulled from
	Labels      Labels
	Size        int64
}

// BuildSpec is an image build.
type BuildSpec struct {
	Context    io.Reader // a tar stream
	Dockerfile string    // path inside the context; "" means Dockerfile
	Tags       []string
	BuildArgs  map[string]string
	Labels     Labels
}

// Swarm is the swarm as a manager sees it.
type Swarm struct {
	ID           string
	Labels       Labels // the swarm spec's, set at init
	WorkerToken  string
	ManagerToken string
}

// Node is a swarm node as a manager sees it.
type Node struct {
	ID       string
	Hostname string
	Addr     string
	Role     string // "manager" or "worker"
	State    string // "ready", "down", "unknown", "disconnected"
	Labels   Labels
}

// ServiceSpec is a replicated swarm service of one task: swarmcass runs one
// service per Cassandra node.
type ServiceSpec struct {
	Name            string
	Image           string
	Args            []string
	Env             []string
	Labels          Labels // on the service
	ContainerLabels Labels // on its containers
	Hostname        string
	Networks        []string
	// DNSRR sets endpoint_mode dnsrr: the service name resolves to the
	// task's own address, never to a virtual IP (there is no IPVS here).
	DNSRR       bool
	Constraints []string // e.g. node.id==abc
	Mounts      []Mount
	MemoryLimit int64         // bytes
	Ports       []PortBinding // published in host mode
	// RestartCondition: "none", "on-failure" or "any" (default).
	RestartCondition string
	StopGracePeriod  time.Duration
	// RegistryAuth are the credentials every engine pulls the image with
	// (docker service create --with-registry-auth); nil: none. Swarm keeps
	// them with the service and never shows them back: a Service read
	// back has none.
	RegistryAuth *RegistryAuth
	// Secrets are mounted as files under /run/secrets/ in the containers.
	Secrets []SecretRef
}

// RegistryAuth are credentials for a registry at ServerAddress (host:port).
type RegistryAuth struct {
	Username, Password, ServerAddress string
}

// Encode is the X-Registry-Auth header's value: base64url JSON.
func (a *RegistryAuth) Encode() string {
	b, _ := json.Marshal(struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		ServerAddress string `json:"serveraddress"`
	}{a.Username, a.Password, a.ServerAddress})
	return base64.URLEncoding.EncodeToString(b)
}

// SecretSpec is a Swarm secret to create.
type SecretSpec struct {
	Name   string
	Data   []byte
	Labels Labels
}

// Secret is what the API tells about a secret: never its data.
type Secret struct {
	ID     string
	Name   string
	Labels Labels
}

// SecretRef mounts a secret into a service's containers as the file
// /run/secrets/File, owned by UID:GID with Mode.
type SecretRef struct {
	ID, Name string
	File     string
	UID, GID string // "0" when empty
	Mode     os.FileMode
}

// Service is what swarmcass reads back about a service.
type Service struct {
	ID     string
	Name   string
	Image  string
	Labels Labels
	Spec   ServiceSpec
}

// Task is one scheduling of a service.
type Task struct {
	ID           string
	ServiceID    string
	NodeID       string
	Slot         int
	State        string // "new", "pending", "running", "failed", "shutdown", ...
	DesiredState string
	Message      string
	Err          string
	ContainerID  string
	ExitCode     int
	// Addresses maps network name to the task's address on it (no prefix length).
	Addresses map[string]string
	Created   time.Time // when Swarm made the task
	Updated   time.Time // of its status, as the machine running it reported it
}
