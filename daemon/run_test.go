package daemon

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/dhcpv6/dhcpv6test"
	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/internal/netwatch/netwatchtest"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ndproxy/ndproxytest"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
	"github.com/vrouter/vrouter/router/routertest"
)

const fakeConfig = `interfaces:
  eth0:
    role: upstream
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    advertise:
      max_interval: 600s
      hop_limit: 64
      prefixes: [{prefix: "2001:db8:0:2::/64"}]
forwarding: true
ndproxy:
  - {upstream: eth0, downstream: eth1, prefix: "2001:db8:0:2::c000/125"}
`

var fakeLL = netip.MustParseAddr("fe80::f816:3eff:fe22:2222")

// fakes is a daemon on fake systems: every seam of Options replaced.
type fakes struct {
	t       *testing.T
	path    string
	os      *routertest.OS
	ra      *ratest.System
	nd      *ndproxytest.System
	fp      *fastpathtest.System
	src     *netwatchtest.Source
	reload  chan struct{}
	d       *daemon
	notify  chan string
	cancel  context.CancelCauseFunc
	errC    chan error
	readyAt time.Time
	// stateDir is Options.StateDir ("-" unless a test sets it); facts are
	// published before the first apply (as a component restoring them
	// from its state file in New would).
	stateDir string
	facts    *Facts
	// dhcp receives the socket of every DHCPv6 server opened, and
	// noDHCPLink names interfaces whose socket cannot be opened.
	dhcp       chan dhcpSocket
	noDHCPLink sync.Map // interface name → true
	// mod, when set, changes the Options before Run; noWait (set by mod,
	// which then sets Options.Ready) makes run return without waiting for
	// every component to be ready.
	mod    func(*Options)
	noWait bool
}

// dhcpSocket is a DHCPv6 server socket the daemon opened on a fake.
type dhcpSocket struct {
	iface string
	conn  *dhcpv6test.Conn
}

// startFakes runs the daemon on fakes with config cfg, inside a synctest
// bubble, and waits until every component is ready.
func startFakes(t *testing.T, cfg string) *fakes {
	t.Helper()
	return startFakesWith(t, cfg, &fastpathtest.System{Interfaces: map[string]fastpathtest.Interface{}})
}

// startFakesWith is startFakes with the fast path on fp.
func startFakesWith(t *testing.T, cfg string, fp *fastpathtest.System) *fakes {
	t.Helper()
	f := newFakes(t, cfg, fp)
	f.run()
	return f
}

// startFakesOpts is startFakesWith (fp nil: no fast-path interfaces) with
// the options changed by mod (when not nil) before Run.
func startFakesOpts(t *testing.T, cfg string, fp *fastpathtest.System, mod func(*fakes, *Options)) *fakes {
	t.Helper()
	f := newFakes(t, cfg, fp)
	if mod != nil {
		f.mod = func(o *Options) { mod(f, o) }
	}
	f.run()
	return f
}

// newFakes prepares the fake systems with cfg, without starting the daemon.
func newFakes(t *testing.T, cfg string, fp *fastpathtest.System) *fakes {
	t.Helper()
	if fp == nil {
		fp = &fastpathtest.System{Interfaces: map[string]fastpathtest.Interface{}}
	}
	f := &fakes{
		t: t, path: filepath.Join(t.TempDir(), "vrouter.yaml"),
		os: routertest.New(t), ra: ratest.NewSystem(), nd: ndproxytest.New(),
		fp: fp, stateDir: "-", dhcp: make(chan dhcpSocket, 16),
	}
	f.write(cfg)
	f.os.AddLink("eth0", net.HardwareAddr{0xfa, 0x16, 0x3e, 0x11, 0x11, 0x11})
	f.os.AddLink("eth1", net.HardwareAddr{0xfa, 0x16, 0x3e, 0x22, 0x22, 0x22})
	f.ra.SetLink("eth1", ra.LinkState{Index: 3, MAC: net.HardwareAddr{0xfa, 0x16, 0x3e, 0x22, 0x22, 0x22}, Up: true, LinkLocal: fakeLL,
		Global: []netip.Prefix{netip.MustParsePrefix("2001:db8:0:2::1/64")}})
	return f
}

// run starts a daemon on f's systems and waits until every component is
// ready.
func (f *fakes) run() {
	t := f.t
	t.Helper()
	f.src, f.reload, f.notify, f.errC = netwatchtest.New(), make(chan struct{}, 1), make(chan string, 64), make(chan error, 1)
	ready := make(chan struct{})
	opts := Options{
		ConfigPath: f.path, Socket: "-", StateDir: f.stateDir, Reload: f.reload,
		Log: slog.New(slog.DiscardHandler),
		Specs: []Spec{
			RouterSpec(f.os),
			RASpec(ra.WithSystem(f.ra), ra.WithRand(rand.New(rand.NewPCG(1, 2)))),
			NDProxySpec(ndproxy.WithSystem(f.nd)),
			FastpathSpec(fastpath.WithSystem(f.fp)),
			DHCPv6Spec(dhcpv6.WithListen(func(iface string) (dhcpv6.Conn, error) {
				if v, _ := f.noDHCPLink.Load(iface); v == true {
					return nil, errors.New("no such link")
				}
				c := dhcpv6test.NewConn()
				f.dhcp <- dhcpSocket{iface, c}
				return c, nil
			})),
		},
		NetSource:       f.src,
		CheckPrivileges: func() error { return nil },
		Notify: func(s string) error {
			select {
			case f.notify <- s:
			default:
			}
			return nil
		},
		Ready: func() { close(ready) },
		started: func(d *daemon) {
			f.d = d
			if f.facts != nil {
				d.publish(func(fc *Facts) { *fc = f.facts.Clone() })
			}
		},
	}
	if f.mod != nil {
		f.mod(&opts)
	}
	if f.noWait {
		close(ready)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	f.cancel = cancel
	go func() { f.errC <- Run(ctx, opts) }()
	select {
	case <-ready:
	case err := <-f.errC:
		t.Fatalf("Run: %v", err)
	}
	f.readyAt = time.Now()
	synctest.Wait()
}

func (f *fakes) write(cfg string) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(cfg), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakes) stop() {
	f.t.Helper()
	f.stopWith(nil)
}

// stopWith cancels the daemon's context with cause (ErrRestart: a stop for
// a restart) and waits for Run to return.
func (f *fakes) stopWith(cause error) {
	f.t.Helper()
	f.cancel(cause)
	if err := <-f.errC; err != nil {
		f.t.Fatalf("Run = %v", err)
	}
}

func (f *fakes) conn() *ratest.Conn {
	f.t.Helper()
	select {
	case c := <-f.ra.Conns():
		return c
	default:
		f.t.Fatal("no advertiser socket opened")
		return nil
	}
}

func (f *fakes) status() Status { return f.d.snapshot() }

func (f *fakes) iface(name string) InterfaceStatus {
	for _, i := range f.status().Interfaces {
		if i.Name == name {
			return i
		}
	}
	f.t.Fatalf("no interface %s in status", name)
	return InterfaceStatus{}
}

func raOf(p ratest.Packet) *ndp.RouterAdvertisement { return p.Message.(*ndp.RouterAdvertisement) }

// TestRunAppliesReloadsAndStops runs every component on fakes through
// start, reload, a rejected reload and shutdown.
func TestRunAppliesReloadsAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFakes(t, fakeConfig)
		c := f.conn()
		if !slices.Contains(f.os.Render(), "addr eth1 2001:db8:0:2::1/64") {
			t.Errorf("address not configured:\n%s", f.os)
		}
		if i := f.iface("eth1"); !i.Configured || !i.Advertising || i.RA == nil {
			t.Errorf("eth1 status %+v", i)
		}
		if n := len(c.Packets()); n != 1 {
			t.Errorf("%d RAs at start, want 1", n)
		}
		st := f.status()
		if len(st.Components) != 5 || len(st.NDProxy) != 1 || st.Watcher == nil || !st.Watcher.Subscribed {
			t.Fatalf("status: %+v", st)
		}
		for _, cs := range st.Components {
			if cs.State != StateReady || cs.Restarts != 0 {
				t.Errorf("component %+v", cs)
			}
		}

		// A good reload: the RA changes at once, without a final RA; the
		// new address is added.
		time.Sleep(time.Minute)
		n := len(c.Packets())
		f.write(strings.Replace(strings.Replace(fakeConfig, "hop_limit: 64", "hop_limit: 32", 1),
			"addresses: [2001:db8:0:2::1/64]", "addresses: [2001:db8:0:2::1/64, 2001:db8:0:3::1/64]", 1))
		f.reload <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		after := c.Packets()[n:]
		if len(after) == 0 || raOf(after[0]).CurrentHopLimit != 32 || raOf(after[0]).RouterLifetime == 0 {
			t.Errorf("after reload: %d RAs, first %+v", len(after), after)
		}
		if !slices.Contains(f.os.Render(), "addr eth1 2001:db8:0:3::1/64") {
			t.Errorf("reloaded address not configured:\n%s", f.os)
		}
		if f.status().Reloaded.IsZero() {
			t.Error("status does not say when it reloaded")
		}

		// A bad reload (a rule of a component, not of the decoder) keeps
		// the running config.
		f.write(fakeConfig + "fastpath: {enabled: true, interfaces: [eth0], cpus: [2000]}\n")
		f.reload <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := f.status(); st.Fastpath != nil {
			t.Errorf("rejected config applied: fast path %+v", st.Fastpath)
		}

		// Shutdown: one final RA with router lifetime 0.
		n = len(c.Packets())
		f.stop()
		final := c.Packets()[n:]
		if len(final) != 1 || raOf(final[0]).RouterLifetime != 0 {
			t.Errorf("at shutdown: %d RAs, want 1 final", len(final))
		}
		for _, cs := range f.status().Components {
			if cs.State != StateStopped {
				t.Errorf("after shutdown: %+v", cs)
			}
		}
	})
}

// TestRunStandby switches the serving components off and on as HA does:
// the advertiser stops without a final RA and the proxy drops its rules,
// then both serve again.
func TestRunStandby(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFakes(t, fakeConfig)
		c := f.conn()
		time.Sleep(time.Minute)
		n := len(c.Packets())
		f.d.publish(func(fc *Facts) { fc.Standby = true })
		time.Sleep(time.Second)
		synctest.Wait()
		if got := c.Packets()[n:]; len(got) != 0 {
			t.Errorf("standby sent %d RAs (router lifetime %v), want none", len(got), raOf(got[0]).RouterLifetime)
		}
		if !c.Closed() {
			t.Error("advertiser socket still open in standby")
		}
		if st := f.status(); len(st.NDProxy) != 0 || f.iface("eth1").RA != nil {
			t.Errorf("standby still serves: ndproxy %v, ra %v", st.NDProxy, f.iface("eth1").RA)
		}
		if f.nd.State() != nil {
			t.Errorf("proxy state in standby: %v", f.nd.State())
		}
		f.d.publish(func(fc *Facts) { fc.Standby = false })
		time.Sleep(time.Second)
		synctest.Wait()
		c2 := f.conn()
		if len(c2.Packets()) == 0 || raOf(c2.Packets()[0]).RouterLifetime == 0 {
			t.Error("no RA after leaving standby")
		}
		if st := f.status(); len(st.NDProxy) != 1 {
			t.Errorf("proxy rules after leaving standby: %v", st.NDProxy)
		}
		f.stop()
	})
}

// TestRunRuntimeAddresses folds a runtime fact (the ::1 of a delegated /64)
// into the desired state: the reconciler adds the address, and removes it
// when the fact goes.
func TestRunRuntimeAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFakes(t, fakeConfig)
		pd := netip.MustParsePrefix("2001:db8:77:2::1/64")
		f.d.publish(func(fc *Facts) { fc.Addresses = map[string][]netip.Prefix{"eth1": {pd}} })
		time.Sleep(time.Second)
		synctest.Wait()
		if !slices.Contains(f.os.Render(), "addr eth1 "+pd.String()) {
			t.Errorf("runtime address not configured:\n%s", f.os)
		}
		f.d.publish(func(fc *Facts) { fc.Addresses = nil })
		time.Sleep(time.Second)
		synctest.Wait()
		if slices.Contains(f.os.Render(), "addr eth1 "+pd.String()) {
			t.Errorf("runtime address not removed:\n%s", f.os)
		}
		if !slices.Contains(f.os.Render(), "addr eth1 2001:db8:0:2::1/64") {
			t.Errorf("config address removed:\n%s", f.os)
		}
		f.stop()
	})
}

// TestRunRestartsFailedComponent: a fast path whose interface does not
// exist fails; the supervisor restarts it with back-off and the status
// shows it, while the rest keeps running.
func TestRunRestartsFailedComponent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFakes(t, fakeConfig)
		f.write(fakeConfig + "fastpath: {enabled: true, interfaces: [eth9]}\n")
		f.reload <- struct{}{}
		time.Sleep(8 * time.Second) // failures at 0, 1, 3, 7s
		synctest.Wait()
		var fp ComponentStatus
		for _, cs := range f.status().Components {
			if cs.Name == "fastpath" {
				fp = cs
			}
		}
		if fp.Restarts != 4 || fp.State != StateBackoff || !strings.Contains(fp.LastError, "eth9") {
			t.Errorf("fast path supervisor status %+v, want 4 restarts in backoff naming eth9", fp)
		}
		if st := f.status().Fastpath; st == nil || st.Running {
			t.Errorf("fast path status %+v", st)
		}
		if i := f.iface("eth1"); !i.Advertising {
			t.Error("RA stopped because the fast path failed")
		}
		f.stop()
	})
}

// TestRunResyncsAfterLostEvents: while the watcher's subscription is dead,
// changes happen that no event reports; after it resubscribes, every
// component re-reads the state and is in sync again.
func TestRunResyncsAfterLostEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFakes(t, fakeConfig)
		c := f.conn()
		f.src.FailNext(2)
		f.src.Kill(errors.New("receive: no buffer space available"))
		// Unseen changes: the address is flushed, the link-local address
		// of the advertised link changes.
		f.os.FlushAddrs("eth1")
		newLL := netip.MustParseAddr("fe80::2")
		f.ra.UpdateLink("eth1", func(s *ra.LinkState) { s.LinkLocal = newLL })
		time.Sleep(netwatch.ResubscribeMin + 2*netwatch.ResubscribeMin + 4*netwatch.ResubscribeMin + 100*time.Millisecond)
		synctest.Wait()
		if st := f.status().Watcher; st.Resyncs != 1 || !st.Subscribed {
			t.Fatalf("watcher %+v", st)
		}
		if !slices.Contains(f.os.Render(), "addr eth1 2001:db8:0:2::1/64") {
			t.Errorf("router did not restore the address after the resync:\n%s", f.os)
		}
		if !c.Closed() {
			t.Error("advertiser still on the old link-local address after the resync")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if st := f.iface("eth1").RA; st == nil || st.LinkLocal != newLL {
			t.Errorf("advertiser status after the resync %+v", st)
		}
		f.stop()
	})
}

// TestRunStartsFastpathOnce: the engine of the config at start is started
// once, not restarted for the Apply that came before Run (an AF_XDP port
// reopened while the first is being torn down fails).
func TestRunStartsFastpathOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := fastpathtest.NewChannelPort(64), fastpathtest.NewChannelPort(64)
		claimed := make(chan []fastpath.Link, 4)
		sys := &fastpathtest.System{Claimed: claimed, Interfaces: map[string]fastpathtest.Interface{
			"eth0": {Link: fastpath.Link{Index: 2, Name: "eth0", MTU: 1500, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}, Port: in},
			"eth1": {Link: fastpath.Link{Index: 3, Name: "eth1", MTU: 1500, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 3}}, Port: out},
		}}
		g := startFakesWith(t, fakeConfig+"fastpath: {enabled: true, interfaces: [eth0, eth1]}\n", sys)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(claimed); n != 1 {
			t.Errorf("the engine claimed its links %d times, want once", n)
		}
		if st := g.status().Fastpath; st == nil || !st.Running {
			t.Errorf("fast path status %+v", st)
		}
		g.stop()
	})
}
