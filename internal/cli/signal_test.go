package cli

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// A first Ctrl-C lets the command wind down; a second ends swarmcass at
// once even if winding down hangs. The test runs Main in a child process
// (this test binary again) with a command that hangs after Ctrl-C.
func TestSecondInterruptQuits(t *testing.T) {
	if os.Getenv("SWARMCASS_HANG_CHILD") == "1" {
		register(func() *cobra.Command {
			return &cobra.Command{Use: "hang", RunE: func(cmd *cobra.Command, _ []string) error {
				os.Stdout.WriteString("ready\n")
				<-cmd.Context().Done()
				select {} // a clean-up that never ends
			}}
		})
		os.Exit(Main([]string{"hang"}, os.Stdout, os.Stderr))
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondInterruptQuits$")
	cmd.Env = append(os.Environ(), "SWARMCASS_HANG_CHILD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// expect waits for a line containing want, with a limit in case it never comes.
	expect := func(r io.Reader, want string) {
		t.Helper()
		found := make(chan bool, 1)
		go func() {
			lines := bufio.NewScanner(r)
			for lines.Scan() {
				if strings.Contains(lines.Text(), want) {
					found <- true
					io.Copy(io.Discard, r)
					return
				}
			}
			found <- false
		}()
		select {
		case ok := <-found:
			if !ok {
				t.Fatalf("the child never said %q", want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("the child did not say %q within 20 s", want)
		}
	}
	expect(stdout, "ready")
	cmd.Process.Signal(os.Interrupt)
	expect(stderr, "Ctrl-C again to quit at once")

	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
			t.Fatalf("child ended with %v, want killed by SIGINT", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a second Ctrl-C did not end swarmcass")
	}
}

// Main's own clean-up ends its signal context; that is no interrupt.
func TestNormalExitSaysNothingOfInterrupts(t *testing.T) {
	var out, errOut strings.Builder
	if code := Main([]string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("--help: exit %d: %s", code, errOut.String())
	}
	time.Sleep(50 * time.Millisecond) // room for a stray AfterFunc to print
	if strings.Contains(errOut.String(), "interrupted") {
		t.Errorf("a normal exit said: %q", errOut.String())
	}
}
