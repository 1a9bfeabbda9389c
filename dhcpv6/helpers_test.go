package dhcpv6

import (
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vrouter/vrouter/config"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	serverDUID = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	otherDUID  = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 9}}
	dns1       = netip.MustParseAddr("2001:db8:0:2::53")
	clientLL   = netip.MustParseAddr("fe80::a")
)

func statefulCfg() config.DHCPv6 {
	return config.DHCPv6{
		Mode:        config.DHCPv6Stateful,
		DNSServers:  []netip.Addr{dns1},
		Domains:     []string{"tenant.example"},
		RapidCommit: true,
		T1:          1800 * time.Second, T2: 2880 * time.Second,
		PreferredLifetime: 3600 * time.Second, ValidLifetime: 7200 * time.Second,
		InformationRefreshTime: 86400 * time.Second,
		Pools:                  []config.DHCPv6Pool{{Start: netip.MustParseAddr("2001:db8:0:2::1000"), End: netip.MustParseAddr("2001:db8:0:2::1fff")}},
		Hosts: []config.DHCPv6Host{
			{MAC: net.HardwareAddr{0xfa, 0x16, 0x3e, 0x33, 0x33, 0x33}, Address: netip.MustParseAddr("2001:db8:0:2::33")},
			{DUID: []byte{0, 3, 0, 1, 0xfa, 0x16, 0x3e, 0x44, 0x44, 0x44}, Address: netip.MustParseAddr("2001:db8:0:2::44")},
		},
	}
}

func statelessCfg() config.DHCPv6 {
	return config.DHCPv6{
		Mode: config.DHCPv6Stateless, DNSServers: []netip.Addr{dns1}, Domains: []string{"tenant.example"},
		InformationRefreshTime: 3600 * time.Second,
	}
}

type testServer struct {
	*Server
	t     testing.TB
	clock *fakeClock
	dir   string
}

func newTestServer(t testing.TB, cfg config.DHCPv6, opts ...Option) *testServer {
	t.Helper()
	ts := &testServer{t: t, clock: newClock(), dir: t.TempDir()}
	opts = append([]Option{WithClock(ts.clock), WithDUID(serverDUID), WithStateDir(ts.dir), WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	s, err := NewServer("eth1", cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	return ts
}

// direct is the Meta of a multicast message from an on-link client.
func direct(mac net.HardwareAddr) Meta {
	return Meta{Src: netip.AddrPortFrom(clientLL, ClientPort), Dst: AllRelayAgentsAndServers, IfIndex: 2, SrcMAC: mac}
}

// send hands b to the server as Run would (one batch, journal synced) and
// returns the answer, or the drop reason counted.
func (ts *testServer) send(m Meta, b []byte) (answer, DropReason, bool) {
	ts.t.Helper()
	ts.mu.Lock()
	before := ts.c.dropped
	a, ok := ts.handle(m, b, ts.clock.Now())
	if ts.journal != nil && ts.journal.pending() {
		if err := ts.journal.sync(ts.table); err != nil {
			ts.t.Fatal(err)
		}
	}
	after := ts.c.dropped
	ts.mu.Unlock()
	if ok {
		return a, 0, true
	}
	for i := range after {
		if after[i] != before[i] {
			return a, DropReason(i), false
		}
	}
	ts.t.Fatal("no answer and no drop counted")
	return a, 0, false
}

// exchange sends msg directly and decodes the answer (nil when dropped).
func (ts *testServer) exchange(m Meta, msg dhcpv6.DHCPv6) *dhcpv6.Message {
	ts.t.Helper()
	a, _, ok := ts.send(m, msg.ToBytes())
	if !ok {
		return nil
	}
	d, err := dhcpv6.FromBytes(a.b)
	if err != nil {
		ts.t.Fatalf("answer does not decode: %v", err)
	}
	rep, err := d.GetInnerMessage()
	if err != nil {
		ts.t.Fatal(err)
	}
	return rep
}

// client builds messages of one client.
type client struct {
	duid dhcpv6.DUID
	mac  net.HardwareAddr
	xid  byte
}

func uuidClient(n byte) *client {
	d := &dhcpv6.DUIDUUID{}
	d.UUID[0], d.UUID[15] = 0x42, n
	return &client{duid: d, mac: net.HardwareAddr{2, 0, 0, 0, 0x10, n}}
}

type msgOpt func(*dhcpv6.Message)

func withIA(id uint32, addrs ...netip.Addr) msgOpt {
	return func(m *dhcpv6.Message) {
		ia := &dhcpv6.OptIANA{IaId: [4]byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}}
		for _, a := range addrs {
			ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: a.AsSlice()})
		}
		m.AddOption(ia)
	}
}

func withServerID(d dhcpv6.DUID) msgOpt {
	return func(m *dhcpv6.Message) { m.AddOption(dhcpv6.OptServerID(d)) }
}

func withOption(o dhcpv6.Option) msgOpt { return func(m *dhcpv6.Message) { m.AddOption(o) } }

func withoutClientID(m *dhcpv6.Message) { m.Options.Del(dhcpv6.OptionClientID) }

func (c *client) msg(t dhcpv6.MessageType, opts ...msgOpt) *dhcpv6.Message {
	c.xid++
	m := &dhcpv6.Message{MessageType: t, TransactionID: dhcpv6.TransactionID{0xab, c.xid, 1}}
	m.AddOption(dhcpv6.OptClientID(c.duid))
	m.AddOption(dhcpv6.OptElapsedTime(0))
	for _, o := range opts {
		o(m)
	}
	return m
}

// addrsOf returns the addresses of the IA_NA iaid in rep with their valid
// lifetimes.
func addrsOf(rep *dhcpv6.Message, id uint32) map[netip.Addr]time.Duration {
	out := map[netip.Addr]time.Duration{}
	for _, ia := range rep.Options.IANA() {
		if iaid(ia.IaId) != id {
			continue
		}
		for _, a := range ia.Options.Addresses() {
			ad, _ := netip.AddrFromSlice(a.IPv6Addr)
			out[ad] = a.ValidLifetime
		}
	}
	return out
}

// leased returns the one address with a non-zero lifetime in IA id.
func leased(t testing.TB, rep *dhcpv6.Message, id uint32) netip.Addr {
	t.Helper()
	var got []netip.Addr
	for a, v := range addrsOf(rep, id) {
		if v > 0 {
			got = append(got, a)
		}
	}
	if len(got) != 1 {
		t.Fatalf("IA %d: want one leased address, got %v in\n%s", id, got, rep.Summary())
	}
	return got[0]
}

func topStatus(rep *dhcpv6.Message) (iana.StatusCode, bool) {
	if st := rep.Options.Status(); st != nil {
		return st.StatusCode, true
	}
	return 0, false
}

func iaStatus(rep *dhcpv6.Message, id uint32) (iana.StatusCode, bool) {
	for _, ia := range rep.Options.IANA() {
		if iaid(ia.IaId) == id {
			if st := ia.Options.Status(); st != nil {
				return st.StatusCode, true
			}
		}
	}
	return 0, false
}

// lease runs Solicit, Request for one IA and returns the address.
func (ts *testServer) lease(c *client, m Meta) netip.Addr {
	ts.t.Helper()
	adv := ts.exchange(m, c.msg(dhcpv6.MessageTypeSolicit, withIA(1)))
	if adv == nil || adv.MessageType != dhcpv6.MessageTypeAdvertise {
		ts.t.Fatalf("no advertise: %v", adv)
	}
	offered := leased(ts.t, adv, 1)
	rep := ts.exchange(m, c.msg(dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1, offered)))
	if rep == nil {
		ts.t.Fatal("request dropped")
	}
	got := leased(ts.t, rep, 1)
	if got != offered {
		ts.t.Fatalf("request got %s, advertise offered %s", got, offered)
	}
	return got
}

func leaseAddrs(ls []Lease) []netip.Addr {
	var out []netip.Addr
	for _, l := range ls {
		out = append(out, l.Addr)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
