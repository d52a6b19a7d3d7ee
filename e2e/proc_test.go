package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/swarmcass/swarmcass/internal/syncbuf"
)

// result is one run of the binary.
type result struct {
	args     []string
	out      string // stdout and stderr
	code     int
	duration time.Duration
}

// proc is one run of the binary in the background, whose output can be
// read while it runs: a test acts on what the run has said it is doing,
// not on what it may have reached by now.
type proc struct {
	args  []string
	cmd   *exec.Cmd
	start time.Time
	done  chan struct{}
	err   error // of cmd.Wait, once done is closed
	out   syncbuf.Buffer
}

// storeEnv makes the binary see the lab's machine store and no other engine.
func (e *env) storeEnv() []string {
	home := e.home        // the credentials' local copies stay in the test's directory
	if e.userHome != "" { // the store in its default place: nothing set
		return append(os.Environ(), "HOME="+e.userHome, "MACHINE_STORAGE_PATH=", "DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_CONTEXT=",
			"SWARMCASS_HOME="+home)
	}
	return append(os.Environ(), "MACHINE_STORAGE_PATH="+e.store, "DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_CONTEXT=",
		"SWARMCASS_HOME="+home, "HOME="+home)
}

// startProc starts the binary with environ; ctx ending kills it.
func startProc(ctx context.Context, environ []string, args ...string) (*proc, error) {
	p := &proc{args: args, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, binary, args...)
	p.cmd.Env = environ
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start swarmcass %s: %w", strings.Join(args, " "), err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) output() string { return p.out.String() }

// interrupt sends SIGINT, as Ctrl-C does.
func (p *proc) interrupt() error { return p.cmd.Process.Signal(os.Interrupt) }

// waitOutput waits until the run has printed s. It fails if the run ends
// first or ctx ends.
func (p *proc) waitOutput(ctx context.Context, s string) error {
	for {
		if strings.Contains(p.output(), s) {
			return nil
		}
		select {
		case <-p.done:
			if strings.Contains(p.output(), s) {
				return nil
			}
			return fmt.Errorf("swarmcass %s ended without printing %q:\n%s", strings.Join(p.args, " "), s, p.output())
		case <-ctx.Done():
			return fmt.Errorf("swarmcass %s did not print %q: %w\n%s", strings.Join(p.args, " "), s, ctx.Err(), p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// binaryRuns and binaryCPU count the runs of the binary under test and the
// CPU time (user and system) they took, which TestMain reports: what the
// race detector in the binary (raceBuild) costs is a share of it.
var binaryRuns, binaryCPU atomic.Int64

// wait waits for the run to end. An error other than a non-zero exit
// (the binary could not run at all) is returned as such.
func (p *proc) wait() (result, error) {
	<-p.done
	r := result{args: p.args, out: p.output(), duration: time.Since(p.start)}
	if st := p.cmd.ProcessState; st != nil {
		binaryRuns.Add(1)
		binaryCPU.Add(int64(st.UserTime() + st.SystemTime()))
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		return r, nil
	}
	if p.err != nil {
		return r, fmt.Errorf("run swarmcass %s: %w", strings.Join(p.args, " "), p.err)
	}
	return r, nil
}
