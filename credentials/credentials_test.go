package credentials

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		c, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^admin_[a-z]{8}$`).MatchString(c.User) || !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(c.Password) {
			t.Fatalf("generated %q / %q", c.User, c.Password)
		}
		if seen[c.Password] {
			t.Fatalf("password %q twice", c.Password)
		}
		seen[c.Password] = true
		got, err := Parse(c.Marshal())
		if err != nil || got != c {
			t.Fatalf("Parse(Marshal()) = %v, %v; want %v", got, err, c)
		}
		for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
			if strings.Contains(s, c.Password) {
				t.Fatalf("formatting shows the password: %s", s)
			}
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{"", "[plain_text_auth]\nusername = a\n", "[other]\nusername = a\npassword = b\n"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
	c, err := Parse([]byte("# cqlsh\n[plain_text_auth]\nusername=u\npassword = p w\n"))
	if err != nil || c.User != "u" || c.Password != "p w" {
		t.Errorf("Parse: %v %v", c, err)
	}
}

func TestLocalCopy(t *testing.T) {
	home := t.TempDir()
	p := LocalPath(home, "prod", "abcdefghijklmnopqrstuvwxyz")
	if want := filepath.Join(home, ".swarmcass", "credentials", "prod.abcdefghijkl"); p != want {
		t.Errorf("LocalPath = %s, want %s", p, want)
	}
	if _, err := ReadLocal(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadLocal of nothing: %v", err)
	}
	c := Credentials{User: "admin_x", Password: "pw"}
	if err := WriteLocal(p, c); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	dir, _ := os.Stat(filepath.Dir(p))
	if st.Mode().Perm() != 0o600 || dir.Mode().Perm() != 0o700 {
		t.Errorf("modes %v %v, want 0600 in 0700", st.Mode(), dir.Mode())
	}
	if got, err := ReadLocal(p); err != nil || got != c {
		t.Errorf("ReadLocal = %v %v", got, err)
	}
}
