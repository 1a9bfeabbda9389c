package ra

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// FuzzHandleMessage feeds arbitrary bytes, as they would arrive on the NDP
// socket, through parsing, RS validation and scheduling: nothing may panic,
// and the RFC 4861 spacing and the pending-reply bound must hold.
func FuzzHandleMessage(f *testing.F) {
	rs, _ := ndp.MarshalMessage(&ndp.RouterSolicitation{Options: []ndp.Option{
		&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: testMAC},
	}})
	f.Add(rs, uint8(255), netip.MustParseAddr("fe80::1").AsSlice())
	f.Add(rs, uint8(255), netip.IPv6Unspecified().AsSlice())
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0}, uint8(255), netip.IPv6Unspecified().AsSlice())
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0}, uint8(64), []byte{0xfe, 0x80, 15: 1})
	f.Add([]byte{134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(255), []byte{15: 2})

	f.Fuzz(func(t *testing.T, b []byte, hopLimit uint8, src []byte) {
		m, err := ndp.ParseMessage(b)
		if err != nil {
			return // ndp.Conn drops what does not parse
		}
		addr, ok := netip.AddrFromSlice(src)
		if !ok {
			addr = netip.IPv6Unspecified()
		}
		s := newScheduler(rand.New(rand.NewPCG(1, 2)), 4*time.Second, 10*time.Second)
		now := t0
		s.restart(now)
		s.multicastSent(now)
		cm := &ipv6.ControlMessage{HopLimit: int(hopLimit)}
		for i := range 3 * maxPendingUnicast {
			now = now.Add(10 * time.Millisecond)
			if from, ok := solicitation(m, cm, addr.WithZone("eth1")); ok {
				if from.Zone() != "" {
					t.Fatalf("source %v keeps its zone", from)
				}
				s.solicited(now, from)
				// Vary the source so the unicast bound is exercised.
				if !from.IsUnspecified() {
					a := from.As16()
					a[15] += byte(i)
					s.solicited(now, netip.AddrFrom16(a))
				}
			}
		}
		if len(s.unicast) > maxPendingUnicast {
			t.Fatalf("%d pending unicast replies, over the bound", len(s.unicast))
		}
		if s.next.Sub(s.last) < minDelayBetweenRAs {
			t.Fatalf("next multicast %s after the last, want >= 3s", s.next.Sub(s.last))
		}
	})
}
