package cassandraimage

import (
	"archive/tar"
	"errors"
	"io"
	"strings"
	"testing"
)

func tarModes(t *testing.T, r io.Reader) map[string]int64 {
	t.Helper()
	modes := map[string]int64{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return modes
		}
		if err != nil {
			t.Fatal(err)
		}
		modes[h.Name] = h.Mode
	}
}

func TestContexts(t *testing.T) {
	r, err := Context()
	if err != nil {
		t.Fatal(err)
	}
	got := tarModes(t, r)
	want := map[string]int64{"Dockerfile": 0o644, "swarmcass-entrypoint.sh": 0o755, "swarmcass-healthcheck.sh": 0o755}
	if len(got) != len(want) {
		t.Errorf("real image context = %v, want %v", got, want)
	}
	for name, mode := range want {
		if got[name] != mode {
			t.Errorf("%s: mode %o, want %o", name, got[name], mode)
		}
	}

	r, err = WrapperTestContext()
	if err != nil {
		t.Fatal(err)
	}
	got = tarModes(t, r)
	for name, mode := range map[string]int64{
		WrapperTestDockerfile:           0o644,
		"testimage/conf/cassandra.yaml": 0o644,
		"base/docker-entrypoint.sh":     0o755,
		"testimage/standin/cassandra":   0o755,
		"testimage/standin/cqlsh":       0o755,
		"testimage/standin/nodetool":    0o755,
		"swarmcass-entrypoint.sh":       0o755,
	} {
		if got[name] != mode {
			t.Errorf("test context: %s mode %o, want %o (have %v)", name, got[name], mode, got)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for _, v := range []string{"5.0", "5.0.8", "4.1", "4.1.11", DefaultVersion} {
		if err := CheckVersion(v); err != nil {
			t.Errorf("CheckVersion(%q) = %v", v, err)
		}
	}
	for _, v := range []string{"", "4.0", "3.11.17", "latest", "5", "5.0-jammy", "6.0.0"} {
		if err := CheckVersion(v); err == nil {
			t.Errorf("CheckVersion(%q) accepted it", v)
		}
	}
}

func TestBuildSpec(t *testing.T) {
	s, err := BuildSpec("", "", []string{"reg:5000/swarmcass/cassandra:5.0.8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.BuildArgs["CASSANDRA_VERSION"] != DefaultVersion || s.Dockerfile != "" || s.Context == nil {
		t.Errorf("BuildSpec = %+v", s)
	}
	if _, set := s.BuildArgs["BASE_IMAGE"]; set {
		t.Errorf("BuildSpec without a base sets BASE_IMAGE=%q: the Dockerfile's default (the official image) must apply", s.BuildArgs["BASE_IMAGE"])
	}
	s, err = BuildSpec("", "swarmcass/cassandra-base:5.0.8-1", nil, nil)
	if err != nil || s.BuildArgs["BASE_IMAGE"] != "swarmcass/cassandra-base:5.0.8-1" {
		t.Errorf("BuildSpec with a base = %+v, %v", s.BuildArgs, err)
	}
	if _, err := BuildSpec("3.11", "", nil, nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("BuildSpec(3.11) error = %v", err)
	}
}

// The test image must declare what the real image declares.
func TestTestImageMatchesImage(t *testing.T) {
	real, err := imageFiles.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	test, err := testImageFiles.ReadFile(WrapperTestDockerfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"EXPOSE ", "VOLUME ", "HEALTHCHECK ", "\tCMD [", "ENTRYPOINT ", "CMD "} {
		want := lineWith(string(real), prefix)
		if want == "" || lineWith(string(test), prefix) != want {
			t.Errorf("%q line: image has %q, test image has %q", prefix, want, lineWith(string(test), prefix))
		}
	}
}

func lineWith(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
