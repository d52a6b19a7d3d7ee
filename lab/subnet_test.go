package lab

import (
	"context"
	"strings"
	"testing"

	"github.com/swarmcass/swarmcass/engine/enginetest"
)

func TestFreeSubnet(t *testing.T) {
	for _, c := range []struct {
		name   string
		within string
		taken  []string
		want   string
	}{
		{"nothing taken", SubnetRange, nil, "10.231.0.0/24"},
		{"first lab's", SubnetRange, []string{"172.17.0.0/16", "10.231.0.0/24"}, "10.231.1.0/24"},
		{"a gap", SubnetRange, []string{"10.231.0.0/24", "10.231.2.0/24"}, "10.231.1.0/24"},
		{"a wider network", SubnetRange, []string{"10.231.0.0/20"}, "10.231.16.0/24"},
		{"a narrower network", SubnetRange, []string{"10.231.0.128/25"}, "10.231.1.0/24"},
		{"a network around the range", SubnetRange, []string{"10.0.0.0/8"}, ""},
		{"unparsable and IPv6 skipped", SubnetRange, []string{"fd00::/64", "junk"}, "10.231.0.0/24"},
		{"range not aligned", "10.231.7.9/16", []string{"10.231.0.0/24"}, "10.231.1.0/24"},
		{"a range of one /24, taken", "10.9.0.0/24", []string{"10.9.0.0/24"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := FreeSubnet(c.within, c.taken)
			if c.want == "" {
				if err == nil || !strings.Contains(err.Error(), "is taken") {
					t.Fatalf("FreeSubnet = %v, %v; want every /24 taken", got, err)
				}
				return
			}
			if err != nil || got.String() != c.want {
				t.Fatalf("FreeSubnet = %v, %v; want %s", got, err, c.want)
			}
		})
	}
	if _, err := FreeSubnet("10.0.0.0/25", nil); err == nil {
		t.Error("a range smaller than a /24 was accepted")
	}
}

// A second lab under another name takes the next free /24 and says so; a
// re-run keeps the subnet its network has.
func TestChooseSubnet(t *testing.T) {
	ctx := context.Background()
	host := enginetest.NewWorld().NewFake("host", "10.0.0.1") // with docker0's bridge, 172.17.0.0/16
	first := New(Config{Name: "first", Machines: 1}, host, nil)
	second := New(Config{Name: "second", Machines: 1}, host, nil)
	for _, c := range []struct {
		l          *Lab
		want, note string
	}{
		{first, "10.231.0.0/24", "the first /24 of 10.231.0.0/16 no network of the host engine uses"},
		{second, "10.231.1.0/24", "the first /24 of 10.231.0.0/16 no network of the host engine uses"},
	} {
		note, err := c.l.chooseSubnet(ctx)
		if err != nil || c.l.Subnet() != c.want || !strings.Contains(note, c.want) || !strings.Contains(note, c.note) {
			t.Fatalf("lab %s: subnet %s, note %q, %v; want %s", c.l.cfg.Name, c.l.Subnet(), note, err, c.want)
		}
		if err := c.l.ensureNetwork(ctx); err != nil {
			t.Fatalf("lab %s: network: %v", c.l.cfg.Name, err)
		}
	}

	again := New(Config{Name: "first", Machines: 1}, host, nil)
	if note, err := again.chooseSubnet(ctx); err != nil || again.Subnet() != "10.231.0.0/24" || !strings.Contains(note, "the lab's network first-net has it") {
		t.Errorf("re-run: subnet %s, note %q, %v", again.Subnet(), note, err)
	}
	given := New(Config{Name: "third", Machines: 1, Subnet: DefaultSubnet}, host, nil)
	if note, err := given.chooseSubnet(ctx); err != nil || note != "" || given.Subnet() != DefaultSubnet {
		t.Errorf("--subnet given: subnet %s, note %q, %v", given.Subnet(), note, err)
	}
	// What the choice avoids: the first lab's subnet, given again, overlaps.
	if err := given.ensureNetwork(ctx); err == nil || !strings.Contains(err.Error(), "Pool overlaps") {
		t.Errorf("third lab on the first's subnet: %v", err)
	}
}
