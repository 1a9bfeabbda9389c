package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"golang.org/x/net/ipv6"
)

var testSpec = frameSpec{
	SrcMAC:   net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a},
	DstMAC:   net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b},
	Src:      netip.MustParseAddr("2001:db8:a::2"),
	Dst:      netip.MustParseAddr("2001:db8:b::2"),
	HopLimit: 64,
	Size:     78,
	Flows:    300,
}

// TestBuildFrames checks the frames against decoders other than the one
// that built them: golang.org/x/net/ipv6 for the header, a checksum summed
// here, and fastpathtest.UDPFrame for the whole layout.
func TestBuildFrames(t *testing.T) {
	for _, size := range []int{minFrameSize, 63, 78, 1514} {
		spec := testSpec
		spec.Size = size
		frames, err := buildFrames(spec)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if len(frames) != spec.Flows {
			t.Fatalf("size %d: %d frames, want %d", size, len(frames), spec.Flows)
		}
		ports := map[uint16]bool{}
		for i, f := range frames {
			if len(f) != size {
				t.Fatalf("size %d flow %d: %d bytes", size, i, len(f))
			}
			if !bytes.Equal(f[0:6], spec.DstMAC) || !bytes.Equal(f[6:12], spec.SrcMAC) || binary.BigEndian.Uint16(f[12:]) != 0x86dd {
				t.Fatalf("flow %d: Ethernet header %x", i, f[:14])
			}
			h, err := ipv6.ParseHeader(f[14:])
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != 6 || h.NextHeader != 17 || h.HopLimit != 64 || h.PayloadLen != size-54 || h.FlowLabel != i ||
				!h.Src.Equal(spec.Src.AsSlice()) || !h.Dst.Equal(spec.Dst.AsSlice()) {
				t.Fatalf("flow %d: IPv6 header %+v", i, h)
			}
			u := f[54:]
			if l := binary.BigEndian.Uint16(u[4:]); int(l) != size-54 {
				t.Errorf("flow %d: UDP length %d, want %d", i, l, size-54)
			}
			if sum := pseudoSum(f); sum != 0xffff {
				t.Errorf("flow %d: UDP checksum does not verify (sum %#x)", i, sum)
			}
			sp := binary.BigEndian.Uint16(u[0:])
			if ports[sp] || sp != uint16(basePort+i) || binary.BigEndian.Uint16(u[2:]) != dstPort {
				t.Errorf("flow %d: ports %d → %d", i, sp, binary.BigEndian.Uint16(u[2:]))
			}
			ports[sp] = true
		}
	}
}

// TestBuildFramesMatchesHandBuilt: with the hand-built frame's ports, flow
// label and payload, the gopacket frame is byte-identical to
// fastpathtest.UDPFrame (the builder v6gen used before).
func TestBuildFramesMatchesHandBuilt(t *testing.T) {
	spec := testSpec
	spec.Flows = 1
	frames, err := buildFrames(spec)
	if err != nil {
		t.Fatal(err)
	}
	got := frames[0]
	want := fastpathtest.UDPFrame(spec.DstMAC, spec.SrcMAC, spec.Src, spec.Dst, 64, make([]byte, spec.Size-minFrameSize))
	// Align what the two builders choose differently (flow label, ports),
	// then recompute the hand-built frame's checksum.
	p := gopacket.NewPacket(want, layers.LayerTypeEthernet, gopacket.Default)
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip.FlowLabel != 0xabcde || udp.SrcPort != 1000 || udp.DstPort != 2000 {
		t.Fatalf("hand-built frame changed: flow label %#x ports %d → %d", ip.FlowLabel, udp.SrcPort, udp.DstPort)
	}
	binary.BigEndian.PutUint32(want[14:], 6<<28) // our flow 0: flow label 0
	binary.BigEndian.PutUint16(want[54:], basePort)
	binary.BigEndian.PutUint16(want[56:], dstPort)
	binary.BigEndian.PutUint16(want[60:], 0)
	binary.BigEndian.PutUint16(want[60:], checksum(want))
	if !bytes.Equal(got, want) {
		t.Errorf("gopacket frame\n got %x\nwant %x", got, want)
	}
}

// pseudoSum is the ones'-complement sum of the IPv6 pseudo-header and the
// UDP segment of f; 0xffff when the checksum is right.
func pseudoSum(f []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	seg := f[54 : 54+int(binary.BigEndian.Uint16(f[18:]))]
	add(f[22:54])
	sum += uint32(len(seg)) + 17
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// checksum computes the UDP checksum of f (its checksum field zero).
func checksum(f []byte) uint16 {
	c := ^pseudoSum(f)
	if c == 0 {
		c = 0xffff
	}
	return c
}

func TestFrameSpecRejects(t *testing.T) {
	for name, mod := range map[string]func(*frameSpec){
		"short frame": func(s *frameSpec) { s.Size = minFrameSize - 1 },
		"huge frame":  func(s *frameSpec) { s.Size = maxFrameSize + 1 },
		"no flows":    func(s *frameSpec) { s.Flows = 0 },
		"many flows":  func(s *frameSpec) { s.Flows = 65535 },
		"IPv4":        func(s *frameSpec) { s.Src = netip.MustParseAddr("192.0.2.1") },
		"bad MAC":     func(s *frameSpec) { s.DstMAC = s.DstMAC[:4] },
		"hop limit 0": func(s *frameSpec) { s.HopLimit = 0 },
	} {
		s := testSpec
		mod(&s)
		if _, err := buildFrames(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
