package engine

// OverlayNeeds says what Swarm's overlay network needs to pass between
// every pair of swarm hosts, for messages and hints: the overlay's gossip
// (7946 TCP and UDP) and its traffic (VXLAN, 4789 UDP); an encrypted
// overlay wraps that traffic in IPsec ESP (IP protocol 50), which needs the
// protocol to pass and the hosts' kernels to do ESP with AES-GCM
// (rfc4106(gcm(aes)), the algorithm dockerd asks for).
func OverlayNeeds(encrypted bool) string {
	s := "7946/tcp and 7946/udp (the overlay's gossip) and 4789/udp (VXLAN, the overlay's traffic)"
	if encrypted {
		s += ", and for an encrypted overlay IP protocol 50 (ESP) with kernels that do IPsec ESP with AES-GCM (dockerd logs \"Failed Adding ... SA ... function not implemented\" on a kernel without it)"
	}
	return s
}
