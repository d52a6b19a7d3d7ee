package cli

import (
	"fmt"
	"io"
	"time"
)

// lineReporter prints one line per finished step, with its time.
type lineReporter struct {
	w     io.Writer
	step  string
	start time.Time
}

func newReporter(w io.Writer) *lineReporter { return &lineReporter{w: w} }

func (r *lineReporter) Start(step string) {
	r.step, r.start = step, time.Now()
	fmt.Fprintf(r.w, " • %s ...\n", step)
}

func (r *lineReporter) End(ok bool) {
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	fmt.Fprintf(r.w, " %s %s (%s)\n", mark, r.step, time.Since(r.start).Round(100*time.Millisecond))
}

func (r *lineReporter) Printf(format string, args ...any) {
	fmt.Fprintf(r.w, "   "+format+"\n", args...)
}
