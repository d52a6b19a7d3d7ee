package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/cluster/clustertest"
	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/engine/enginetest"
	"github.com/swarmcass/swarmcass/op"
)

// The node commands run in the node's container, on the engine that runs
// it, and exit with the command's own code.
func TestNodeCommands(t *testing.T) {
	ctx := context.Background()
	l := clustertest.New(t, 3).Running("test", 3)
	engines := []engine.Engine{l.Swarm[0], l.Swarm[1], l.Swarm[2], l.Infra}
	before := len(l.W.Log()) // mutating calls
	ringExec := l.W.Exec
	var ran []string
	l.W.Exec = func(f *enginetest.Fake, c engine.Container, cmd []string) (engine.ExecResult, error) {
		ran = append(ran, f.Name()+" "+c.Labels[engine.LabelNode]+": "+strings.Join(cmd, " "))
		if cmd[0] == "nodetool" {
			return ringExec(f, c, cmd)
		}
		if cmd[0] == "false" {
			return engine.ExecResult{ExitCode: 3, Stderr: "it failed\n"}, nil
		}
		return engine.ExecResult{Stdout: "ran " + strings.Join(cmd, " ") + "\n"}, nil
	}
	l.W.Logs = func(f *enginetest.Fake, c engine.Container, tail int) string {
		return "log of " + c.Labels[engine.LabelNode] + " on " + f.Name() + "\n"
	}

	for _, c := range []struct {
		name     string
		node     string
		argv     []string
		code     int
		stdout   string
		stderr   string
		ranWhere string
	}{
		{"nodetool status", "cass2", []string{"nodetool", "status"}, 0, "UN  " + l.Addrs["cass2"], "", "swarm-1 cass2: nodetool status"},
		{"by address", l.Addrs["cass3"], []string{"nodetool", "status"}, 0, "Datacenter:", "", "swarm-2 cass3: nodetool status"},
		{"nodetool's own exit code", "cass1", []string{"nodetool", "repair", "-pr"}, 127, "", "unknown command nodetool repair -pr", "swarm-0 cass1: nodetool repair -pr"},
		{"exec", "cass1", []string{"ls", "-l", "/var/lib/cassandra"}, 0, "ran ls -l /var/lib/cassandra", "", "swarm-0 cass1: ls -l /var/lib/cassandra"},
		{"exec's exit code", "cass3", []string{"false"}, 3, "", "it failed", "swarm-2 cass3: false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ran = nil
			var out, errOut bytes.Buffer
			err := execIn(ctx, engines, "test", c.node, c.argv, engine.ExecIO{Stdout: &out, Stderr: &errOut})
			if code := exitCode(err); code != c.code {
				t.Errorf("exit %d (%v), want %d", code, err, c.code)
			}
			if !strings.Contains(out.String(), c.stdout) || !strings.Contains(errOut.String(), c.stderr) {
				t.Errorf("stdout %q, stderr %q; want %q and %q", out.String(), errOut.String(), c.stdout, c.stderr)
			}
			if !slices.Equal(ran, []string{c.ranWhere}) {
				t.Errorf("ran %q, want %q", ran, c.ranWhere)
			}
		})
	}

	var out bytes.Buffer
	if err := logsOf(ctx, engines, "test", "cass2", 50, false, &out, &out); err != nil || out.String() != "log of cass2 on swarm-1\n" {
		t.Errorf("logs: %q, %v", out.String(), err)
	}
	err := execIn(ctx, engines, "test", "cass7", []string{"nodetool", "status"}, engine.ExecIO{Stdout: &out, Stderr: &out})
	if exitCode(err) != -1 || !strings.Contains(op.Explain(err), `no node "cass7" in cluster test`) ||
		!strings.Contains(op.Explain(err), "hint: give a node name or address; the cluster's nodes are cass1, cass2, cass3") {
		t.Errorf("unknown node: %v", op.Explain(err))
	}
	// stdin goes to the command when asked (exec -i, cqlsh without -e).
	in := engine.ExecIO{Stdin: strings.NewReader("SELECT * FROM system.local;\n"), Stdout: &out, Stderr: &out}
	if err := execIn(ctx, engines, "test", "cass1", []string{"cqlsh"}, in); err != nil || !slices.Equal(l.W.Stdin, []string{"SELECT * FROM system.local;\n"}) {
		t.Errorf("stdin: %q, %v", l.W.Stdin, err)
	}
	if after := l.W.Log()[before:]; len(after) != 0 {
		t.Errorf("node commands changed %v", after)
	}
}

// Flags after NODE belong to the command run in the node; a command
// without one is refused.
func TestNodeCommandArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"exec", "cass1", "--"}, 1, "exec cass1: no command given"},
		{[]string{"exec", "cass1"}, 1, "hint: swarmcass exec cass1 -- CMD [ARGS...]"},
		{[]string{"nodetool"}, 1, "requires at least 1 arg"},
		{[]string{"logs", "cass1", "extra"}, 1, "accepts 1 arg"},
		{[]string{"nodetool", "--cluster", "Bad!", "cass1", "status"}, 1, `invalid cluster name "Bad!"`},
		{[]string{"logs", "--tail", "ten", "cass1"}, 1, `invalid argument "ten"`},
	} {
		var out, errOut bytes.Buffer
		if code := Main(c.args, &out, &errOut); code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut.String(), c.code, c.want)
		}
	}
}

func TestCqlshStreams(t *testing.T) {
	for _, c := range []struct {
		args       []string
		terminal   bool
		stdin, tty bool
	}{
		{nil, true, true, true},                  // interactive
		{nil, false, true, false},                // statements piped in
		{[]string{"-k", "ks"}, true, true, true}, // interactive in a keyspace
		{[]string{"-e", "DESCRIBE KEYSPACES"}, true, false, false},
		{[]string{"--execute=SELECT 1"}, true, false, false},
		{[]string{"-eSELECT 1"}, false, false, false},
		{[]string{"-f", "/tmp/x.cql"}, true, false, false},
		{[]string{"--encoding", "utf8"}, false, true, false},
	} {
		if stdin, tty := cqlshStreams(c.args, c.terminal); stdin != c.stdin || tty != c.tty {
			t.Errorf("cqlshStreams(%q, terminal %v) = stdin %v, tty %v; want %v, %v", c.args, c.terminal, stdin, tty, c.stdin, c.tty)
		}
	}
}

// exec -i gives the command swarmcass's stdin, -t a terminal (and stdin);
// without them it gets neither.
func TestExecStreams(t *testing.T) {
	for _, c := range []struct {
		stdin, tty, wantStdin bool
	}{
		{false, false, false},
		{true, false, true},
		{false, true, true},
		{true, true, true},
	} {
		cmd := newExecCommand()
		in := strings.NewReader("input")
		cmd.SetIn(in)
		s, restore, err := streams(cmd, c.stdin, c.tty)
		restore()
		if err != nil || (s.Stdin != nil) != c.wantStdin || s.TTY != c.tty || (c.wantStdin && s.Stdin != in) {
			t.Errorf("-i %v -t %v: %+v, %v", c.stdin, c.tty, s, err)
		}
	}
	cmd := newExecCommand()
	if err := cmd.ParseFlags([]string{"-it", "cass1", "--", "bash", "-l"}); err != nil {
		t.Fatal(err)
	}
	if i, _ := cmd.Flags().GetBool("interactive"); !i {
		t.Error("-it did not set -i")
	}
	if got := cmd.Flags().Args(); !slices.Equal(got, []string{"cass1", "--", "bash", "-l"}) && !slices.Equal(got, []string{"cass1", "bash", "-l"}) {
		t.Errorf("args after the flags: %q", got)
	}
}

func TestParsedOnce(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a", "a"}, []string{"a"}},
		{[]string{"infra=a", "swarm=b", "infra=a", "swarm=b"}, []string{"infra=a", "swarm=b"}},
		{[]string{"swarm=b", "swarm=c"}, []string{"swarm=b", "swarm=c"}},
	} {
		if got := parsedOnce(c.in); !slices.Equal(got, c.want) {
			t.Errorf("parsedOnce(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Completion of NODE offers no files; with no engine to ask it offers
// nothing and says nothing.
func TestNodeCompletionWithoutEngine(t *testing.T) {
	sock := "unix://" + t.TempDir() + "/no.sock"
	var out, errOut bytes.Buffer
	code := Main([]string{"__complete", "nodetool", "--host", sock, ""}, &out, &errOut)
	if code != 0 || out.String() != ":4\n" {
		t.Errorf("exit %d, completions %q (stderr %q)", code, out.String(), errOut.String())
	}
}
