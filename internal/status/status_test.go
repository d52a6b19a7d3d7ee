package status

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/internal/syncbuf"
)

func TestPlain(t *testing.T) {
	var b bytes.Buffer
	s := New(&b, false) // not a terminal: plain lines
	s.Start("Swarm")
	s.Infof("joined %s", "swarm-1")
	s.Debugf("hidden")
	s.Start("Network") // ends Swarm as done
	s.End(false)
	s.End(true) // nothing running: no output
	out := b.String()
	want := regexp.MustCompile(`^ • Swarm \.\.\.\n   joined swarm-1\n ✓ Swarm \(\d+\.\ds\)\n • Network \.\.\.\n ✗ Network \(\d+\.\ds\)\n$`)
	if !want.MatchString(out) {
		t.Errorf("plain output:\n%q", out)
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\r") {
		t.Error("escape codes in plain output")
	}
}

func TestVerbose(t *testing.T) {
	var b bytes.Buffer
	s := New(&b, true)
	s.Debugf("poll %d", 3)
	if b.String() != "   poll 3\n" {
		t.Errorf("verbose output %q", b.String())
	}
}

func TestSpinner(t *testing.T) {
	var b syncbuf.Buffer
	s := &Status{w: &b, tty: true, interval: time.Millisecond}
	s.Start("Nodes")
	time.Sleep(20 * time.Millisecond)
	s.Infof("cass1 is UN")
	s.End(true)
	out := b.String()
	if n := strings.Count(out, "\r\x1b[K ⠋ Nodes") + strings.Count(out, "\r\x1b[K ⠙ Nodes"); n < 2 {
		t.Errorf("spinner did not turn:\n%q", out)
	}
	if !strings.Contains(out, "\r\x1b[K   cass1 is UN\n") {
		t.Errorf("info line did not clear the spinner:\n%q", out)
	}
	if !regexp.MustCompile(`\r\x1b\[K ✓ Nodes \(\d+\.\ds\)\n$`).MatchString(out) {
		t.Errorf("no tick at the end:\n%q", out)
	}
}
