package csum

import (
	"encoding/binary"
	"net/netip"
)

// Protocol numbers the pseudo-header carries.
const (
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// Add adds b to the running one's complement sum as big-endian 16-bit
// words; an odd last byte is padded with a zero byte, so only the last
// piece of a message may have an odd length.
func Add(sum uint64, b []byte) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v>>48 + (v>>32)&0xffff + (v>>16)&0xffff + v&0xffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// Pseudo returns the sum of the IPv6 pseudo-header: the 16-byte source and
// destination addresses src and dst, the upper-layer length and the next
// header proto.
func Pseudo(src, dst []byte, length int, proto uint8) uint64 {
	sum := Add(0, src[:16])
	sum = Add(sum, dst[:16])
	return sum + uint64(uint32(length)>>16) + uint64(length&0xffff) + uint64(proto)
}

// Fold folds a one's complement sum to 16 bits.
func Fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// IPv6 returns the checksum of the upper-layer message msg between src and
// dst: the complement of the folded sum of the pseudo-header and msg. Over
// a message whose checksum field is zero it is the value to write there;
// over a message with a correct checksum it is 0. A UDP sender writes a
// computed 0 as 0xffff (RFC 8200 §8.1).
func IPv6(src, dst netip.Addr, proto uint8, msg []byte) uint16 {
	s, d := src.As16(), dst.As16()
	return ^Fold(Add(Pseudo(s[:], d[:], len(msg), proto), msg))
}
