package nodewait

import (
	"context"
	"strings"
	"testing"
)

func TestHealthy(t *testing.T) {
	ctx := context.Background()
	nodes := []string{"cass1", "cass2", "cass3"}
	t.Run("every node UN in every view", func(t *testing.T) {
		s := newSwarm(t)
		if err := s.wait.Healthy(ctx, nodes); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		name   string
		break_ func(s *swarm)
		want   string
	}{
		{"a node leaving in one view", func(s *swarm) { s.ring.SetView("cass2", "cass3", "UL") }, "in cass2's view " + "%cass3 is UL"},
		{"a node missing from one view", func(s *swarm) { s.ring.SetView("cass3", "cass1", "-") }, "in cass3's view 2 nodes are listed, not 3"},
		{"a node down everywhere", func(s *swarm) { s.ring.Set("cass2", s.addrs["cass2"], "DN") }, "in cass1's view %cass2 is DN"},
		{"a node the cluster has no service for", func(s *swarm) { s.ring.Set("cass9", "10.0.1.99", "UN") }, "4 nodes are listed, not 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSwarm(t)
			tc.break_(s)
			want := strings.NewReplacer("%cass3", s.addrs["cass3"], "%cass2", s.addrs["cass2"]).Replace(tc.want)
			err := s.wait.Healthy(ctx, nodes)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Healthy = %v, want an error with %q", err, want)
			}
		})
	}
}
