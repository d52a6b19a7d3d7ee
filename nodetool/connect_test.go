package nodetool

import "testing"

func TestConnectErrors(t *testing.T) {
	tests := []struct {
		name, stderr      string
		failure           bool
		target, exception string
	}{
		{"refused, java 8 message", "nodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused (Connection refused)'.\n",
			true, "127.0.0.1:7199", "ConnectException"},
		{"refused, after a JVM banner", "Picked up JAVA_TOOL_OPTIONS: -Xmx64m\nnodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused'.\n",
			true, "127.0.0.1:7199", "ConnectException"},
		{"login timeout", "nodetool: Failed to connect to '127.0.0.1:7199' - FailedLoginException: 'Unable to perform authentication: Operation timed out - received only 1 responses.'.",
			true, "127.0.0.1:7199", "FailedLoginException"},
		{"authentication", "nodetool: Failed to connect to '127.0.0.1:7199' - SecurityException: 'Authentication failed! Invalid username or password'.",
			true, "127.0.0.1:7199", "SecurityException"},
		{"trunk, via CQL", "nodetool: Failed to connect to '127.0.0.1:2' via CQL",
			true, "127.0.0.1:2", ""},
		{"other failure", "error: Keyspace nope does not exist\n-- StackTrace --\n", false, "", ""},
		{"empty", "", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := ParseConnectError(tt.stderr)
			if ok != tt.failure {
				t.Errorf("ParseConnectError found a connection failure: %v, want %v", ok, tt.failure)
			}
			if ok && (e.Target != tt.target || e.Exception != tt.exception) {
				t.Errorf("ParseConnectError = %+v", e)
			}
		})
	}
}
