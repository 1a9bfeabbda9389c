package csum

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// reference is RFC 1071 written the slow, obvious way.
func reference(src, dst netip.Addr, proto uint8, msg []byte) uint16 {
	var b []byte
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, 0, 0, 0, proto)
	b = append(b, msg...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// TestIPv6Echo checks an ICMPv6 echo request both ways: the computed value
// is the reference's, and the message carrying it verifies to 0.
func TestIPv6Echo(t *testing.T) {
	src := netip.MustParseAddr("2001:db8:0:1::1")
	dst := netip.MustParseAddr("2001:db8:0:2::33")
	msg := []byte{128, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}
	c := IPv6(src, dst, ProtoICMPv6, msg)
	if want := reference(src, dst, ProtoICMPv6, msg); c != want {
		t.Fatalf("IPv6 = %#04x, reference %#04x", c, want)
	}
	binary.BigEndian.PutUint16(msg[2:], c)
	if got := IPv6(src, dst, ProtoICMPv6, msg); got != 0 {
		t.Errorf("checksum over a message with its checksum set = %#04x, want 0", got)
	}
	msg[8] ^= 1
	if got := IPv6(src, dst, ProtoICMPv6, msg); got == 0 {
		t.Error("a damaged message still verifies")
	}
}

func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var s, d [16]byte
		for i := range s {
			s[i], d[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		msg := make([]byte, rng.IntN(1600))
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		src, dst := netip.AddrFrom16(s), netip.AddrFrom16(d)
		proto := []uint8{ProtoTCP, ProtoUDP, ProtoICMPv6}[rng.IntN(3)]
		if got, want := IPv6(src, dst, proto, msg), reference(src, dst, proto, msg); got != want {
			t.Fatalf("len %d: IPv6 = %#04x, reference %#04x", len(msg), got, want)
		}
	}
}

func TestAllocs(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	msg := make([]byte, 1500)
	if n := testing.AllocsPerRun(100, func() { IPv6(src, dst, ProtoUDP, msg) }); n != 0 {
		t.Errorf("%v allocations per checksum, want 0", n)
	}
}

func FuzzIPv6(f *testing.F) {
	f.Add([]byte{128, 0, 0, 0, 0x12, 0x34, 0, 1}, uint8(ProtoICMPv6))
	f.Add([]byte{1}, uint8(ProtoUDP))
	f.Fuzz(func(t *testing.T, msg []byte, proto uint8) {
		src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1")
		if got, want := IPv6(src, dst, proto, msg), reference(src, dst, proto, msg); got != want {
			t.Fatalf("IPv6 = %#04x, reference %#04x", got, want)
		}
	})
}
