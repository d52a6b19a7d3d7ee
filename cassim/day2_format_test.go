package cassim

import (
	"math/rand/v2"
	"testing"
)

// Real 5.0.8 output (scripts/compare-cassim-day2.sh on the offline base
// image; testdata/SOURCES.md): one node with two user keyspaces whose
// replication differs, so Cassandra adds its note after the keyspaces.
func TestDescribeClusterKeyspacesGolden(t *testing.T) {
	want := readGolden(t, "describecluster_5.0.8_keyspaces.txt")
	schema := Schema{}
	schema.Merge([]Keyspace{
		{Name: "ks3", Replication: map[string]string{"class": simpleStrategy, "replication_factor": "3"}, DurableWrites: true, Time: 1, Seq: 0},
		{Name: "ksn", Replication: map[string]string{"class": ntsStrategy, "datacenter1": "2"}, DurableWrites: true, Time: 2, Seq: 1},
	})
	peers := []Peer{{EndpointState: EndpointState{Addr: "172.19.0.2", Status: StatusNormal, Tokens: []int64{1}, DC: "datacenter1",
		Rack: "rack1", Release: "5.0.8", Schema: "751e297f-bf02-3278-9902-8036f8db5fba"}, Up: true}}
	if got := FormatDescribeCluster(BuildClusterInfoSchema("Test Cluster", peers, false, schema)); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// Status of real 5.0.8 with those keyspaces: "Owns" rather than "Owns
// (effective)", "?" for every node, and the note.
func TestStatusOwnershipNoteGolden(t *testing.T) {
	want := readGolden(t, "status_5.0.8_note.txt")
	schema := Schema{}
	schema.Merge([]Keyspace{
		{Name: "ks3", Replication: map[string]string{"class": simpleStrategy, "replication_factor": "3"}, Time: 1},
		{Name: "ksn", Replication: map[string]string{"class": ntsStrategy, "datacenter1": "2"}, Time: 2, Seq: 1},
	})
	rng := rand.New(rand.NewPCG(1, 2))
	peer := func(addr, id string, load float64) Peer {
		return Peer{EndpointState: EndpointState{Addr: addr, HostID: id, Status: StatusNormal, Tokens: RandomTokens(rng, 16),
			DC: "datacenter1", Rack: "rack1", Load: load}, Up: true}
	}
	peers := []Peer{peer("172.19.0.2", "6c28b956-75d6-4bd5-8c1a-e91ae8764487", 114.7*1024), peer("172.19.0.3", "1131eaf5-e3c6-4264-b4fd-818376314be0", 30.9*1024)}
	if got := FormatStatus(BuildStatusSchema(peers, false, schema)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Effective ownership follows the user keyspaces' common replication.
func TestOwnershipFollowsUserKeyspaces(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var peers []Peer
	for i, dc := range []string{"dc1", "dc1", "dc1", "dc2", "dc2"} {
		peers = append(peers, Peer{EndpointState: EndpointState{Addr: "10.0.0." + string(rune('1'+i)), Status: StatusNormal,
			Tokens: RandomTokens(rng, 8), DC: dc}, Up: true})
	}
	owners := NormalTokenOwners(peers)
	sum := func(own map[string]float32, dc string) float64 {
		var s float64
		for _, p := range peers {
			if dc == "" || p.DC == dc {
				s += float64(own[p.Addr])
			}
		}
		return s
	}
	for _, c := range []struct {
		repl    map[string]string
		dc      string
		want    float64
		comment string
	}{
		{map[string]string{"class": simpleStrategy, "replication_factor": "3"}, "", 3, "SimpleStrategy RF 3: 300% in all"},
		{map[string]string{"class": ntsStrategy, "dc1": "3", "dc2": "1"}, "dc1", 3, "NTS dc1: 3"},
		{map[string]string{"class": ntsStrategy, "dc1": "3", "dc2": "1"}, "dc2", 1, "NTS dc2: 1"},
	} {
		s := Schema{"ks": {Name: "ks", Replication: c.repl, Time: 1}}
		own, ok := schemaOwnership(owners, peers, s)
		if got := sum(own, c.dc); !ok || got < c.want-0.001 || got > c.want+0.001 {
			t.Errorf("%s: sum %.4f (effective %t)", c.comment, got, ok)
		}
	}
}
