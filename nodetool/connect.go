package nodetool

import (
	"regexp"
	"strings"
)

// ConnectError is nodetool's message when it cannot reach the node's JMX
// port, printed on stderr with exit code 1:
//
//	nodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused (Connection refused)'.
//
// It is what a node whose daemon is still starting (or has stopped) answers.
type ConnectError struct {
	Target    string // HOST:PORT as printed
	Exception string // the root cause's class: ConnectException, SocketException, ...
	Message   string
}

func (e *ConnectError) Error() string {
	if e.Exception == "" {
		return "nodetool cannot connect to " + e.Target
	}
	return "nodetool cannot connect to " + e.Target + ": " + e.Exception + ": " + e.Message
}

// Newer nodetools (trunk) may add ` via CQL` and leave out the exception.
var connectRE = regexp.MustCompile(`nodetool: Failed to connect to '([^']*)'(?: via [A-Za-z]+)?(?: - ([A-Za-z0-9_.$]+): '(.*)'\.)?`)

// ParseConnectError finds nodetool's connection failure in its stderr.
func ParseConnectError(stderr string) (*ConnectError, bool) {
	for _, line := range splitLines(stderr) {
		m := connectRE.FindStringSubmatch(strings.TrimSpace(line))
		if m != nil {
			return &ConnectError{Target: m[1], Exception: m[2], Message: m[3]}, true
		}
	}
	return nil, false
}
