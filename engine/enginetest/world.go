// Package enginetest offers Fake, an in-memory engine.Engine for unit tests.
//
// Fakes live in a World: the network they share. A World knows every fake by
// address, the swarms they form (so SwarmInit on one fake and SwarmJoin on
// another make one swarm that NodeList sees), the images pushed to
// registries running on its fakes, and the host ports containers publish.
// Services are scheduled at once: each gets a task, a container on the
// chosen node's fake and an address on its overlay networks.
//
// Everything a test cannot see through engine.Engine (published ports,
// killing a task, the log of calls) is offered by World's own methods.
package enginetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/swarmcass/swarmcass/engine"
)

// World is the network a set of fakes share. Its zero value is not usable:
// call NewWorld.
type World struct {
	mu      sync.Mutex
	fakes   []*Fake
	swarms  []*swarm
	ports   map[string]*container // "addr:port" -> the container publishing it
	pushed  map[string]*image     // "host:port/repo:tag" and "host:port/repo@sha256:..."
	hub     map[string]bool       // images ImagePull finds (Docker Hub, in miniature)
	nextID  int
	nextNet int
	bcrypt  map[string]bool // hash and password -> whether they match
	log     []string

	// Exec answers Exec in running containers. Nil: exit code 0, no output.
	// It is called without the World's lock held, so it may call the fakes.
	Exec func(f *Fake, c engine.Container, cmd []string) (engine.ExecResult, error)
	// Streams, when set, answers ExecStream with the streams themselves;
	// nil: ExecStream answers as Exec does, after reading all of stdin, and
	// records what it read in Stdin.
	Streams func(f *Fake, c engine.Container, cmd []string, io engine.ExecIO) (int, error)
	// Stdin is what each ExecStream without Streams read, in order.
	Stdin []string
	// Logs answers ContainerLogs and ContainerLogsStream. Nil: no output.
	Logs func(f *Fake, c engine.Container, tail int) string
	// Clock stamps tasks and containers. Nil: time.Now.
	Clock func() time.Time
	// TaskState decides what becomes of a newly scheduled task on node.
	// Nil: "running". Return "failed" (with errMsg) to make it fail, or
	// "starting" for a running container whose HEALTHCHECK has not passed.
	TaskState func(spec engine.ServiceSpec, node engine.Node) (state, errMsg string)
}

// Publish makes ref pullable by every fake's ImagePull.
func (w *World) Publish(ref string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hub == nil {
		w.hub = map[string]bool{}
	}
	w.hub[ref] = true
}

// NewWorld makes an empty World.
func NewWorld() *World {
	return &World{
		ports:  map[string]*container{},
		pushed: map[string]*image{},
	}
}

// NewFake adds an engine reached at addr (an IP address) to the world. Its
// Info reports 8 GiB, 2 CPUs, API 1.41 and, as every engine does,
// 127.0.0.0/8 among its insecure registries; change Fake.Spec before use.
func (w *World) NewFake(name, addr string) *Fake {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := &Fake{
		w:           w,
		name:        name,
		addr:        addr,
		containers:  map[string]*container{},
		volumes:     map[string]engine.Labels{},
		volumeFiles: map[string]map[string][]byte{},
		networks:    map[string]*engine.Network{},
		images:      map[string]*image{},
		tags:        map[string]string{},
		faults:      map[string]error{},
		Spec: engine.Info{
			ID:                 "ENGINE-" + strings.ToUpper(name),
			Hostname:           name,
			ServerVersion:      "20.10.24",
			APIVersion:         "1.41",
			OS:                 "Debian GNU/Linux 12 (bookworm)",
			MemTotal:           8 << 30,
			NCPU:               2,
			InsecureRegistries: []string{"127.0.0.0/8"},
		},
	}
	f.networks["bridge"] = &engine.Network{ID: w.id("net"), Name: "bridge", Driver: "bridge", Scope: "local", Subnets: []string{"172.17.0.0/16"}}
	f.networks[engine.HostNetwork] = &engine.Network{ID: w.id("net"), Name: engine.HostNetwork, Driver: "host", Scope: "local"}
	w.fakes = append(w.fakes, f)
	return f
}

// Log returns every mutating call made on the world's fakes, in order, as
// "engine: Method name" (e.g. "infra: ContainerCreate swarmcass-consul").
func (w *World) Log() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

// Published returns the running container that publishes addr:port on the
// fake reached at addr.
func (w *World) Published(addr string, port int) (engine.Container, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.ports[net.JoinHostPort(addr, strconv.Itoa(port))]
	if !ok || !c.Running {
		return engine.Container{}, false
	}
	return c.view(), true
}

// RegistryDenies is the answer of the registry published at host
// (addr:port) to a request with auth: nil when it lets it in (see
// registryDenies).
func (w *World) RegistryDenies(host string, auth *engine.RegistryAuth) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.registryDenies(host, auth)
}

// RegistryHas reports whether the registry published at host (addr:port)
// holds repo@digest, pushed by an engine's ImagePush.
func (w *World) RegistryHas(host, repo, digest string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.pushed[host+"/"+repo+"@"+digest]
	return ok
}

// PublishedFile reads path in the running container that publishes
// addr:port, as ContainerWriteFile left it.
func (w *World) PublishedFile(addr string, port int, path string) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.ports[net.JoinHostPort(addr, strconv.Itoa(port))]
	if !ok || !c.Running {
		return nil, false
	}
	b, ok := c.readFile(path)
	return slices.Clone(b), ok
}

func (w *World) now() time.Time {
	if w.Clock != nil {
		return w.Clock()
	}
	return time.Now()
}

// KillTask makes the running task of service fail, as when its container
// is killed; the swarm then schedules a new task (restart condition "any").
func (w *World) KillTask(service, errMsg string) error {
	return w.EndTask(service, "failed", errMsg)
}

// EndTask ends service's running task in state (failed, complete,
// shutdown) and lets Swarm replace it, as when its container dies or its
// health check fails.
func (w *World) EndTask(service, state, errMsg string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.swarms {
		svc, ok := s.services[service]
		if !ok {
			continue
		}
		for _, t := range svc.tasks {
			if t.State == "running" {
				t.State, t.DesiredState, t.Err, t.Updated = state, "shutdown", errMsg, w.now()
				if c := w.containerByID(t.ContainerID); c != nil {
					c.Running, c.State, c.ExitCode = false, "exited", 137
				}
			}
		}
		svc.restart = state != "failed" || restarts(svc.Spec)
		return nil
	}
	return fmt.Errorf("service %s: %w", service, engine.ErrNotFound)
}

func (w *World) id(prefix string) string {
	w.nextID++
	return fmt.Sprintf("%s%04d", prefix, w.nextID)
}

func (w *World) record(f *Fake, format string, args ...any) {
	w.log = append(w.log, f.name+": "+fmt.Sprintf(format, args...))
}

func (w *World) containerByID(id string) *container {
	for _, f := range w.fakes {
		if c, ok := f.containers[id]; ok {
			return c
		}
	}
	return nil
}

// swarm is one swarm, shared by the fakes that are its members.
type swarm struct {
	id           string
	labels       engine.Labels
	workerToken  string
	managerToken string
	managerAddr  string
	members      []*member
	networks     map[string]*overlay
	services     map[string]*service
	secrets      map[string]*secret // by name
}

type secret struct {
	engine.Secret
	data []byte
}

type member struct {
	node engine.Node
	fake *Fake
}

type overlay struct {
	engine.Network
	next int // last host number handed out
}

type service struct {
	engine.Service
	auth  *engine.RegistryAuth // ServiceCreate's, kept apart as Swarm does
	tasks []*engine.Task       // oldest first
	// restart: the newest task failed and the restart policy replaces it;
	// the replacement appears at the next TaskList, as after swarm's
	// restart delay.
	restart bool
}

func restarts(spec engine.ServiceSpec) bool {
	return spec.RestartCondition == "" || spec.RestartCondition == "any" || spec.RestartCondition == "on-failure"
}

func (s *swarm) member(f *Fake) *member {
	for _, m := range s.members {
		if m.fake == f {
			return m
		}
	}
	return nil
}

// schedule places a new task of svc on a node that meets its constraints,
// creates its container there and addresses it on its networks.
func (w *World) schedule(s *swarm, svc *service) {
	t := &engine.Task{
		ID: w.id("task"), ServiceID: svc.ID, Slot: 1, DesiredState: "running",
		Addresses: map[string]string{}, Created: w.now(), Updated: w.now(),
	}
	svc.tasks = append(svc.tasks, t)
	var m *member
	for _, cand := range s.members {
		if meets(cand.node, svc.Spec.Constraints) {
			m = cand
			break
		}
	}
	if m == nil {
		t.State, t.Message = "pending", "no suitable node (scheduling constraints not satisfied)"
		return
	}
	t.NodeID = m.node.ID
	f := m.fake
	if host, _, ok := strings.Cut(svc.Spec.Image, "/"); ok && !f.local(svc.Spec.Image) {
		if err := w.registryDenies(f.registryKeyHost(host), svc.auth); err != nil {
			t.State, t.Err = "rejected", "No such image: "+svc.Spec.Image+": "+err.Error()
			return
		}
	}
	im, ok := f.resolve(svc.Spec.Image)
	if !ok {
		t.State, t.Err = "rejected", "No such image: "+svc.Spec.Image
		return
	}
	f.keepPulled(svc.Spec.Image, im)
	state, errMsg := "running", ""
	if w.TaskState != nil {
		state, errMsg = w.TaskState(svc.Spec, m.node)
	}
	c := &container{Container: engine.Container{
		ID:        w.id("ctr"),
		Name:      fmt.Sprintf("%s.%d.%s", svc.Name, t.Slot, t.ID),
		Image:     svc.Spec.Image,
		Labels:    engine.Labels{"com.docker.swarm.service.name": svc.Name, "com.docker.swarm.task.id": t.ID, "com.docker.swarm.node.id": m.node.ID},
		Networks:  map[string]string{},
		StartedAt: w.now(),
	}, spec: engine.ContainerSpec{Hostname: svc.Spec.Hostname, Env: svc.Spec.Env, Cmd: svc.Spec.Args}}
	maps.Copy(c.Labels, im.Labels) // a container carries its image's labels, then its own
	maps.Copy(c.Labels, svc.Spec.ContainerLabels)
	for _, name := range svc.Spec.Networks {
		if n, ok := s.networks[name]; ok {
			n.next++
			ip := hostAddr(n.Subnets[0], n.next)
			c.Networks[name] = ip
			t.Addresses[name] = ip
		}
	}
	f.ensureVolumes(svc.Spec.Mounts)
	f.containers[c.ID] = c
	t.ContainerID = c.ID
	t.State, t.Err = state, errMsg
	if state == "running" || state == "starting" { // starting: running, health check pending
		c.Running, c.State = true, "running"
		for _, p := range svc.Spec.Ports { // published in host mode, on the task's host
			w.ports[net.JoinHostPort(f.addr, strconv.Itoa(p.HostPort))] = c
		}
	} else {
		c.State, c.ExitCode = "exited", 1
		svc.restart = state == "failed" && restarts(svc.Spec)
	}
}

// meets reports whether node satisfies constraints of the forms
// node.id==X, node.hostname==X and node.role==X.
func meets(n engine.Node, constraints []string) bool {
	for _, c := range constraints {
		k, v, ok := strings.Cut(strings.ReplaceAll(c, " ", ""), "==")
		if !ok {
			return false
		}
		var have string
		switch k {
		case "node.id":
			have = n.ID
		case "node.hostname":
			have = n.Hostname
		case "node.role":
			have = n.Role
		default:
			return false
		}
		if have != v {
			return false
		}
	}
	return true
}

// hostAddr returns the n-th address (n >= 1) past the gateway of an IPv4 /24
// or larger subnet: 10.0.1.0/24, 1 -> 10.0.1.2.
func hostAddr(cidr string, n int) string {
	_, ipn, err := net.ParseCIDR(cidr)
	if err != nil {
		return ""
	}
	ip := ipn.IP.To4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(n) + 1
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
}

// bcryptMatch compares a password with a bcrypt hash, once per pair:
// bcrypt is slow on purpose, slower still under the race detector.
func (w *World) bcryptMatch(hash, password string) bool {
	key := hash + "\x00" + password
	if ok, seen := w.bcrypt[key]; seen {
		return ok
	}
	if w.bcrypt == nil {
		w.bcrypt = map[string]bool{}
	}
	ok := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	w.bcrypt[key] = ok
	return ok
}

// registryDenies is the registry at host's (addr:port) answer to a request
// with auth: nil when it lets it in. A registry container started with
// REGISTRY_AUTH=htpasswd checks auth against the bcrypt hashes of its
// REGISTRY_AUTH_HTPASSWD_PATH file, as distribution does; any other lets
// everyone in.
func (w *World) registryDenies(host string, auth *engine.RegistryAuth) error {
	c, ok := w.ports[host]
	if !ok || !slices.Contains(c.spec.Env, "REGISTRY_AUTH=htpasswd") {
		return nil
	}
	denied := errors.New("unauthorized: authentication required")
	if auth == nil {
		return fmt.Errorf("no basic auth credentials: %w", denied)
	}
	var file string
	for _, kv := range c.spec.Env {
		if v, ok := strings.CutPrefix(kv, "REGISTRY_AUTH_HTPASSWD_PATH="); ok {
			file = v
		}
	}
	htpasswd, ok := c.readFile(file)
	if !ok {
		return fmt.Errorf("htpasswd %s missing: %w", file, denied)
	}
	for line := range strings.SplitSeq(string(htpasswd), "\n") {
		user, hash, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && user == auth.Username && w.bcryptMatch(hash, auth.Password) {
			return nil
		}
	}
	return denied
}

// SecretData is the data of the secret name in the swarm that f manages
// or belongs to, as a container that mounts it reads it; false when there
// is no such secret.
func (w *World) SecretData(f *Fake, name string) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f.swarm == nil {
		return nil, false
	}
	s, ok := f.swarm.secrets[name]
	if !ok {
		return nil, false
	}
	return bytes.Clone(s.data), true
}

// Fakes are the world's engines, in the order they were made.
func (w *World) Fakes() []*Fake {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.fakes)
}

// RemoveSecret deletes a secret behind the services' backs, which dockerd
// refuses while a service uses it: for tests of a swarm that lost it.
func (w *World) RemoveSecret(f *Fake, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f.swarm != nil {
		delete(f.swarm.secrets, name)
	}
}
