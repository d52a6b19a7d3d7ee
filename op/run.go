// Package op is what every operation on a cluster (bootstrap, and the
// day-2 operations) is made of: an ordered list of named steps run with
// progress, timings, step errors, Ctrl-C and the release of what the steps
// held (Run); the rolling loop that acts on one node at a time (Rolling);
// polling under a deadline (Poll); and errors that carry a hint for the
// user (Error, Explain).
package op

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrStop, returned by a step (or wrapped), ends the operation there
// without failing it: a dry run after its plan is shown, or a plan the
// user declined. Run returns nil for it.
var ErrStop = errors.New("stopped before any change")

// Progress is told what an operation is doing.
type Progress interface {
	Start(step string)
	End(ok bool)
	// Infof reports something the user should see.
	Infof(format string, args ...any)
	// Debugf reports API calls and polls (shown with -v).
	Debugf(format string, args ...any)
}

// Silent is a Progress that reports nothing.
type Silent struct{}

func (Silent) Start(string)          {}
func (Silent) End(bool)              {}
func (Silent) Infof(string, ...any)  {}
func (Silent) Debugf(string, ...any) {}

// Step is one named stage of an operation on state S.
type Step[S any] struct {
	Name string
	Run  func(ctx context.Context, s S) error
}

// Timing is how long a step took.
type Timing struct {
	Name    string  `json:"step"`
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
}

// Held is what an operation's steps took and must give back when it ends
// (a lock). Embed it in the state given to Run; Run releases it.
type Held struct{ releases []func() }

// Hold has release called when the operation ends, however it ends; the
// last held is released first.
func (h *Held) Hold(release func()) { h.releases = append(h.releases, release) }

func (h *Held) releaseAll() {
	for i := len(h.releases) - 1; i >= 0; i-- {
		h.releases[i]()
	}
	h.releases = nil
}

type holder interface{ releaseAll() }

// Run runs steps in order on s and stops at the first that fails, telling
// p as each starts and ends, and returns each step's timing, also on
// error. A step's failure comes back as a *StepError; after Ctrl-C (ctx
// ended) it says that a re-run continues from there. A step that returns
// ErrStop ends the run early and successfully. When s embeds Held,
// what the steps held is released before Run returns.
func Run[S any](ctx context.Context, p Progress, steps []Step[S], s S) ([]Timing, error) {
	if h, ok := any(s).(holder); ok {
		defer h.releaseAll()
	}
	var timings []Timing
	for _, step := range steps {
		start := time.Now()
		p.Start(step.Name)
		err := step.Run(ctx, s)
		stop := errors.Is(err, ErrStop)
		p.End(err == nil || stop)
		timings = append(timings, Timing{Name: step.Name, Seconds: time.Since(start).Seconds(), OK: err == nil || stop})
		if stop {
			return timings, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("interrupted (a re-run continues from here): %w", err)
			}
			return timings, &StepError{Step: step.Name, Err: err}
		}
	}
	return timings, nil
}
