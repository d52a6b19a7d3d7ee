package ring

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/nodetool"
)

var ids = map[string]string{
	"cass1": "2c0b1b62-8e0e-4b51-9bb0-4a5b7ed0d1a7",
	"cass2": "9a2f7f7e-3c44-4b8e-a3b2-0f6a1f0e6c11",
	"cass3": "5d1e6f0a-7b2c-4c7e-8a55-1d2f3b4c5d6e",
}

var addrs = map[string]string{"cass1": "10.0.1.5", "cass2": "10.0.1.6", "cass3": "10.0.1.7"}

const schemaA = "59adb24e-f3cd-3e02-97f0-5b395827453f"

func expected() []ExpectedNode {
	var out []ExpectedNode
	for i, n := range []string{"cass1", "cass2", "cass3"} {
		out = append(out, ExpectedNode{Name: n, SwarmHost: "swarm-" + string(rune('0'+i)), Address: addrs[n], HostID: ids[n]})
	}
	return out
}

// row makes a status row for a node: code like "UN".
func row(name, code string) nodetool.Node {
	return nodetool.Node{Datacenter: "datacenter1", Status: nodetool.NodeStatus(code[:1]), State: nodetool.NodeState(code[1:]),
		Address: addrs[name], Load: 106834, LoadKnown: true, Tokens: 16, Owns: 33.3, OwnsKnown: true, HostID: ids[name], Rack: "rack1"}
}

func status(nodes ...nodetool.Node) *nodetool.Status {
	return &nodetool.Status{EffectiveOwnership: true, Datacenters: []nodetool.Datacenter{{Name: "datacenter1", Nodes: nodes}}}
}

func describe(version string, endpoints ...string) *nodetool.DescribeCluster {
	return &nodetool.DescribeCluster{Name: "Test Cluster", Partitioner: "p",
		SchemaVersions: []nodetool.Versioned{{Version: version, Endpoints: endpoints}}}
}

func healthyViews() []View {
	var vs []View
	for _, n := range []string{"cass1", "cass2", "cass3"} {
		vs = append(vs, View{Node: n, Status: status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "UN")),
			Describe: describe(schemaA, "10.0.1.5", "10.0.1.6", "10.0.1.7")})
	}
	return vs
}

func passing() []Check {
	return []Check{{Node: "cass1", Name: "cql", Status: "passing"}, {Node: "cass2", Name: "cql", Status: "passing"}, {Node: "cass3", Name: "cql", Status: "passing"}}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(in *Input)
		verdict Verdict
		kinds   []string // problem kinds, in order
		texts   []string // substrings the problems must contain
	}{
		{"healthy", func(in *Input) {}, Healthy, nil, nil},
		{"node down and its container gone", func(in *Input) {
			in.Views[2] = View{Node: "cass3", Unavailable: ContainerGone, Err: errors.New("no running task")}
			for i := 0; i < 2; i++ {
				in.Views[i].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "DN"))
			}
		}, Degraded, []string{KindNoView, KindNotUN}, []string{
			"no view from cass3: container gone: no running task",
			"cass3 is down, normal (DN) in the views of cass1, cass2",
		}},
		{"joining node", func(in *Input) {
			in.Views[0].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "UJ"))
		}, Degraded, []string{KindNotUN}, []string{"cass3 is up, joining (UJ) in cass1's view"}},
		{"leaving and moving", func(in *Input) {
			in.Views[1].Status = status(row("cass1", "UL"), row("cass2", "UM"), row("cass3", "UN"))
		}, Degraded, []string{KindNotUN, KindNotUN}, []string{"cass1 is up, leaving (UL) in cass2's view", "cass2 is up, moving (UM) in cass2's view"}},
		{"missing from a view", func(in *Input) {
			in.Views[0].Status = status(row("cass1", "UN"), row("cass2", "UN"))
		}, Degraded, []string{KindMissing}, []string{"cass3 (10.0.1.7) is missing in cass1's view"}},
		{"unexpected node", func(in *Input) {
			extra := row("cass1", "DN")
			extra.Address, extra.HostID = "10.0.1.99", "11111111-2222-3333-4444-555555555555"
			in.Views[1].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "UN"), extra)
		}, Degraded, []string{KindUnexpected}, []string{"unexpected node 10.0.1.99 (DN, host ID 11111111-2222-3333-4444-555555555555) is listed in cass2's view"}},
		{"duplicate host IDs", func(in *Input) {
			dup := row("cass2", "UN")
			dup.HostID = ids["cass1"]
			for i := range in.Views {
				in.Views[i].Status = status(row("cass1", "UN"), dup, row("cass3", "UN"))
			}
			in.Expected[1].HostID = ""
		}, Degraded, []string{KindDuplicateHostID}, []string{"host ID " + ids["cass1"] + " is shared by cass1 and cass2 in the views of cass1, cass2, cass3"}},
		{"host ID differs from the record", func(in *Input) {
			in.Expected[2].HostID = "00000000-0000-0000-0000-000000000003"
		}, Degraded, []string{KindHostIDMismatch}, []string{"cass3 has host ID " + ids["cass3"] + " where the record says 00000000-0000-0000-0000-000000000003"}},
		{"views disagree on rack", func(in *Input) {
			other := row("cass3", "UN")
			other.Rack = "rack2"
			in.Views[2].Status = status(row("cass1", "UN"), row("cass2", "UN"), other)
		}, Degraded, []string{KindDisagree}, []string{"views disagree on cass3: cass1, cass2 see host ID " + ids["cass3"] + " in datacenter1/rack1; cass3 see"}},
		{"two schema versions", func(in *Input) {
			in.Views[2].Describe = describe("86afa796-d883-3932-aa73-6b017cef0d19", "10.0.1.7")
			in.Views[0].Describe = describe(schemaA, "10.0.1.5", "10.0.1.6")
		}, Degraded, []string{KindSchema}, []string{"2 schema versions: " + schemaA + " on cass1, cass2, cass3; 86afa796-d883-3932-aa73-6b017cef0d19 on cass3"}},
		{"unreachable in describecluster, with ports", func(in *Input) {
			d := describe(schemaA, "10.0.1.5:7000", "10.0.1.6:7000")
			d.Unreachable = []string{"10.0.1.7:7000"}
			in.Views[0].Describe = d
		}, Degraded, []string{KindUnreachable}, []string{"schema agreement cannot reach cass3 in cass1's view"}},
		{"cluster names differ", func(in *Input) {
			in.Views[1].Describe.Name = "Other"
		}, Degraded, []string{KindClusterName}, []string{`"Other" on cass2`}},
		{"failing Consul check", func(in *Input) {
			in.Checks[1] = Check{Node: "cass2", Name: "cql", Status: "critical", Output: "dial tcp 10.0.1.6:9042: connection refused\nmore"}
		}, Degraded, []string{KindCheckFailing}, []string{`Consul check "cql" of cass2 is critical: dial tcp 10.0.1.6:9042: connection refused`}},
		{"Consul unknown: checks not judged", func(in *Input) {
			in.Checks, in.ChecksKnown = nil, false
		}, Healthy, nil, nil},
		{"describecluster failed", func(in *Input) {
			in.Views[0].Describe, in.Views[0].DescribeErr = nil, errors.New("exit status 1")
		}, Degraded, []string{KindDescribeFailed}, []string{"describecluster on cass1 failed, so its schema version is unknown: exit status 1"}},
		{"daemon starting, not asked", func(in *Input) {
			in.Views = []View{in.Views[0], {Node: "cass2", Unavailable: DaemonStarting}}
		}, Degraded, []string{KindNoView, KindNoView}, []string{"no view from cass2: nodetool cannot connect", "no view from cass3: it was not asked"}},
		{"no node answered", func(in *Input) {
			for i := range in.Views {
				in.Views[i] = View{Node: in.Views[i].Node, Unavailable: EngineUnreachable}
			}
		}, Unknown, []string{KindNoView, KindNoView, KindNoView, KindNoAnswer}, []string{"no view from cass1: engine unreachable", "no node answered"}},
		{"no such cluster", func(in *Input) {
			in.Expected, in.Views = nil, nil
		}, Unknown, []string{KindNoClusterOrNodes}, []string{`no nodes found for cluster "lab"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Cluster: "lab", Expected: expected(), Views: healthyViews(), Checks: passing(), ChecksKnown: true}
			tt.edit(&in)
			r := Judge(in)
			if r.Verdict != tt.verdict || r.ExitCode != tt.verdict.ExitCode() {
				t.Errorf("verdict %s (exit %d), want %s; problems %+v", r.Verdict, r.ExitCode, tt.verdict, r.Problems)
			}
			var kinds []string
			all := ""
			for _, p := range r.Problems {
				kinds = append(kinds, p.Kind)
				all += p.Text + "\n"
			}
			if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") {
				t.Errorf("problem kinds %v, want %v:\n%s", kinds, tt.kinds, all)
			}
			for _, s := range tt.texts {
				if !strings.Contains(all, s) {
					t.Errorf("problems do not say %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	for v, want := range map[Verdict]int{Healthy: 0, Degraded: 1, Unknown: 2} {
		if got := v.ExitCode(); got != want {
			t.Errorf("%s.ExitCode() = %d, want %d", v, got, want)
		}
	}
}

func TestRows(t *testing.T) {
	in := Input{Cluster: "lab", Expected: expected(), Views: healthyViews()}
	// cass3's container is gone; cass1 and cass2 see it down. Its row comes
	// from cass1's view, and both answering views agree.
	in.Views[2] = View{Node: "cass3", Unavailable: ContainerGone}
	for i := 0; i < 2; i++ {
		in.Views[i].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "DN"))
	}
	// cass2's own view says its load differs: its row must come from its own view.
	own := row("cass2", "UN")
	own.Load = 2048
	in.Views[1].Status.Datacenters[0].Nodes[1] = own
	r := Judge(in)
	if len(r.Rows) != 3 {
		t.Fatalf("rows %+v", r.Rows)
	}
	c2, c3 := r.Rows[1], r.Rows[2]
	if c2.Source != "cass2" || c2.Load != 2048 || c2.Agree != 2 || c2.Views != 2 {
		t.Errorf("cass2 row %+v", c2)
	}
	if c3.Code != "DN" || c3.Source != "cass1" || c3.Agree != 2 || c3.SwarmHost != "swarm-2" || c3.HostID != ids["cass3"] {
		t.Errorf("cass3 row %+v", c3)
	}
}

func TestRender(t *testing.T) {
	in := Input{Cluster: "lab", Expected: expected(), Views: healthyViews(), Checks: passing(), ChecksKnown: true}
	in.Views[0].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "DN"))
	r := Judge(in)

	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, s := range []string{
		"NODE   HOST     ADDRESS   DC           STATUS  LOAD        OWNS   TOKENS  HOST ID",
		"cass3  swarm-2  10.0.1.7  datacenter1  UN      104.33 KiB  33.3%  16      " + ids["cass3"] + "  rack1  2/3",
		"  - cass3 is down, normal (DN) in cass1's view",
		"Ring lab is DEGRADED: 1 problem (3 of 3 views answered).",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Verdict != Degraded || back.ExitCode != 1 || len(back.Rows) != 3 || back.Rows[2].Code != "UN" || len(back.Problems) != 1 {
		t.Errorf("JSON round trip %+v", back)
	}

	healthy := Judge(Input{Cluster: "lab", Expected: expected(), Views: healthyViews()})
	if got := healthy.Summary(); got != "Ring lab is healthy: 3 nodes up and normal in every view (3 of 3 views answered)." {
		t.Errorf("summary %q", got)
	}
	unknown := Judge(Input{Cluster: "nope"})
	if got := unknown.Summary(); got != `Ring nope is UNKNOWN: no nodes found for cluster "nope".` {
		t.Errorf("summary %q", got)
	}
}

func TestHumanBytes(t *testing.T) {
	tests := map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 106834: "104.33 KiB",
		5001708: "4.77 MiB", 50186692854: "46.74 GiB", 2 << 40: "2 TiB", 5 << 50: "5120 TiB"}
	for in, want := range tests {
		if got := HumanBytes(in); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

// Views that only a partition explains are said to be one, with what to
// open; a node that is down, or views that merely lag, are not.
func TestJudgePartition(t *testing.T) {
	kinds := func(r Report) []string {
		var ks []string
		for _, p := range r.Problems {
			ks = append(ks, p.Kind)
		}
		return ks
	}
	partition := func(r Report) (Problem, bool) {
		for _, p := range r.Problems {
			if p.Kind == KindPartition {
				return p, true
			}
		}
		return Problem{}, false
	}
	t.Run("two rings of one", func(t *testing.T) {
		r := Judge(Input{Cluster: "test", Expected: expected()[:2], Views: []View{
			{Node: "cass1", Status: status(row("cass1", "UN")), Describe: describe(schemaA, "10.0.1.5")},
			{Node: "cass2", Status: status(row("cass2", "UN")), Describe: describe(schemaA, "10.0.1.6")},
		}})
		p, ok := partition(r)
		if r.Verdict != Degraded || !ok {
			t.Fatalf("verdict %s, problems %v: want a partition", r.Verdict, kinds(r))
		}
		if !strings.Contains(p.Text, "cass1 and cass2 cannot reach each other") || !strings.Contains(p.Text, "only a network partition explains") {
			t.Errorf("text: %s", p.Text)
		}
		for _, want := range []string{"between the swarm hosts (swarm-0, swarm-1)", "7946/tcp", "4789/udp", "IP protocol 50 (ESP)"} {
			if !strings.Contains(p.Hint, want) {
				t.Errorf("hint lacks %q: %s", want, p.Hint)
			}
		}
		// The symptoms are still listed, before the explanation.
		if ks := kinds(r); ks[len(ks)-1] != KindPartition || !slices.Contains(ks, KindMissing) {
			t.Errorf("kinds %v, want the missing nodes, then the partition", ks)
		}
		var b bytes.Buffer
		r.WriteTable(&b)
		if !strings.Contains(b.String(), "    hint: the overlay network between") {
			t.Errorf("table lacks the hint:\n%s", b.String())
		}
	})
	t.Run("one node cut off from the ring", func(t *testing.T) {
		vs := healthyViews()
		for i := range 2 {
			vs[i].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "DN"))
		}
		vs[2].Status = status(row("cass1", "DN"), row("cass2", "DN"), row("cass3", "UN"))
		r := Judge(Input{Cluster: "test", Expected: expected(), Views: vs})
		p, ok := partition(r)
		if !ok || !strings.Contains(p.Text, "the nodes fall into 2 groups that cannot reach each other (cass1, cass2 | cass3)") {
			t.Errorf("problems %+v, want cass3 cut off from cass1, cass2", r.Problems)
		}
	})
	for _, tc := range []struct {
		name string
		edit func(vs []View)
	}{
		{"healthy", func(vs []View) {}},
		{"a node stopped", func(vs []View) {
			vs[2] = View{Node: "cass3", Unavailable: DaemonStarting}
			for i := range 2 {
				vs[i].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "DN"))
			}
		}},
		{"one view lags", func(vs []View) {
			vs[0].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "DN"))
		}},
		{"a node joining", func(vs []View) {
			for i := range 2 {
				vs[i].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "UJ"))
			}
			vs[2].Status = status(row("cass1", "UN"), row("cass2", "UN"), row("cass3", "UJ"))
		}},
	} {
		t.Run("no partition: "+tc.name, func(t *testing.T) {
			vs := healthyViews()
			tc.edit(vs)
			r := Judge(Input{Cluster: "test", Expected: expected(), Views: vs})
			if _, ok := partition(r); ok {
				t.Errorf("partition reported: %+v", r.Problems)
			}
		})
	}
}
