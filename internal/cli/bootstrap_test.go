package cli

import (
	"bytes"
	"strings"
	"testing"
)

// Bad flag values are refused before any engine is contacted.
func TestBootstrapRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bootstrap", "--heap", "lots"}, `--heap: invalid size "lots"`},
		{[]string{"bootstrap", "--memory", "1X"}, `--memory: invalid size "1X"`},
		{[]string{"bootstrap", "extra"}, `unknown command "extra"`},
	} {
		var out, errOut bytes.Buffer
		code := Main(c.args, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}
