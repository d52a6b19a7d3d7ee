package consulstore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcass/swarmcass/op"
)

// consulACL answers KV reads as a Consul with ACLs does: 404 for a key
// that is not there with the good token; 403 "ACL not found" for a token
// it does not know; 403 "Permission denied" without one.
func consulACL(t *testing.T, good string) (addr string, sent func() []string) {
	var mu sync.Mutex
	var tokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Consul-Token")
		mu.Lock()
		tokens = append(tokens, tok)
		mu.Unlock()
		switch tok {
		case good:
			http.NotFound(w, r)
		case "":
			http.Error(w, `Permission denied: anonymous token lacks permission 'key:read' on "k"`, http.StatusForbidden)
		default:
			http.Error(w, "ACL not found", http.StatusForbidden)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), tokens...)
	}
}

// A token Consul does not know is replaced by the one Tokens offers next,
// and the request retried once with it.
func TestStaleTokenReplaced(t *testing.T) {
	addr, sent := consulACL(t, "good")
	var asked []string
	s, err := Dial(addr, func(ctx context.Context, stale string) (string, error) {
		asked = append(asked, stale)
		if stale == "" {
			return "old", nil
		}
		return "good", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(context.Background(), "k"); err != nil || ok {
		t.Fatalf("Get = %v, %v; want not found, no error", ok, err)
	}
	if got := sent(); strings.Join(got, ",") != "old,good" {
		t.Errorf("tokens sent: %q, want old then good", got)
	}
	if strings.Join(asked, ",") != ",old" {
		t.Errorf("Tokens asked with %q, want \"\" then the stale one", asked)
	}
	// From now on the good one, without asking again.
	s.Get(context.Background(), "k")
	if got := sent(); got[len(got)-1] != "good" || len(asked) != 2 {
		t.Errorf("then sent %q, asked %q", got, asked)
	}
}

// No token, or none Consul knows: an *ACLError with what to do.
func TestRefusedTokenExplained(t *testing.T) {
	addr, _ := consulACL(t, "good")
	for _, tok := range []string{"", "unknown"} {
		s, _ := Dial(addr, Token(tok))
		_, _, err := s.Get(context.Background(), "k")
		var ae *ACLError
		var he *op.Error
		if !errors.As(err, &ae) || ae.Anonymous != (tok == "") || !errors.As(err, &he) || !strings.Contains(he.Hint, "consul-token") {
			t.Errorf("token %q: err = %v, want an ACLError with a hint naming the token file", tok, err)
		}
	}
}

// Leader needs no token, and asks Tokens for none.
func TestLeaderWithoutToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`"10.0.0.2:8300"`))
	}))
	defer srv.Close()
	s, err := Dial(strings.TrimPrefix(srv.URL, "http://"), func(context.Context, string) (string, error) {
		return "", errors.New("Tokens asked")
	})
	if err != nil {
		t.Fatal(err)
	}
	if leader, err := s.Leader(context.Background()); err != nil || leader != "10.0.0.2:8300" {
		t.Errorf("Leader = %q, %v", leader, err)
	}
}

// A fresh agent that refuses sessions because its own node is not
// registered yet (hashicorp/consul#819) is asked again: Lock takes the
// lock once the agent makes sessions, and gives it back.
func TestLockWaitsForNodeRegistration(t *testing.T) {
	const flags = "3304740253564472344" // api.LockFlagValue
	var mu sync.Mutex
	creates, held := 0, false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/v1/session/create":
			if creates++; creates <= 2 {
				http.Error(w, "Missing node registration", http.StatusInternalServerError)
				return
			}
			w.Write([]byte(`{"ID":"s1"}`))
		case strings.HasPrefix(r.URL.Path, "/v1/session/"):
			w.Write([]byte(`[{"ID":"s1"}]`))
		case r.URL.Path == "/v1/kv/k" && r.Method == http.MethodPut:
			held = r.URL.Query().Get("acquire") == "s1"
			w.Write([]byte("true"))
		case r.URL.Path == "/v1/kv/k" && r.Method == http.MethodDelete:
			w.Write([]byte("true"))
		case r.URL.Path == "/v1/kv/k":
			w.Header().Set("X-Consul-Index", "5")
			if r.URL.Query().Get("index") != "" {
				mu.Unlock()
				time.Sleep(50 * time.Millisecond) // a blocking query, short
				mu.Lock()
			}
			session := ""
			if held {
				session = "s1"
			}
			w.Write([]byte(`[{"Key":"k","Flags":` + flags + `,"Session":"` + session + `","ModifyIndex":5}]`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s, err := Dial(strings.TrimPrefix(srv.URL, "http://"), nil)
	if err != nil {
		t.Fatal(err)
	}
	release, err := s.Lock(context.Background(), "k", Holder{Operation: "test"})
	if err != nil {
		t.Fatalf("Lock: %v, want the lock once the agent makes sessions", err)
	}
	release()
	mu.Lock()
	defer mu.Unlock()
	if creates != 3 || held {
		t.Errorf("sessions asked for %d times, held after release %v; want 3, false", creates, held)
	}
}
