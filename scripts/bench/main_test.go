package main

import (
	"testing"
	"time"
)

func TestOwnTime(t *testing.T) {
	logs := `INFO  [main] 2026-11-22 05:13:12,968 YamlConfigurationLoader.java:97 - cassim 4.1.5
WARN  [main] 2026-11-22 05:13:13,069 SimpleSeedProvider.java:60 - Seed provider couldn't lookup host cass3
INFO  [main] 2026-11-22 05:13:15,468 PipelineConfigurator.java:126 - Starting listening for CQL clients on /10.0.1.8:9042 (unencrypted)...
`
	d, ok := ownTime(logs)
	if !ok || d != 2500*time.Millisecond {
		t.Fatalf("ownTime = %v, %v; want 2.5s", d, ok)
	}
	if _, ok := ownTime("INFO  [main] 2026-11-22 05:13:12,968 X.java:1 - started\n"); ok {
		t.Error("a log without the CQL line has no own time")
	}
}
