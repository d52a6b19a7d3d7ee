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
