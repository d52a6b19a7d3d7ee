package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/hosts"
)

// resolveEngines is how every command that works on a cluster finds its
// engines: hosts.Resolve, then one line on stderr saying which source was
// chosen and why, the same for every command.
func resolveEngines(cmd *cobra.Command, o hosts.Options) (*hosts.Plan, error) {
	plan, err := hosts.Resolve(o)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(cmd.ErrOrStderr(), plan.Describe())
	return plan, nil
}
