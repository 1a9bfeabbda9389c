package dhcpv6

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vrouter/vrouter/config"
)

func TestUpdateShrinksPool(t *testing.T) {
	cfg := statefulCfg()
	ts := newTestServer(t, cfg)
	// Lease until one address falls in each half of the pool.
	var inside, outside *client
	var aIn, aOut netip.Addr
	cut := netip.MustParseAddr("2001:db8:0:2::17ff")
	for i := byte(0); inside == nil || outside == nil; i++ {
		c := uuidClient(i)
		a := ts.lease(c, direct(c.mac))
		if a.Compare(cut) <= 0 && inside == nil {
			inside, aIn = c, a
		} else if a.Compare(cut) > 0 && outside == nil {
			outside, aOut = c, a
		}
	}
	shrunk := statefulCfg()
	shrunk.Pools[0].End = cut
	if err := ts.Update(shrunk); err != nil {
		t.Fatal(err)
	}
	// The lease that fits is renewed as is.
	rep := ts.exchange(direct(inside.mac), inside.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, aIn)))
	if got := addrsOf(rep, 1); len(got) != 1 || got[aIn] == 0 {
		t.Fatalf("fitting lease: %v", got)
	}
	// The other is withdrawn with lifetime 0 beside a new address.
	rep = ts.exchange(direct(outside.mac), outside.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, aOut)))
	got := addrsOf(rep, 1)
	if v, ok := got[aOut]; !ok || v != 0 {
		t.Fatalf("withdrawn lease %s: %v", aOut, got)
	}
	n := leased(t, rep, 1)
	if n.Compare(cut) > 0 {
		t.Fatalf("new address %s outside the shrunk pool", n)
	}
	for _, l := range ts.Leases() {
		if l.Addr == aOut {
			t.Fatal("withdrawn lease still in the table")
		}
	}
	// A bad config is refused and the running one kept.
	bad := statefulCfg()
	bad.Pools[0].End = netip.MustParseAddr("2001:db8:0:2::1")
	if err := ts.Update(bad); err == nil || !strings.Contains(err.Error(), "before start") {
		t.Fatalf("bad update: %v", err)
	}
	if ts.Status().PoolSize != 0x800 {
		t.Fatalf("pool size %d after a refused update", ts.Status().PoolSize)
	}
}

func TestExpiry(t *testing.T) {
	cfg := statefulCfg()
	one := netip.MustParseAddr("2001:db8:0:2::1000")
	cfg.Pools = []config.DHCPv6Pool{{Start: one, End: one}}
	ts := newTestServer(t, cfg)
	a := uuidClient(1)
	ts.lease(a, direct(a.mac))
	b := uuidClient(2)
	adv := ts.exchange(direct(b.mac), b.msg(dhcpv6.MessageTypeSolicit, withIA(1)))
	if st, _ := topStatus(adv); st != iana.StatusNoAddrsAvail {
		t.Fatalf("full pool: %v", st)
	}
	ts.clock.Advance(7200*time.Second - time.Second)
	if n := ts.Status().LeasesInUse; n != 1 {
		t.Fatalf("%d leases a second before expiry", n)
	}
	ts.clock.Advance(time.Second)
	if n := ts.Status().LeasesInUse; n != 0 {
		t.Fatalf("%d leases at expiry", n)
	}
	if got := ts.lease(b, direct(b.mac)); got != one {
		t.Fatalf("expired address not reused: %s", got)
	}
	// The sweep reclaims the memory of expired leases.
	ts.clock.Advance(8000 * time.Second)
	ts.mu.Lock()
	n := ts.table.expire(ts.clock.Now())
	left := ts.table.len()
	ts.mu.Unlock()
	if n != 1 || left != 0 {
		t.Fatalf("sweep removed %d, left %d", n, left)
	}
}

// TestFloodBounds: Solicits from random DUIDs cost no state; Rapid Commit
// ones exhaust the pool at worst, then get NoAddrsAvail, while existing
// clients keep renewing.
func TestFloodBounds(t *testing.T) {
	cfg := statefulCfg()
	cfg.Pools = []config.DHCPv6Pool{{Start: netip.MustParseAddr("2001:db8:0:2::1000"), End: netip.MustParseAddr("2001:db8:0:2::100f")}}
	ts := newTestServer(t, cfg)
	old := uuidClient(200)
	oldAddr := ts.lease(old, direct(old.mac))
	rng := rand.New(rand.NewPCG(1, 2))
	random := func() *client {
		d := &dhcpv6.DUIDUUID{}
		for i := range d.UUID {
			d.UUID[i] = byte(rng.Uint32())
		}
		return &client{duid: d}
	}
	for range 2000 {
		c := random()
		ts.exchange(direct(nil), c.msg(dhcpv6.MessageTypeSolicit, withIA(rng.Uint32())))
	}
	if n := ts.Status().LeasesInUse; n != 1 {
		t.Fatalf("plain solicits left %d leases", n)
	}
	noAddrs := 0
	for range 2000 {
		c := random()
		rep := ts.exchange(direct(nil), c.msg(dhcpv6.MessageTypeSolicit, withIA(rng.Uint32()), withIA(rng.Uint32()),
			withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})))
		if st, _ := topStatus(rep); st == iana.StatusNoAddrsAvail {
			noAddrs++
		}
	}
	st := ts.Status()
	if st.LeasesInUse != 16 || noAddrs < 2000-16 {
		t.Fatalf("leases %d (pool 16), NoAddrsAvail %d", st.LeasesInUse, noAddrs)
	}
	rep := ts.exchange(direct(old.mac), old.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, oldAddr)))
	if got := leased(t, rep, 1); got != oldAddr {
		t.Fatalf("existing client renewed to %s", got)
	}
}

func TestMaxLeases(t *testing.T) {
	cfg := statefulCfg()
	cfg.Pools = []config.DHCPv6Pool{{Start: netip.MustParseAddr("2001:db8:0:2::"), End: netip.MustParseAddr("2001:db8:0:2:ffff:ffff:ffff:ffff")}}
	ts := newTestServer(t, cfg, WithMaxLeases(100))
	if ts.Status().PoolSize != ^uint64(0) {
		t.Fatalf("pool size %d", ts.Status().PoolSize)
	}
	var first *client
	var firstAddr netip.Addr
	for i := range 300 {
		c := uuidClient(byte(i))
		c.duid.(*dhcpv6.DUIDUUID).UUID[14] = byte(i >> 8)
		rep := ts.exchange(direct(nil), c.msg(dhcpv6.MessageTypeSolicit, withIA(1),
			withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})))
		if i == 0 {
			first, firstAddr = c, leased(t, rep, 1)
		}
	}
	if n := ts.Status().LeasesInUse; n != 100 {
		t.Fatalf("%d leases, bound 100", n)
	}
	rep := ts.exchange(direct(nil), first.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, firstAddr)))
	if leased(t, rep, 1) != firstAddr {
		t.Fatal("renew at the bound")
	}
}

// TestDeterministicAllocation: two servers that saw the same exchanges give
// the same addresses, which is what lets an HA Backup take over.
func TestDeterministicAllocation(t *testing.T) {
	a := newTestServer(t, statefulCfg())
	b := newTestServer(t, statefulCfg())
	for i := range byte(40) {
		c := uuidClient(i)
		x, y := a.lease(c, direct(c.mac)), b.lease(c, direct(c.mac))
		if x != y {
			t.Fatalf("client %d: %s vs %s", i, x, y)
		}
	}
}

func TestPassiveLearns(t *testing.T) {
	active := newTestServer(t, statefulCfg())
	backup := newTestServer(t, statefulCfg(), WithPassive())
	if backup.Status().Active {
		t.Fatal("passive server says active")
	}
	both := func(c *client, typ dhcpv6.MessageType, opts ...msgOpt) *dhcpv6.Message {
		m := c.msg(typ, opts...)
		rep := active.exchange(direct(c.mac), m)
		backup.exchange(direct(c.mac), m)
		return rep
	}
	c1, c2, c3 := uuidClient(1), uuidClient(2), uuidClient(3)
	a1 := leased(t, both(c1, dhcpv6.MessageTypeSolicit, withIA(1)), 1)
	both(c1, dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1, a1))
	a2 := leased(t, both(c2, dhcpv6.MessageTypeSolicit, withIA(1)), 1)
	both(c2, dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1, a2))
	both(c2, dhcpv6.MessageTypeRelease, withServerID(serverDUID), withIA(1, a2))
	leased(t, both(c3, dhcpv6.MessageTypeSolicit, withIA(1), withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})), 1)
	if got, want := leaseAddrs(backup.Leases()), leaseAddrs(active.Leases()); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("backup learned %v, active has %v", got, want)
	}
	// The backup takes over: c1 renews and keeps its address.
	backup.SetActive(true)
	rep := backup.exchange(direct(c1.mac), c1.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, a1)))
	if leased(t, rep, 1) != a1 {
		t.Fatal("renew after takeover")
	}
}

func TestPassiveSendsNothing(t *testing.T) {
	ts := newTestServer(t, statelessCfg(), WithPassive())
	c := uuidClient(1)
	var sent []netip.AddrPort
	conn := &recordConn{sent: &sent}
	a, _, ok := ts.send(direct(c.mac), c.msg(dhcpv6.MessageTypeInformationRequest).ToBytes())
	if !ok {
		t.Fatal("no answer computed")
	}
	ts.flush(conn, []answer{a})
	if len(sent) != 0 || ts.Status().Suppressed != 1 {
		t.Fatalf("passive server sent %v", sent)
	}
	ts.SetActive(true)
	ts.flush(conn, []answer{a})
	if len(sent) != 1 || ts.Status().Sent["reply"] != 1 {
		t.Fatalf("active server sent %v", sent)
	}
}

type recordConn struct{ sent *[]netip.AddrPort }

func (recordConn) ReadFrom([]byte) (int, Meta, error) { select {} }
func (r recordConn) WriteTo(_ []byte, dst netip.AddrPort) error {
	*r.sent = append(*r.sent, dst)
	return nil
}
func (recordConn) Close() error { return nil }

func TestStatusJSON(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	ts.lease(c, direct(c.mac))
	ts.send(direct(nil), []byte{1})
	b, err := json.Marshal(ts.Status())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"received":{"request":1,"solicit":1}`, `"dropped":{"malformed":1}`, `"leases_in_use":1`,
		`"pool_size":4096`, `"server_duid":"00:03:00:01:02:00:00:00:00:01"`, `"mode":"stateful"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status JSON lacks %s:\n%s", want, b)
		}
	}
	if s := DropReason(numDropReasons).String(); s != "unknown" {
		t.Errorf("out-of-range drop reason spelled %q", s)
	}
	for _, r := range DropReasons() {
		if s := r.String(); s == "" || strings.ToLower(s) != s || strings.Contains(s, " ") {
			t.Errorf("drop reason %d spelled %q", r, s)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*config.DHCPv6)
		want string
	}{
		{"mode", func(c *config.DHCPv6) { c.Mode = "slaac" }, "mode"},
		{"overlap", func(c *config.DHCPv6) {
			c.Pools = append(c.Pools, config.DHCPv6Pool{Start: netip.MustParseAddr("2001:db8:0:2::1800"), End: netip.MustParseAddr("2001:db8:0:2::2000")})
		}, "overlaps"},
		{"ipv4 pool", func(c *config.DHCPv6) {
			c.Pools = []config.DHCPv6Pool{{Start: netip.MustParseAddr("10.0.0.1"), End: netip.MustParseAddr("10.0.0.2")}}
		}, "not IPv6"},
		{"reserved twice", func(c *config.DHCPv6) { c.Hosts[1].Address = c.Hosts[0].Address }, "reserved twice"},
		{"no valid lifetime", func(c *config.DHCPv6) { c.ValidLifetime = 0 }, "valid lifetime"},
		{"nothing to give", func(c *config.DHCPv6) { c.Pools, c.Hosts = nil, nil }, "pool"},
	} {
		cfg := statefulCfg()
		tt.mod(&cfg)
		if _, err := NewServer("eth1", cfg, WithDUID(serverDUID)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one with %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewServer("../x", statelessCfg()); err == nil {
		t.Error("interface name with a slash accepted")
	}
}

// TestStoreFailure: an answer that depends on a lease change is not sent
// when the change cannot be made durable; the others are.
func TestStoreFailure(t *testing.T) {
	fsys := newMemFS()
	clock := newClock()
	s, err := NewServer("eth1", statefulCfg(), WithClock(clock), WithDUID(serverDUID), WithStateDir("/state"), withFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	fsys.crashAt = fsys.ops + 1 // the disk fails from now on
	c := uuidClient(1)
	rc := withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	s.mu.Lock()
	commit, ok1 := s.handle(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(1), rc).ToBytes(), clock.Now())
	info, ok2 := s.handle(direct(c.mac), c.msg(dhcpv6.MessageTypeInformationRequest).ToBytes(), clock.Now())
	s.mu.Unlock()
	if !ok1 || !ok2 || !commit.commit || info.commit {
		t.Fatalf("answers %v %v, commit flags %v %v", ok1, ok2, commit.commit, info.commit)
	}
	var sent []netip.AddrPort
	s.flush(recordConn{sent: &sent}, []answer{commit, info})
	if st := s.Status(); len(sent) != 1 || st.Dropped[DropStoreFailed] != 1 || st.Sent["reply"] != 1 {
		t.Fatalf("sent %v, status %+v", sent, st)
	}
}
