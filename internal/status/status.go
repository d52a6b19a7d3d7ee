// Package status shows what a long command is doing: on a terminal, a
// spinner with the step's name and elapsed time, replaced by a tick or a
// cross when the step ends; otherwise plain lines. Like kind's
// pkg/internal/cli/status.go.
package status

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

var frames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Status writes progress to one writer. Its methods are safe for
// concurrent use.
type Status struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	verbose  bool
	step     string
	started  time.Time
	stop     chan struct{}
	done     chan struct{}
	interval time.Duration
}

// New writes to w; the spinner is used when w is a terminal. verbose shows
// Debugf lines.
func New(w io.Writer, verbose bool) *Status {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Status{w: w, tty: tty, verbose: verbose, interval: 100 * time.Millisecond}
}

// Start begins a step, ending one still running as successful.
func (s *Status) Start(step string) {
	s.End(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.step, s.started = step, time.Now()
	if !s.tty {
		fmt.Fprintf(s.w, " • %s ...\n", step)
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.spin(s.stop, s.done)
}

func (s *Status) spin(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for i := 0; ; i++ {
		s.mu.Lock()
		s.drawLocked(frames[i%len(frames)])
		s.mu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// drawLocked redraws the spinner line; s.mu is held.
func (s *Status) drawLocked(mark string) {
	fmt.Fprintf(s.w, "\r\x1b[K %s %s (%s)", mark, s.step, elapsed(time.Since(s.started)))
}

// End finishes the running step with a tick (ok) or a cross.
func (s *Status) End(ok bool) {
	s.mu.Lock()
	if s.step == "" {
		s.mu.Unlock()
		return
	}
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	if s.tty {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
	fmt.Fprintf(s.w, " %s %s (%s)\n", mark, s.step, elapsed(time.Since(s.started)))
	s.step = ""
}

// Infof prints a line the user should see, above the spinner.
func (s *Status) Infof(format string, args ...any) { s.printf(format, args...) }

// Debugf prints a line only in verbose mode.
func (s *Status) Debugf(format string, args ...any) {
	if s.verbose {
		s.printf(format, args...)
	}
}

func (s *Status) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tty && s.step != "" {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
	fmt.Fprintf(s.w, "   "+format+"\n", args...)
	if s.tty && s.step != "" {
		s.drawLocked(frames[0])
	}
}

func elapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
