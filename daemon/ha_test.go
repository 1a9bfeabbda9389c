package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ha"
	"github.com/vrouter/vrouter/ha/hatest"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
)

const haConfig = dhcpConfig + `ndproxy:
  - {upstream: eth0, downstream: eth1, prefix: "2001:db8:0:2::c000/125"}
ha:
  vrid: 51
  priority: 200
  advert_interval: 100ms
  preempt: true
  interfaces:
    eth1: {virtual_addresses: ["fe80::1", "2001:db8:0:2::fe/64"]}
`

var (
	virtualLL = netip.MustParseAddr("fe80::1")
	// haLink is the virtual link of eth1 on the hatest fake (index 2).
	haLink = ha.VirtualLinkName(51, 2)
)

// haFakes is a daemon on fakes with the HA component on an hatest segment
// shared with a peer router.
type haFakes struct {
	*fakes
	net *hatest.Net
	sys *hatest.System
}

func startHA(t *testing.T, cfg string) *haFakes {
	t.Helper()
	h := &haFakes{net: hatest.NewNet()}
	h.sys = h.net.NewSystem("a")
	h.sys.AddLink("eth1", "tenant", fakeLL)
	h.fakes = startFakesOpts(t, cfg, nil, func(f *fakes, o *Options) {
		o.Specs = append(o.Specs, HASpec(h.sys))
		f.ra.SetLink(haLink, ra.LinkState{Index: 10, MAC: ha.VirtualMAC(51), Up: true, LinkLocal: virtualLL,
			Global: []netip.Prefix{netip.MustParsePrefix("2001:db8:0:2::fe/64")}})
	})
	return h
}

// peer runs another router's group with priority prio on the segment; stop
// stops it cleanly (priority 0).
func (h *haFakes) peer(prio uint8) (stop func()) {
	t := h.t
	t.Helper()
	sys := h.net.NewSystem("b")
	sys.AddLink("eth1", "tenant", netip.MustParseAddr("fe80::b"))
	g, err := ha.New(&config.HA{VRID: 51, Priority: prio, AdvertInterval: 100 * time.Millisecond, Preempt: true,
		Interfaces: []config.HAInterface{{Name: "eth1", VirtualAddresses: []netip.Prefix{
			netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("2001:db8:0:2::fe/64")}}}},
		slog.New(slog.DiscardHandler), ha.WithSystem(sys))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	return func() { cancel(); <-done }
}

func (h *haFakes) state() ha.State {
	h.t.Helper()
	st := h.status().HA
	if st == nil {
		h.t.Fatal("no ha in status")
	}
	return st.State
}

// conns returns the advertiser sockets opened since the last call.
func (h *haFakes) conns() []*ratest.Conn {
	var out []*ratest.Conn
	for {
		select {
		case c := <-h.ra.Conns():
			out = append(out, c)
		default:
			return out
		}
	}
}

// noFinalRA fails when c sent an RA with router lifetime 0.
func noFinalRA(t *testing.T, what string, c *ratest.Conn) {
	t.Helper()
	for _, p := range c.Packets() {
		if raOf(p).RouterLifetime == 0 {
			t.Errorf("%s: RA with router lifetime 0 at %v", what, p.Time)
		}
	}
}

// TestHAServesOnActiveOnly: the router serves RA, NDP proxy and DHCPv6
// only while Active, the RAs from the virtual link (virtual link-local,
// virtual MAC in the SLLA option); it never sends an RA with router
// lifetime 0 — not on becoming Backup, not on a stop — and resigns with
// priority 0 when it stops.
func TestHAServesOnActiveOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHA(t, haConfig)
		// Initialize, then Backup: nothing is served.
		if got := h.conns(); len(got) != 0 {
			t.Fatalf("%d advertisers before the router is Active", len(got))
		}
		if st := h.status(); len(st.NDProxy) != 0 {
			t.Errorf("proxy rules before Active: %v", st.NDProxy)
		}
		if d := h.iface("eth1").DHCPv6; d == nil || d.Active {
			t.Errorf("dhcpv6 before Active: %+v, want a passive server", d)
		}
		if s := h.state(); s != ha.StateBackup {
			t.Fatalf("state %s at start, want backup", s)
		}
		// Alone on the link: Active after Active_Down_Interval.
		time.Sleep(time.Second)
		synctest.Wait()
		if s := h.state(); s != ha.StateActive {
			t.Fatalf("state %s alone, want active", s)
		}
		cs := h.conns()
		if len(cs) != 1 {
			t.Fatalf("%d advertisers when Active, want 1", len(cs))
		}
		c := cs[0]
		if len(c.Packets()) == 0 {
			t.Fatal("no RA when Active")
		}
		for _, p := range c.Packets() {
			ra := raOf(p)
			if ra.RouterLifetime == 0 {
				t.Errorf("RA with router lifetime 0 while Active")
			}
			if !slices.ContainsFunc(ra.Options, func(o ndp.Option) bool { return isSLLA(o, ha.VirtualMAC(51)) }) {
				t.Errorf("RA without the virtual MAC in its SLLA option: %v", ra.Options)
			}
		}
		if st := h.status(); len(st.NDProxy) != 1 {
			t.Errorf("proxy rules when Active: %v", st.NDProxy)
		}
		if d := h.iface("eth1").DHCPv6; d == nil || !d.Active {
			t.Errorf("dhcpv6 when Active: %+v", d)
		}
		if ra := h.iface("eth1").RA; ra == nil {
			t.Error("no RA status for eth1 while it is served on the virtual link")
		}

		// A better peer preempts: Backup, the advertiser closed without
		// a final RA, the proxy without rules, DHCPv6 passive.
		stopPeer := h.peer(250)
		time.Sleep(time.Second)
		synctest.Wait()
		if s := h.state(); s != ha.StateBackup {
			t.Fatalf("state %s with a better peer, want backup", s)
		}
		if !c.Closed() {
			t.Error("advertiser still open on the Backup")
		}
		noFinalRA(t, "Active to Backup", c)
		if st := h.status(); len(st.NDProxy) != 0 {
			t.Errorf("proxy rules on the Backup: %v", st.NDProxy)
		}
		if d := h.iface("eth1").DHCPv6; d == nil || d.Active {
			t.Errorf("dhcpv6 on the Backup: %+v", d)
		}
		st := h.status().HA
		if p := st.Instances[0].Peer; p == nil || p.Priority != 250 || p.Address != netip.MustParseAddr("fe80::b") {
			t.Errorf("peer %+v, want fe80::b priority 250", p)
		}
		if lt := st.LastTransition; lt == nil || lt.From != ha.StateActive || lt.To != ha.StateBackup {
			t.Errorf("last transition %+v", lt)
		}

		// The peer stops (priority 0): Active again after Skew_Time.
		stopPeer()
		time.Sleep(time.Second)
		synctest.Wait()
		if s := h.state(); s != ha.StateActive {
			t.Fatalf("state %s after the peer resigned, want active", s)
		}
		cs = h.conns()
		if len(cs) != 1 {
			t.Fatalf("%d advertisers when Active again, want 1", len(cs))
		}

		// Metrics from the status.
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(newCollector(h.status))
		want := `
# HELP vrouter_ha_state 1 for the current VRRP state of the router (initialize, backup, active), 0 for the others.
# TYPE vrouter_ha_state gauge
vrouter_ha_state{state="active"} 1
vrouter_ha_state{state="backup"} 0
vrouter_ha_state{state="initialize"} 0
# HELP vrouter_ha_transitions_total VRRP state changes of the router.
# TYPE vrouter_ha_transitions_total counter
vrouter_ha_transitions_total{from="active",to="backup"} 1
vrouter_ha_transitions_total{from="backup",to="active"} 2
vrouter_ha_transitions_total{from="initialize",to="backup"} 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vrouter_ha_state", "vrouter_ha_transitions_total"); err != nil {
			t.Error(err)
		}

		// A stop of one of an HA pair: no final RA, a resign instead.
		h.stop()
		noFinalRA(t, "stop", cs[0])
		adv := h.sys.Port("eth1").Adverts()
		if len(adv) == 0 || adv[len(adv)-1].Priority != 0 {
			t.Errorf("last advert %+v, want priority 0 on the stop", adv[len(adv)-1:])
		}
	})
}

// TestHARestartResigns: a stop for a restart (SIGUSR2) also sends no
// final RA, and hands the group to the peer with priority 0.
func TestHARestartResigns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHA(t, haConfig)
		time.Sleep(time.Second)
		synctest.Wait()
		cs := h.conns()
		if len(cs) != 1 {
			t.Fatalf("%d advertisers, want 1", len(cs))
		}
		h.stopWith(ErrRestart)
		noFinalRA(t, "restart", cs[0])
		adv := h.sys.Port("eth1").Adverts()
		if len(adv) == 0 || adv[len(adv)-1].Priority != 0 {
			t.Errorf("no resign on a restart")
		}
	})
}

// TestHAOwnerAddressesOffTheInterface: an address owner (priority 255)
// lists its virtual global address among the interface's; the reconciler
// must not put it on the interface (the kernel would answer for it with
// the physical MAC).
func TestHAOwnerAddressesOffTheInterface(t *testing.T) {
	cfg := strings.Replace(haConfig, "priority: 200", "priority: 255", 1)
	cfg = strings.Replace(cfg, `"2001:db8:0:2::fe/64"]}`, `"2001:db8:0:2::1/64"]}`, 1)
	synctest.Test(t, func(t *testing.T) {
		h := startHA(t, cfg)
		time.Sleep(time.Second)
		synctest.Wait()
		if s := h.state(); s != ha.StateActive {
			t.Fatalf("owner in state %s, want active", s)
		}
		if r := h.os.Render(); slices.ContainsFunc(r, func(l string) bool { return strings.HasPrefix(l, "addr eth1 2001:db8:0:2::1") }) {
			t.Errorf("virtual address on the interface:\n%s", strings.Join(r, "\n"))
		}
		h.stop()
	})
}

// TestValidateHA: the ha rules run in the one validation path, positioned.
func TestValidateHA(t *testing.T) {
	cfg, err := config.Parse("vrouter.yaml", []byte(haConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(cfg, []Spec{HASpec(nil)}); err != nil {
		t.Fatalf("good config: %v", err)
	}
	cfg.HA.AdvertInterval = 15 * time.Millisecond // the decoder refuses it too; the rule must hold alone
	err = validate(cfg, []Spec{HASpec(nil)})
	var es config.Errors
	if !errors.As(err, &es) || !strings.Contains(err.Error(), "advert_interval") || !strings.Contains(err.Error(), "vrouter.yaml:") {
		t.Errorf("bad interval: %v", err)
	}
}

// TestValidateHAFastpath: the fast path on an HA interface is refused,
// positioned at the fast-path interface.
func TestValidateHAFastpath(t *testing.T) {
	cfg, err := config.Parse("vrouter.yaml", []byte(haConfig+"fastpath:\n  enabled: true\n  interfaces: [eth0, eth1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = validate(cfg, []Spec{HASpec(nil)})
	if err == nil || !strings.Contains(err.Error(), "vrouter.yaml:") || !strings.Contains(err.Error(), "fastpath.interfaces[1]: eth1 is an HA interface") {
		t.Errorf("fast path on an HA interface: %v", err)
	}
	if strings.Contains(err.Error(), "interfaces[0]") {
		t.Errorf("eth0 is no HA interface here: %v", err)
	}
}

// TestWithoutVirtualAddresses keeps the config as it is without HA and
// never modifies it.
func TestWithoutVirtualAddresses(t *testing.T) {
	cfg, err := config.Parse("vrouter.yaml", []byte(strings.Replace(strings.Replace(haConfig, "priority: 200", "priority: 255", 1),
		`"2001:db8:0:2::fe/64"]}`, `"2001:db8:0:2::1/64"]}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	got := withoutVirtualAddresses(cfg)
	for _, ifc := range got.Interfaces {
		if ifc.Name == "eth1" && len(ifc.Addresses) != 0 {
			t.Errorf("eth1 addresses %v, want none", ifc.Addresses)
		}
	}
	for _, ifc := range cfg.Interfaces {
		if ifc.Name == "eth1" && len(ifc.Addresses) != 1 {
			t.Errorf("original modified: %v", ifc.Addresses)
		}
	}
	cfg.HA = nil
	if withoutVirtualAddresses(cfg) != cfg {
		t.Error("a config without HA was copied")
	}
}

// isSLLA reports whether o is a source link-layer address option with mac.
func isSLLA(o ndp.Option, mac net.HardwareAddr) bool {
	lla, ok := o.(*ndp.LinkLayerAddress)
	return ok && lla.Direction == ndp.Source && lla.Addr.String() == mac.String()
}

// TestRAStateFollowsTheInterface: the advertiser's state file is named
// after the config interface, whichever link it is served on, so RFC 9096
// withdrawals carry over between eth1 and its HA virtual link.
func TestRAStateFollowsTheInterface(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakes(t, fakeConfig, nil)
		f.stateDir = t.TempDir()
		f.ra.SetLink("vl", ra.LinkState{Index: 10, MAC: ha.VirtualMAC(51), Up: true, LinkLocal: virtualLL,
			Global: []netip.Prefix{netip.MustParsePrefix("2001:db8:0:2::1/64")}})
		f.run()
		f.conn()
		time.Sleep(time.Minute)
		// The prefix goes while eth1 is served on the virtual link.
		f.d.publish(func(fc *Facts) { fc.ServeOn = map[string]string{"eth1": "vl"} })
		time.Sleep(time.Second)
		synctest.Wait()
		f.write(strings.Replace(fakeConfig, `prefixes: [{prefix: "2001:db8:0:2::/64"}]`, `prefixes: []`, 1))
		f.reload <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		// Back on eth1: the withdrawal goes on there.
		f.d.publish(func(fc *Facts) { fc.ServeOn = nil })
		time.Sleep(time.Second)
		synctest.Wait()
		var c *ratest.Conn
		for _, cc := range h2conns(f) {
			c = cc
		}
		if c == nil {
			t.Fatal("no advertiser back on eth1")
		}
		withdrawn := false
		for _, p := range c.Packets() {
			for _, o := range raOf(p).Options {
				if pi, ok := o.(*ndp.PrefixInformation); ok && pi.Prefix == netip.MustParseAddr("2001:db8:0:2::") && pi.ValidLifetime == 0 {
					withdrawn = true
				}
			}
		}
		if !withdrawn {
			t.Error("the prefix withdrawn on the virtual link is not withdrawn on eth1 after the move")
		}
		f.stop()
		entries, _ := os.ReadDir(f.stateDir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "ra-") && e.Name() != "ra-eth1.json" {
				t.Errorf("state file %s, want only ra-eth1.json", e.Name())
			}
		}
	})
}

// h2conns returns the advertiser sockets opened since the last read.
func h2conns(f *fakes) []*ratest.Conn {
	var out []*ratest.Conn
	for {
		select {
		case c := <-f.ra.Conns():
			out = append(out, c)
		default:
			return out
		}
	}
}

// TestHAAddedAndRemovedOnReload: a reload that adds the ha section puts
// the router in standby until its group is Active, then serves on the
// virtual link; one that removes it serves on the interface again. No RA
// with router lifetime 0 on the way.
func TestHAAddedAndRemovedOnReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHA(t, dhcpConfig)
		c := h.conns()
		if len(c) != 1 || h.status().HA != nil {
			t.Fatalf("without ha: %d advertisers, ha status %v", len(c), h.status().HA)
		}
		time.Sleep(time.Minute)
		h.write(haConfig)
		h.reload <- struct{}{}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if !c[0].Closed() {
			t.Error("advertiser on eth1 still open after ha was added")
		}
		noFinalRA(t, "ha added", c[0])
		time.Sleep(time.Second)
		synctest.Wait()
		if s := h.state(); s != ha.StateActive {
			t.Fatalf("state %s after ha was added, want active", s)
		}
		onVirtual := h.conns()
		if len(onVirtual) != 1 || onVirtual[0].Packets()[0].Message.(*ndp.RouterAdvertisement).RouterLifetime == 0 {
			t.Fatalf("advertisers on the virtual link: %d", len(onVirtual))
		}
		h.write(dhcpConfig)
		h.reload <- struct{}{}
		time.Sleep(time.Second)
		synctest.Wait()
		noFinalRA(t, "ha removed", onVirtual[0])
		if !onVirtual[0].Closed() {
			t.Error("advertiser on the virtual link still open after ha was removed")
		}
		back := h.conns()
		if len(back) != 1 || len(back[0].Packets()) == 0 {
			t.Fatalf("%d advertisers on eth1 after ha was removed", len(back))
		}
		if st := h.status(); st.HA != nil {
			t.Errorf("after ha was removed: ha %v", st.HA)
		}
		if d := h.iface("eth1").DHCPv6; d == nil || !d.Active {
			t.Errorf("dhcpv6 after ha was removed: %+v", d)
		}
		h.stop()
	})
}
