package fastpath

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vrouter/vrouter/internal/csum"
)

// l4Sum is the ones'-complement sum of the pseudo-header (RFC 8200 §8.1)
// and the transport segment of an IPv6 frame with TCP or UDP right after the
// fixed header; 0xffff means the checksum in the segment is right.
func l4Sum(frame []byte) uint16 {
	plen := int(binary.BigEndian.Uint16(frame[offPayLen:]))
	seg := frame[minFrame : minFrame+plen]
	var sum uint64
	sum = csum.Add(sum, frame[offSrc:offSrc+32])
	sum += uint64(plen) + uint64(frame[offNextHdr])
	sum = csum.Add(sum, seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// partial turns a frame with a complete checksum into what a sender that
// relies on checksum offload hands to the kernel: the field holds the folded
// pseudo-header sum (Linux: ~csum_ipv6_magic(saddr, daddr, len, proto, 0)).
func partial(frame []byte, field int) []byte {
	f := bytes.Clone(frame)
	plen := int(binary.BigEndian.Uint16(f[offPayLen:]))
	var sum uint64
	sum = csum.Add(sum, f[offSrc:offSrc+32])
	sum += uint64(plen) + uint64(f[offNextHdr])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(f[minFrame+field:], uint16(sum))
	return f
}

func tcpFrame(payload []byte) []byte {
	f := pkt{dstMAC: macRouterIn, srcMAC: macHostA, next: protoTCP, payload: 20 + len(payload)}.bytes()
	seg := f[minFrame:]
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 443)
	binary.BigEndian.PutUint32(seg[4:], 0x01020304)
	seg[12] = 5 << 4
	seg[13] = 0x18 // PSH ACK
	binary.BigEndian.PutUint16(seg[14:], 65535)
	binary.BigEndian.PutUint16(seg[16:], 0)
	copy(seg[20:], payload)
	var sum uint64
	sum = csum.Add(sum, f[offSrc:offSrc+32])
	sum += uint64(len(seg)) + protoTCP
	sum = csum.Add(sum, seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(seg[16:], ^uint16(sum))
	return f
}

func udpFrame(payload []byte) []byte {
	f := make([]byte, minFrame+8+len(payload))
	copy(f, pkt{dstMAC: macRouterIn, srcMAC: macHostA, payload: 8 + len(payload)}.bytes())
	seg := f[minFrame:]
	binary.BigEndian.PutUint16(seg[0:], 5353)
	binary.BigEndian.PutUint16(seg[2:], 53)
	binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	binary.BigEndian.PutUint16(seg[6:], 0)
	copy(seg[8:], payload)
	var sum uint64
	sum = csum.Add(sum, f[offSrc:offSrc+32])
	sum += uint64(len(seg)) + protoUDP
	sum = csum.Add(sum, seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[6:], c)
	return f
}

func TestCompleteChecksum(t *testing.T) {
	// A UDP payload whose checksum computes to zero, sent as 0xffff: the
	// last two bytes are the complement of the sum without them.
	zero := udpFrame([]byte{1, 2, 3, 4, 0, 0})
	binary.BigEndian.PutUint16(zero[minFrame+6:], 0)
	var s uint64
	s = csum.Add(s, zero[offSrc:offSrc+32])
	s += uint64(8+6) + protoUDP
	s = csum.Add(s, zero[minFrame:])
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(zero[len(zero)-2:], ^uint16(s))
	binary.BigEndian.PutUint16(zero[minFrame+6:], 0xffff)

	for _, tc := range []struct {
		name  string
		frame []byte
		field int
	}{
		{"udp", udpFrame([]byte("hello, offload")), 6},
		{"udp odd length", udpFrame([]byte("odd")), 6},
		{"udp empty", udpFrame(nil), 6},
		{"udp zero checksum", zero, 6},
		{"tcp", tcpFrame([]byte("GET / HTTP/1.1\r\n")), 16},
		{"tcp no payload", tcpFrame(nil), 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l4Sum(tc.frame) != 0xffff {
				t.Fatalf("test frame has a bad checksum")
			}
			got := partial(tc.frame, tc.field)
			if bytes.Equal(got, tc.frame) {
				t.Fatalf("partial did not change the frame")
			}
			got = append(got, 0, 0, 0, 0) // Ethernet padding is not summed
			completeChecksum(got)
			if !bytes.Equal(got[:len(tc.frame)], tc.frame) {
				t.Errorf("completed:\n got %x\nwant %x", got[:len(tc.frame)], tc.frame)
			}
		})
	}

	// Frames the fast path does not forward stay as they are.
	icmp := pkt{dstMAC: macRouterIn, srcMAC: macHostA, next: protoICMPv6, payload: 8}.bytes()
	frag := pkt{dstMAC: macRouterIn, srcMAC: macHostA, next: protoFragment, payload: 16}.bytes()
	short := udpFrame([]byte("x"))[:minFrame+4]
	long := udpFrame([]byte("y"))
	binary.BigEndian.PutUint16(long[offPayLen:], 200)
	v4 := udpFrame([]byte("z"))
	v4[offIP] = 0x45
	notIP := udpFrame(nil)
	notIP[offEthType] = 0x08
	for _, f := range [][]byte{icmp, frag, short, long, v4, notIP, nil, {0x86}} {
		orig := bytes.Clone(f)
		completeChecksum(f)
		if !bytes.Equal(f, orig) {
			t.Errorf("completeChecksum changed %x", orig)
		}
	}
}

// FuzzCompleteChecksum: never panics; when it changes a frame it changes
// only the checksum field; and the frame made partial (the field set to the
// pseudo-header sum, as a sender relying on offload leaves it) completes to
// a checksum that verifies.
func FuzzCompleteChecksum(f *testing.F) {
	f.Add(partial(udpFrame([]byte("seed")), 6))
	f.Add(partial(tcpFrame([]byte("seed")), 16))
	f.Add(pkt{next: protoICMPv6, payload: 8}.bytes())
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		completeChecksum(frame)
		if bytes.Equal(frame, orig) {
			return
		}
		field := minFrame + 6
		if frame[offNextHdr] == protoTCP {
			field = minFrame + 16
		}
		if !bytes.Equal(frame[:field], orig[:field]) || !bytes.Equal(frame[field+2:], orig[field+2:]) {
			t.Fatalf("changed more than the checksum:\n%x\n%x", orig, frame)
		}
		p := partial(frame, field-minFrame)
		completeChecksum(p)
		if s := l4Sum(p); s != 0xffff {
			t.Fatalf("checksum does not verify: sum %#x", s)
		}
	})
}

func TestCompletePartialChecksum(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		field int
	}{
		{"udp", udpFrame([]byte("traceroute probe")), 6},
		{"udp odd length", udpFrame([]byte("odd")), 6},
		{"tcp", tcpFrame([]byte("GET / HTTP/1.1\r\n\r\n")), 16},
		{"tcp empty", tcpFrame(nil), 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l4Sum(tc.frame) != 0xffff {
				t.Fatal("test frame has a bad checksum")
			}
			f := partial(tc.frame, tc.field)
			if !completePartialChecksum(f) {
				t.Fatal("partial checksum not completed")
			}
			if !bytes.Equal(f, tc.frame) {
				t.Fatalf("completed frame\n%x, want\n%x", f, tc.frame)
			}
			// A complete checksum is left alone.
			g := bytes.Clone(tc.frame)
			if completePartialChecksum(g) || !bytes.Equal(g, tc.frame) {
				t.Fatal("complete checksum changed")
			}
			// A damaged frame whose field is not the pseudo-header
			// sum stays damaged: a router does not repair it.
			d := bytes.Clone(tc.frame)
			d[len(d)-1] ^= 0x55
			if len(d) == minFrame+tc.field+2 {
				d[minFrame] ^= 0x55
			}
			if completePartialChecksum(d) || l4Sum(d) == 0xffff {
				t.Fatal("damaged frame repaired")
			}
		})
	}
	// Not TCP/UDP, short, or not IPv6: untouched.
	icmp := pkt{dstMAC: macRouterIn, next: protoICMPv6, payload: 8}.bytes()
	if completePartialChecksum(icmp) || completePartialChecksum(icmp[:20]) {
		t.Fatal("ICMPv6 or short frame touched")
	}
}

// FuzzCompletePartialChecksum: on any frame completePartialChecksum does not
// panic, changes at most the checksum field, says so exactly when it
// changed the frame, and then the checksum verifies; a frame whose checksum
// verifies already is never changed.
func FuzzCompletePartialChecksum(f *testing.F) {
	f.Add(partial(udpFrame([]byte("seed")), 6))
	f.Add(partial(tcpFrame([]byte("seed")), 16))
	f.Add(udpFrame([]byte("complete")))
	f.Add(pkt{next: protoICMPv6, payload: 8}.bytes())
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		_, field, ok := transportSegment(frame)
		verified := ok && l4Sum(frame) == 0xffff
		changed := completePartialChecksum(frame)
		if changed == bytes.Equal(frame, orig) {
			t.Fatalf("reported change %v, frame changed %v", changed, !bytes.Equal(frame, orig))
		}
		if !changed {
			return
		}
		if verified {
			t.Fatalf("changed a frame whose checksum verified:\n%x", orig)
		}
		at := minFrame + field
		if !bytes.Equal(frame[:at], orig[:at]) || !bytes.Equal(frame[at+2:], orig[at+2:]) {
			t.Fatalf("changed more than the checksum:\n%x\n%x", orig, frame)
		}
		if s := l4Sum(frame); s != 0xffff {
			t.Fatalf("completed checksum does not verify: sum %#x", s)
		}
	})
}

func BenchmarkCompletePartialChecksumComplete(b *testing.B) {
	f := udpFrame(make([]byte, 1400))
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		completePartialChecksum(f)
	}
}
