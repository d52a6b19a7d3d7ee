package cassandraimage

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The wrapper runs here under bash with a fake `ip` that reports the
// addresses a container would have, and a recorder standing in for the
// official docker-entrypoint.sh that prints what it was handed.

const fakeIP = `#!/bin/sh
# fake ip: prints FAKE_IP_ADDRS as ` + "`ip -o -4 address show`" + ` would.
printf '%s\n' "$FAKE_IP_ADDRS"
`

const recorder = `#!/bin/sh
echo "ARGS=$*"
for v in CASSANDRA_LISTEN_ADDRESS CASSANDRA_BROADCAST_ADDRESS CASSANDRA_BROADCAST_RPC_ADDRESS \
	CASSANDRA_RPC_ADDRESS CASSANDRA_SEEDS CASSANDRA_ENDPOINT_SNITCH CASSANDRA_DC CASSANDRA_RACK \
	CASSANDRA_NUM_TOKENS JVM_EXTRA_OPTS; do
	eval "echo $v=\${$v-UNSET}"
done
`

// Two networks, as on a Swarm node: the overlay (10.0.9.0/24) second.
const twoNets = `1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
40: eth0@if41    inet 172.18.0.3/16 brd 172.18.255.255 scope global eth0\       valid_lft forever preferred_lft forever
42: eth1@if43    inet 169.254.7.2/16 scope link eth1\       valid_lft forever preferred_lft forever
44: eth2@if45    inet 10.0.9.5/24 brd 10.0.9.255 scope global eth2\       valid_lft forever preferred_lft forever
44: eth2@if45    inet 10.0.9.2/32 scope global secondary eth2\       valid_lft forever preferred_lft forever`

type run struct {
	out      map[string]string
	stderr   string
	exitCode int
	yaml     string
}

func runWrapper(t *testing.T, env map[string]string, args ...string) run {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("the wrapper tests need bash: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	conf := filepath.Join(dir, "conf")
	for _, d := range []string{bin, conf} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, data string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "ip"), fakeIP, 0o755)
	write(filepath.Join(bin, "docker-entrypoint.sh"), recorder, 0o755)
	stock, err := os.ReadFile("testimage/conf/cassandra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(conf, "cassandra.yaml"), string(stock)+env["_YAML_APPEND"], 0o644)
	delete(env, "_YAML_APPEND")

	cmd := exec.Command("bash", append([]string{"swarmcass-entrypoint.sh"}, args...)...)
	cmd.Env = []string{
		"PATH=" + env["PATH_PREFIX"] + string(os.PathListSeparator) + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"CASSANDRA_CONF=" + conf,
		"FAKE_IP_ADDRS=" + twoNets,
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := run{out: map[string]string{}, stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			r.out[k] = v
		}
	}
	y, err := os.ReadFile(filepath.Join(conf, "cassandra.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r.yaml = string(y)
	return r
}

func (r run) want(t *testing.T, key, val string) {
	t.Helper()
	if got := r.out[key]; got != val {
		t.Errorf("%s = %q, want %q (stderr: %s)", key, got, val, r.stderr)
	}
}

func TestWrapperAddressInsideSubnet(t *testing.T) {
	r := runWrapper(t, map[string]string{"CASSANDRA_LISTEN_SUBNET": "10.0.9.0/24"}, "cass1,cass2,cass3")
	if r.exitCode != 0 {
		t.Fatalf("exit %d: %s", r.exitCode, r.stderr)
	}
	r.want(t, "ARGS", "cassandra -f")
	r.want(t, "CASSANDRA_LISTEN_ADDRESS", "10.0.9.5")
	r.want(t, "CASSANDRA_BROADCAST_ADDRESS", "10.0.9.5")
	r.want(t, "CASSANDRA_BROADCAST_RPC_ADDRESS", "10.0.9.5")
	r.want(t, "CASSANDRA_RPC_ADDRESS", "0.0.0.0")
	r.want(t, "CASSANDRA_SEEDS", "cass1,cass2,cass3")
	r.want(t, "CASSANDRA_ENDPOINT_SNITCH", "GossipingPropertyFileSnitch")
	r.want(t, "CASSANDRA_DC", "datacenter1")
	r.want(t, "CASSANDRA_RACK", "rack1")
	r.want(t, "CASSANDRA_NUM_TOKENS", "16")
	r.want(t, "JVM_EXTRA_OPTS", "UNSET")
}

func TestWrapperAddressWithoutSubnetIsTheFirst(t *testing.T) {
	r := runWrapper(t, nil)
	r.want(t, "CASSANDRA_LISTEN_ADDRESS", "172.18.0.3")
	// No seed list: the node itself, as the official entrypoint does.
	r.want(t, "CASSANDRA_SEEDS", "172.18.0.3")
}

func TestWrapperBroadcastAutoFollowsSubnet(t *testing.T) {
	r := runWrapper(t, map[string]string{
		"CASSANDRA_LISTEN_SUBNET":     "10.0.0.0/16",
		"CASSANDRA_LISTEN_ADDRESS":    "10.0.9.77",
		"CASSANDRA_BROADCAST_ADDRESS": "auto",
	}, "")
	r.want(t, "CASSANDRA_LISTEN_ADDRESS", "10.0.9.77")
	r.want(t, "CASSANDRA_BROADCAST_ADDRESS", "10.0.9.5")
	r.want(t, "CASSANDRA_BROADCAST_RPC_ADDRESS", "10.0.9.5")
	r.want(t, "CASSANDRA_SEEDS", "10.0.9.5")
}

func TestWrapperRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		msg  string
	}{
		{"no address in subnet", map[string]string{"CASSANDRA_LISTEN_SUBNET": "10.0.10.0/24"}, nil,
			"no address of this container is inside CASSANDRA_LISTEN_SUBNET=10.0.10.0/24 (found: 172.18.0.3(eth0) 10.0.9.5(eth2))"},
		{"subnet not a CIDR", map[string]string{"CASSANDRA_LISTEN_SUBNET": "10.0.9.0"}, nil, "is not an IPv4 CIDR"},
		{"subnet out of range", map[string]string{"CASSANDRA_LISTEN_SUBNET": "10.0.300.0/24"}, nil, "is not an IPv4 CIDR"},
		{"max heap alone", map[string]string{"MAX_HEAP_SIZE": "512M"}, nil, "please set or unset MAX_HEAP_SIZE and HEAP_NEWSIZE in pairs"},
		{"new size alone", map[string]string{"HEAP_NEWSIZE": "128M"}, nil, "please set or unset MAX_HEAP_SIZE and HEAP_NEWSIZE in pairs"},
		{"heap without unit", map[string]string{"MAX_HEAP_SIZE": "512", "HEAP_NEWSIZE": "128M"}, nil, "MAX_HEAP_SIZE=512 is not a JVM size"},
		{"tokens and num_tokens differ", map[string]string{"CASSANDRA_INITIAL_TOKENS": "0,100", "CASSANDRA_NUM_TOKENS": "16"}, nil,
			"The number of initial tokens (by initial_token) specified (2) is different from num_tokens value (16)"},
		{"tokens not numbers", map[string]string{"CASSANDRA_INITIAL_TOKENS": "a,b"}, nil, "must be comma-separated integer tokens"},
		{"auto_bootstrap not a bool", map[string]string{"CASSANDRA_AUTO_BOOTSTRAP": "no"}, nil, "must be true or false"},
		{"fast start not a bool", map[string]string{"CASSANDRA_FAST_START": "yes"}, nil, "must be true or false"},
		{"seed with a slash", nil, []string{"cass1/x"}, "must be comma-separated hostnames or addresses"},
		{"native port out of range", map[string]string{"CASSANDRA_NATIVE_TRANSPORT_PORT": "70000"}, nil, "is not a port from 1 to 65535"},
		{"native port not a number", map[string]string{"CASSANDRA_NATIVE_TRANSPORT_PORT": "cql"}, nil, "is not a port from 1 to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWrapper(t, tc.env, tc.args...)
			if r.exitCode != 1 || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", r.exitCode, r.stderr, tc.msg)
			}
			if _, ran := r.out["ARGS"]; ran {
				t.Errorf("the official entrypoint ran after a refusal")
			}
		})
	}
}

func TestWrapperHeapPair(t *testing.T) {
	r := runWrapper(t, map[string]string{"MAX_HEAP_SIZE": "512M", "HEAP_NEWSIZE": "128M"}, "cass1")
	if r.exitCode != 0 {
		t.Fatalf("exit %d: %s", r.exitCode, r.stderr)
	}
}

func TestWrapperSeedList(t *testing.T) {
	r := runWrapper(t, nil, " cass1, cass2 ,cass3,")
	r.want(t, "CASSANDRA_SEEDS", "cass1,cass2,cass3")
	r = runWrapper(t, map[string]string{"CASSANDRA_SEEDS": "10.0.9.9"}, "")
	r.want(t, "CASSANDRA_SEEDS", "10.0.9.9")
}

func TestWrapperFastStart(t *testing.T) {
	r := runWrapper(t, map[string]string{"CASSANDRA_FAST_START": "true", "JVM_EXTRA_OPTS": "-Dcassandra.ring_delay_ms=9000"})
	r.want(t, "JVM_EXTRA_OPTS", "-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=5000 -Dcassandra.ring_delay_ms=9000")
}

func TestWrapperInitialTokens(t *testing.T) {
	r := runWrapper(t, map[string]string{
		"CASSANDRA_INITIAL_TOKENS": "-9223372036854775808, -3074457345618258603,3074457345618258602",
		"CASSANDRA_AUTO_BOOTSTRAP": "false",
	})
	if r.exitCode != 0 {
		t.Fatalf("exit %d: %s", r.exitCode, r.stderr)
	}
	r.want(t, "CASSANDRA_NUM_TOKENS", "3")
	for _, line := range []string{
		"\ninitial_token: -9223372036854775808,-3074457345618258603,3074457345618258602\n",
		"\nauto_bootstrap: false\n",
	} {
		if !strings.Contains(r.yaml, line) {
			t.Errorf("cassandra.yaml lacks %q:\n%s", line, r.yaml)
		}
	}
	if strings.Contains(r.yaml, "# initial_token:") {
		t.Errorf("the commented-out initial_token line is still there")
	}
}

// A node reached from outside the swarm on its published host port must
// listen on that port itself: drivers are told the broadcast RPC address
// with the node's own native_transport_port.
func TestWrapperNativeTransportPort(t *testing.T) {
	r := runWrapper(t, map[string]string{"CASSANDRA_NATIVE_TRANSPORT_PORT": "9043", "CASSANDRA_BROADCAST_RPC_ADDRESS": "192.168.99.101"})
	if r.exitCode != 0 {
		t.Fatalf("exit %d: %s", r.exitCode, r.stderr)
	}
	if !strings.Contains(r.yaml, "\nnative_transport_port: 9043\n") {
		t.Errorf("cassandra.yaml lacks native_transport_port: 9043:\n%s", r.yaml)
	}
	r.want(t, "CASSANDRA_BROADCAST_RPC_ADDRESS", "192.168.99.101")
	r = runWrapper(t, nil)
	if strings.Contains(r.yaml, "\nnative_transport_port: 9043") {
		t.Errorf("native_transport_port changed without CASSANDRA_NATIVE_TRANSPORT_PORT")
	}
}

func TestWrapperOtherCommandsRunUnconfigured(t *testing.T) {
	r := runWrapper(t, map[string]string{"MAX_HEAP_SIZE": "512M"}, "cass1", "nodetool", "status")
	if r.exitCode != 0 {
		t.Fatalf("exit %d: %s", r.exitCode, r.stderr)
	}
	r.want(t, "ARGS", "nodetool status")
	r.want(t, "CASSANDRA_LISTEN_ADDRESS", "UNSET")
}

func TestWrapperCassandraFlags(t *testing.T) {
	r := runWrapper(t, nil, "cass1", "-Dfoo=bar")
	r.want(t, "ARGS", "-Dfoo=bar")
	r.want(t, "CASSANDRA_SEEDS", "cass1")
}

func TestWrapperSeedByAddressJoinsSeedList(t *testing.T) {
	// The running seed named by its address answers (a fake timeout stands
	// in for the connection to its port 7000): it joins the seed list.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "timeout"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runWrapper(t, map[string]string{"SWARMCASS_WAIT_FOR": "10.0.9.7,cass1", "PATH_PREFIX": dir}, "cass1,cass2")
	if r.exitCode != 0 || !strings.Contains(r.stderr, "running seed 10.0.9.7 answers on port 7000") {
		t.Fatalf("exit %d, stderr %q", r.exitCode, r.stderr)
	}
	r.want(t, "CASSANDRA_SEEDS", "cass1,cass2,10.0.9.7")
}

// SWARMCASS_AUTH=true writes the three auth classes, replacing 5.0's
// `class_name:` block form whole, and links the credentials file as
// cqlsh's default; unset, the file's presence decides; a typo is refused.
func TestWrapperAuthentication(t *testing.T) {
	home := t.TempDir()
	cred := filepath.Join(t.TempDir(), "cred")
	block := "\nauthenticator:\n  class_name : org.apache.cassandra.auth.AllowAllAuthenticator\n# authenticator:\n#   class_name : org.apache.cassandra.auth.MutualTlsAuthenticator\nauthorizer: AllowAllAuthorizer\n"
	r := runWrapper(t, map[string]string{"SWARMCASS_AUTH": "true", "HOME": home, "SWARMCASS_CREDENTIALS_FILE": cred, "_YAML_APPEND": block})
	if r.exitCode != 0 {
		t.Fatalf("exit %d: %s", r.exitCode, r.stderr)
	}
	for _, line := range []string{"authenticator: PasswordAuthenticator\n", "authorizer: CassandraAuthorizer\n", "role_manager: CassandraRoleManager\n", "#   class_name : org.apache.cassandra.auth.MutualTlsAuthenticator\n"} {
		if strings.Count(r.yaml, line) != 1 {
			t.Errorf("cassandra.yaml has %q %d times, want once:\n%s", line, strings.Count(r.yaml, line), r.yaml)
		}
	}
	if strings.Contains(r.yaml, "  class_name : org.apache.cassandra.auth.AllowAllAuthenticator") || strings.Contains(r.yaml, "AllowAllAuthorizer") {
		t.Errorf("the old settings stayed:\n%s", r.yaml)
	}
	if os.Geteuid() == 0 {
		if target, err := os.Readlink(filepath.Join(home, ".cassandra", "credentials")); err != nil || target != cred {
			t.Errorf("~/.cassandra/credentials -> %q (%v), want %s", target, err, cred)
		}
	}
	if !strings.Contains(r.stderr, "there is no credentials file "+cred) || !strings.Contains(r.stderr, " auth=true") {
		t.Errorf("stderr: %s", r.stderr)
	}

	// Unset: the credentials file decides.
	if err := os.WriteFile(cred, []byte("[plain_text_auth]\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	r = runWrapper(t, map[string]string{"HOME": t.TempDir(), "SWARMCASS_CREDENTIALS_FILE": cred})
	if !strings.Contains(r.yaml, "authenticator: PasswordAuthenticator\n") {
		t.Errorf("with the credentials file and SWARMCASS_AUTH unset: no PasswordAuthenticator:\n%s", r.stderr)
	}
	r = runWrapper(t, map[string]string{"HOME": t.TempDir(), "SWARMCASS_CREDENTIALS_FILE": cred + ".none"})
	if strings.Contains(r.yaml, "authenticator:") {
		t.Errorf("without the file and SWARMCASS_AUTH unset, cassandra.yaml was changed:\n%s", r.yaml)
	}
	r = runWrapper(t, map[string]string{"SWARMCASS_AUTH": "false", "HOME": t.TempDir()})
	if !strings.Contains(r.yaml, "authenticator: AllowAllAuthenticator\n") {
		t.Errorf("SWARMCASS_AUTH=false: %s", r.yaml)
	}
	r = runWrapper(t, map[string]string{"SWARMCASS_AUTH": "yes", "HOME": t.TempDir()})
	if r.exitCode != 1 || !strings.Contains(r.stderr, "SWARMCASS_AUTH=yes must be true or false") {
		t.Errorf("SWARMCASS_AUTH=yes: exit %d: %s", r.exitCode, r.stderr)
	}
}

// 5.0's stock cassandra.yaml writes both encryption mappings with comment
// lines among their keys; SWARMCASS_TLS must replace each whole.
const stockEncryption = `
server_encryption_options:
  # On outbound connections, determine which type of peers to securely connect to.
  internode_encryption: none

  legacy_ssl_storage_port_enabled: false
  keystore: conf/.keystore
  keystore_password: cassandra
  # require_client_auth: false
  truststore: conf/.truststore
  truststore_password: cassandra
  ssl_context_factory:
      class_name: org.apache.cassandra.security.DefaultSslContextFactory
# Configure client-to-server encryption.
client_encryption_options:
  enabled: false
  keystore: conf/.keystore
  keystore_password: cassandra
concurrent_reads: 32
`

// SWARMCASS_TLS=true writes internode (all, peers authenticated) and client
// (required) encryption with the PEM files in place of the stock mappings,
// and a cqlshrc that connects with TLS and validates against the CA; a
// missing file or a typo is refused.
func TestWrapperTLS(t *testing.T) {
	dir := t.TempDir()
	ks, ca := filepath.Join(dir, "node.pem"), filepath.Join(dir, "ca.pem")
	for _, f := range []string{ks, ca} {
		if err := os.WriteFile(f, []byte("pem"), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	env := map[string]string{"SWARMCASS_TLS": "true", "SWARMCASS_TLS_KEYSTORE": ks, "SWARMCASS_TLS_TRUSTSTORE": ca, "HOME": home, "_YAML_APPEND": stockEncryption}
	r := runWrapper(t, env)
	if r.exitCode != 0 {
		t.Fatalf("exit %d: %s", r.exitCode, r.stderr)
	}
	server := `server_encryption_options:
  internode_encryption: all
  optional: false
  legacy_ssl_storage_port_enabled: false
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: ` + ks + `
  truststore: ` + ca + `
  require_client_auth: true
  require_endpoint_verification: false
`
	client := `client_encryption_options:
  enabled: true
  optional: false
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: ` + ks + `
  truststore: ` + ca + `
  require_client_auth: false
`
	for _, want := range []string{server, client, "concurrent_reads: 32\n", "# Configure client-to-server encryption.\n"} {
		if strings.Count(r.yaml, want) != 1 {
			t.Errorf("cassandra.yaml has %q %d times, want once:\n%s", want, strings.Count(r.yaml, want), r.yaml)
		}
	}
	for _, gone := range []string{"keystore_password", "conf/.keystore", "DefaultSslContextFactory", "internode_encryption: none", "\n  enabled: false"} {
		if strings.Contains(r.yaml, gone) {
			t.Errorf("the stock %q stayed:\n%s", gone, r.yaml)
		}
	}
	if strings.Count(r.yaml, "server_encryption_options:") != 1 || strings.Count(r.yaml, "client_encryption_options:") != 1 {
		t.Errorf("a mapping appears twice:\n%s", r.yaml)
	}
	if !strings.Contains(r.stderr, " tls=true") {
		t.Errorf("the start line does not say tls=true: %s", r.stderr)
	}
	if os.Geteuid() == 0 {
		rc, err := os.ReadFile(filepath.Join(home, ".cassandra", "cqlshrc"))
		want := "[connection]\nssl = true\n\n[ssl]\ncertfile = " + ca + "\nvalidate = true\n"
		if err != nil || string(rc) != want {
			t.Errorf("cqlshrc = %q (%v), want %q", rc, err, want)
		}
	}

	// Unset: the file is left as it is.
	r = runWrapper(t, map[string]string{"HOME": t.TempDir(), "_YAML_APPEND": stockEncryption})
	if !strings.Contains(r.yaml, stockEncryption) {
		t.Errorf("SWARMCASS_TLS unset changed the encryption settings:\n%s", r.yaml)
	}
	env = map[string]string{"SWARMCASS_TLS": "true", "SWARMCASS_TLS_KEYSTORE": ks + ".none", "SWARMCASS_TLS_TRUSTSTORE": ca, "HOME": t.TempDir()}
	r = runWrapper(t, env)
	if r.exitCode != 1 || !strings.Contains(r.stderr, ks+".none is missing") {
		t.Errorf("without the keystore: exit %d: %s", r.exitCode, r.stderr)
	}
	r = runWrapper(t, map[string]string{"SWARMCASS_TLS": "on", "HOME": t.TempDir()})
	if r.exitCode != 1 || !strings.Contains(r.stderr, "SWARMCASS_TLS=on must be true or false") {
		t.Errorf("SWARMCASS_TLS=on: exit %d: %s", r.exitCode, r.stderr)
	}
}
