package fastpath

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

func TestBuildPacketTooBig(t *testing.T) {
	for _, size := range []int{0, 10, 1232, 1400, 9000} {
		orig := pkt{srcMAC: macHostA, dstMAC: macRouterIn, payload: size}.bytes()
		src := netip.MustParseAddr("2001:db8:1::1").As16()
		out := make([]byte, maxICMPErrorFrame)
		f := buildICMPError(out, &macHostA, &macRouterIn, &src, orig[offIP:], icmpPacketTooBig, 0, 1280)

		quoted := min(len(orig)-ethLen, 1232)
		if got, want := len(f), ethLen+ipv6HdrLen+8+quoted; got != want {
			t.Fatalf("size %d: frame length %d, want %d", size, got, want)
		}
		if len(f)-ethLen > minIPv6MTU {
			t.Fatalf("size %d: error packet of %d bytes exceeds 1280", size, len(f)-ethLen)
		}
		if [6]byte(f[0:6]) != macHostA || [6]byte(f[6:12]) != macRouterIn {
			t.Errorf("MACs %x %x", f[0:6], f[6:12])
		}
		hdr, err := ipv6.ParseHeader(f[ethLen:])
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Version != 6 || hdr.NextHeader != 58 || hdr.HopLimit != 64 ||
			!hdr.Src.Equal(net.ParseIP("2001:db8:1::1")) || !hdr.Dst.Equal(net.ParseIP("2001:db8:1::10")) ||
			hdr.PayloadLen != len(f)-ethLen-ipv6HdrLen {
			t.Errorf("header %+v", hdr)
		}
		// Independent encoding by x/net/icmp, checksum included.
		want, err := (&icmp.Message{
			Type: ipv6.ICMPTypePacketTooBig,
			Body: &icmp.PacketTooBig{MTU: 1280, Data: orig[ethLen : ethLen+quoted]},
		}).Marshal(icmp.IPv6PseudoHeader(hdr.Src, hdr.Dst))
		if err != nil {
			t.Fatal(err)
		}
		if got := f[ethLen+ipv6HdrLen:]; !bytes.Equal(got, want) {
			t.Errorf("size %d: ICMPv6 message\n got %x\nwant %x", size, got[:16], want[:16])
		}
	}
}

func TestICMPChecksumOddLength(t *testing.T) {
	src := netip.MustParseAddr("2001:db8::1").As16()
	dst := netip.MustParseAddr("2001:db8::2").As16()
	for n := 8; n < 40; n++ {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i*37 + n)
		}
		msg[0] = 1
		msg[2], msg[3] = 0, 0
		sum := icmpv6Checksum(src[:], dst[:], msg)
		msg[2], msg[3] = byte(sum>>8), byte(sum)
		// Summing again over a correct message gives 0.
		if got := icmpv6Checksum(src[:], dst[:], msg); got != 0 {
			t.Errorf("length %d: verification sum %#x, want 0", n, got)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(func() time.Time { return now }, 10, 3)
	got := 0
	for range 10 {
		if l.allow() {
			got++
		}
	}
	if got != 3 {
		t.Errorf("burst: %d allowed, want 3", got)
	}
	now = now.Add(200 * time.Millisecond) // 2 tokens
	got = 0
	for range 10 {
		if l.allow() {
			got++
		}
	}
	if got != 2 {
		t.Errorf("after 200ms: %d allowed, want 2", got)
	}
}
