package nodewait

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarmcass/swarmcass/engine"
	"github.com/swarmcass/swarmcass/nodetool"
)

// Tokens are the tokens the node in container owns, ascending, as
// `nodetool info -T` in it lists them.
func Tokens(ctx context.Context, e engine.Engine, container string) ([]int64, error) {
	out, _, err := Nodetool(ctx, e, container, "info", "-T")
	var ee *ExecError
	switch {
	case errors.As(err, &ee):
		return nil, fmt.Errorf("exec nodetool info on %s: %w", e.Name(), err)
	case err != nil:
		return nil, err
	}
	return nodetool.ParseInfoTokens(out)
}

// HostID is the node's own host ID, from `nodetool info` in its container.
func HostID(ctx context.Context, e engine.Engine, container string) (string, error) {
	out, _, err := Nodetool(ctx, e, container, "info")
	if err != nil {
		return "", fmt.Errorf("exec nodetool info on %s: %w", e.Name(), err)
	}
	return nodetool.ParseInfoID(out)
}
