package contract

import (
	"archive/tar"
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// A start as Cassandra 4.1 logs it (fields cut down; the form is Config.log's:
// sorted key=value pairs joined by "; ", values by toString).
const cassandraLog = `INFO  [main] 2024-05-02 10:11:12,345 YamlConfigurationLoader.java:104 - Configuration location: file:/etc/cassandra/cassandra.yaml
INFO  [main] 2024-05-02 10:11:12,901 Config.java:1171 - Node configuration:[allocate_tokens_for_keyspace=null; auto_bootstrap=true; broadcast_address=10.0.9.5; broadcast_rpc_address=10.0.9.5; cluster_name=Test Cluster; data_file_directories=[Ljava.lang.String;@6b4a4e18; endpoint_snitch=GossipingPropertyFileSnitch; initial_token=null; listen_address=10.0.9.5; num_tokens=16; rpc_address=0.0.0.0; seed_provider=org.apache.cassandra.locator.SimpleSeedProvider{seeds=cass1,cass2,cass3}; server_encryption_options=<REDACTED>]
INFO  [main] 2024-05-02 10:11:13,002 CassandraDaemon.java:625 - JVM Arguments: [-ea, -Xms512M, -Xmx512M, -Dcassandra.skip_wait_for_gossip_to_settle=0, -Dcassandra.ring_delay_ms=5000, -Dcassandra-foreground=yes]
INFO  [main] 2024-05-02 10:11:30,112 StorageService.java:2785 - Node /10.0.9.5:7000 state jump to NORMAL
`

func TestNodeConfiguration(t *testing.T) {
	cfg, err := NodeConfiguration(cassandraLog)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"auto_bootstrap":            "true",
		"cluster_name":              "Test Cluster",
		"data_file_directories":     "[Ljava.lang.String;@6b4a4e18",
		"initial_token":             "null",
		"listen_address":            "10.0.9.5",
		"server_encryption_options": "<REDACTED>",
	} {
		if cfg[k] != v {
			t.Errorf("%s = %q, want %q", k, cfg[k], v)
		}
	}
	seeds, err := Seeds(cfg["seed_provider"])
	if err != nil || seeds != "cass1,cass2,cass3" {
		t.Errorf("Seeds = %q, %v", seeds, err)
	}
	if _, err := NodeConfiguration("INFO  [main] nothing here\n"); err == nil {
		t.Error("no error for logs without the line")
	}
	if _, err := Seeds("org.apache.cassandra.locator.K8SeedProvider{}"); err == nil {
		t.Error("no error for another seed provider")
	}
}

func TestNodeConfigurationTakesTheLastStart(t *testing.T) {
	logs := cassandraLog + strings.ReplaceAll(cassandraLog, "num_tokens=16", "num_tokens=8")
	cfg, err := NodeConfiguration(logs)
	if err != nil || cfg["num_tokens"] != "8" {
		t.Errorf("num_tokens = %q, %v; want the second start's 8", cfg["num_tokens"], err)
	}
}

func TestJVMArguments(t *testing.T) {
	args, ok := JVMArguments(cassandraLog)
	want := []string{"-ea", "-Xms512M", "-Xmx512M", "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.ring_delay_ms=5000", "-Dcassandra-foreground=yes"}
	if !ok || !reflect.DeepEqual(args, want) {
		t.Errorf("JVMArguments = %q, %v", args, ok)
	}
	if _, ok := JVMArguments("x\n"); ok {
		t.Error("found arguments in logs without them")
	}
}

func TestNodetoolInfo(t *testing.T) {
	out := "ID                     : 2c0b1b62-8e0e-4b51-9bb0-4a5b7ed0d1a7\nGossip active          : true\nData Center            : dc-east\nRack                   : r7\n"
	info := NodetoolInfo(out)
	if info["ID"] != "2c0b1b62-8e0e-4b51-9bb0-4a5b7ed0d1a7" || info["Data Center"] != "dc-east" || info["Rack"] != "r7" {
		t.Errorf("NodetoolInfo = %v", info)
	}
}

func savedImage(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	return &buf
}

const configJSON = `{"architecture":"amd64","config":{"ExposedPorts":{"9042/tcp":{},"7000/tcp":{}},"Volumes":{"/var/lib/cassandra":{}},
"Healthcheck":{"Test":["CMD","swarmcass-healthcheck.sh"],"Interval":10000000000},"Entrypoint":["swarmcass-entrypoint.sh"],"Cmd":null,"Labels":{"io.swarmcass.contract":"1"}}}`

func TestImageConfigFromSave(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"docker 20.10 layout": {
			"manifest.json":     `[{"Config":"abc123.json","RepoTags":["x:y"],"Layers":["d1/layer.tar"]}]`,
			"abc123.json":       configJSON,
			"d1/layer.tar":      "not a config",
			"d1/json":           `{}`,
			"repositories":      `{}`,
			"other-config.json": `{"config":{}}`,
		},
		"OCI layout": {
			"manifest.json":          `[{"Config":"blobs/sha256/abc123","RepoTags":["x:y"],"Layers":["blobs/sha256/d1"]}]`,
			"blobs/sha256/abc123":    configJSON,
			"blobs/sha256/d1":        "layer bytes",
			"index.json":             `{}`,
			"oci-layout":             `{}`,
			"blobs/sha256/unrelated": `{"config":{}}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := imageConfigFromSave(savedImage(t, files))
			if err != nil {
				t.Fatal(err)
			}
			want := ImageConfig{
				Entrypoint:   []string{"swarmcass-entrypoint.sh"},
				ExposedPorts: []string{"7000/tcp", "9042/tcp"},
				Volumes:      []string{"/var/lib/cassandra"},
				Healthcheck:  []string{"CMD", "swarmcass-healthcheck.sh"},
				Labels:       map[string]string{"io.swarmcass.contract": "1"},
			}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("config = %+v\nwant     %+v", cfg, want)
			}
		})
	}
	if _, err := imageConfigFromSave(savedImage(t, map[string]string{"repositories": "{}"})); err == nil {
		t.Error("no error for a save without manifest.json")
	}
}

func TestImageConfigHealthcheckNone(t *testing.T) {
	files := map[string]string{
		"manifest.json": `[{"Config":"c.json"}]`,
		"c.json":        `{"config":{"Healthcheck":{"Test":["NONE"]}}}`,
	}
	cfg, err := imageConfigFromSave(savedImage(t, files))
	if err != nil || cfg.Healthcheck != nil {
		t.Errorf("Healthcheck = %q, %v; want none", cfg.Healthcheck, err)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	for _, tc := range []struct {
		test, want []string
	}{
		{[]string{"CMD", "swarmcass-healthcheck.sh"}, []string{"swarmcass-healthcheck.sh"}},
		{[]string{"CMD", "cassim", "health", "--cql"}, []string{"cassim", "health", "--cql"}},
		{[]string{"CMD-SHELL", "cqlsh -e 'select 1' || exit 1"}, []string{"/bin/sh", "-c", "cqlsh -e 'select 1' || exit 1"}},
	} {
		got, err := HealthcheckCommand(tc.test)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("HealthcheckCommand(%q) = %q, %v", tc.test, got, err)
		}
	}
	for _, bad := range [][]string{nil, {"NONE"}, {"CMD"}, {"CMD-SHELL"}} {
		if _, err := HealthcheckCommand(bad); err == nil {
			t.Errorf("HealthcheckCommand(%q) accepted it", bad)
		}
	}
}
