package cassim

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Logger writes Cassandra-style log lines:
//
//	INFO  [main] 2024-05-01 10:00:00,123 StorageService.java:1234 - message
type Logger struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewLogger logs to w.
func NewLogger(w io.Writer) *Logger { return &Logger{w: w, now: time.Now} }

func (l *Logger) log(level, thread, where, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	fmt.Fprintf(l.w, "%-5s [%s] %s,%03d %s - %s\n", level, thread,
		t.Format("2006-01-02 15:04:05"), t.Nanosecond()/1e6, where, fmt.Sprintf(format, args...))
}

// Info logs at INFO.
func (l *Logger) Info(thread, where, format string, args ...any) {
	l.log("INFO", thread, where, format, args...)
}

// Warn logs at WARN.
func (l *Logger) Warn(thread, where, format string, args ...any) {
	l.log("WARN", thread, where, format, args...)
}

// Error logs at ERROR.
func (l *Logger) Error(thread, where, format string, args ...any) {
	l.log("ERROR", thread, where, format, args...)
}

// Debug logs at DEBUG.
func (l *Logger) Debug(thread, where, format string, args ...any) {
	l.log("DEBUG", thread, where, format, args...)
}
