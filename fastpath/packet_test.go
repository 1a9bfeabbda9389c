package fastpath

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	local := localAddrs{netip.MustParseAddr("2001:db8:2::1").As16(): {}}
	base := pkt{dstMAC: macRouterIn, srcMAC: macHostA, payload: 20}
	with := func(f func(p *pkt)) []byte { p := base; f(&p); return p.bytes() }
	tests := []struct {
		name  string
		frame []byte
		wire  int // 0: len(frame)
		want  Class
	}{
		{"forward UDP", base.bytes(), 0, Class{Action: ActionForward, IPLen: 60}},
		{"forward TCP", with(func(p *pkt) { p.next = protoTCP }), 0, Class{Action: ActionForward, IPLen: 60}},
		{"forward ICMPv6", with(func(p *pkt) { p.next = protoICMPv6 }), 0, Class{Action: ActionForward, IPLen: 60}},
		{"ethernet padding trimmed", append(base.bytes(), 0, 0, 0), 0, Class{Action: ActionForward, IPLen: 60}},
		{"empty", nil, 0, Class{Action: ActionKernel, Kernel: KernelNotIPv6}},
		{"not IPv6", append(base.bytes()[:12], 0x08, 0x00, 0x45), 0, Class{Action: ActionKernel, Kernel: KernelNotIPv6}},
		{"truncated header", base.bytes()[:minFrame-1], 0, Class{Action: ActionKernel, Kernel: KernelTruncated}},
		{"version 4", with(func(p *pkt) { p.version = 4 }), 0, Class{Action: ActionKernel, Kernel: KernelBadVersion}},
		{"multicast", with(func(p *pkt) { p.dst = "ff02::1" }), 0, Class{Action: ActionKernel, Kernel: KernelMulticast}},
		{"link-local dst", with(func(p *pkt) { p.dst = "fe80::1" }), 0, Class{Action: ActionKernel, Kernel: KernelLinkLocal}},
		{"link-local dst febf", with(func(p *pkt) { p.dst = "febf::1" }), 0, Class{Action: ActionKernel, Kernel: KernelLinkLocal}},
		{"fec0 is not link-local", with(func(p *pkt) { p.dst = "fec0::1" }), 0, Class{Action: ActionForward, IPLen: 60}},
		{"link-local src", with(func(p *pkt) { p.src = "fe80::1" }), 0, Class{Action: ActionKernel, Kernel: KernelLinkLocal}},
		{"fragment", with(func(p *pkt) { p.next = protoFragment }), 0, Class{Action: ActionKernel, Kernel: KernelFragment}},
		{"routing header", with(func(p *pkt) { p.next = 43 }), 0, Class{Action: ActionKernel, Kernel: KernelExtHeader}},
		{"no next header", with(func(p *pkt) { p.next = 59 }), 0, Class{Action: ActionKernel, Kernel: KernelExtHeader}},
		{"local", with(func(p *pkt) { p.dst = "2001:db8:2::1" }), 0, Class{Action: ActionKernel, Kernel: KernelLocal}},
		{"local hop limit 1", with(func(p *pkt) { p.dst = "2001:db8:2::1"; p.hop = 1 }), 0, Class{Action: ActionKernel, Kernel: KernelLocal}},
		{"hop limit 1", with(func(p *pkt) { p.hop = 1 }), 0, Class{Action: ActionKernel, Kernel: KernelHopLimit}},
		{"hop limit 2", with(func(p *pkt) { p.hop = 2 }), 0, Class{Action: ActionForward, IPLen: 60}},
		{"payload length beyond frame", with(func(p *pkt) { p.payLenDelta = 1 }), 0, Class{Action: ActionDrop, Drop: DropBadLength, IPLen: 61}},
		{"payload length 0xffff", with(func(p *pkt) { p.payLenDelta = 0xffff - 20 }), 0, Class{Action: ActionDrop, Drop: DropBadLength, IPLen: 40 + 0xffff}},
		{"unspecified src", with(func(p *pkt) { p.src = "::" }), 0, Class{Action: ActionDrop, Drop: DropBadAddress}},
		{"loopback src", with(func(p *pkt) { p.src = "::1" }), 0, Class{Action: ActionDrop, Drop: DropBadAddress}},
		{"multicast src", with(func(p *pkt) { p.src = "ff02::1" }), 0, Class{Action: ActionDrop, Drop: DropBadAddress}},
		{"loopback dst", with(func(p *pkt) { p.dst = "::1" }), 0, Class{Action: ActionDrop, Drop: DropBadAddress}},
		{"::2 is fine", with(func(p *pkt) { p.dst = "::2" }), 0, Class{Action: ActionForward, IPLen: 60}},
		{"other host", with(func(p *pkt) { p.dstMAC = macHostB }), 0, Class{Action: ActionDrop, Drop: DropOtherHost}},
		{"cut to buffer", base.bytes()[:minFrame+4], minFrame + 20, Class{Action: ActionDrop, Drop: DropCaptureShort, IPLen: 60}},
	}
	// Zero hop limit and next header 0 explicitly (the builder treats 0 as
	// "default").
	h0 := base.bytes()
	h0[offHopLimit] = 0
	jumbo := base.bytes()
	jumbo[offNextHdr] = protoHopByHop
	jumbo[offPayLen], jumbo[offPayLen+1] = 0, 0 // RFC 2675 jumbogram
	type tc = struct {
		name  string
		frame []byte
		wire  int
		want  Class
	}
	tests = append(tests,
		tc{"hop limit 0", h0, 0, Class{Action: ActionKernel, Kernel: KernelHopLimit}},
		tc{"hop-by-hop jumbogram", jumbo, 0, Class{Action: ActionKernel, Kernel: KernelExtHeader}},
	)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := tt.wire
			if wire == 0 {
				wire = len(tt.frame)
			}
			orig := bytes.Clone(tt.frame)
			got := classify(tt.frame, wire, &macRouterIn, local)
			if got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
			if !bytes.Equal(orig, tt.frame) {
				t.Error("classify modified the frame")
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	in := pkt{dstMAC: macRouterIn, srcMAC: macHostA, payload: 3}.bytes()
	in = append(in, 0, 0, 0, 0) // Ethernet padding
	orig := bytes.Clone(in)
	out := rewrite(in, ipv6HdrLen+3, &macHostB, &macRouterOut)
	if len(out) != minFrame+3 {
		t.Fatalf("len = %d, want %d", len(out), minFrame+3)
	}
	if [6]byte(out[0:6]) != macHostB || [6]byte(out[6:12]) != macRouterOut {
		t.Errorf("MACs = %x %x", out[0:6], out[6:12])
	}
	if out[offHopLimit] != orig[offHopLimit]-1 {
		t.Errorf("hop limit = %d, want %d", out[offHopLimit], orig[offHopLimit]-1)
	}
	// Everything else byte-identical.
	out[offHopLimit]++
	if !bytes.Equal(out[12:], orig[12:minFrame+3]) {
		t.Errorf("rest changed:\n got %x\nwant %x", out[12:], orig[12:minFrame+3])
	}
}

// FuzzClassify: classify never panics or reads past the frame; a frame it
// forwards satisfies the forwarding invariants, and the rewritten frame
// classifies the same way until its hop limit runs out.
func FuzzClassify(f *testing.F) {
	f.Add(pkt{dstMAC: macRouterIn, payload: 8}.bytes(), 0)
	f.Add(pkt{dstMAC: macRouterIn, next: protoFragment}.bytes(), 0)
	f.Add(pkt{dstMAC: macRouterIn, hop: 1}.bytes(), 0)
	f.Add(pkt{dstMAC: macRouterIn, dst: "2001:db8:2::1"}.bytes(), 0)
	f.Add(pkt{dstMAC: macRouterIn, payLenDelta: 5}.bytes(), 0)
	f.Add(pkt{dstMAC: macRouterIn, dst: "ff02::1:ff00:1", next: protoICMPv6, hop: 255}.bytes(), 0)
	f.Add([]byte{}, 3)
	local := localSetOf(testLocals)
	vm := ingressVM(f, testLocals)
	f.Fuzz(func(t *testing.T, frame []byte, extra int) {
		checkIngressAgrees(t, vm, local, frame)
		wire := len(frame) + max(0, extra%4096)
		c := classify(frame, wire, &macRouterIn, local)
		switch c.Action {
		case ActionKernel:
			if c.Kernel >= NumKernelReasons {
				t.Fatalf("bad kernel reason %d", c.Kernel)
			}
			return
		case ActionDrop:
			if c.Drop >= NumDropReasons {
				t.Fatalf("bad drop reason %d", c.Drop)
			}
			return
		case ActionForward:
		default:
			t.Fatalf("bad action %d", c.Action)
		}
		if c.IPLen < ipv6HdrLen || ethLen+c.IPLen > len(frame) {
			t.Fatalf("IPLen %d outside frame of %d", c.IPLen, len(frame))
		}
		if frame[offHopLimit] < 2 || frame[offIP]>>4 != 6 || frame[offDst] == 0xff {
			t.Fatalf("forwarding a frame the kernel must see: %x", frame[:minFrame])
		}
		hop := frame[offHopLimit]
		out := rewrite(bytes.Clone(frame), c.IPLen, &macHostB, &macRouterOut)
		copy(out[0:6], macRouterIn[:]) // as if received by the next router
		c2 := classify(out, len(out), &macRouterIn, local)
		if hop-1 <= 1 {
			if c2.Action != ActionKernel || c2.Kernel != KernelHopLimit {
				t.Fatalf("after rewrite: %+v, want hop-limit to kernel", c2)
			}
		} else if c2 != (Class{Action: ActionForward, IPLen: c.IPLen}) {
			t.Fatalf("after rewrite: %+v, want %+v", c2, c)
		}
	})
}
