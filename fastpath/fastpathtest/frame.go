package fastpathtest

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/vrouter/vrouter/internal/csum"
)

// UDPFrame returns an Ethernet frame with an IPv6/UDP packet from src to dst
// (ports 1000 → 2000) with a correct UDP checksum.
func UDPFrame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, hopLimit uint8, payload []byte) []byte {
	f := make([]byte, 14+40+8+len(payload))
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	ip := f[14:]
	binary.BigEndian.PutUint32(ip[0:], 6<<28|0xabcde) // a flow label to check it survives
	binary.BigEndian.PutUint16(ip[4:], uint16(8+len(payload)))
	ip[6] = 17
	ip[7] = hopLimit
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	u := ip[40:]
	binary.BigEndian.PutUint16(u[0:], 1000)
	binary.BigEndian.PutUint16(u[2:], 2000)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	binary.BigEndian.PutUint16(u[6:], udpChecksum(s, d, u))
	return f
}

func udpChecksum(src, dst [16]byte, seg []byte) uint16 {
	c := csum.IPv6(netip.AddrFrom16(src), netip.AddrFrom16(dst), csum.ProtoUDP, seg)
	if c == 0 {
		c = 0xffff // RFC 8200 §8.1
	}
	return c
}
