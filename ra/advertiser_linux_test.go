package ra_test

// Namespace integration test: the Advertiser runs for real in a router
// namespace and the kernel of a host namespace does SLAAC from its RAs.
//
//	netns vrtXXXXXXr                          netns vrtXXXXXXh
//	[vrtXXXXXXa]------------ veth ------------[vrtXXXXXXb]
//	 fa:16:3e:22:22:22                         fa:16:3e:33:33:33
//	 2001:db8:0:2::1/64, Advertiser            accept_ra=2: SLAAC, default route,
//	                                           rdisc6, a raw NDP listener

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netns"
	"github.com/vrouter/vrouter/internal/netns/netnstest"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
)

// netPair is a router and a host namespace joined by a veth pair.
type netPair struct {
	routerNS, hostNS     string
	routerLink, hostLink string
	routerFD, hostFD     int
}

func newNetPair(t *testing.T) *netPair {
	t.Helper()
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	id := make([]byte, 6)
	for i := range id {
		id[i] = chars[rand.IntN(len(chars))]
	}
	base := "vrt" + string(id)
	p := &netPair{
		routerNS: base + "r", hostNS: base + "h",
		routerLink: base + "a", hostLink: base + "b",
	}
	for _, ns := range []string{p.routerNS, p.hostNS} {
		netnstest.Cmd(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
	}
	netnstest.Cmd(t, "ip", "-n", p.routerNS, "link", "add", p.routerLink, "address", "fa:16:3e:22:22:22",
		"type", "veth", "peer", "name", p.hostLink, "address", "fa:16:3e:33:33:33", "netns", p.hostNS)
	netnstest.Cmd(t, "ip", "netns", "exec", p.routerNS, "sysctl", "-qw",
		"net.ipv6.conf.all.forwarding=1",
		"net.ipv6.conf."+p.routerLink+".accept_ra=0",
		"net.ipv6.conf."+p.routerLink+".keep_addr_on_down=1")
	netnstest.Cmd(t, "ip", "netns", "exec", p.hostNS, "sysctl", "-qw",
		"net.ipv6.conf."+p.hostLink+".accept_ra=2",
		"net.ipv6.conf."+p.hostLink+".accept_ra_rt_info_max_plen=64")
	netnstest.Cmd(t, "ip", "-n", p.routerNS, "addr", "add", "2001:db8:0:2::1/64", "dev", p.routerLink, "nodad")
	for _, l := range [][2]string{{p.routerNS, p.routerLink}, {p.hostNS, p.hostLink}, {p.routerNS, "lo"}, {p.hostNS, "lo"}} {
		netnstest.Cmd(t, "ip", "-n", l[0], "link", "set", l[1], "up")
	}
	p.routerFD = openNS(t, p.routerNS)
	p.hostFD = openNS(t, p.hostNS)
	return p
}

func openNS(t *testing.T, name string) int {
	t.Helper()
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// newNSSystem is the real ra.System of the namespace open at fd.
func newNSSystem(t *testing.T, fd int) ra.System {
	t.Helper()
	sys, closeSys, err := ratest.InNetns(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeSys)
	return sys
}

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state:\n%s", timeout, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// raListener records the RAs that reach the host side.
type raListener struct {
	mu  sync.Mutex
	ras []received
}

type received struct {
	at  time.Time
	dst netip.Addr
	ra  *ndp.RouterAdvertisement
}

func listenRAs(t *testing.T, p *netPair) *raListener {
	t.Helper()
	var c *ndp.Conn
	err := netns.DoFD(p.hostFD, func() error {
		ifi, err := net.InterfaceByName(p.hostLink)
		if err != nil {
			return err
		}
		c, _, err = ndp.Listen(ifi, ndp.Unspecified)
		if err != nil {
			return err
		}
		return c.SetControlMessage(ipv6.FlagDst, true)
	})
	if err != nil {
		t.Fatalf("ndp listener in host namespace: %v", err)
	}
	l := &raListener{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, cm, _, err := c.ReadFrom()
			if err != nil {
				return
			}
			if ra, ok := m.(*ndp.RouterAdvertisement); ok && cm != nil {
				dst, _ := netip.AddrFromSlice(cm.Dst)
				l.mu.Lock()
				l.ras = append(l.ras, received{time.Now(), dst, ra})
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return l
}

func (l *raListener) since(t time.Time) []received {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []received
	for _, r := range l.ras {
		if !r.at.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

func TestAdvertiserKernelSLAAC(t *testing.T) {
	netnstest.RequireRoot(t, "ip", "rdisc6")
	p := newNetPair(t)
	host := func(args ...string) string {
		return netnstest.Cmd(t, append([]string{"ip", "netns", "exec", p.hostNS}, args...)...)
	}
	rx := listenRAs(t, p)

	cfg := config.Advertise{
		MinInterval:    200 * time.Second,
		MaxInterval:    600 * time.Second,
		RouterLifetime: 1800 * time.Second,
		Preference:     config.PreferenceHigh,
		HopLimit:       64,
		LinkMTU:        1400,
		Prefixes: []config.Prefix{{
			Prefix: netip.MustParsePrefix("::/64"), OnLink: true, Autonomous: true,
			ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
		}},
		Routes: []config.Route{{Prefix: netip.MustParsePrefix("2001:db8:ff::/48"), Preference: config.PreferenceMedium, Lifetime: 1800 * time.Second}},
		RDNSS:  []config.RDNSS{{Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}, Lifetime: 1800 * time.Second}},
	}
	logs := &logRecorder{}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	adv := ra.NewAdvertiser(p.routerLink, cfg, slog.New(teeHandler{log.Handler(), logs}),
		ra.WithSystem(newNSSystem(t, p.routerFD)))
	ctx, cancel := context.WithCancel(context.Background())
	errC := make(chan error, 1)
	began := time.Now()
	go func() { errC <- adv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-errC:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
	})

	select {
	case <-adv.Ready():
		t.Logf("first RA %s after Run (includes DAD of the router's link-local address)", time.Since(began).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("no RA within 10s")
	}
	if n := logs.count("waiting for link-local address"); n != 1 {
		t.Errorf("logged %q %d times, want once (the link-local address starts tentative)", "waiting for link-local address", n)
	}

	var routerLL string
	for _, line := range strings.Split(netnstest.Cmd(t, "ip", "-n", p.routerNS, "-6", "-o", "addr", "show", "dev", p.routerLink, "scope", "link"), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			routerLL, _, _ = strings.Cut(f[3], "/")
		}
	}
	if routerLL == "" {
		t.Fatal("router has no link-local address")
	}

	// The kernel forms the SLAAC address from the first RA.
	waitFor(t, 10*time.Second, "SLAAC address on the host", func() (bool, string) {
		out := host("ip", "-6", "addr", "show", "dev", p.hostLink)
		return strings.Contains(out, "2001:db8:0:2:f816:3eff:fe33:3333/64"), out
	})
	waitFor(t, 5*time.Second, "default route via the router", func() (bool, string) {
		out := host("ip", "-6", "route", "show", "default")
		return strings.Contains(out, "via "+routerLL+" dev "+p.hostLink+" proto ra") && strings.Contains(out, "pref high"), out
	})
	waitFor(t, 5*time.Second, "RFC 4191 route and MTU", func() (bool, string) {
		out := host("ip", "-6", "route", "show", "2001:db8:ff::/48")
		mtu := strings.TrimSpace(host("sysctl", "-n", "net.ipv6.conf."+p.hostLink+".mtu"))
		return strings.Contains(out, "via "+routerLL) && mtu == "1400", out + "mtu " + mtu
	})

	// An independent decoder, which also solicits (and gets a unicast reply).
	// It sends from the host's link-local address, so wait for its DAD.
	waitFor(t, 5*time.Second, "host link-local address to leave DAD", func() (bool, string) {
		out := host("ip", "-6", "addr", "show", "dev", p.hostLink, "scope", "link")
		return strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative"), out
	})
	solicited := time.Now()
	out := host("rdisc6", "-1", p.hostLink)
	for _, want := range []string{
		"Hop limit                 :           64",
		"Router preference         :         high",
		"Router lifetime           :         1800",
		"MTU                      :         1400",
		"Prefix                   : 2001:db8:0:2::/64",
		"Valid time              :        86400",
		"Pref. time              :        14400",
		"Route                    : 2001:db8:ff::/48",
		"Recursive DNS server     : 2001:db8:0:2::53",
		"Source link-layer address: FA:16:3E:22:22:22",
		"from " + routerLL,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, out)
		}
	}

	var unicast bool
	for _, r := range rx.since(solicited) {
		unicast = unicast || r.dst.IsLinkLocalUnicast()
	}
	if !unicast {
		t.Errorf("no unicast RA to the host's link-local address after rdisc6 solicited")
	}

	// Link flap: the Advertiser waits for DAD again and restarts with an
	// immediate RA.
	netnstest.Cmd(t, "ip", "-n", p.routerNS, "link", "set", p.routerLink, "down")
	waitFor(t, 5*time.Second, "advertiser to notice the link went down", func() (bool, string) {
		return logs.count("link changed, waiting for it to be ready again") == 1, ""
	})
	up := time.Now()
	netnstest.Cmd(t, "ip", "-n", p.routerNS, "link", "set", p.routerLink, "up")
	waitFor(t, 10*time.Second, "an RA after the link came back", func() (bool, string) {
		return len(rx.since(up)) > 0, ""
	})
	first := rx.since(up)[0]
	t.Logf("first RA %s after link up (includes DAD)", first.at.Sub(up).Round(time.Millisecond))
	// radvd 2.19 needs about 17s here; we need DAD (about 1s) plus at most
	// the 1s link poll.
	if d := first.at.Sub(up); d > 5*time.Second {
		t.Errorf("first RA %s after link up, want within DAD + 2s", d)
	}
	if first.ra.RouterLifetime != 1800*time.Second {
		t.Errorf("RA after link up has router lifetime %s, want 30m", first.ra.RouterLifetime)
	}

	// SIGTERM path: the final RA makes the host drop its default route.
	cancel()
	select {
	case err := <-errC:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	errC <- nil // for the cleanup
	stopped := time.Now()
	waitFor(t, 5*time.Second, "default route to go after the final RA", func() (bool, string) {
		out := host("ip", "-6", "route", "show", "default")
		return strings.TrimSpace(out) == "", out
	})
	t.Logf("default route gone %s after Run returned", time.Since(stopped).Round(time.Millisecond))
	final := rx.since(stopped.Add(-time.Second))
	if len(final) == 0 || final[len(final)-1].ra.RouterLifetime != 0 || final[len(final)-1].ra.RouterSelectionPreference != ndp.Medium {
		t.Errorf("no final RA with lifetime 0 and preference medium seen on the host")
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// teeHandler logs to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}
func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	_ = h.a.Handle(ctx, r.Clone())
	return h.b.Handle(ctx, r)
}
func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}
func (h teeHandler) WithGroup(g string) slog.Handler {
	return teeHandler{h.a.WithGroup(g), h.b.WithGroup(g)}
}
