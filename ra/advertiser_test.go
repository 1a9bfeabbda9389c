package ra_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
)

var (
	addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	mac     = net.HardwareAddr{0xfa, 0x16, 0x3e, 0x22, 0x22, 0x22}
	ll      = netip.MustParseAddr("fe80::f816:3eff:fe22:2222")
	host    = netip.MustParseAddr("fe80::f816:3eff:fe33:3333")
)

func readyLink() ra.LinkState {
	return ra.LinkState{
		Index: 2, MAC: mac, Up: true, LinkLocal: ll,
		Global: []netip.Prefix{netip.MustParsePrefix("2001:db8:0:2::1/64")},
	}
}

func testConfig() config.Advertise {
	return config.Advertise{
		MinInterval:    200 * time.Second,
		MaxInterval:    600 * time.Second,
		RouterLifetime: 1800 * time.Second,
		Preference:     config.PreferenceHigh,
		OtherConfig:    true,
		HopLimit:       64,
		LinkMTU:        1500,
		Prefixes: []config.Prefix{{
			Prefix: netip.MustParsePrefix("::/64"), OnLink: true, Autonomous: true,
			ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
		}},
		Routes: []config.Route{{Prefix: netip.MustParsePrefix("2001:db8:ff::/48"), Preference: config.PreferenceMedium, Lifetime: 1800 * time.Second}},
		RDNSS:  []config.RDNSS{{Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}, Lifetime: 1800 * time.Second}},
		DNSSL:  []config.DNSSL{{Domains: []string{"example.org"}, Lifetime: 1800 * time.Second}},
	}
}

// wantRA is the RA testConfig yields on readyLink, as a receiver parses it.
func wantRA(lifetime time.Duration, prf ndp.Preference) *ndp.RouterAdvertisement {
	return &ndp.RouterAdvertisement{
		CurrentHopLimit:           64,
		OtherConfiguration:        true,
		RouterSelectionPreference: prf,
		RouterLifetime:            lifetime,
		Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac},
			ndp.NewMTU(1500),
			&ndp.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
				ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
				Prefix: netip.MustParseAddr("2001:db8:0:2::")},
			&ndp.RouteInformation{PrefixLength: 48, Preference: ndp.Medium, RouteLifetime: 1800 * time.Second,
				Prefix: netip.MustParseAddr("2001:db8:ff::")},
			&ndp.RecursiveDNSServer{Lifetime: 1800 * time.Second, Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}},
			&ndp.DNSSearchList{Lifetime: 1800 * time.Second, DomainNames: []string{"example.org"}},
		},
	}
}

// finalRA is the final RA of testConfig on readyLink: router lifetime 0,
// preference medium, route and DNS lifetimes 0, prefixes as they were.
func finalRA() *ndp.RouterAdvertisement {
	m := wantRA(0, ndp.Medium)
	for _, o := range m.Options {
		switch o := o.(type) {
		case *ndp.RouteInformation:
			o.RouteLifetime = 0
		case *ndp.RecursiveDNSServer:
			o.Lifetime = 0
		case *ndp.DNSSearchList:
			o.Lifetime = 0
		}
	}
	return m
}

// logRecorder is a slog.Handler that keeps the messages.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	recs []logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func (l *logRecorder) records() []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logRecord(nil), l.recs...)
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	rec := logRecord{msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	l.recs = append(l.recs, rec)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// harness runs an Advertiser on a fake system inside a synctest bubble.
type harness struct {
	t      *testing.T
	sys    *ratest.System
	adv    *ra.Advertiser
	logs   *logRecorder
	cancel context.CancelFunc
	errC   chan error
}

func start(t *testing.T, cfg config.Advertise, link *ra.LinkState) *harness {
	t.Helper()
	h := &harness{t: t, sys: ratest.NewSystem(), logs: &logRecorder{}, errC: make(chan error, 1)}
	if link != nil {
		h.sys.SetLink("eth1", *link)
	}
	h.adv = ra.NewAdvertiser("eth1", cfg, slog.New(h.logs),
		ra.WithSystem(h.sys), ra.WithRand(rand.New(rand.NewPCG(1, 2))), ra.WithStateDir(""))
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.errC <- h.adv.Run(ctx) }()
	synctest.Wait()
	return h
}

// stop cancels Run and checks that it returns nil.
func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	if err := <-h.errC; err != nil {
		h.t.Fatalf("Run = %v, want nil", err)
	}
}

// conn returns the next Conn the Advertiser opened, failing if there is none.
func (h *harness) conn() *ratest.Conn {
	h.t.Helper()
	select {
	case c := <-h.sys.Conns():
		return c
	default:
		h.t.Fatal("advertiser opened no ndp socket")
		return nil
	}
}

func isReady(a *ra.Advertiser) bool {
	select {
	case <-a.Ready():
		return true
	default:
		return false
	}
}

func multicast(pkts []ratest.Packet) []ratest.Packet {
	var out []ratest.Packet
	for _, p := range pkts {
		if p.Dst == netip.IPv6LinkLocalAllNodes() {
			out = append(out, p)
		}
	}
	return out
}

// checkSpacing fails if two multicast RAs are closer than 3s.
func checkSpacing(t *testing.T, pkts []ratest.Packet) {
	t.Helper()
	m := multicast(pkts)
	for i := 1; i < len(m); i++ {
		if d := m[i].Time.Sub(m[i-1].Time); d < 3*time.Second {
			t.Errorf("multicast RAs %d and %d only %s apart, want >= 3s", i-1, i, d)
		}
	}
}

func TestAdvertiserUnsolicited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		begin := time.Now()
		h := start(t, testConfig(), &link)
		c := h.conn()
		if !isReady(h.adv) {
			t.Fatal("Ready not closed after the first RA")
		}
		time.Sleep(3 * time.Hour)
		pkts := c.Packets()
		if len(pkts) < 10 {
			t.Fatalf("%d RAs in 3h, want at least 10", len(pkts))
		}
		if !pkts[0].Time.Equal(begin) {
			t.Errorf("first RA at +%s, want immediately", pkts[0].Time.Sub(begin))
		}
		for i, p := range pkts {
			if p.Dst != netip.IPv6LinkLocalAllNodes() {
				t.Fatalf("RA %d sent to %s, want ff02::1", i, p.Dst)
			}
			if diff := cmp.Diff(wantRA(1800*time.Second, ndp.High), p.Message, addrCmp); diff != "" {
				t.Fatalf("RA %d mismatch (-want +got):\n%s", i, diff)
			}
			if i == 0 {
				continue
			}
			d := p.Time.Sub(pkts[i-1].Time)
			lo, hi := 200*time.Second, 600*time.Second
			if i < 3 {
				lo, hi = 3*time.Second, 16*time.Second
			}
			if d < lo || d > hi {
				t.Errorf("interval before RA %d = %s, want within [%s, %s]", i, d, lo, hi)
			}
		}

		h.stop()
		final := c.Packets()[len(pkts):]
		if len(final) != 1 || final[0].Dst != netip.IPv6LinkLocalAllNodes() {
			t.Fatalf("after cancel got %d RAs, want 1 final multicast RA", len(final))
		}
		if diff := cmp.Diff(finalRA(), final[0].Message, addrCmp); diff != "" {
			t.Errorf("final RA mismatch (-want +got):\n%s", diff)
		}
		if !c.Closed() {
			t.Error("socket not closed after Run returned")
		}
	})
}

func TestAdvertiserWaitsForLinkLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, testConfig(), nil) // no interface yet
		time.Sleep(2 * time.Second)
		tentative := readyLink()
		tentative.LinkLocal = netip.Addr{} // still in DAD
		h.sys.SetLink("eth1", tentative)
		time.Sleep(5 * time.Second)
		if n := h.sys.Listens(); n != 0 || isReady(h.adv) {
			t.Fatalf("%d sockets opened (ready %v) before the link-local address left DAD", n, isReady(h.adv))
		}
		if n := h.logs.count("waiting for link-local address"); n != 1 {
			t.Errorf("logged %q %d times, want once", "waiting for link-local address", n)
		}

		h.sys.SetLink("eth1", readyLink())
		dadDone := time.Now()
		time.Sleep(time.Second) // the longest backoff
		synctest.Wait()
		c := h.conn()
		pkts := c.Packets()
		if len(pkts) != 1 || !isReady(h.adv) {
			t.Fatalf("%d RAs (ready %v) within 1s of DAD completing, want 1", len(pkts), isReady(h.adv))
		}
		if d := pkts[0].Time.Sub(dadDone); d > time.Second {
			t.Errorf("first RA %s after DAD completed, want <= 1s", d)
		}
		h.stop()
	})
}

func TestAdvertiserCancelWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, testConfig(), nil)
		time.Sleep(10 * time.Second)
		h.stop()
		if h.sys.Listens() != 0 {
			t.Fatal("socket opened for a missing interface")
		}
	})
}

func TestAdvertiserSolicitedMulticastStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := start(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour) // out of the initial phase
		before := len(c.Packets())

		// 10 RS per second from :: for a minute.
		for range 600 {
			if err := c.Receive(&ndp.RouterSolicitation{}, netip.IPv6Unspecified(), 255); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		pkts := c.Packets()
		checkSpacing(t, pkts)
		replies := len(pkts) - before
		if replies < 15 || replies > 21 {
			t.Errorf("%d multicast replies to a 60s RS storm, want about one per 3s", replies)
		}
		h.stop()
	})
}

func TestAdvertiserSolicitedUnicast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := start(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour)
		before := len(c.Packets())

		// Invalid: hop limit not 255, and an RA instead of an RS.
		c.Receive(&ndp.RouterSolicitation{}, host.WithZone("eth1"), 64)
		c.Receive(&ndp.RouterAdvertisement{}, host.WithZone("eth1"), 255)
		time.Sleep(time.Second)
		if n := len(c.Packets()) - before; n != 0 {
			t.Fatalf("%d replies to invalid messages, want 0", n)
		}

		sent := time.Now()
		rs := &ndp.RouterSolicitation{Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}}}
		c.Receive(rs, host.WithZone("eth1"), 255)
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		got := c.Packets()[before:]
		if len(got) != 1 || got[0].Dst != host {
			t.Fatalf("replies to RS from %s: %v, want 1 unicast RA to it", host, got)
		}
		if d := got[0].Time.Sub(sent); d < 0 || d > 500*time.Millisecond {
			t.Errorf("unicast reply after %s, want within 500ms", d)
		}
		if diff := cmp.Diff(wantRA(1800*time.Second, ndp.High), got[0].Message, addrCmp); diff != "" {
			t.Errorf("unicast RA mismatch (-want +got):\n%s", diff)
		}
		h.stop()
	})
}

func TestAdvertiserSocketError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := start(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour)

		// The link goes down and the socket fails with it.
		h.sys.UpdateLink("eth1", func(s *ra.LinkState) { s.Up = false })
		c.Fail(errors.New("network is down"))
		synctest.Wait()
		if !c.Closed() {
			t.Fatal("failed socket not closed")
		}
		time.Sleep(10 * time.Second)
		if h.sys.Listens() != 1 {
			t.Fatal("socket reopened while the link is down")
		}

		h.sys.UpdateLink("eth1", func(s *ra.LinkState) { s.Up = true })
		up := time.Now()
		time.Sleep(time.Minute)
		c2 := h.conn()
		checkInitialPhase(t, c2.Packets(), up)
		h.stop()
	})
}

func TestAdvertiserLinkDownWithoutSocketError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := start(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour)

		// Polling notices within a second.
		h.sys.UpdateLink("eth1", func(s *ra.LinkState) { s.LinkLocal = netip.Addr{} })
		time.Sleep(time.Second)
		synctest.Wait()
		if !c.Closed() {
			t.Fatal("socket still open 1s after the link-local address went away")
		}
		h.sys.UpdateLink("eth1", func(s *ra.LinkState) { s.LinkLocal = ll })
		up := time.Now()
		time.Sleep(time.Minute)
		c2 := h.conn()
		checkInitialPhase(t, c2.Packets(), up)

		// Notify makes it immediate.
		h.sys.UpdateLink("eth1", func(s *ra.LinkState) { s.Up = false })
		h.adv.Notify()
		synctest.Wait()
		if !c2.Closed() {
			t.Fatal("socket still open after Notify of a down link")
		}
		h.sys.UpdateLink("eth1", func(s *ra.LinkState) { s.Up = true })
		h.adv.Notify()
		synctest.Wait()
		c3 := h.conn()
		if n := len(c3.Packets()); n != 1 {
			t.Fatalf("%d RAs right after Notify of link up, want 1", n)
		}
		h.stop()
	})
}

// checkInitialPhase checks RAs of a new initial phase that began at begin:
// the first within the 1s backoff, the next two within 16s of each other.
func checkInitialPhase(t *testing.T, pkts []ratest.Packet, begin time.Time) {
	t.Helper()
	if len(pkts) < 3 {
		t.Fatalf("%d RAs in the initial phase, want >= 3", len(pkts))
	}
	if d := pkts[0].Time.Sub(begin); d > time.Second {
		t.Errorf("first RA %s after the link became ready, want <= 1s", d)
	}
	for i := 1; i < 3; i++ {
		if d := pkts[i].Time.Sub(pkts[i-1].Time); d < 3*time.Second || d > 16*time.Second {
			t.Errorf("initial interval %d = %s, want within [3s, 16s]", i, d)
		}
	}
}

func TestAdvertiserUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := start(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Hour)
		before := len(c.Packets())

		cfg := testConfig()
		cfg.HopLimit = 32
		h.adv.Update(cfg)
		h.adv.Update(config.Advertise{Preference: "bogus"}) // ignored
		updated := time.Now()
		time.Sleep(time.Minute)
		pkts := c.Packets()[before:]
		checkInitialPhase(t, pkts, updated)
		for i, p := range pkts {
			if hl := p.Message.(*ndp.RouterAdvertisement).CurrentHopLimit; hl != 32 {
				t.Errorf("RA %d after Update has hop limit %d, want 32", i, hl)
			}
		}
		checkSpacing(t, c.Packets())
		if n := h.sys.Listens(); n != 1 {
			t.Errorf("Update reopened the socket (%d listens)", n)
		}
		if n := h.logs.count("ignoring invalid router advertisement config"); n != 1 {
			t.Errorf("invalid Update logged %d times, want once", n)
		}
		h.stop()
		final := c.Packets()
		if ra := final[len(final)-1].Message.(*ndp.RouterAdvertisement); ra.RouterLifetime != 0 || ra.CurrentHopLimit != 32 {
			t.Errorf("final RA lifetime %s hop limit %d, want 0 and 32", ra.RouterLifetime, ra.CurrentHopLimit)
		}
	})
}

func TestAdvertiserFatalErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		bad := testConfig()
		bad.Preference = "urgent"
		a := ra.NewAdvertiser("eth1", bad, nil, ra.WithSystem(ratest.NewSystem()))
		err := a.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), `ra: eth1: invalid config: preference: "urgent"`) {
			t.Errorf("Run with bad config = %v", err)
		}

		sys := ratest.NewSystem()
		sys.SetLink("eth1", link)
		sys.SetListenErr(fmt.Errorf("listen: %w", os.ErrPermission))
		a = ra.NewAdvertiser("eth1", testConfig(), nil, ra.WithSystem(sys))
		if err := a.Run(context.Background()); !errors.Is(err, os.ErrPermission) {
			t.Errorf("Run without permission = %v, want os.ErrPermission", err)
		}
	})
}

// TestAdvertiserSkipFinal: an advertiser switched off for an HA peer stops
// without the final RA a real stop sends.
func TestAdvertiserSkipFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		h := start(t, testConfig(), &link)
		c := h.conn()
		time.Sleep(time.Minute)
		n := len(c.Packets())
		if n == 0 {
			t.Fatal("no RA before the stop")
		}
		h.adv.SkipFinal()
		h.stop()
		if got := c.Packets()[n:]; len(got) != 0 {
			t.Errorf("stopped with SkipFinal: %d more RAs (%v), want none", len(got), got[0].Message)
		}
		if !c.Closed() {
			t.Error("socket not closed after Run returned")
		}
	})
}

// TestAdvertiserNoPoll: with polling off the advertiser notices link
// changes through Notify only (the daemon's watcher calls it).
func TestAdvertiserNoPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := readyLink()
		sys := ratest.NewSystem()
		sys.SetLink("eth1", link)
		adv := ra.NewAdvertiser("eth1", testConfig(), nil, ra.WithSystem(sys), ra.WithRand(rand.New(rand.NewPCG(1, 2))), ra.WithLinkPoll(-1))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- adv.Run(ctx) }()
		synctest.Wait()
		c := <-sys.Conns()
		sys.UpdateLink("eth1", func(s *ra.LinkState) { s.LinkLocal = netip.Addr{} })
		time.Sleep(2 * time.Second) // past the 1s state age of a send, not past an RA
		synctest.Wait()
		if c.Closed() {
			t.Fatal("socket closed without Notify although polling is off")
		}
		adv.Notify()
		synctest.Wait()
		if !c.Closed() {
			t.Fatal("socket still open after Notify of a lost link-local address")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
