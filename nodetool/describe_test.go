package nodetool

import (
	"strings"
	"testing"
)

func TestParseDescribeCluster311(t *testing.T) {
	d, err := ParseDescribeCluster(readSample(t, "describecluster-3.11.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Test Cluster" || d.Snitch != "org.apache.cassandra.locator.SimpleSnitch" ||
		d.DynamicSnitch != "enabled" || d.Partitioner != "org.apache.cassandra.dht.Murmur3Partitioner" {
		t.Errorf("cluster information %+v", d)
	}
	if !d.SchemaAgreement() || d.SchemaVersions[0].Version != "836f4520-071b-3909-91d9-876181702696" ||
		strings.Join(d.SchemaVersions[0].Endpoints, ",") != "172.17.0.2" {
		t.Errorf("schema versions %+v", d.SchemaVersions)
	}
	if d.Stats != nil || len(d.Unreachable) != 0 || len(d.Keyspaces) != 0 {
		t.Errorf("3.11 output has no 4.0 sections, got %+v", d)
	}
}

func TestParseDescribeCluster40(t *testing.T) {
	d, err := ParseDescribeCluster(readSample(t, "describecluster-4.0.3-pp-unreachable.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.SchemaVersions) != 1 || strings.Join(d.SchemaVersions[0].Endpoints, ",") != "127.0.0.1:9000,127.0.0.1:7000" {
		t.Errorf("schema versions %+v", d.SchemaVersions)
	}
	if strings.Join(d.Unreachable, ",") != "127.0.0.1:8100" {
		t.Errorf("unreachable %v", d.Unreachable)
	}
	if d.Stats == nil || *d.Stats != (ClusterStats{Live: 2, Unreachable: 1}) {
		t.Errorf("stats %+v", d.Stats)
	}
	if len(d.Datacenters) != 1 || d.Datacenters[0] != (DCSummary{"datacenter1", 3, 0}) {
		t.Errorf("datacenters %+v", d.Datacenters)
	}
	if len(d.DatabaseVersions) != 1 || d.DatabaseVersions[0].Version != "4.0.3" || len(d.DatabaseVersions[0].Endpoints) != 3 {
		t.Errorf("database versions %+v", d.DatabaseVersions)
	}
	if len(d.Keyspaces) != 6 || d.Keyspaces[3] != (Keyspace{"tutorialspoint", "SimpleStrategy {replication_factor=3}"}) {
		t.Errorf("keyspaces %+v", d.Keyspaces)
	}
}

func TestParseDescribeClusterDisagreement(t *testing.T) {
	// Synthetic, in the 3.x printf format: two schema versions, tabs.
	in := "Cluster Information:\n\tName: c\n\tSnitch: org.apache.cassandra.locator.GossipingPropertyFileSnitch\n" +
		"\tDynamicEndPointSnitch: enabled\n\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\tSchema versions:\n" +
		"\t\t59adb24e-f3cd-3e02-97f0-5b395827453f: [10.0.1.5, 10.0.1.6]\n\n" +
		"\t\t86afa796-d883-3932-aa73-6b017cef0d19: [10.0.1.7]\n\n"
	d, err := ParseDescribeCluster(in)
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaAgreement() || len(d.SchemaVersions) != 2 || d.SchemaVersions[1].Endpoints[0] != "10.0.1.7" {
		t.Errorf("schema versions %+v", d.SchemaVersions)
	}
}

func TestParseDescribeClusterRejects(t *testing.T) {
	good := readSample(t, "describecluster-4.0.3-pp-unreachable.txt")
	tests := []struct{ name, in, quote string }{
		{"empty", "", "no `Cluster Information:`"},
		{"status output", readSample(t, "status-4.0.3-pp.txt"), "Datacenter: datacenter1"},
		{"unknown key", strings.Replace(good, "Partitioner:", "Partitioned:", 1), "Partitioned"},
		{"bad schema version", strings.Replace(good, "bbcf35fa-5d65-3137-896f-a2866efe3856", "nope", 1), "not a UUID"},
		{"bad list", strings.Replace(good, "[127.0.0.1:8100]", "127.0.0.1:8100", 1), "UNREACHABLE: 127.0.0.1:8100"},
		{"bad count", strings.Replace(good, "Live: 2", "Live: two", 1), "Live: two"},
		{"bad dc line", strings.Replace(good, "#Down: 0", "#Up: 3", 1), "#Up: 3"},
		{"no schema", "Cluster Information:\n\tName: a\n\tPartitioner: p\n", "lacks `Schema versions:`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDescribeCluster(tt.in)
			if err == nil {
				t.Fatal("parsed without error")
			}
			if !strings.Contains(err.Error(), tt.quote) {
				t.Errorf("error %q does not say %q", err, tt.quote)
			}
		})
	}
}
