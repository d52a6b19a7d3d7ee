package nodewait

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/swarmcass/swarmcass/engine"
)

// failedStates are task states that mean the node's container died.
var failedStates = map[string]bool{"failed": true, "rejected": true, "orphaned": true}

// Failed reports whether the task's container died.
func Failed(t engine.Task) bool { return failedStates[t.State] }

// StartFailed reports whether dockerd could not start the task's container
// (a mount, as the secrets tmpfs of two nodes set up at once on one engine
// was once refused with "device or resource busy", or a network): the node
// never ran in it, and Swarm's next task may start it.
func StartFailed(t engine.Task) bool {
	return Failed(t) && strings.HasPrefix(t.Err, "starting container failed")
}

// MaxStartFailures is how many tasks that could not start a wait lets Swarm
// replace before it gives up: a cause that stays (a missing image, a bad
// mount) fails every time.
const MaxStartFailures = 3

// Fatal returns the failed task, not in endedBefore, that ends a wait for the
// node: one whose container ran and died, or the MaxStartFailures-th that
// could not start.
func Fatal(tasks []engine.Task, endedBefore map[string]bool) (engine.Task, bool) {
	starts := 0
	for _, t := range tasks {
		if !Failed(t) || endedBefore[t.ID] {
			continue
		}
		if !StartFailed(t) {
			return t, true
		}
		if starts++; starts >= MaxStartFailures {
			return t, true
		}
	}
	return engine.Task{}, false
}

// newestFailed is the error of a node whose newest task failed for good (see
// Fatal); a task that could not start is waited past, as Swarm replaces it.
func newestFailed(tasks []engine.Task) error {
	if t, ok := Fatal(tasks, nil); ok && t.ID == tasks[0].ID {
		return fmt.Errorf("its task %s %s: %s", t.ID, t.State, cmp.Or(t.Err, t.Message))
	}
	return nil
}

// Ended are the IDs of tasks that ended: failed, or ended to be replaced
// by Swarm (as after failed health checks).
func Ended(tasks []engine.Task) map[string]bool {
	ended := map[string]bool{}
	for _, t := range tasks {
		if Failed(t) || t.State == "complete" || t.State == "shutdown" {
			ended[t.ID] = true
		}
	}
	return ended
}

// Runs reports whether the task has a container nodetool can be asked in.
// A task stays "starting" until its image's HEALTHCHECK first passes, which
// may be many seconds after the container started: nodetool, not the
// health check, says how the node is.
func Runs(t engine.Task) bool {
	return t.State == "running" || (t.State == "starting" && t.ContainerID != "")
}

// Why is what the task says about its state: ": " and its error or
// message, or "".
func Why(t engine.Task) string {
	switch {
	case t.Err != "":
		return ": " + t.Err
	case t.Message != "":
		return ": " + t.Message
	}
	return ""
}
