package ratest

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/vrouter/vrouter/internal/csum"
)

// ICMPv6Frame returns an Ethernet frame carrying the ICMPv6 message icmp
// (checksum field ignored, computed here) from srcMAC/src to the multicast
// group dst with the given IPv6 hop limit. It lets tests and the RS flood
// benchmark send what kernel tools cannot: RSs from "::" with options,
// wrong hop limits, codes or option lengths, from any source address.
func ICMPv6Frame(srcMAC net.HardwareAddr, src, dst netip.Addr, hopLimit uint8, icmp []byte) []byte {
	d16 := dst.As16()
	f := make([]byte, 14+40+len(icmp))
	// Ethernet: IPv6 multicast MAC 33:33 + the low 32 bits of the group,
	// or broadcast-free unicast when dst is not multicast (then the caller
	// must fix the destination MAC).
	copy(f[0:6], []byte{0x33, 0x33, d16[12], d16[13], d16[14], d16[15]})
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:14], 0x86dd)
	ip := f[14:54]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(icmp)))
	ip[6] = 58 // ICMPv6
	ip[7] = hopLimit
	s16 := src.As16()
	copy(ip[8:24], s16[:])
	copy(ip[24:40], d16[:])
	m := f[54:]
	copy(m, icmp)
	if len(m) >= 4 {
		m[2], m[3] = 0, 0
		binary.BigEndian.PutUint16(m[2:4], ICMPv6Checksum(src, dst, m))
	}
	return f
}

// ICMPv6Checksum is the RFC 4443 §2.3 checksum of msg (whose checksum field
// must be zero) between src and dst.
func ICMPv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	return csum.IPv6(src, dst, csum.ProtoICMPv6, msg)
}
