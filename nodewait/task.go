package nodewait

import "github.com/swarmcass/swarmcass/engine"

// failedStates are task states that mean the node's container died.
var failedStates = map[string]bool{"failed": true, "rejected": true, "orphaned": true}

// Failed reports whether the task's container died.
func Failed(t engine.Task) bool { return failedStates[t.State] }

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
