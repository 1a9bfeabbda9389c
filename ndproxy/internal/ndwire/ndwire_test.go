package ndwire

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
)

var (
	ll     = netip.MustParseAddr("fe80::1")
	target = netip.MustParseAddr("2001:db8::c009")
	mac    = MAC{0x02, 0, 0, 0, 0, 1}
)

func TestRoundTrip(t *testing.T) {
	p := AppendNS(nil, ll, SolicitedNode(target), target, NSOptions{SLLA: &mac})
	ns, why := ParseNS(p)
	if why != OK || ns.Target != target || !ns.HasSLLA || ns.SLLA != mac || ns.HopLimit != 255 {
		t.Fatalf("ParseNS = %+v, %v", ns, why)
	}
	a := AppendNA(nil, target, ll, target, FlagSolicited|FlagRouter, mac)
	na, why := ParseNA(a)
	if why != OK || na.Target != target || !na.Solicited || !na.Router || na.Override || na.TLLA != mac {
		t.Fatalf("ParseNA = %+v, %v", na, why)
	}
	m, err := ndp.ParseMessage(a[40:])
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(*ndp.NeighborAdvertisement); got.TargetAddress != target || !got.Solicited {
		t.Fatalf("ndp sees %+v", got)
	}
}

func TestSolicitedNodeAndMAC(t *testing.T) {
	g := SolicitedNode(target)
	want, _ := ndp.SolicitedNodeMulticast(target)
	if g != want {
		t.Fatalf("SolicitedNode = %v, want %v", g, want)
	}
	if m := MulticastMAC(g); m != (MAC{0x33, 0x33, 0xff, 0, 0xc0, 0x09}) {
		t.Fatalf("MulticastMAC = %x", m)
	}
	if a := LinkLocalEUI64(MAC{0x02, 0x42, 0xac, 0x11, 0, 2}); a != netip.MustParseAddr("fe80::42:acff:fe11:2") {
		t.Fatalf("LinkLocalEUI64 = %v", a)
	}
}

// wrap puts an ICMPv6 message in an IPv6 header with a correct checksum.
func wrap(src, dst netip.Addr, hop uint8, icmp []byte) []byte {
	b := appendIPv6(nil, src, dst, hop, len(icmp))
	b = append(b, icmp...)
	if len(icmp) >= 4 {
		fill(b)
	}
	return b
}

// FuzzParseNS checks ParseNS against mdlayher/ndp on messages with correct
// checksums, so validation past the checksum is exercised.
func FuzzParseNS(f *testing.F) {
	seed := AppendNS(nil, ll, SolicitedNode(target), target, NSOptions{SLLA: &mac})
	f.Add(seed[40:], uint8(255), false)
	f.Add(AppendNS(nil, ll, target, target, NSOptions{})[40:], uint8(255), false)
	f.Add(AppendNS(nil, ll, target, target, NSOptions{ZeroLengthOption: true})[40:], uint8(255), true)
	f.Add([]byte{135, 0, 0, 0}, uint8(1), true)
	f.Fuzz(func(t *testing.T, icmp []byte, hop uint8, dad bool) {
		src := ll
		if dad {
			src = netip.IPv6Unspecified()
		}
		p := wrap(src, SolicitedNode(target), hop, icmp)
		ns, why := ParseNS(p)
		if why != OK {
			return
		}
		if hop != 255 || icmp[0] != TypeNS || icmp[1] != 0 || len(icmp) < 24 {
			t.Fatalf("accepted hop %d type %d code %d len %d", hop, icmp[0], icmp[1], len(icmp))
		}
		if dad && ns.HasSLLA {
			t.Fatal("accepted DAD with SLLA")
		}
		m, err := ndp.ParseMessage(p[40:])
		if err != nil {
			return // ndp is stricter about the contents of options we ignore
		}
		n := m.(*ndp.NeighborSolicitation)
		if n.TargetAddress != ns.Target {
			t.Fatalf("target %v, ndp says %v", ns.Target, n.TargetAddress)
		}
		for _, o := range n.Options {
			if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Source && len(l.Addr) == 6 && ns.HasSLLA {
				if !bytes.Equal(l.Addr, ns.SLLA[:]) {
					t.Fatalf("SLLA %x, ndp says %x", ns.SLLA, l.Addr)
				}
				break
			}
		}
		// Rebuilding from the parsed fields parses the same.
		var o NSOptions
		if ns.HasSLLA {
			o.SLLA = &ns.SLLA
		}
		again, why := ParseNS(AppendNS(nil, ns.Src, ns.Dst, ns.Target, o))
		if why != OK || again != ns {
			t.Fatalf("rebuild: %+v %v, want %+v", again, why, ns)
		}
	})
}

func FuzzParseNA(f *testing.F) {
	f.Add(AppendNA(nil, target, ll, target, FlagSolicited, mac))
	f.Fuzz(func(t *testing.T, p []byte) {
		na, why := ParseNA(p)
		if why != OK {
			return
		}
		if p[7] != 255 || (na.Solicited && na.Dst.IsMulticast()) || na.Target.IsMulticast() {
			t.Fatalf("accepted %+v", na)
		}
	})
}
