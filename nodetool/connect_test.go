package nodetool

import "testing"

func TestConnectErrors(t *testing.T) {
	tests := []struct {
		name, stderr      string
		failure, refused  bool
		target, exception string
	}{
		{"refused, java 8 message", "nodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused (Connection refused)'.\n",
			true, true, "127.0.0.1:7199", "ConnectException"},
		{"refused, after a JVM banner", "Picked up JAVA_TOOL_OPTIONS: -Xmx64m\nnodetool: Failed to connect to '127.0.0.1:7199' - ConnectException: 'Connection refused'.\n",
			true, true, "127.0.0.1:7199", "ConnectException"},
		{"login timeout", "nodetool: Failed to connect to '127.0.0.1:7199' - FailedLoginException: 'Unable to perform authentication: Operation timed out - received only 1 responses.'.",
			true, false, "127.0.0.1:7199", "FailedLoginException"},
		{"authentication", "nodetool: Failed to connect to '127.0.0.1:7199' - SecurityException: 'Authentication failed! Invalid username or password'.",
			true, false, "127.0.0.1:7199", "SecurityException"},
		{"trunk, via CQL", "nodetool: Failed to connect to '127.0.0.1:2' via CQL",
			true, false, "127.0.0.1:2", ""},
		{"other failure", "error: Keyspace nope does not exist\n-- StackTrace --\n", false, false, "", ""},
		{"empty", "", false, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsConnectFailure(tt.stderr); got != tt.failure {
				t.Errorf("IsConnectFailure = %v, want %v", got, tt.failure)
			}
			if got := IsConnectRefused(tt.stderr); got != tt.refused {
				t.Errorf("IsConnectRefused = %v, want %v", got, tt.refused)
			}
			e, ok := ParseConnectError(tt.stderr)
			if ok && (e.Target != tt.target || e.Exception != tt.exception) {
				t.Errorf("ParseConnectError = %+v", e)
			}
		})
	}
}
