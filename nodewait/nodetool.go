package nodewait

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
)

// ExecError is an Exec call that failed (not nodetool exiting non-zero):
// the container or its engine may be gone.
type ExecError struct{ Err error }

func (e *ExecError) Error() string { return e.Err.Error() }
func (e *ExecError) Unwrap() error { return e.Err }

// Nodetool runs `nodetool args...` in container on e and returns its
// standard output, and all it printed (for a report: stdout, or stderr when
// it failed). An Exec failure comes back as an *ExecError, nodetool's
// failure to connect to its daemon as a *nodetool.ConnectError, and any
// other non-zero exit with the first lines of what it said.
func Nodetool(ctx context.Context, e engine.Engine, container string, args ...string) (stdout, output string, err error) {
	res, err := e.Exec(ctx, container, append([]string{"nodetool"}, args...))
	if err != nil {
		return "", "", &ExecError{err}
	}
	if res.ExitCode != 0 {
		if ce, ok := nodetool.ParseConnectError(res.Stderr); ok {
			return "", res.Stderr, ce
		}
		msg := strings.TrimSpace(res.Stderr)
		if msg == "" {
			msg = strings.TrimSpace(res.Stdout)
		}
		return "", res.Stdout + res.Stderr, fmt.Errorf("nodetool %s exited %d: %s", strings.Join(args, " "), res.ExitCode, firstLines(msg, 3))
	}
	return res.Stdout, res.Stdout, nil
}

// Status runs nodetool status in container on e and parses it; output is
// what it printed, for a report.
func Status(ctx context.Context, e engine.Engine, container string) (s *nodetool.Status, output string, err error) {
	out, output, err := Nodetool(ctx, e, container, "status")
	var ee *ExecError
	switch {
	case errors.As(err, &ee):
		return nil, output, fmt.Errorf("exec nodetool status on %s: %w", e.Name(), err)
	case err != nil:
		return nil, output, err
	}
	s, err = nodetool.ParseStatus(out)
	if err != nil {
		return nil, output, fmt.Errorf("read nodetool status: %w", err)
	}
	return s, output, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, " / ")
}
