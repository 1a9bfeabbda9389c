package ndproxy_test

import (
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
	"github.com/vrouter/vrouter/ndproxy/ndproxytest"
)

var (
	c00a     = netip.MustParseAddr("2001:db8::c00a")
	allNodes = netip.MustParseAddr("ff02::1")
)

// unsolicitedNA is one unsolicited advertisement the proxy wrote.
type unsolicitedNA struct {
	at     time.Duration // since the test's start
	target netip.Addr
}

// drainNAs reads every frame written to p and checks that each is an
// unsolicited proxy NA (RFC 4861 §7.2.6: to ff02::1 and its MAC, S=0, O=0,
// our MAC as target link-layer address).
func drainNAs(t *testing.T, p *ndproxytest.Port, start time.Time) []unsolicitedNA {
	t.Helper()
	var out []unsolicitedNA
	for {
		select {
		case f := <-p.Out:
			na, why := ndwire.ParseNA(f.Data)
			if why != ndwire.OK {
				t.Fatalf("not a valid NA (%v): % x", why, f.Data)
			}
			if na.Dst != allNodes || f.MAC != ndwire.MulticastMAC(allNodes) || na.Solicited || na.Override || !na.HasTLLA || na.TLLA != upMAC {
				t.Errorf("unsolicited NA %+v to %x, want ff02::1, S=0 O=0, TLLA %x", na, f.MAC, upMAC)
			}
			out = append(out, unsolicitedNA{f.At.Sub(start), na.Target})
		default:
			return out
		}
	}
}

// checkAnnounced checks that each target got exactly 3 NAs, the first at
// from, Limits.UnsolicitedInterval (1s) apart.
func checkAnnounced(t *testing.T, got []unsolicitedNA, from time.Duration, targets ...netip.Addr) {
	t.Helper()
	var want []unsolicitedNA
	for i := range 3 {
		for _, tg := range targets {
			want = append(want, unsolicitedNA{from + time.Duration(i)*time.Second, tg})
		}
	}
	sortNAs := func(s []unsolicitedNA) {
		slices.SortFunc(s, func(a, b unsolicitedNA) int {
			if a.at != b.at {
				return int(a.at - b.at)
			}
			return a.target.Compare(b.target)
		})
	}
	sortNAs(got)
	sortNAs(want)
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(unsolicitedNA{}), cmpAddr); diff != "" {
		t.Errorf("unsolicited NAs (-want +got):\n%s", diff)
	}
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func down(l ndproxy.Link) ndproxy.Link { l.Up = false; return l }

// TestUnsolicitedOnUpstreamUp: a static proxy announces the prefix's
// addresses in use downstream (its neighbour table) when it starts and each
// time the upstream link comes back up: 3 NAs per target, 1 s apart, none
// while the link is down; the status counts them.
func TestUnsolicitedOnUpstreamUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		sys := ndproxytest.New()
		sys.SetLink(eth0(2))
		sys.SetLink(docker0(3))
		sys.SetNeighbors(3, c009, c00a, netip.MustParseAddr("2001:db8::1234"), netip.MustParseAddr("fe80::9"))
		cfg := []config.NDProxy{{Upstream: "eth0", Downstream: "docker0", Prefix: pfx, Mode: config.NDProxyStatic}}
		p, err := ndproxy.New(cfg, slog.New(slog.DiscardHandler), ndproxy.WithSystem(sys))
		if err != nil {
			t.Fatal(err)
		}
		run(t, p)
		up := recv(t, sys.Opened())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		checkAnnounced(t, drainNAs(t, up, start), 0, c009, c00a)

		// Down for a while: nothing is sent, nothing announced.
		sys.SetLink(down(eth0(2)))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := drainNAs(t, up, start); len(got) != 0 {
			t.Errorf("%d NAs while the upstream link was down", len(got))
		}
		// Back up: announced again, on the watcher's event (no wait for a
		// poll).
		back := time.Since(start)
		sys.SetLink(eth0(2))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		checkAnnounced(t, drainNAs(t, up, start), back, c009, c00a)
		if n := p.Status().Rules[0].Unsolicited; n != 12 {
			t.Errorf("status counts %d unsolicited NAs, want 12", n)
		}

		// An address change upstream (link stays up) announces nothing.
		l := eth0(2)
		l.Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::c001")}
		sys.SetLink(l)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := drainNAs(t, up, start); len(got) != 0 {
			t.Errorf("%d NAs without a link-up", len(got))
		}
	})
}

// TestUnsolicitedAutoLinkFlap: an auto proxy announces its learned targets
// when the upstream link comes back up; a flap in the middle of an
// announcement tops the count up and keeps the spacing.
func TestUnsolicitedAutoLinkFlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		sys := ndproxytest.New()
		sys.SetLink(eth0(2))
		sys.SetLink(docker0(3))
		sys.SetKernelRoute(pfx, 3)
		sys.SetNeighbors(3, c009)
		cfg := []config.NDProxy{{Upstream: "eth0", Downstream: "docker0", Prefix: pfx, Mode: config.NDProxyAuto}}
		p, err := ndproxy.New(cfg, nil, ndproxy.WithSystem(sys))
		if err != nil {
			t.Fatal(err)
		}
		run(t, p)
		up, _ := recv(t, sys.Opened()), recv(t, sys.Opened())
		time.Sleep(10 * time.Second)
		synctest.Wait()
		checkAnnounced(t, drainNAs(t, up, start), 0, c009) // learned at start

		sys.SetLink(down(eth0(2)))
		synctest.Wait()
		back := time.Since(start)
		sys.SetLink(eth0(2))
		time.Sleep(500 * time.Millisecond)
		sys.SetLink(down(eth0(2)))
		synctest.Wait()
		sys.SetLink(eth0(2)) // at back+0.5s: one NA sent, its next due at back+1s
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got := drainNAs(t, up, start)
		var at []time.Duration
		for _, na := range got {
			at = append(at, na.at-back)
		}
		// 1 NA of the first up, then the topped-up 3 at the old pace.
		if diff := cmp.Diff([]time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}, at); diff != "" {
			t.Errorf("NA times after the flaps (-want +got):\n%s", diff)
		}
	})
}

// TestRestartAdoptsRoutes: a proxy stopped with SkipCleanup leaves its
// routes; the next one adopts those its rules want (no route is deleted
// and re-added), removes those no rule wants, and cleans up normally.
func TestRestartAdoptsRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sys := ndproxytest.New()
		sys.SetLink(eth0(2))
		sys.SetLink(docker0(3))
		static := config.NDProxy{Upstream: "eth0", Downstream: "docker0", Prefix: pfx, Mode: config.NDProxyStatic}
		p, err := ndproxy.New([]config.NDProxy{static}, nil, ndproxy.WithSystem(sys))
		if err != nil {
			t.Fatal(err)
		}
		cancel, done := run(t, p)
		recv(t, sys.Opened())
		p.SkipCleanup()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"route 2001:db8::c008/125 dev 3"}, sys.State()); diff != "" {
			t.Fatalf("after a stop for a restart (-want +got):\n%s", diff)
		}

		// Left by the earlier run too: an auto target's host route, and a
		// route of a rule removed from the config while it was down.
		autoPfx := netip.MustParsePrefix("2001:db8::e000/120")
		sys.SetKernelRoute(autoPfx, 3)
		sys.SetOwnedRoute(3, netip.MustParsePrefix("2001:db8::e005/128"))
		sys.SetOwnedRoute(3, netip.MustParsePrefix("2001:db8::f000/124"))
		eth2 := eth0(4)
		eth2.Name = "eth2"
		sys.SetLink(eth2)
		auto := config.NDProxy{Upstream: "eth2", Downstream: "docker0", Prefix: autoPfx, Mode: config.NDProxyAuto}
		// The fake fails AddRoute for a route that exists: re-adding
		// instead of adopting fails the rule.
		p2, err := ndproxy.New([]config.NDProxy{static, auto}, nil, ndproxy.WithSystem(sys))
		if err != nil {
			t.Fatal(err)
		}
		cancel, done = run(t, p2)
		for range 3 {
			recv(t, sys.Opened())
		}
		synctest.Wait()
		st := p2.Status()
		if len(st.Rules) != 2 || !st.Rules[0].Active || !st.Rules[1].Active {
			t.Fatalf("rules after the restart: %+v", st.Rules)
		}
		if got := st.Rules[1].Targets; len(got) != 1 || got[0] != netip.MustParseAddr("2001:db8::e005") {
			t.Errorf("auto targets adopted from routes: %v", got)
		}
		var routes []string
		for _, l := range sys.State() {
			if l[:6] == "route " {
				routes = append(routes, l)
			}
		}
		if diff := cmp.Diff([]string{"route 2001:db8::c008/125 dev 3", "route 2001:db8::e005/128 dev 3"}, routes); diff != "" {
			t.Errorf("routes after the restart (-want +got):\n%s", diff)
		}

		// The adopted target does not answer probes: forgotten with its
		// route after Reachable + probes.
		time.Sleep(ndproxy.DefaultLimits().Reachable + 5*time.Second)
		synctest.Wait()
		if got := p2.Status().Rules[1].Targets; len(got) != 0 {
			t.Errorf("silent adopted target kept: %v", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := sys.State(); len(s) != 0 {
			t.Fatalf("left behind after a real stop: %v", s)
		}
	})
}
