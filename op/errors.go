package op

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a problem the user can act on: Err says what is wrong, Hint how
// to fix it.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Hinted makes an *Error from a message and a hint.
func Hinted(hint, format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...), Hint: hint}
}

// WithHint wraps err with a hint.
func WithHint(err error, hint string) error { return &Error{Err: err, Hint: hint} }

// StepError is the failure of one step of an operation.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Explain formats err for the user: each problem (errors.Join keeps
// several) on its own line, prefixed by its step, followed by its hint
// when it has one.
func Explain(err error) string {
	var b strings.Builder
	explain(&b, "", err)
	return strings.TrimRight(b.String(), "\n")
}

func explain(b *strings.Builder, prefix string, err error) {
	var se *StepError
	if errors.As(err, &se) && err == error(se) {
		explain(b, prefix+se.Step+": ", se.Err)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			explain(b, prefix, e)
		}
		return
	}
	b.WriteString(prefix + err.Error())
	b.WriteString("\n")
	var e *Error
	if errors.As(err, &e) && e.Hint != "" {
		b.WriteString("  hint: " + e.Hint + "\n")
	}
}

// Indent indents every line of s by four spaces, for output quoted in an
// error (log lines, nodetool's); "(empty)" when there is none.
func Indent(s string) string {
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ")
}
