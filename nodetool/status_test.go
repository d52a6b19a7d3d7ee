package nodetool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readSample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// One row of a sample, checked field by field.
type wantNode struct {
	dc, code, addr string
	port           int
	load           int64 // -1: unknown
	tokens         int
	owns           float64 // -1: unknown
	hostID, token  string
	rack           string
}

func TestParseStatusSamples(t *testing.T) {
	tests := []struct {
		file         string
		effective    bool
		tokenPerNode bool
		dcs          []string
		notes        int
		nodes        []wantNode // checked: first and last node of the output
	}{
		{"status-2.1-effective.txt", true, false, []string{"datacenter1"}, 0, []wantNode{
			{"datacenter1", "UN", "127.0.0.1", 0, 52828, 256, 100, "a6d66826-23a0-4f7a-833e-ed060d26d4e3", "", "rack1"},
			{"datacenter1", "UN", "127.0.0.2", 0, 52828, 256, 100, "01ac4b54-1a6f-4db0-8bdc-f54f68dbc4d2", "", "rack1"},
		}},
		{"status-2.1-owns-note.txt", false, false, []string{"datacenter1"}, 1, []wantNode{
			{"datacenter1", "UN", "127.0.0.1", 0, 151791862, 256, -1, "89c38ff3-9ac2-4e15-8ff8-d3a085d30f85", "", "rack1"},
			{"datacenter1", "UN", "127.0.0.2", 0, 32474399, 256, -1, "b4964644-a83f-4cbf-a6b0-903b02b71152", "", "rack1"},
		}},
		{"status-3.11-one-node.txt", true, false, []string{"datacenter1"}, 0, []wantNode{
			{"datacenter1", "UN", "172.17.0.2", 0, 314132, 256, 100, "ed19c671-f413-4108-b9f2-1bb62ce8975c", "", "rack1"},
		}},
		{"status-3.11-two-dc.txt", true, false, []string{"DC1", "DC2"}, 0, []wantNode{
			{"DC1", "UN", "172.31.0.3", 0, 257925, 256, 100, "3ff30099-d2de-4141-b246-4a3db7e92fd9", "", "rack1"},
			{"DC2", "UN", "172.31.0.4", 0, 199608, 256, 100, "61b28950-b6b2-46f4-a757-c23b4f9e1b01", "", "rack1"},
		}},
		{"status-3.11-elassandra-owns.txt", false, false, []string{"dc1", "dc2"}, 0, []wantNode{
			{"dc1", "UN", "20.54.72.64", 0, 5001708, 16, -1, "8bbfeef1-6112-4509-0000-000000000000", "", "northeurope-1"},
			{"dc2", "UN", "146.148.117.125", 0, 3680502, 16, -1, "84846161-944e-49e2-0001-000000000000", "", "europe-west1-d"},
		}},
		{"status-4.0.1-two-dc-down.txt", true, false, []string{"dc1", "dc2"}, 0, []wantNode{
			{"dc1", "DN", "10.0.45.205", 0, 50186692854, 1, 0, "821d2534-0ea9-4c7c-a312-0e6047569503", "", "default"},
			{"dc2", "UN", "10.0.62.14", 0, 159880157594, 1, 100, "b2059b41-7899-430a-a386-fa43f3805a8e", "", "default"},
		}},
		{"status-4.0.3-pp.txt", true, false, []string{"datacenter1"}, 0, []wantNode{
			{"datacenter1", "UN", "127.0.0.1", 7000, 184945, 16, 48.8, "9147128a-dd9e-4909-966d-f849e6ce2206", "", "rack1"},
			{"datacenter1", "UN", "127.0.0.1", 8000, 196383, 16, 51.2, "373bdbea-ec2b-4647-aedb-6e31adda7732", "", "rack1"},
		}},
		{"status-4.1.3-two-dc.txt", true, false, []string{"Nord", "Terres-de-la-Couronne"}, 0, []wantNode{
			{"Nord", "UN", "172.18.0.3", 0, 106834, 16, 50.5, "ea257e07-3ad3-4971-a0d3-eb5d97bfa07c", "", "Winterfell"},
			{"Terres-de-la-Couronne", "UN", "172.18.0.5", 0, 106854, 16, 50.2, "a497f085-ed67-40a0-a3d6-8c9b87b81e64", "", "Port-Real"},
		}},
		{"status-4.1.3-two-dc-six.txt", true, false, []string{"NORD", "TERRES-DE-LA-COURONNE"}, 0, []wantNode{
			{"NORD", "UN", "172.18.0.4", 0, 77005, 16, 31.9, "6ee78c05-ae68-4d93-9d35-f1ff01d9d33a", "", "WINTERFELL2"},
			{"TERRES-DE-LA-COURONNE", "UN", "172.18.0.5", 0, 71936, 16, 30.2, "3e710059-131e-43d6-a0f2-919d423ae1cc", "", "PORT-REAL2"},
		}},
		{"status-4.x-owns-down.txt", false, false, []string{"cs-d0767a536f"}, 0, []wantNode{
			{"cs-d0767a536f", "UN", "172.20.1.115", 0, 1268777, 16, -1, "6eb3d978-d20b-4a01-9749-54f9b89388ca", "", "default"},
			{"cs-d0767a536f", "DN", "172.20.4.13", 0, 1163919, 16, -1, "19cce943-6ea7-41cc-b87f-8aed335616c2", "", "default"},
		}},
		{"status-trunk-single-token.txt", true, true, []string{"datacenter1"}, 0, []wantNode{
			{"datacenter1", "UN", "localhost", 0, 46807, 1, 100, "0b1b5e91-ad3b-444e-9c24-50578486978a", "1849950853373272258", "rack1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st, err := ParseStatus(readSample(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if st.EffectiveOwnership != tt.effective || st.TokenPerNode != tt.tokenPerNode {
				t.Errorf("effective=%v tokenPerNode=%v, want %v %v", st.EffectiveOwnership, st.TokenPerNode, tt.effective, tt.tokenPerNode)
			}
			var dcs []string
			for _, dc := range st.Datacenters {
				dcs = append(dcs, dc.Name)
			}
			if strings.Join(dcs, ",") != strings.Join(tt.dcs, ",") {
				t.Errorf("datacenters %v, want %v", dcs, tt.dcs)
			}
			if len(st.Notes) != tt.notes {
				t.Errorf("notes %q, want %d", st.Notes, tt.notes)
			}
			nodes := st.Nodes()
			got := []Node{nodes[0]}
			if len(tt.nodes) > 1 {
				got = append(got, nodes[len(nodes)-1])
			}
			for i, w := range tt.nodes {
				checkNode(t, got[i], w)
			}
		})
	}
}

func checkNode(t *testing.T, n Node, w wantNode) {
	t.Helper()
	if n.Datacenter != w.dc || n.Code() != w.code || n.Address != w.addr || n.Port != w.port ||
		n.Tokens != w.tokens || n.HostID != w.hostID || n.Token != w.token || n.Rack != w.rack {
		t.Errorf("node %+v, want %+v", n, w)
	}
	if (w.load < 0) == n.LoadKnown || (n.LoadKnown && n.Load != w.load) {
		t.Errorf("%s: load %d known=%v, want %d", w.addr, n.Load, n.LoadKnown, w.load)
	}
	if (w.owns < 0) == n.OwnsKnown || (n.OwnsKnown && n.Owns != w.owns) {
		t.Errorf("%s: owns %v known=%v, want %v", w.addr, n.Owns, n.OwnsKnown, w.owns)
	}
}

func TestStatusCountsAndLookups(t *testing.T) {
	st, err := ParseStatus(readSample(t, "status-4.0.1-two-dc-down.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CountUN(); got != 3 {
		t.Errorf("CountUN = %d, want 3", got)
	}
	if n, ok := st.Node("10.0.59.211"); !ok || n.Code() != "DN" || n.Datacenter != "dc1" {
		t.Errorf("Node(10.0.59.211) = %+v, %v", n, ok)
	}
	if _, ok := st.Node("10.0.59.21"); ok {
		t.Error("Node(10.0.59.21) found a node that is not there")
	}

	pp, err := ParseStatus(readSample(t, "status-4.0.3-pp.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := pp.Node("127.0.0.1:8000"); !ok || n.HostID != "373bdbea-ec2b-4647-aedb-6e31adda7732" {
		t.Errorf("Node(127.0.0.1:8000) = %+v, %v", n, ok)
	}
	if _, ok := pp.Node("127.0.0.1:9000"); ok {
		t.Error("Node(127.0.0.1:9000) matched another port")
	}
}

// Synthetic rows built from the printf format of Status.java, for forms no
// real sample shows.
func TestParseStatusSynthetic(t *testing.T) {
	head := "Datacenter: datacenter1\n=======================\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n"
	vnode := head + "--  Address  Load  Tokens  Owns (effective)  Host ID  Rack\n"
	tests := []struct {
		name string
		row  string
		want wantNode
	}{
		{"ipv6 with port", "UN  [0:0:0:0:0:0:0:1]:7000  1,5 MiB  16  33,3%  9147128a-dd9e-4909-966d-f849e6ce2206  rack1",
			wantNode{"datacenter1", "UN", "0:0:0:0:0:0:0:1", 7000, 1572864, 16, 33.3, "9147128a-dd9e-4909-966d-f849e6ce2206", "", "rack1"}},
		{"ipv6 without port", "UJ  fd00:0:0:0:0:0:0:5  ?  16  ?  9147128a-dd9e-4909-966d-f849e6ce2206  rack1",
			wantNode{"datacenter1", "UJ", "fd00:0:0:0:0:0:0:5", 0, -1, 16, -1, "9147128a-dd9e-4909-966d-f849e6ce2206", "", "rack1"}},
		{"bytes, TiB and null host ID", "?L  10.0.0.9  1023 bytes  16  0.0%  null  rack 2",
			wantNode{"datacenter1", "?L", "10.0.0.9", 0, 1023, 16, 0, "", "", "rack 2"}},
		{"4.x blank host ID", "DM  10.0.0.9  2 TiB  16  12.5%    rack1",
			wantNode{"datacenter1", "DM", "10.0.0.9", 0, 2 << 40, 16, 12.5, "", "", "rack1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := ParseStatus(vnode + tt.row + "\n\n")
			if err != nil {
				t.Fatal(err)
			}
			checkNode(t, st.Nodes()[0], tt.want)
		})
	}
	if n, ok := mustParse(t, vnode+"UN  [::1]:7000  1 KiB  16  1.0%  9147128a-dd9e-4909-966d-f849e6ce2206  r\n").Node("::1"); !ok || n.Port != 7000 {
		t.Errorf("Node(::1) = %+v, %v", n, ok)
	}
}

func mustParse(t *testing.T, s string) *Status {
	t.Helper()
	st, err := ParseStatus(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestParseStatusRejects(t *testing.T) {
	good := readSample(t, "status-4.1.3-two-dc.txt")
	tests := []struct {
		name, in, quote string
	}{
		{"empty", "", "no datacenter"},
		{"connect failure on stdout", "nodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused'.\n", "Failed to connect"},
		{"error line", "\nError: The keyspace nope, does not exist\n", "Error: The keyspace nope"},
		{"unknown status letter", strings.Replace(good, "UN  172.18.0.3", "XN  172.18.0.3", 1), "XN  172.18.0.3"},
		{"unknown load unit", strings.Replace(good, "104.33 KiB", "104.33 KiX", 1), "unit \"KiX\""},
		{"bad token count", strings.Replace(good, "KiB  16 ", "KiB  NaN", 1), "token count"},
		{"bad ownership", strings.Replace(good, "50.5%", "50.5x", 1), "50.5x"},
		{"extra column", strings.Replace(good, "Host ID                               Rack      ", "Host ID  Rack  SomeNewField", 1), "unknown table header"},
		{"missing legend", strings.Replace(good, "Status=Up/Down\n", "", 1), "expected \"Status=Up/Down\""},
		{"truncated header", "Datacenter: dc1\n===============\nStatus=Up/Down\n", "expected \"|/ State=Normal"},
		{"no rows", "Datacenter: dc1\n===============\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n--  Address  Load  Tokens  Owns  Host ID  Rack\n", "has no nodes"},
		{"row without rack", strings.Replace(good, "  Winterfell\n", "\n", 1), "before the rack"},
		{"bad port", strings.Replace(good, "172.18.0.3 ", "172.18.0.3:99999 ", 1), "not a port"},
		{"percent under Owns", strings.Replace(readSample(t, "status-4.x-owns-down.txt"), "16      ?  ", "16      5% ", 1), "only ?"},
		{"java stack trace", "error: null\n-- StackTrace --\njava.lang.NullPointerException\n", "error: null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStatus(tt.in)
			if err == nil {
				t.Fatal("parsed without error")
			}
			if !strings.Contains(err.Error(), tt.quote) {
				t.Errorf("error %q does not say %q", err, tt.quote)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "status-*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("Datacenter: x\n=\nStatus=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n-- Address Load Owns Host ID Token Rack\nU? a ? ? null t r\n")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStatus(s)
		if err != nil {
			return
		}
		// A parse that succeeds has a datacenter, nodes, and sane values.
		if len(st.Datacenters) == 0 {
			t.Fatal("no datacenter and no error")
		}
		for _, n := range st.Nodes() {
			if n.Address == "" || n.Rack == "" || n.Load < 0 || n.Tokens < 0 || n.Owns < 0 {
				t.Fatalf("bad node %+v", n)
			}
			st.Node(n.Address)
		}
		st.CountUN()
	})
}
