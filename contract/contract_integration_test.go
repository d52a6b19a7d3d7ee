package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cassandraimage "github.com/swarmcass/swarmcass/cassandra-image"
	"github.com/swarmcass/swarmcass/cassim"
	"github.com/swarmcass/swarmcass/cassim/cassimimage"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/nodetool"
)

// The contract suite: one set of checks, run against every image that claims
// the node contract. Images:
//   - the wrapper test image, built here from cassandra-image/ (always);
//   - cassim's image, built here with cassimimage.Build under a tag of its
//     own and removed afterwards (always), or the image named by
//     SWARMCASS_CONTRACT_CASSIM_IMAGE instead;
//   - any further images named in SWARMCASS_CONTRACT_IMAGES (comma-separated),
//     e.g. the real image built where the official one can be pulled.

// WrapperTestImage is the tag the suite builds the wrapper test image under;
// a fixed tag, so that repeated runs reuse one image.
const WrapperTestImage = "swarmcass/cassandra-wrapper-test:dev"

func TestIntegrationContract(t *testing.T) {
	eng := enginetest.Local(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	// A slash would make -run patterns split the image name.
	t.Run(strings.ReplaceAll(WrapperTestImage, "/", "_"), func(t *testing.T) {
		checkImage(ctx, t, eng, buildWrapperTestImage(ctx, t, eng))
	})
	t.Run("cassim", func(t *testing.T) {
		ref := os.Getenv("SWARMCASS_CONTRACT_CASSIM_IMAGE")
		if ref == "" {
			ref = buildCassimImage(ctx, t, eng)
		}
		checkImage(ctx, t, eng, ref)
	})
	for _, ref := range strings.Split(os.Getenv("SWARMCASS_CONTRACT_IMAGES"), ",") {
		if ref = strings.TrimSpace(ref); ref != "" {
			t.Run(strings.ReplaceAll(ref, "/", "_"), func(t *testing.T) { checkImage(ctx, t, eng, ref) })
		}
	}
}

// checkImage runs every check of the contract against ref.
func checkImage(ctx context.Context, t *testing.T, eng *engine.Docker, ref string) {
	if _, err := eng.ImageInspect(ctx, ref); err != nil {
		t.Fatalf("image %s: %v (build it first)", ref, err)
	}
	s := &suite{eng: eng, image: ref, id: suffix()}
	t.Run("ImageConfig", s.imageConfig)
	t.Run("AddressOnTwoNetworks", s.addressOnTwoNetworks)
	t.Run("NoAddressInSubnet", s.noAddressInSubnet)
	t.Run("WaitForSeeds", s.waitForSeeds)
	t.Run("Defaults", s.defaults)
	t.Run("ClusterDCRack", s.clusterDCRack)
	t.Run("HeapPair", s.heapPair)
	t.Run("FastStart", s.fastStart)
	t.Run("InitialTokens", s.initialTokens)
	t.Run("TokensTaken", s.tokensTaken)
	t.Run("NativeTransportPort", s.nativeTransportPort)
	t.Run("IdentityInVolume", s.identityInVolume)
	t.Run("Authentication", s.authentication)
}

// buildCassimImage builds cassim's image with the fast timing profile under
// a tag of this run's own, and removes it when the test ends.
func buildCassimImage(ctx context.Context, t *testing.T, eng *engine.Docker) string {
	t.Helper()
	id := suffix()
	tag := "swarmcass/cassim-contract:" + id
	if err := cassimimage.Build(ctx, eng, tag, cassim.ProfileFast, engine.Labels{"swarmcass.test": "contract-cassim-" + id}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enginetest.RemoveImage(t, tag) })
	return tag
}

func buildWrapperTestImage(ctx context.Context, t *testing.T, eng *engine.Docker) string {
	t.Helper()
	spec, err := cassandraimage.WrapperTestBuildSpec([]string{WrapperTestImage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := eng.ImageBuild(ctx, spec, &out); err != nil {
		t.Fatalf("build %s: %v\n%s", WrapperTestImage, err, out.String())
	}
	return WrapperTestImage
}

func suffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type suite struct {
	eng   *engine.Docker
	image string
	id    string // labels and names everything one image's run creates

	config    ImageConfig // read once: saving an image takes seconds
	configErr error
	readOnce  sync.Once
}

func (s *suite) imageConfigOnce(ctx context.Context, t *testing.T) ImageConfig {
	t.Helper()
	s.readOnce.Do(func() { s.config, s.configErr = ReadImageConfig(ctx, s.eng, s.image) })
	if s.configErr != nil {
		t.Fatal(s.configErr)
	}
	return s.config
}

func (s *suite) labels() engine.Labels { return engine.Labels{"swarmcass.test": "contract-" + s.id} }

// network creates a bridge network with a subnet of its own, retrying when
// the engine says the subnet overlaps one that exists.
func (s *suite) network(ctx context.Context, t *testing.T) (name, subnet string) {
	t.Helper()
	var err error
	for range 20 {
		b := make([]byte, 2)
		rand.Read(b)
		subnet = fmt.Sprintf("10.%d.%d.0/24", 160+int(b[0])%60, b[1])
		name = fmt.Sprintf("contract-%s-%s", s.id, suffix())
		_, err = s.eng.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Driver: "bridge", Subnet: subnet, Labels: s.labels()})
		if err == nil {
			t.Cleanup(func() {
				if err := s.eng.NetworkRemove(context.Background(), name); err != nil {
					t.Errorf("remove network %s: %v", name, err)
				}
			})
			return name, subnet
		}
	}
	t.Fatalf("create a bridge network: %v", err)
	return "", ""
}

type nodeSpec struct {
	args     []string
	env      []string
	networks []string            // the first at create, the others connected before start
	aliases  map[string][]string // network -> the node's DNS names on it
	volume   string
}

type node struct {
	id   string
	eng  *engine.Docker
	addr map[string]string // network -> address
}

func (s *suite) start(ctx context.Context, t *testing.T, spec nodeSpec) *node {
	t.Helper()
	cs := engine.ContainerSpec{
		Name:   fmt.Sprintf("contract-%s-%s", s.id, suffix()),
		Image:  s.image,
		Cmd:    spec.args,
		Env:    spec.env,
		Labels: s.labels(),
	}
	if cs.Cmd == nil {
		cs.Cmd = []string{} // keep the image's empty CMD: no seed argument
	}
	if len(spec.networks) > 0 {
		cs.Network = spec.networks[0]
		cs.Aliases = spec.aliases[cs.Network]
	}
	if spec.volume != "" {
		cs.Mounts = []engine.Mount{{Type: "volume", Source: spec.volume, Target: "/var/lib/cassandra"}}
	}
	id, err := s.eng.ContainerCreate(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.eng.ContainerRemove(context.Background(), id); err != nil && !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("remove container %s: %v", cs.Name, err)
		}
	})
	for _, n := range spec.networks[min(1, len(spec.networks)):] {
		connectNetwork(ctx, t, s.eng, n, id, spec.aliases[n])
	}
	if err := s.eng.ContainerStart(ctx, id); err != nil {
		t.Fatal(err)
	}
	c, err := s.eng.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return &node{id: id, eng: s.eng, addr: c.Networks}
}

func connectNetwork(ctx context.Context, t *testing.T, eng *engine.Docker, network, id string, aliases []string) {
	t.Helper()
	if err := eng.NetworkConnect(ctx, network, id, aliases); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the node's logs contain every marker, and returns them.
func (n *node) waitLog(ctx context.Context, t *testing.T, markers ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		logs, err := n.eng.ContainerLogs(ctx, n.id, 1000)
		if err == nil && containsAll(logs, markers) {
			return logs
		}
		c, ierr := n.eng.ContainerInspect(ctx, n.id)
		if ierr == nil && !c.Running && c.State == "exited" {
			t.Fatalf("node exited with %d before logging %q:\n%s", c.ExitCode, markers, logs)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node did not log %q in time (%v):\n%s", markers, err, logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitExit waits for the node to stop and returns its exit code and logs.
func (n *node) waitExit(ctx context.Context, t *testing.T) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		c, err := n.eng.ContainerInspect(ctx, n.id)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Running && c.State == "exited" {
			logs, err := n.eng.ContainerLogs(ctx, n.id, 1000)
			if err != nil {
				t.Fatal(err)
			}
			return c.ExitCode, logs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node still %s, want it to exit", c.State)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func configOf(t *testing.T, logs string) map[string]string {
	t.Helper()
	cfg, err := NodeConfiguration(logs)
	if err != nil {
		t.Fatalf("%v:\n%s", err, logs)
	}
	for _, k := range []string{"auto_bootstrap", "cluster_name", "endpoint_snitch", "initial_token", "listen_address",
		"broadcast_address", "broadcast_rpc_address", "num_tokens", "rpc_address", "seed_provider"} {
		if _, ok := cfg[k]; !ok {
			t.Errorf("Node configuration lacks %s", k)
		}
	}
	return cfg
}

// parameterizedClasses are the options of the node configuration line whose
// rendering differs between releases only by a "{}" for no parameters.
var parameterizedClasses = []string{"authenticator", "authorizer", "role_manager"}

func wantConfig(t *testing.T, cfg map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got := cfg[k]
		if k == "seeds" {
			var err error
			if got, err = Seeds(cfg["seed_provider"]); err != nil {
				t.Error(err)
				continue
			}
		}
		if k == "endpoint_snitch" {
			got = strings.TrimPrefix(got, "org.apache.cassandra.locator.")
		}
		if slices.Contains(parameterizedClasses, k) {
			// 5.0 logs these as classes with parameters, none here:
			// PasswordAuthenticator{}; 4.1 logs the class name alone.
			got = strings.TrimSuffix(got, "{}")
		}
		if got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// The fast-start opt-in keeps the contract suite quick on every image; a
// small heap keeps the real image from taking a quarter of the host's memory.
var (
	fast = "CASSANDRA_FAST_START=true"
	lab  = []string{fast, "MAX_HEAP_SIZE=512M", "HEAP_NEWSIZE=128M"}
)

// env is lab's settings followed by more.
func env(more ...string) []string { return append(slices.Clone(lab), more...) }

func (s *suite) imageConfig(t *testing.T) {
	cfg := s.imageConfigOnce(context.Background(), t)
	for _, p := range []string{"7000/tcp", "7199/tcp", "9042/tcp"} {
		if !slices.Contains(cfg.ExposedPorts, p) {
			t.Errorf("image exposes %v, want %s among them", cfg.ExposedPorts, p)
		}
	}
	if !slices.Contains(cfg.Volumes, "/var/lib/cassandra") {
		t.Errorf("image volumes %v, want /var/lib/cassandra", cfg.Volumes)
	}
	if len(cfg.Healthcheck) == 0 {
		t.Errorf("image has no HEALTHCHECK")
	}
	if len(cfg.Cmd) != 0 {
		t.Errorf("image CMD = %q, want none: argument 1 is the seed list", cfg.Cmd)
	}
}

// A container on two networks, as a Swarm task is on its overlay and on
// docker_gwbridge: the node takes its address inside CASSANDRA_LISTEN_SUBNET,
// whichever network that is. It is cass1 on that network, so it finds itself
// in its seed list and starts a ring (cass2 and cass3 do not resolve: they
// are skipped, as later nodes not started yet are).
func (s *suite) addressOnTwoNetworks(t *testing.T) {
	ctx := context.Background()
	bridge, bridgeSubnet := s.network(ctx, t)
	overlay, overlaySubnet := s.network(ctx, t)
	for _, tc := range []struct{ name, network, subnet string }{
		{"second network", overlay, overlaySubnet},
		{"first network", bridge, bridgeSubnet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := s.start(ctx, t, nodeSpec{
				args:     []string{"cass1,cass2,cass3"},
				env:      env("CASSANDRA_LISTEN_SUBNET=" + tc.subnet),
				networks: []string{bridge, overlay},
				aliases:  map[string][]string{tc.network: {"cass1"}},
			})
			if len(n.addr) != 2 || n.addr[tc.network] == "" {
				t.Fatalf("container networks %v, want addresses on %s and %s", n.addr, bridge, overlay)
			}
			addr := n.addr[tc.network]
			logs := n.waitLog(ctx, t, NormalMarker, CQLMarker)
			wantConfig(t, configOf(t, logs), map[string]string{
				"listen_address":        addr,
				"broadcast_address":     addr,
				"broadcast_rpc_address": addr,
				"rpc_address":           "0.0.0.0",
				"seeds":                 "cass1,cass2,cass3",
				"endpoint_snitch":       "GossipingPropertyFileSnitch",
			})
			s.wantHealthy(ctx, t, n)
		})
	}
}

func (s *suite) wantHealthy(ctx context.Context, t *testing.T, n *node) {
	t.Helper()
	cmd, err := HealthcheckCommand(s.imageConfigOnce(ctx, t).Healthcheck)
	if err != nil {
		t.Fatal(err)
	}
	// The node may log NORMAL a moment before it answers CQL.
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := s.eng.Exec(ctx, n.id, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if r.ExitCode == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health check %q exits %d on a NORMAL node: %s%s", cmd, r.ExitCode, r.Stdout, r.Stderr)
		}
		time.Sleep(time.Second)
	}
}

func (s *suite) noAddressInSubnet(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	const subnet = "10.255.254.0/24" // never one of this suite's networks (10.160-219.x.0/24)
	n := s.start(ctx, t, nodeSpec{env: env("CASSANDRA_LISTEN_SUBNET=" + subnet), networks: []string{net}})
	code, logs := n.waitExit(ctx, t)
	if code != 1 || !strings.Contains(logs, subnet) || !strings.Contains(logs, n.addr[net]) {
		t.Errorf("exit %d, want 1 and a message naming %s and the address %s found:\n%s", code, subnet, n.addr[net], logs)
	}
}

// SWARMCASS_WAIT_FOR: on a first boot the node does not start before one of
// the running seeds it names answers on 7000; when none does in time it
// exits 1 naming them, rather than found a ring of its own. (That a node
// whose seed answers starts is what every bootstrap after the first node
// shows, end to end.)
func (s *suite) waitForSeeds(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	n := s.start(ctx, t, nodeSpec{env: env("SWARMCASS_WAIT_FOR=no-such-seed", "SWARMCASS_WAIT_SECONDS=2"), networks: []string{net}})
	code, logs := n.waitExit(ctx, t)
	if code != 1 || !strings.Contains(logs, "no-such-seed") || strings.Contains(logs, NodeConfigurationMarker) {
		t.Errorf("exit %d, want 1 before Cassandra starts, naming no-such-seed:\n%s", code, logs)
	}
}

// No argument and no environment: the node is its own seed, the official
// image's defaults hold, and the snitch is GossipingPropertyFileSnitch.
func (s *suite) defaults(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	n := s.start(ctx, t, nodeSpec{networks: []string{net}})
	addr := n.addr[net]
	wantConfig(t, configOf(t, n.waitLog(ctx, t, NodeConfigurationMarker)), map[string]string{
		"listen_address":        addr,
		"broadcast_address":     addr,
		"broadcast_rpc_address": addr,
		"rpc_address":           "0.0.0.0",
		"seeds":                 addr,
		"cluster_name":          "Test Cluster",
		"endpoint_snitch":       "GossipingPropertyFileSnitch",
		"num_tokens":            "16",
		"auto_bootstrap":        "true",
		"initial_token":         "null",
	})
}

func (s *suite) clusterDCRack(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	n := s.start(ctx, t, nodeSpec{
		args:     []string{""},
		env:      env("CASSANDRA_CLUSTER_NAME=Lab Cluster", "CASSANDRA_DC=dc-east", "CASSANDRA_RACK=r7", "CASSANDRA_NUM_TOKENS=8"),
		networks: []string{net},
	})
	logs := n.waitLog(ctx, t, NormalMarker)
	wantConfig(t, configOf(t, logs), map[string]string{
		"cluster_name": "Lab Cluster",
		"num_tokens":   "8",
		"seeds":        n.addr[net],
	})
	r, err := s.eng.Exec(ctx, n.id, []string{"nodetool", "info"})
	if err != nil {
		t.Fatal(err)
	}
	info := NodetoolInfo(r.Stdout)
	if r.ExitCode != 0 || info["Data Center"] != "dc-east" || info["Rack"] != "r7" {
		t.Errorf("nodetool info exit %d, Data Center %q, Rack %q; want dc-east, r7:\n%s%s",
			r.ExitCode, info["Data Center"], info["Rack"], r.Stdout, r.Stderr)
	}
}

func (s *suite) heapPair(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	for _, one := range []string{"MAX_HEAP_SIZE=512M", "HEAP_NEWSIZE=128M"} {
		t.Run(one, func(t *testing.T) {
			n := s.start(ctx, t, nodeSpec{env: []string{fast, one}, networks: []string{net}})
			code, logs := n.waitExit(ctx, t)
			if code != 1 || !strings.Contains(logs, HeapPairMessage) {
				t.Errorf("exit %d, want 1 and %q:\n%s", code, HeapPairMessage, logs)
			}
		})
	}
	t.Run("both", func(t *testing.T) {
		n := s.start(ctx, t, nodeSpec{env: env(), networks: []string{net}})
		n.waitLog(ctx, t, NormalMarker)
	})
}

func (s *suite) fastStart(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	n := s.start(ctx, t, nodeSpec{env: env(), networks: []string{net}})
	args, ok := JVMArguments(n.waitLog(ctx, t, JVMArgumentsMarker))
	if !ok {
		t.Fatal("no JVM Arguments line")
	}
	if !slices.Contains(args, "-Dcassandra.skip_wait_for_gossip_to_settle=0") ||
		!slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-Dcassandra.ring_delay_ms=") }) {
		t.Errorf("JVM arguments %q lack the fast-start flags", args)
	}
}

func (s *suite) initialTokens(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	const tokens = "-9223372036854775808,-3074457345618258603,3074457345618258602"
	n := s.start(ctx, t, nodeSpec{
		args:     []string{"cass1"},
		env:      env("CASSANDRA_INITIAL_TOKENS="+tokens, "CASSANDRA_AUTO_BOOTSTRAP=false", "CASSANDRA_NUM_TOKENS=3"),
		networks: []string{net},
	})
	wantConfig(t, configOf(t, n.waitLog(ctx, t, NodeConfigurationMarker)), map[string]string{
		"initial_token":  tokens,
		"auto_bootstrap": "false",
		"num_tokens":     "3",
		"seeds":          "cass1",
	})
}

// A node given its tokens and auto_bootstrap false takes exactly those
// tokens, and nodetool info -T lists them.
func (s *suite) tokensTaken(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	want := []int64{-9223372036854775808, -3074457345618258603, 3074457345618258602}
	var list []string
	for _, tok := range want {
		list = append(list, strconv.FormatInt(tok, 10))
	}
	n := s.start(ctx, t, nodeSpec{
		env: env("CASSANDRA_INITIAL_TOKENS="+strings.Join(list, ","), "CASSANDRA_AUTO_BOOTSTRAP=false",
			"CASSANDRA_FAST_START=true"),
		networks: []string{net},
	})
	n.waitLog(ctx, t, NormalMarker)
	r, err := s.eng.Exec(ctx, n.id, []string{"nodetool", "info", "-T"})
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("nodetool info -T: %v %+v", err, r)
	}
	got, err := nodetool.ParseInfoTokens(r.Stdout)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("nodetool info -T lists %v (%v), want %v:\n%s", got, err, want, r.Stdout)
	}
}

// A node for clients outside the swarm (bootstrap --clients host) listens
// for CQL on its published host port and tells drivers its host's address.
// 192.0.2.10 (TEST-NET-1) is only advertised, never contacted.
func (s *suite) nativeTransportPort(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	n := s.start(ctx, t, nodeSpec{
		args:     []string{"cass1"},
		env:      env("CASSANDRA_NATIVE_TRANSPORT_PORT=9043", "CASSANDRA_BROADCAST_RPC_ADDRESS=192.0.2.10"),
		networks: []string{net},
	})
	wantConfig(t, configOf(t, n.waitLog(ctx, t, NodeConfigurationMarker)), map[string]string{
		"native_transport_port": "9043",
		"broadcast_rpc_address": "192.0.2.10",
	})
}

// The node's identity lives in /var/lib/cassandra: a new container on the
// same volume is the same node. The second one names a running seed that
// never answers (SWARMCASS_WAIT_FOR): with data, the node waits for it, then
// starts anyway, as a node with data must not be kept down by a lost seed.
func (s *suite) identityInVolume(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	vol := "contract-" + s.id + "-" + suffix()
	if err := s.eng.VolumeCreate(ctx, vol, s.labels()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.eng.VolumeRemove(context.Background(), vol); err != nil {
			t.Errorf("remove volume %s: %v", vol, err)
		}
	})
	hostID := func(extra ...string) string {
		n := s.start(ctx, t, nodeSpec{env: env(extra...), networks: []string{net}, volume: vol})
		if len(extra) > 0 {
			n.waitLog(ctx, t, "none of the running seeds (no-such-seed) resolves and answers on port 7000 after 2s; starting anyway")
		}
		n.waitLog(ctx, t, NormalMarker)
		r, err := s.eng.Exec(ctx, n.id, []string{"nodetool", "info"})
		if err != nil {
			t.Fatal(err)
		}
		id := NodetoolInfo(r.Stdout)["ID"]
		if r.ExitCode != 0 || id == "" {
			t.Fatalf("nodetool info exit %d, no ID:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
		if err := s.eng.ContainerRemove(ctx, n.id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	if first, second := hostID(), hostID("SWARMCASS_WAIT_FOR=no-such-seed", "SWARMCASS_WAIT_SECONDS=2"); first != second {
		t.Errorf("host ID %s became %s on a new container with the same volume", first, second)
	}
}

// SWARMCASS_AUTH=true: PasswordAuthenticator, CassandraAuthorizer and
// CassandraRoleManager, and the health check passes although no role the
// container's credentials name exists. An image that serves CQL (not the
// wrapper test image's stand-in) refuses a client without credentials and,
// once its role manager made it, logs in Cassandra's default superuser.
func (s *suite) authentication(t *testing.T) {
	ctx := context.Background()
	net, _ := s.network(ctx, t)
	// The superuser setup delay bootstrap gives a new cluster's nodes.
	n := s.start(ctx, t, nodeSpec{env: env("SWARMCASS_AUTH=true", "CASSANDRA_SUPERUSER_SETUP_DELAY_MS=1000"), networks: []string{net}})
	wantConfig(t, configOf(t, n.waitLog(ctx, t, NodeConfigurationMarker)), map[string]string{
		"authenticator": "PasswordAuthenticator",
		"authorizer":    "CassandraAuthorizer",
		"role_manager":  "CassandraRoleManager",
	})
	if args, ok := JVMArguments(n.waitLog(ctx, t, JVMArgumentsMarker)); !ok || !slices.Contains(args, "-Dcassandra.superuser_setup_delay_ms=1000") {
		t.Errorf("JVM arguments %q (found %v) lack -Dcassandra.superuser_setup_delay_ms=1000", args, ok)
	}
	n.waitLog(ctx, t, NormalMarker)
	s.wantHealthy(ctx, t, n)
	if s.imageConfigOnce(ctx, t).Labels["io.swarmcass.standin"] == "true" {
		return
	}
	const q = "SELECT bootstrapped FROM system.local"
	r, err := s.eng.Exec(ctx, n.id, []string{"cqlsh", "-e", q})
	if err != nil || r.ExitCode == 0 || !strings.Contains(r.Stderr, "Remote end requires authentication") {
		t.Errorf("cqlsh without credentials: %v exit %d, want refused: %s%s", err, r.ExitCode, r.Stdout, r.Stderr)
	}
	deadline := time.Now().Add(2 * time.Minute) // CassandraRoleManager waits the setup delay, then needs its QUORUM
	for {
		r, err = s.eng.Exec(ctx, n.id, []string{"cqlsh", "-u", "cassandra", "-p", "cassandra", "-e", q})
		if err != nil {
			t.Fatal(err)
		}
		if r.ExitCode == 0 && strings.Contains(r.Stdout, "COMPLETED") {
			break
		}
		if !strings.Contains(r.Stderr, "Provided username cassandra and/or password are incorrect") || time.Now().After(deadline) {
			t.Fatalf("cqlsh as cassandra: exit %d: %s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
		time.Sleep(time.Second)
	}
}
