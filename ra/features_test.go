package ra_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
)

// startWith is start with extra options.
func startWith(t *testing.T, cfg config.Advertise, link *ra.LinkState, opts ...ra.Option) *harness {
	t.Helper()
	h := &harness{t: t, sys: ratest.NewSystem(), logs: &logRecorder{}, errC: make(chan error, 1)}
	if link != nil {
		h.sys.SetLink("eth1", *link)
	}
	opts = append([]ra.Option{ra.WithSystem(h.sys), ra.WithRand(rand.New(rand.NewPCG(1, 2)))}, opts...)
	h.adv = ra.NewAdvertiser("eth1", cfg, slog.New(h.logs), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.errC <- h.adv.Run(ctx) }()
	synctest.Wait()
	return h
}

func raOf(p ratest.Packet) *ndp.RouterAdvertisement { return p.Message.(*ndp.RouterAdvertisement) }

func findPrefix(m *ndp.RouterAdvertisement, p string) *ndp.PrefixInformation {
	want := netip.MustParsePrefix(p)
	for _, o := range m.Options {
		if pi, ok := o.(*ndp.PrefixInformation); ok && pi.Prefix == want.Addr() && int(pi.PrefixLength) == want.Bits() {
			return pi
		}
	}
	return nil
}

func findOption[T ndp.Option](m *ndp.RouterAdvertisement) []T {
	var out []T
	for _, o := range m.Options {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func TestAdvertiserDropsInvalidSolicitations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := startWith(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour)
		before := len(c.Packets())

		rs, _ := ndp.MarshalMessage(&ndp.RouterSolicitation{Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}}})
		code := append([]byte(nil), rs...)
		code[1] = 7
		zero := []byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 1}
		for _, in := range []struct {
			b   []byte
			src netip.Addr
			hl  int
		}{
			{rs, host, 64},                                // bad_hop_limit
			{code, host, 255},                             // bad_code
			{zero, host, 255},                             // zero_length_option
			{rs, netip.IPv6Unspecified(), 255},            // unspecified_source_with_slla
			{[]byte{133, 0, 0}, host, 255},                // too short to classify: ignored
			{[]byte{133, 0, 0, 0, 0}, host, 255},          // malformed
			{rs, netip.MustParseAddr("::1"), 255},         // bad_source
			{[]byte{135, 0, 0, 0, 0, 0, 0, 0}, host, 255}, // not an RS: ignored
		} {
			if err := c.ReceiveBytes(in.b, in.src, in.hl); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Second)
		if n := len(c.Packets()) - before; n != 0 {
			t.Errorf("%d replies to invalid solicitations, want 0", n)
		}
		st := h.adv.Status()
		want := map[string]uint64{"bad_hop_limit": 1, "bad_code": 1, "zero_length_option": 1,
			"unspecified_source_with_slla": 1, "malformed": 1, "bad_source": 1}
		if diff := cmp.Diff(want, st.SolicitationsDropped); diff != "" {
			t.Errorf("drops (-want +got):\n%s", diff)
		}
		if st.SolicitationsReceived != 6 {
			t.Errorf("received %d RSs, want 6", st.SolicitationsReceived)
		}
		h.stop()
	})
}

func TestAdvertiserUnicastStormIsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		reg := prometheus.NewRegistry()
		m := ra.NewMetrics(reg)
		h := startWith(t, testConfig(), &link, ra.WithMetrics(m))
		c := h.conn()
		time.Sleep(time.Hour)
		before := len(c.Packets())

		// 1000 RS per second from 1000 different hosts for 10 seconds.
		start := time.Now()
		for i := range 10000 {
			src := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 13: 7, 14: byte(i >> 8), 15: byte(i)})
			if err := c.Receive(&ndp.RouterSolicitation{}, src, 255); err != nil {
				t.Fatal(err)
			}
			if i%10 == 9 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		time.Sleep(time.Second)
		elapsed := time.Since(start)
		pkts := c.Packets()[before:]
		checkSpacing(t, c.Packets())
		var uni, multi int
		for _, p := range pkts {
			if p.Dst == netip.IPv6LinkLocalAllNodes() {
				multi++
			} else {
				uni++
			}
		}
		// The bucket: 20 at once, 10 per second.
		if max := 20 + int(elapsed.Seconds()*10) + 1; uni > max || uni < 100 {
			t.Errorf("%d unicast replies in %s, want about 10/s (at most %d)", uni, elapsed, max)
		}
		if multi < 3 || multi > 4 {
			t.Errorf("%d multicast replies in %s, want one per 3s", multi, elapsed)
		}
		st := h.adv.Status()
		if st.SolicitationsReceived != 10000 || st.SolicitationsDropped["rate_limited"] != 10000-uint64(uni) {
			t.Errorf("status: received %d, rate_limited %d; want 10000 and %d", st.SolicitationsReceived, st.SolicitationsDropped["rate_limited"], 10000-uni)
		}
		if st.Sent["solicited_unicast"] != uint64(uni) || st.Sent["solicited_multicast"] != uint64(multi) {
			t.Errorf("status sent %v, want %d unicast and %d solicited multicast", st.Sent, uni, multi)
		}
		if got := metricValue(t, reg, "vrouter_ra_solicitations_dropped_total", "reason", "rate_limited"); got != float64(10000-uni) {
			t.Errorf("vrouter_ra_solicitations_dropped_total{reason=rate_limited} = %v, want %d", got, 10000-uni)
		}
		h.stop()
		if got := metricValue(t, reg, "vrouter_ra_advertisements_sent_total", "kind", "final"); got != 1 {
			t.Errorf("vrouter_ra_advertisements_sent_total{kind=final} = %v, want 1", got)
		}
	})
}

func TestAdvertiserForwardingOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := &harness{t: t, sys: ratest.NewSystem(), logs: &logRecorder{}, errC: make(chan error, 1)}
		h.sys.SetLink("eth1", link)
		h.sys.SetForwarding("eth1", false)
		h.adv = ra.NewAdvertiser("eth1", testConfig(), slog.New(h.logs), ra.WithSystem(h.sys), ra.WithRand(rand.New(rand.NewPCG(1, 2))))
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel = cancel
		go func() { h.errC <- h.adv.Run(ctx) }()
		synctest.Wait()
		c := h.conn()
		time.Sleep(time.Hour)
		for i, p := range c.Packets() {
			if m := raOf(p); m.RouterLifetime != 0 || m.RouterSelectionPreference != ndp.Medium {
				t.Fatalf("RA %d with forwarding off: lifetime %s preference %v, want 0 and medium", i, m.RouterLifetime, m.RouterSelectionPreference)
			}
		}
		if h.adv.Status().Forwarding {
			t.Error("status says forwarding on")
		}
		if n := h.logs.count("ipv6 forwarding is off on the interface: advertising router lifetime 0 (RFC 4861 §6.2.5)"); n != 1 {
			t.Errorf("forwarding off logged %d times, want once", n)
		}

		// Forwarding on: the change goes out at once, with fast RAs.
		before := len(c.Packets())
		h.sys.SetForwarding("eth1", true)
		on := time.Now()
		time.Sleep(time.Minute)
		pkts := c.Packets()[before:]
		checkInitialPhase(t, pkts, on.Add(time.Second)) // noticed by the 1s poll
		if m := raOf(pkts[0]); m.RouterLifetime != 1800*time.Second {
			t.Errorf("RA after forwarding on: lifetime %s", m.RouterLifetime)
		}
		h.stop()
	})
}

func TestAdvertiserRestartsFastRAsOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := startWith(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour)

		// The same config again: nothing changes, no burst.
		before := len(c.Packets())
		h.adv.Update(testConfig())
		time.Sleep(time.Minute)
		if n := len(c.Packets()) - before; n > 1 {
			t.Errorf("%d RAs within a minute of an unchanged Update, want at most 1 periodic one", n)
		}

		// A new global /64 appears: "::/64" expands to it, fast RAs follow.
		time.Sleep(time.Hour)
		before = len(c.Packets())
		h.sys.UpdateLink("eth1", func(s *ra.LinkState) {
			s.Global = append(s.Global, netip.MustParsePrefix("2001:db8:0:7::1/64"))
		})
		added := time.Now()
		time.Sleep(time.Minute)
		pkts := c.Packets()[before:]
		checkInitialPhase(t, pkts, added.Add(time.Second))
		if findPrefix(raOf(pkts[0]), "2001:db8:0:7::/64") == nil {
			t.Errorf("new prefix not advertised: %v", raOf(pkts[0]).Options)
		}
		checkSpacing(t, c.Packets())
		h.stop()
	})
}

func TestAdvertiserWithdrawsRemovedItems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		cfg := testConfig()
		cfg.Prefixes = append(cfg.Prefixes, config.Prefix{Prefix: netip.MustParsePrefix("2001:db8:0:9::/64"), OnLink: true, Autonomous: true,
			ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second})
		cfg.PREF64 = []config.PREF64{{Prefix: netip.MustParsePrefix("64:ff9b::/96"), Lifetime: 1800 * time.Second}}
		h := startWith(t, cfg, &link)
		c := h.conn()
		time.Sleep(time.Hour)

		// Remove the explicit prefix, the route, the DNS options and PREF64;
		// the auto prefix's address goes away too.
		cfg2 := testConfig()
		cfg2.Routes, cfg2.RDNSS, cfg2.DNSSL = nil, nil, nil
		h.sys.UpdateLink("eth1", func(s *ra.LinkState) { s.Global = nil })
		h.adv.Update(cfg2)
		removed := time.Now()
		time.Sleep(time.Minute)
		pkts := c.Packets()
		last := raOf(pkts[len(pkts)-1])
		for _, p := range []string{"2001:db8:0:2::/64", "2001:db8:0:9::/64"} {
			pi := findPrefix(last, p)
			if pi == nil || pi.ValidLifetime != 0 || pi.PreferredLifetime != 0 || !pi.AutonomousAddressConfiguration {
				t.Errorf("withdrawn prefix %s advertised as %+v, want A=1 with lifetimes 0", p, pi)
			}
		}
		ri := findOption[*ndp.RouteInformation](last)
		rd := findOption[*ndp.RecursiveDNSServer](last)
		dn := findOption[*ndp.DNSSearchList](last)
		p64 := findOption[*ndp.PREF64](last)
		if len(ri) != 1 || ri[0].RouteLifetime != 0 || len(rd) != 1 || rd[0].Lifetime != 0 || len(dn) != 1 || dn[0].Lifetime != 0 || len(p64) != 1 || p64[0].Lifetime != 0 {
			t.Errorf("withdrawn options: routes %v rdnss %v dnssl %v pref64 %v, want each once with lifetime 0", ri, rd, dn, p64)
		}
		if n := h.adv.Status().Withdrawing; n != 6 {
			t.Errorf("status withdrawing = %d, want 6", n)
		}

		// Bounded: PREF64, route and DNS (lifetime 30m) after 30m; the
		// prefixes after 2h.
		time.Sleep(time.Until(removed.Add(31 * time.Minute)))
		h.adv.Notify()
		time.Sleep(20 * time.Minute)
		pkts = c.Packets()
		last = raOf(pkts[len(pkts)-1])
		if len(findOption[*ndp.RouteInformation](last))+len(findOption[*ndp.RecursiveDNSServer](last))+len(findOption[*ndp.PREF64](last)) != 0 || findPrefix(last, "2001:db8:0:9::/64") == nil {
			t.Errorf("after 30m: %v, want only the prefixes withdrawn", last.Options)
		}
		time.Sleep(time.Until(removed.Add(2*time.Hour + 20*time.Minute)))
		time.Sleep(10 * time.Minute)
		pkts = c.Packets()
		last = raOf(pkts[len(pkts)-1])
		if len(findOption[*ndp.PrefixInformation](last)) != 0 {
			t.Errorf("after 2h still withdrawing: %v", last.Options)
		}
		h.stop()
	})
}

func TestAdvertiserStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		cfg := testConfig()
		cfg.Prefixes = append(cfg.Prefixes, config.Prefix{Prefix: netip.MustParsePrefix("2001:db8:0:9::/64"), OnLink: true,
			Autonomous: true, DecrementLifetimes: true, ValidLifetime: 7200 * time.Second, PreferredLifetime: 3600 * time.Second})
		h := startWith(t, cfg, &link, ra.WithStateDir(dir))
		h.conn()
		time.Sleep(10 * time.Minute)
		h.stop()

		// The daemon restarts 5 minutes later with the route removed.
		time.Sleep(5 * time.Minute)
		cfg.Routes = nil
		h = startWith(t, cfg, &link, ra.WithStateDir(dir))
		c := h.conn()
		first := raOf(c.Packets()[0])
		ri := findOption[*ndp.RouteInformation](first)
		if len(ri) != 1 || ri[0].RouteLifetime != 0 {
			t.Errorf("route removed across a restart: %v, want it withdrawn", ri)
		}
		pi := findPrefix(first, "2001:db8:0:9::/64")
		if pi == nil || pi.ValidLifetime != 7200*time.Second-15*time.Minute || pi.PreferredLifetime != 3600*time.Second-15*time.Minute {
			t.Errorf("decrementing prefix after 15m and a restart: %+v, want 1h45m/45m", pi)
		}
		h.stop()
	})
}

func TestAdvertiserSplitsToMTU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		link.MTU = 1280
		cfg := testConfig()
		for i := range 80 {
			cfg.Routes = append(cfg.Routes, config.Route{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x10, byte(i)}), 48),
				Preference: config.PreferenceMedium, Lifetime: 1800 * time.Second})
		}
		h := startWith(t, cfg, &link)
		c := h.conn()
		pkts := c.Packets()
		if len(pkts) < 2 {
			t.Fatalf("%d RAs for 81 routes on a 1280-byte link, want several", len(pkts))
		}
		routes := 0
		for i, p := range pkts {
			if len(p.Bytes)+40 > 1280 {
				t.Errorf("RA %d is %d bytes with its IPv6 header, over the MTU", i, len(p.Bytes)+40)
			}
			m := raOf(p)
			if m.RouterLifetime != 1800*time.Second || len(findOption[*ndp.LinkLayerAddress](m)) != 1 {
				t.Errorf("RA part %d: lifetime %s, %d SLLA options; want the full header and one SLLA", i, m.RouterLifetime, len(findOption[*ndp.LinkLayerAddress](m)))
			}
			routes += len(findOption[*ndp.RouteInformation](m))
		}
		if routes != 81 {
			t.Errorf("%d routes in the parts, want 81", routes)
		}
		h.stop()
	})
}

func TestAdvertiserConsistency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := startWith(t, testConfig(), &link)
		c := h.conn()
		other := netip.MustParseAddr("fe80::99")
		bad := &ndp.RouterAdvertisement{
			CurrentHopLimit: 32, ManagedConfiguration: true, RouterLifetime: 1800 * time.Second,
			OtherConfiguration: true,
			Options: []ndp.Option{ndp.NewMTU(1400), &ndp.PrefixInformation{PrefixLength: 64, OnLink: true,
				AutonomousAddressConfiguration: true, ValidLifetime: 3600 * time.Second, PreferredLifetime: 14400 * time.Second,
				Prefix: netip.MustParseAddr("2001:db8:0:2::")},
				&ndp.RecursiveDNSServer{Lifetime: 600 * time.Second, Servers: []netip.Addr{netip.MustParseAddr("2001:db8::99")}},
			},
		}
		good := &ndp.RouterAdvertisement{CurrentHopLimit: 64, OtherConfiguration: true}
		for range 3 {
			c.Receive(bad, other, 255)
			c.Receive(good, netip.MustParseAddr("fe80::98"), 255)
			c.Receive(bad, other, 64) // invalid: not checked
			time.Sleep(time.Second)
		}
		want := map[string]uint64{"hop_limit": 3, "managed": 3, "mtu": 3, "prefix_valid_lifetime": 3, "rdnss": 3}
		if diff := cmp.Diff(want, h.adv.Status().Inconsistencies); diff != "" {
			t.Errorf("inconsistencies (-want +got):\n%s", diff)
		}
		if n := h.logs.count("another router advertises an inconsistent value (RFC 4861 §6.2.7)"); n != 5 {
			t.Errorf("logged %d inconsistencies, want each of the 5 once", n)
		}
		h.stop()
	})
}

func TestAdvertiserFinalRAs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		cfg := testConfig()
		cfg.PREF64 = []config.PREF64{{Prefix: netip.MustParsePrefix("64:ff9b::/96"), Lifetime: 1800 * time.Second}}
		cfg.CaptivePortal = "https://portal.example.org/api"
		h := startWith(t, cfg, &link, ra.WithFinalAdvertisements(3))
		c := h.conn()
		first := raOf(c.Packets()[0])
		if p := findOption[*ndp.PREF64](first); len(p) != 1 || p[0].Lifetime != 1800*time.Second || p[0].Prefix != netip.MustParsePrefix("64:ff9b::/96") {
			t.Errorf("PREF64 = %v", p)
		}
		if cp := findOption[*ndp.CaptivePortal](first); len(cp) != 1 || cp[0].URI != "https://portal.example.org/api" {
			t.Errorf("captive portal = %v", cp)
		}
		time.Sleep(time.Hour)
		before := len(c.Packets())
		h.stop()
		final := c.Packets()[before:]
		if len(final) != 3 {
			t.Fatalf("%d final RAs, want 3", len(final))
		}
		checkSpacing(t, c.Packets())
		for _, p := range final {
			m := raOf(p)
			if m.RouterLifetime != 0 || m.RouterSelectionPreference != ndp.Medium {
				t.Errorf("final RA lifetime %s prf %v", m.RouterLifetime, m.RouterSelectionPreference)
			}
			if p := findOption[*ndp.PREF64](m); len(p) != 1 || p[0].Lifetime != 0 {
				t.Errorf("final PREF64 %v, want lifetime 0", p)
			}
		}
		if st := h.adv.Status(); st.Sent["final"] != 3 || st.State != ra.StateStopped {
			t.Errorf("status after stop: %+v", st)
		}
	})
}

func TestStatusJSONNames(t *testing.T) {
	a := ra.NewAdvertiser("eth1", testConfig(), nil, ra.WithSystem(ratest.NewSystem()))
	st := a.Status()
	if st.State != ra.StateWaiting || st.Interface != "eth1" {
		t.Fatalf("new advertiser status %+v", st)
	}
	var kinds []string
	for k := range st.Sent {
		kinds = append(kinds, k)
	}
	if got := strings.Join(sortedStrings(kinds), ","); got != "final,solicited_multicast,solicited_unicast,unsolicited" {
		t.Errorf("sent kinds %s", got)
	}
}

// metricValue returns the value of the series of family name whose label
// has value val (and iface="eth1").
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, val string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := 0
			for _, l := range m.GetLabel() {
				if (l.GetName() == label && l.GetValue() == val) || (l.GetName() == "iface" && l.GetValue() == "eth1") {
					ok++
				}
			}
			if ok == 2 {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, val)
	return 0
}

func sortedStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}
