package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/swarmcass/swarmcass/engine"
)

// SubnetRange is where labs take their networks from when no --subnet is
// given: one /24 each, the first that no network of the host engine
// overlaps, so a second lab under another name does not collide with the
// first ("Pool overlaps with other one on this address space").
const SubnetRange = "10.231.0.0/16"

// FreeSubnet is the first /24 of within that overlaps none of taken
// (subnets in CIDR form; what does not parse, IPv6 among them, is skipped).
func FreeSubnet(within string, taken []string) (netip.Prefix, error) {
	r, err := netip.ParsePrefix(within)
	if err != nil || !r.Addr().Is4() || r.Bits() > 24 {
		return netip.Prefix{}, fmt.Errorf("subnet range %q: want an IPv4 CIDR of /24 or larger", within)
	}
	r = r.Masked()
	var used []netip.Prefix
	for _, s := range taken {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
			used = append(used, p.Masked())
		}
	}
	b := r.Addr().As4()
	base := binary.BigEndian.Uint32(b[:])
	for i := range uint32(1) << (24 - r.Bits()) {
		binary.BigEndian.PutUint32(b[:], base+i<<8)
		p := netip.PrefixFrom(netip.AddrFrom4(b), 24)
		if !slices.ContainsFunc(used, p.Overlaps) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("every /24 of %s is taken by a network of the host engine", within)
}

// chooseSubnet sets the lab's subnet when none was given: the one its
// network already has (a re-run), else the first free /24 of SubnetRange.
// It says why in the returned note.
func (l *Lab) chooseSubnet(ctx context.Context) (note string, err error) {
	if l.cfg.Subnet != "" {
		return "", nil
	}
	n, err := l.host.NetworkInspect(ctx, l.cfg.NetworkName())
	switch {
	case err == nil && n.Labels[engine.LabelLab] == l.cfg.Name && len(n.Subnets) == 1:
		l.cfg.Subnet = n.Subnets[0]
		return fmt.Sprintf("subnet %s: the lab's network %s has it", l.cfg.Subnet, n.Name), nil
	case err != nil && !errors.Is(err, engine.ErrNotFound):
		return "", err
	}
	nets, err := l.host.NetworkList(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("list the host engine's networks to choose a subnet: %w", err)
	}
	var taken []string
	for _, n := range nets {
		taken = append(taken, n.Subnets...)
	}
	p, err := FreeSubnet(SubnetRange, taken)
	if err != nil {
		return "", hint(err, "pass --subnet with a free IPv4 /24, or remove labs you no longer need (swarmcass lab down --name NAME)")
	}
	l.cfg.Subnet = p.String()
	return fmt.Sprintf("subnet %s: the first /24 of %s no network of the host engine uses (--subnet chooses another)", l.cfg.Subnet, SubnetRange), nil
}

// Subnet is the lab network's subnet: the one given, or the one Up chose.
func (l *Lab) Subnet() string { return l.cfg.Subnet }
