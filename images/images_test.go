package images

import (
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
