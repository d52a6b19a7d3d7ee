package cli

import (
	"bytes"
	"strings"
	"testing"
)

// Bad flag values are refused before any engine is contacted, by
// bootstrap and by the day-2 commands.
func TestBootstrapRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bootstrap", "--heap", "lots"}, `--heap: invalid size "lots"`},
		{[]string{"bootstrap", "--memory", "1X"}, `--memory: invalid size "1X"`},
		{[]string{"bootstrap", "extra"}, `unknown command "extra"`},
		{[]string{"bootstrap", "--heap", "10"}, "--heap 10 has no unit\n  hint: write the size with a unit, e.g. --heap 256M"},
		{[]string{"bootstrap", "--memory", "2048"}, "--memory 2048 has no unit"},
		{[]string{"bootstrap", "--cql-port", "-5"}, "--cql-port -5 is not a port"},
		// With an engine given, so that the refusal comes from bootstrap's
		// own checks; were the engine asked, it would not answer.
		{[]string{"bootstrap", "--host", "tcp://127.0.0.1:1", "--cql-port", "70000"}, "--cql-port 70000 is not a port"},
		{[]string{"bootstrap", "--host", "tcp://127.0.0.1:1", "--network", "bad name!"}, `invalid --network "bad name!"`},
		{[]string{"bootstrap", "--host", "tcp://127.0.0.1:1", "--cluster", "Prod"}, `invalid cluster name "Prod"`},
		// The day-2 commands, likewise.
		{[]string{"scale"}, `required flag(s) "nodes" not set`},
		{[]string{"scale", "--host", "tcp://127.0.0.1:1", "--nodes", "0"}, "--nodes 0: a cluster keeps at least one node"},
		{[]string{"replace"}, "accepts 1 arg(s), received 0"},
		{[]string{"replace", "cass1", "cass2"}, "accepts 1 arg(s), received 2"},
		{[]string{"down", "extra"}, `unknown command "extra"`},
		{[]string{"down", "--host", "tcp://127.0.0.1:1", "--cluster", "Prod"}, `invalid cluster name "Prod"`},
	} {
		var out, errOut bytes.Buffer
		code := Main(c.args, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut.String(), c.want)
		}
		if strings.Contains(errOut.String(), "does not answer") {
			t.Errorf("%v: an engine was asked before the input was refused:\n%s", c.args, errOut.String())
		}
	}
}
