package ra

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
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

	f.Add([]byte{133, 1, 0, 0, 0, 0, 0, 0}, uint8(255), []byte{0xfe, 0x80, 15: 1})
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, uint8(255), []byte{0xfe, 0x80, 15: 1})

	f.Fuzz(func(t *testing.T, b []byte, hopLimit uint8, src []byte) {
		addr, ok := netip.AddrFromSlice(src)
		if !ok {
			addr = netip.IPv6Unspecified()
		}
		s := newScheduler(rand.New(rand.NewPCG(1, 2)), 4*time.Second, 10*time.Second)
		now := t0
		s.restart(now)
		s.multicastSent(now)
		cm := &ipv6.ControlMessage{HopLimit: int(hopLimit)}
		kind, from, reason := classify(b, cm, addr.WithZone("eth1"), testLL)
		switch kind {
		case inRS:
			// Only well-formed RSs with hop limit 255 pass (unknown or
			// odd options are ignored, RFC 4861 §6.1.1; ndp's parser is
			// stricter about options it knows, so it is not the oracle).
			if hopLimit != 255 || len(b) < 8 || b[0] != 133 || b[1] != 0 {
				t.Fatalf("accepted hop limit %d, header % x", hopLimit, b[:min(len(b), 4)])
			}
		case inBadRS:
			if reason >= numDropReasons {
				t.Fatalf("reason %d out of range", reason)
			}
		}
		// What ndp parses as an RS from a proper source with hop limit
		// 255 is accepted, unless it is from "::" with an SLLA option.
		if m, err := ndp.ParseMessage(b); err == nil && hopLimit == 255 {
			if rs, ok := m.(*ndp.RouterSolicitation); ok && b[1] == 0 && addr.Is6() && !addr.Is4In6() && !addr.IsMulticast() && !addr.IsLoopback() {
				slla := false
				for _, o := range rs.Options {
					if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Source {
						slla = true
					}
				}
				if !(addr.IsUnspecified() && slla) && kind != inRS {
					t.Fatalf("valid RS rejected: %v %v", kind, reason)
				}
			}
		}
		if from.Zone() != "" {
			t.Fatalf("source %v keeps its zone", from)
		}
		if kind != inRS {
			return
		}
		for i := range 3 * maxPendingUnicast {
			now = now.Add(10 * time.Millisecond)
			s.solicited(now, from)
			// Vary the source so the unicast bound is exercised.
			if !from.IsUnspecified() {
				a := from.As16()
				a[15] += byte(i)
				s.solicited(now, netip.AddrFrom16(a))
			}
		}
		if len(s.unicast) > maxPendingUnicast {
			t.Fatalf("%d pending unicast replies, over the bound", len(s.unicast))
		}
		if limit := unicastBurst + int(now.Sub(t0).Seconds()*unicastRate) + 1; len(s.unicast) > limit {
			t.Fatalf("%d pending unicast replies within %s, over the rate limit %d", len(s.unicast), now.Sub(t0), limit)
		}
		if s.next.Sub(s.last) < minDelayBetweenRAs {
			t.Fatalf("next multicast %s after the last, want >= 3s", s.next.Sub(s.last))
		}
	})
}

// FuzzBuildRA checks that any config that Validate accepts builds RAs that
// marshal, parse back, and split into parts that fit the MTU.
func FuzzBuildRA(f *testing.F) {
	f.Add(uint8(64), uint16(1800), uint32(86400), uint32(14400), "example.org", 1280, uint8(96), "https://portal.example/api")
	f.Add(uint8(0), uint16(0), uint32(0), uint32(0), "a.b", 0, uint8(64), "")
	f.Fuzz(func(t *testing.T, hop uint8, life uint16, valid, pref uint32, domain string, mtu int, p64 uint8, portal string) {
		cfg := fullConfig()
		cfg.HopLimit = hop
		cfg.RouterLifetime = time.Duration(life) * time.Second
		cfg.Prefixes[0].ValidLifetime = time.Duration(valid) * time.Second
		cfg.Prefixes[0].PreferredLifetime = time.Duration(pref) * time.Second
		cfg.DNSSL[0].Domains = []string{domain}
		cfg.CaptivePortal = portal
		if pp, err := netip.MustParseAddr("64:ff9b::").Prefix(int(p64)); err == nil {
			cfg.PREF64 = []config.PREF64{{Prefix: pp, Lifetime: 600 * time.Second}}
		}
		if Validate(cfg) != nil {
			return
		}
		m, err := buildRA(cfg, LinkState{MAC: testMAC, Global: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}}, false)
		if err != nil {
			t.Fatalf("buildRA after Validate: %v", err)
		}
		parts, err := split(m, mtu%9000)
		if err != nil {
			return // an option larger than the MTU
		}
		n := 0
		for _, p := range parts {
			b, err := ndp.MarshalMessage(p)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if mtu%9000 > 0 && len(b)+ipv6HeaderLen > mtu%9000 {
				t.Fatalf("part of %d bytes exceeds mtu %d", len(b)+ipv6HeaderLen, mtu%9000)
			}
			if _, err := ndp.ParseMessage(b); err != nil {
				t.Fatalf("parse back: %v", err)
			}
			n += len(p.Options)
		}
		if n < len(m.Options) {
			t.Fatalf("split lost options: %d of %d", n, len(m.Options))
		}
	})
}
