package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestAskYes(t *testing.T) {
	plan := []string{"decommission cass4", "remove volume cass4-data"}
	for answer, ok := range map[string]bool{"y\n": true, "YES\n": true, "n\n": false, "\n": false, "": false, "yes please\n": false} {
		var out bytes.Buffer
		err := askYes(strings.NewReader(answer), &out, plan)
		if (err == nil) != ok {
			t.Errorf("answer %q: err %v, want go ahead %v", answer, err, ok)
		}
		if !strings.Contains(out.String(), "  - decommission cass4\n") || !strings.Contains(out.String(), "[y/N]") {
			t.Errorf("the question does not show the plan:\n%s", out.String())
		}
	}
}
