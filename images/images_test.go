package images

import (
	"regexp"
	"strings"
	"testing"
)

func TestPinsAreImageReferences(t *testing.T) {
	for name, ref := range map[string]string{"Machine": Machine, "Registry": Registry, "Consul": Consul, "CassandraBase": CassandraBase, "CassandraBase41": CassandraBase41} {
		repo, tag, ok := strings.Cut(ref, ":")
		if !ok || !strings.HasPrefix(repo, "swarmcass/") || tag == "" || strings.ContainsAny(ref, " \"'") {
			t.Errorf("%s = %q, want swarmcass/NAME:TAG", name, ref)
		}
	}
}

func TestCassandraVersionIsARelease(t *testing.T) {
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(CassandraVersion) {
		t.Errorf("CassandraVersion = %q, want a release such as 5.0.8", CassandraVersion)
	}
}
