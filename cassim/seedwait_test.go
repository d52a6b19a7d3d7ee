package cassim

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSeedWait(t *testing.T) {
	w, err := seedWaitFromEnv(map[string]string{"SWARMCASS_WAIT_FOR": " cass1, cass2 ", "SWARMCASS_WAIT_SECONDS": "0"})
	if err != nil || strings.Join(w.Seeds, ",") != "cass1,cass2" || w.Timeout != 0 {
		t.Fatalf("seedWaitFromEnv = %+v, %v", w, err)
	}
	if _, err := seedWaitFromEnv(map[string]string{"SWARMCASS_WAIT_SECONDS": "soon"}); err == nil {
		t.Error("SWARMCASS_WAIT_SECONDS=soon accepted")
	}
	if s, warn, err := (SeedWait{}).Wait(context.Background(), 7000, false); s != "" || warn != "" || err != nil {
		t.Errorf("no seeds to wait for: %q, %v; want at once", s, err)
	}

	// One seed answers: it is named.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	got, warn, err := SeedWait{Seeds: []string{"no-such-seed.invalid", "127.0.0.1"}, Timeout: time.Minute}.Wait(context.Background(), port, false)
	if err != nil || got != "127.0.0.1" || warn != "" {
		t.Errorf("Wait = %q, %v; want 127.0.0.1", got, err)
	}

	// None answers: refused after the timeout, naming them and the overlay's ports.
	l.Close()
	_, warn, err = SeedWait{Seeds: []string{"no-such-seed.invalid", "127.0.0.1"}, Timeout: 0}.Wait(context.Background(), port, false)
	if err == nil || warn != "" || !strings.Contains(err.Error(), "no-such-seed.invalid,127.0.0.1") || !strings.Contains(err.Error(), "4789") {
		t.Errorf("Wait with no seed up on a first boot: %q, %v", warn, err)
	}

	// None answers and the node has data: it starts anyway, with a warning.
	got, warn, err = SeedWait{Seeds: []string{"no-such-seed.invalid", "127.0.0.1"}, Timeout: 0}.Wait(context.Background(), port, true)
	if err != nil || got != "" || !strings.Contains(warn, "no-such-seed.invalid,127.0.0.1") || !strings.Contains(warn, "starting anyway") {
		t.Errorf("Wait with no seed up on a node with data = %q, %q, %v; want a warning and no error", got, warn, err)
	}
}

func TestAddSeedByAddress(t *testing.T) {
	c := Config{Seeds: []string{"cass1", "cass2"}}
	c.AddSeedByAddress("cass1")
	c.AddSeedByAddress("10.0.9.7")
	c.AddSeedByAddress("10.0.9.7")
	c.AddSeedByAddress("")
	if got := strings.Join(c.Seeds, ","); got != "cass1,cass2,10.0.9.7" {
		t.Errorf("seeds %s, want cass1,cass2,10.0.9.7", got)
	}
}
