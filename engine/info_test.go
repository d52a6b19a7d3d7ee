package engine

import "testing"

// The registry dockerd pulls from over plain HTTP: by name or by CIDR.
func TestPullsOverHTTP(t *testing.T) {
	cases := []struct {
		insecure []string
		addr     string
		want     bool
	}{
		{[]string{"127.0.0.0/8"}, "127.0.0.1:5000", true},
		{[]string{"127.0.0.0/8"}, "10.0.0.2:5000", false},
		{[]string{"127.0.0.0/8", "10.0.0.2:5000"}, "10.0.0.2:5000", true},
		{[]string{"127.0.0.0/8", "10.0.0.3:5000"}, "10.0.0.2:5000", false},
		{[]string{"10.0.0.0/24"}, "10.0.0.2:5000", true},
		{[]string{"10.0.1.0/24"}, "10.0.0.2:5000", false},
		{[]string{"registry.lab:5000"}, "registry.lab:5000", true},
		{nil, "127.0.0.1:5000", false},
	}
	for _, c := range cases {
		if got := (Info{InsecureRegistries: c.insecure}).PullsOverHTTP(c.addr); got != c.want {
			t.Errorf("PullsOverHTTP(%v, %s) = %v, want %v", c.insecure, c.addr, got, c.want)
		}
	}
}
