package fastpath

import (
	"encoding/binary"
	"net/netip"
)

var (
	macRouterIn  = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macRouterOut = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	macHostA     = [6]byte{0x02, 0, 0, 0, 0, 0xa0}
	macHostB     = [6]byte{0x02, 0, 0, 0, 0, 0xb0}
)

// pkt describes a test frame; zero fields get sane defaults.
type pkt struct {
	dstMAC, srcMAC [6]byte
	src, dst       string
	hop            uint8
	next           uint8
	payload        int
	payLenDelta    int // added to the payload length field
	version        uint8
}

func (p pkt) bytes() []byte {
	if p.version == 0 {
		p.version = 6
	}
	if p.next == 0 {
		p.next = protoUDP
	}
	if p.src == "" {
		p.src = "2001:db8:1::10"
	}
	if p.dst == "" {
		p.dst = "2001:db8:2::20"
	}
	if p.hop == 0 {
		p.hop = 64
	}
	f := make([]byte, minFrame+p.payload)
	copy(f[0:], p.dstMAC[:])
	copy(f[6:], p.srcMAC[:])
	binary.BigEndian.PutUint16(f[12:], etherTypeIP6)
	binary.BigEndian.PutUint32(f[14:], uint32(p.version)<<28|0x12345)
	binary.BigEndian.PutUint16(f[18:], uint16(p.payload+p.payLenDelta))
	f[20] = p.next
	f[21] = p.hop
	s := netip.MustParseAddr(p.src).As16()
	d := netip.MustParseAddr(p.dst).As16()
	copy(f[22:], s[:])
	copy(f[38:], d[:])
	for i := range p.payload {
		f[minFrame+i] = byte(i)
	}
	return f
}
