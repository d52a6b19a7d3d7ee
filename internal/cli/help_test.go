package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command a user runs shows examples in --help, and no placeholder
// is left unfilled in them.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden && c.Name() != "help" && c.Name() != "completion" && c.Parent() != nil && c.Parent().Name() != "completion" {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%q has no examples in --help", c.CommandPath())
			}
		}
		if strings.ContainsAny(c.Example, "{}") {
			t.Errorf("%q has an unfilled placeholder in its examples:\n%s", c.CommandPath(), c.Example)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand(io.Discard, io.Discard))
}

// --help says which exit codes a command has.
func TestHelpNamesExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Exit codes:", "130  interrupted"}},
		{[]string{"bootstrap", "--help"}, []string{"Exit codes:", "1    failure", "130  interrupted"}},
		{[]string{"ring", "--help"}, []string{"Exit codes:", "1  degraded", "every usage or input error"}},
	} {
		var out, errOut strings.Builder
		if code := Main(c.args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d", c.args, code)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v does not say %q:\n%s", c.args, w, out.String())
			}
		}
	}
}
