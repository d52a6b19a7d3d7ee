// Package cli holds swarmcass's commands: one file per command, each with a
// private options struct and a run function, wired together here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/swarmcass/swarmcass/images"
	"github.com/swarmcass/swarmcass/op"
)

// Exit codes. Every command exits ExitOK on success, ExitFailure when it
// fails and ExitInterrupted after Ctrl-C; ring has its own (ring.go).
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitInterrupted = 130
)

// exitCodeHelp is the paragraph of --help that says so.
const exitCodeHelp = `Exit codes:
  0    success
  1    failure, including a bad flag or argument
  130  interrupted (Ctrl-C)`

// usageExitKey is the annotation by which a command gives the exit code of
// its usage and input errors (a bad flag, an argument, a value refused
// before anything runs, a machine store that is not there): ring's is 2,
// "cannot judge", so that a monitor never reads a typo as a sick ring.
const usageExitKey = "swarmcass.usage-exit"

// withUsageExit sets the exit code of cmd's usage and input errors.
func withUsageExit(cmd *cobra.Command, code int) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[usageExitKey] = strconv.Itoa(code)
	return cmd
}

// failureCode is the exit code of an error of cmd that carries none:
// ExitFailure, or the command's usage exit code when it has one.
func failureCode(cmd *cobra.Command) int {
	if cmd != nil {
		if c, err := strconv.Atoi(cmd.Annotations[usageExitKey]); err == nil {
			return c
		}
	}
	return ExitFailure
}

// ExitError carries a specific exit code (ring uses 1 and 2) out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Main runs swarmcass with args and returns the process exit code. Ctrl-C
// cancels the context every command runs under, and the command winds down
// (bootstrap gives its lock back); a second Ctrl-C ends swarmcass at once.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	interrupted := context.AfterFunc(ctx, func() {
		stop() // the next signal is not caught: it ends the process
		fmt.Fprintln(stderr, "\nswarmcass: interrupted, stopping (Ctrl-C again to quit at once)")
	})
	defer func() {
		interrupted() // first: stop() ends ctx too, and that is no interrupt
		stop()
	}()

	root := NewRootCommand(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "swarmcass: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(stderr, "swarmcass: %s\n", op.Explain(err))
	if ctx.Err() != nil {
		return ExitInterrupted
	}
	return failureCode(cmd)
}

// NewRootCommand builds the command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "swarmcass",
		Short: "Provision Apache Cassandra clusters on Docker Swarm",
		Long: `swarmcass provisions Apache Cassandra clusters on Docker Swarm through the
Docker Engine API: a Consul server and an image registry on an infra host, a
swarm with an attachable overlay network, and Cassandra nodes started one at a
time, each waited for until nodetool reports it Up/Normal.

` + exitCodeHelp + `
ring has codes of its own: see swarmcass ring --help.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	for _, add := range commands {
		root.AddCommand(add())
	}
	return root
}

// commands is filled by each command's file in an init function, so that
// adding a command touches no other file.
var commands []func() *cobra.Command

func register(c func() *cobra.Command) { commands = append(commands, c) }

// withPins fills {consul} and {registry} in help text with the offline
// images scripts/build-images.sh builds, so examples name what exists.
func withPins(s string) string {
	return strings.NewReplacer("{consul}", images.Consul, "{registry}", images.Registry).Replace(s)
}
