package cli

import (
	"bytes"
	"strings"
	"testing"
)

// The day-2 commands refuse bad input before any engine is asked.
func TestDay2CommandsRefuseBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
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
