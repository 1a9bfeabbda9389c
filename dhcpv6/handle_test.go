package dhcpv6

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vrouter/vrouter/config"
)

// TestDiscardRules: RFC 8415 §16 (identifiers), §16.12 (IA in an
// Information-request), §18.4 (unicast) and message types a server does not
// take.
func TestDiscardRules(t *testing.T) {
	unicast := Meta{Src: netip.AddrPortFrom(clientLL, ClientPort), Dst: netip.MustParseAddr("fe80::1"), IfIndex: 2}
	type want struct {
		drop   DropReason
		status iana.StatusCode // of a Reply when not dropped
	}
	tests := []struct {
		name string
		typ  dhcpv6.MessageType
		opts []msgOpt
		meta *Meta
		want want
	}{
		{"solicit without client id", dhcpv6.MessageTypeSolicit, []msgOpt{withoutClientID, withIA(1)}, nil, want{drop: DropNoClientID}},
		{"solicit with server id", dhcpv6.MessageTypeSolicit, []msgOpt{withServerID(serverDUID), withIA(1)}, nil, want{drop: DropUnexpectedServerID}},
		{"solicit by unicast", dhcpv6.MessageTypeSolicit, []msgOpt{withIA(1)}, &unicast, want{drop: DropUnicast}},
		{"request without server id", dhcpv6.MessageTypeRequest, []msgOpt{withIA(1)}, nil, want{drop: DropNoServerID}},
		{"request with foreign server id", dhcpv6.MessageTypeRequest, []msgOpt{withServerID(otherDUID), withIA(1)}, nil, want{drop: DropServerIDMismatch}},
		{"request without client id", dhcpv6.MessageTypeRequest, []msgOpt{withoutClientID, withServerID(serverDUID), withIA(1)}, nil, want{drop: DropNoClientID}},
		{"request by unicast", dhcpv6.MessageTypeRequest, []msgOpt{withServerID(serverDUID), withIA(1)}, &unicast, want{drop: 255, status: iana.StatusUseMulticast}},
		{"renew without server id", dhcpv6.MessageTypeRenew, []msgOpt{withIA(1)}, nil, want{drop: DropNoServerID}},
		{"renew with foreign server id", dhcpv6.MessageTypeRenew, []msgOpt{withServerID(otherDUID), withIA(1)}, nil, want{drop: DropServerIDMismatch}},
		{"renew by unicast", dhcpv6.MessageTypeRenew, []msgOpt{withServerID(serverDUID), withIA(1)}, &unicast, want{drop: 255, status: iana.StatusUseMulticast}},
		{"rebind with server id", dhcpv6.MessageTypeRebind, []msgOpt{withServerID(serverDUID), withIA(1)}, nil, want{drop: DropUnexpectedServerID}},
		{"rebind without client id", dhcpv6.MessageTypeRebind, []msgOpt{withoutClientID, withIA(1)}, nil, want{drop: DropNoClientID}},
		{"rebind by unicast", dhcpv6.MessageTypeRebind, []msgOpt{withIA(1)}, &unicast, want{drop: DropUnicast}},
		{"confirm with server id", dhcpv6.MessageTypeConfirm, []msgOpt{withServerID(serverDUID), withIA(1, netip.MustParseAddr("2001:db8:0:2::1000"))}, nil, want{drop: DropUnexpectedServerID}},
		{"confirm without client id", dhcpv6.MessageTypeConfirm, []msgOpt{withoutClientID, withIA(1, netip.MustParseAddr("2001:db8:0:2::1000"))}, nil, want{drop: DropNoClientID}},
		{"confirm without addresses", dhcpv6.MessageTypeConfirm, []msgOpt{withIA(1)}, nil, want{drop: DropConfirmNoAddresses}},
		{"confirm by unicast", dhcpv6.MessageTypeConfirm, []msgOpt{withIA(1, netip.MustParseAddr("2001:db8:0:2::1000"))}, &unicast, want{drop: DropUnicast}},
		{"release without server id", dhcpv6.MessageTypeRelease, []msgOpt{withIA(1)}, nil, want{drop: DropNoServerID}},
		{"release with foreign server id", dhcpv6.MessageTypeRelease, []msgOpt{withServerID(otherDUID), withIA(1)}, nil, want{drop: DropServerIDMismatch}},
		{"release by unicast", dhcpv6.MessageTypeRelease, []msgOpt{withServerID(serverDUID), withIA(1)}, &unicast, want{drop: 255, status: iana.StatusUseMulticast}},
		{"decline without server id", dhcpv6.MessageTypeDecline, []msgOpt{withIA(1)}, nil, want{drop: DropNoServerID}},
		{"decline with foreign server id", dhcpv6.MessageTypeDecline, []msgOpt{withServerID(otherDUID), withIA(1)}, nil, want{drop: DropServerIDMismatch}},
		{"decline by unicast", dhcpv6.MessageTypeDecline, []msgOpt{withServerID(serverDUID), withIA(1)}, &unicast, want{drop: 255, status: iana.StatusUseMulticast}},
		{"information-request with ia_na", dhcpv6.MessageTypeInformationRequest, []msgOpt{withIA(1)}, nil, want{drop: DropIAInInformationRequest}},
		{"information-request with ia_pd", dhcpv6.MessageTypeInformationRequest, []msgOpt{withOption(&dhcpv6.OptIAPD{})}, nil, want{drop: DropIAInInformationRequest}},
		{"information-request with ia_ta", dhcpv6.MessageTypeInformationRequest, []msgOpt{withOption(&dhcpv6.OptIATA{})}, nil, want{drop: DropIAInInformationRequest}},
		{"information-request with foreign server id", dhcpv6.MessageTypeInformationRequest, []msgOpt{withServerID(otherDUID)}, nil, want{drop: DropServerIDMismatch}},
		{"information-request by unicast", dhcpv6.MessageTypeInformationRequest, nil, &unicast, want{drop: DropUnicast}},
		{"information-request with our server id", dhcpv6.MessageTypeInformationRequest, []msgOpt{withServerID(serverDUID)}, nil, want{drop: 255, status: 255}},
		{"information-request without client id", dhcpv6.MessageTypeInformationRequest, []msgOpt{withoutClientID}, nil, want{drop: 255, status: 255}},
		{"advertise", dhcpv6.MessageTypeAdvertise, []msgOpt{withServerID(serverDUID)}, nil, want{drop: DropNotClientMessage}},
		{"reply", dhcpv6.MessageTypeReply, []msgOpt{withServerID(serverDUID)}, nil, want{drop: DropNotClientMessage}},
		{"reconfigure", dhcpv6.MessageTypeReconfigure, []msgOpt{withServerID(serverDUID)}, nil, want{drop: DropNotClientMessage}},
		{"two client ids", dhcpv6.MessageTypeSolicit, []msgOpt{withOption(dhcpv6.OptClientID(otherDUID))}, nil, want{drop: DropMalformed}},
		{"two server ids", dhcpv6.MessageTypeRequest, []msgOpt{withServerID(serverDUID), withServerID(serverDUID)}, nil, want{drop: DropMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, statefulCfg())
			c := uuidClient(1)
			m := direct(c.mac)
			if tt.meta != nil {
				m = *tt.meta
			}
			a, reason, ok := ts.send(m, c.msg(tt.typ, tt.opts...).ToBytes())
			if tt.want.drop != 255 {
				if ok {
					t.Fatalf("answered, want drop %s", tt.want.drop)
				}
				if reason != tt.want.drop {
					t.Fatalf("dropped as %s, want %s", reason, tt.want.drop)
				}
				return
			}
			if !ok {
				t.Fatalf("dropped as %s, want an answer", reason)
			}
			rep, err := dhcpv6.MessageFromBytes(a.b)
			if err != nil {
				t.Fatal(err)
			}
			if rep.MessageType != dhcpv6.MessageTypeReply {
				t.Fatalf("answer %s, want reply", rep.MessageType)
			}
			code, has := topStatus(rep)
			if tt.want.status == 255 {
				if has {
					t.Fatalf("status %s, want none", code)
				}
				return
			}
			if !has || code != tt.want.status {
				t.Fatalf("status %v (present %v), want %s", code, has, tt.want.status)
			}
			if tt.want.status == iana.StatusUseMulticast {
				// §18.4: Server ID, Client ID, status, nothing else; no lease.
				if len(rep.Options.Options) != 3 || rep.Options.ServerID() == nil || rep.Options.ClientID() == nil {
					t.Fatalf("UseMulticast reply carries more than ids and status:\n%s", rep.Summary())
				}
				if st := ts.Status(); st.LeasesInUse != 0 {
					t.Fatalf("unicast request leased %d addresses", st.LeasesInUse)
				}
			}
		})
	}
}

func TestSolicitAdvertise(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	adv := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(7)))
	if adv.MessageType != dhcpv6.MessageTypeAdvertise {
		t.Fatalf("got %s", adv.MessageType)
	}
	if !bytes.Equal(adv.Options.ServerID().ToBytes(), serverDUID.ToBytes()) || !adv.Options.ClientID().Equal(c.duid) {
		t.Fatal("server or client id wrong")
	}
	if p := adv.Options.Preference(); p != DefaultPreference {
		t.Fatalf("preference %d", p)
	}
	a := leased(t, adv, 7)
	if !ts.pol.inPool(a) {
		t.Fatalf("%s not in the pool", a)
	}
	checkLifetimes(t, adv, 7)
	checkConfig(t, adv)
	if adv.GetOneOption(dhcpv6.OptionInformationRefreshTime) != nil {
		t.Fatal("information refresh time outside a reply to information-request (§21.23)")
	}
	// An Advertise commits nothing; the same Solicit gets the same address.
	if st := ts.Status(); st.LeasesInUse != 0 {
		t.Fatalf("advertise committed %d leases", st.LeasesInUse)
	}
	again := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(7)))
	if b := leased(t, again, 7); b != a {
		t.Fatalf("second advertise %s, first %s", b, a)
	}
	if adv.TransactionID != (dhcpv6.TransactionID{0xab, 1, 1}) {
		t.Fatalf("transaction id %v not echoed", adv.TransactionID)
	}
}

func checkLifetimes(t *testing.T, rep *dhcpv6.Message, id uint32) {
	t.Helper()
	for _, ia := range rep.Options.IANA() {
		if iaid(ia.IaId) != id {
			continue
		}
		for _, a := range ia.Options.Addresses() {
			if a.ValidLifetime == 0 {
				continue
			}
			if !(ia.T1 <= ia.T2 && ia.T2 <= a.PreferredLifetime && a.PreferredLifetime <= a.ValidLifetime) {
				t.Fatalf("T1 %v T2 %v preferred %v valid %v: not T1 <= T2 <= preferred <= valid", ia.T1, ia.T2, a.PreferredLifetime, a.ValidLifetime)
			}
			if a.ValidLifetime != 7200*time.Second || a.PreferredLifetime != 3600*time.Second || ia.T1 != 1800*time.Second || ia.T2 != 2880*time.Second {
				t.Fatalf("lifetimes %v %v %v %v differ from the config", ia.T1, ia.T2, a.PreferredLifetime, a.ValidLifetime)
			}
			return
		}
	}
	t.Fatalf("no address in IA %d", id)
}

func checkConfig(t *testing.T, rep *dhcpv6.Message) {
	t.Helper()
	dns := rep.Options.DNS()
	if len(dns) != 1 || !dns[0].Equal(dns1.AsSlice()) {
		t.Fatalf("dns servers %v", dns)
	}
	dl := rep.Options.DomainSearchList()
	if dl == nil || len(dl.Labels) != 1 || dl.Labels[0] != "tenant.example" {
		t.Fatalf("domain list %v", dl)
	}
}

func TestLifetimeOrder(t *testing.T) {
	// §21.4: T1 <= T2 <= preferred <= valid, whatever the config says.
	cfg := statefulCfg()
	cfg.T1, cfg.T2, cfg.PreferredLifetime, cfg.ValidLifetime = 5000*time.Second, 4000*time.Second, 9000*time.Second, 3000*time.Second
	p, err := compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(p.t1 <= p.t2 && p.t2 <= p.preferred && p.preferred <= p.valid) || p.valid != 3000*time.Second {
		t.Fatalf("T1 %v T2 %v preferred %v valid %v", p.t1, p.t2, p.preferred, p.valid)
	}
	cfg.ValidLifetime = 1 << 62 // "infinity"
	cfg.PreferredLifetime = 1 << 62
	if p, _ = compile(cfg, nil); p.valid != maxLifetime {
		t.Fatalf("valid %v, want 0xffffffff s", p.valid)
	}
}

func TestRequestCommitsAndPersists(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	a := ts.lease(c, direct(c.mac))
	if got := leaseAddrs(ts.Leases()); len(got) != 1 || got[0] != a {
		t.Fatalf("leases %v, want [%s]", got, a)
	}
	// A restart finds it, and the client keeps its address.
	ts2 := reopen(t, ts, statefulCfg())
	if got := leaseAddrs(ts2.Leases()); len(got) != 1 || got[0] != a {
		t.Fatalf("after restart leases %v, want [%s]", got, a)
	}
	rep := ts2.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, a)))
	if got := leased(t, rep, 1); got != a {
		t.Fatalf("renew after restart gave %s, want %s", got, a)
	}
}

// reopen starts a new server on ts's state directory at ts's time.
func reopen(t *testing.T, ts *testServer, cfg config.DHCPv6) *testServer {
	t.Helper()
	ts.mu.Lock()
	ts.journal.close()
	ts.mu.Unlock()
	s, err := NewServer("eth1", cfg, WithClock(ts.clock), WithDUID(serverDUID), WithStateDir(ts.dir))
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s, t: t, clock: ts.clock, dir: ts.dir}
}

func TestRapidCommit(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("config ", on), func(t *testing.T) {
			cfg := statefulCfg()
			cfg.RapidCommit = on
			ts := newTestServer(t, cfg)
			c := uuidClient(1)
			rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(1),
				withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})))
			wantType, wantLeases := dhcpv6.MessageTypeReply, 1
			if !on {
				wantType, wantLeases = dhcpv6.MessageTypeAdvertise, 0
			}
			if rep.MessageType != wantType {
				t.Fatalf("got %s, want %s", rep.MessageType, wantType)
			}
			if (rep.GetOneOption(dhcpv6.OptionRapidCommit) != nil) != on {
				t.Fatal("rapid commit option presence wrong")
			}
			leased(t, rep, 1)
			if n := ts.Status().LeasesInUse; n != wantLeases {
				t.Fatalf("%d leases, want %d", n, wantLeases)
			}
		})
	}
}

func TestRenewRebindExtend(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	a := ts.lease(c, direct(c.mac))
	exp := ts.Leases()[0].Expires
	ts.clock.Advance(1800 * time.Second)
	rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, a)))
	if got := leased(t, rep, 1); got != a {
		t.Fatalf("renew gave %s", got)
	}
	checkLifetimes(t, rep, 1)
	if e := ts.Leases()[0].Expires; !e.Equal(exp.Add(1800 * time.Second)) {
		t.Fatalf("expiry %v, want %v", e, exp.Add(1800*time.Second))
	}
	ts.clock.Advance(2880 * time.Second)
	rep = ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeRebind, withIA(1, a)))
	if got := leased(t, rep, 1); got != a {
		t.Fatalf("rebind gave %s", got)
	}
}

func TestRenewUnknownBinding(t *testing.T) {
	in := netip.MustParseAddr("2001:db8:0:2::1234")
	offLink := netip.MustParseAddr("2001:db8:9::1")
	tests := []struct {
		name    string
		typ     dhcpv6.MessageType
		addr    netip.Addr
		drop    bool
		keep    bool            // the asked address is leased
		status  iana.StatusCode // IA status when nothing is leased (255: none)
		zeroOld bool
	}{
		// A binding the server lost (HA takeover): re-created.
		{"renew free pool address", dhcpv6.MessageTypeRenew, in, false, true, 255, false},
		{"rebind free pool address", dhcpv6.MessageTypeRebind, in, false, true, 255, false},
		// Not appropriate: lifetimes 0, and a new address in the same IA.
		{"renew off-link address", dhcpv6.MessageTypeRenew, offLink, false, false, 255, true},
		{"rebind off-link address", dhcpv6.MessageTypeRebind, offLink, false, false, 255, true},
		{"renew reserved address", dhcpv6.MessageTypeRenew, netip.MustParseAddr("2001:db8:0:2::33"), false, false, 255, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, statefulCfg())
			c := uuidClient(1)
			opts := []msgOpt{withIA(1, tt.addr)}
			if tt.typ == dhcpv6.MessageTypeRenew {
				opts = append(opts, withServerID(serverDUID))
			}
			rep := ts.exchange(direct(c.mac), c.msg(tt.typ, opts...))
			if rep == nil {
				t.Fatal("dropped")
			}
			got := addrsOf(rep, 1)
			if tt.keep {
				if got[tt.addr] == 0 {
					t.Fatalf("address %s not renewed: %v", tt.addr, got)
				}
				return
			}
			if v, ok := got[tt.addr]; !ok || v != 0 {
				t.Fatalf("address %s not withdrawn with lifetime 0: %v", tt.addr, got)
			}
			n := leased(t, rep, 1)
			if !ts.pol.inPool(n) {
				t.Fatalf("new address %s not in the pool", n)
			}
		})
	}
	t.Run("renew of an address leased to another client", func(t *testing.T) {
		ts := newTestServer(t, statefulCfg())
		owner := uuidClient(1)
		a := ts.lease(owner, direct(owner.mac))
		thief := uuidClient(2)
		rep := ts.exchange(direct(thief.mac), thief.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, a)))
		if v := addrsOf(rep, 1)[a]; v != 0 {
			t.Fatalf("other client's address renewed for %v", v)
		}
		if n := leased(t, rep, 1); n == a {
			t.Fatal("address given twice")
		}
	})
	t.Run("rebind that cannot be answered is discarded", func(t *testing.T) {
		cfg := statefulCfg()
		cfg.Pools = []config.DHCPv6Pool{{Start: in, End: in}}
		ts := newTestServer(t, cfg)
		owner := uuidClient(1)
		ts.lease(owner, direct(owner.mac))
		other := uuidClient(2)
		_, reason, ok := ts.send(direct(other.mac), other.msg(dhcpv6.MessageTypeRebind, withIA(1)).ToBytes())
		if ok || reason != DropRebindNoBinding {
			t.Fatalf("answered %v / reason %s", ok, reason)
		}
		rep := ts.exchange(direct(other.mac), other.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1)))
		if st, _ := iaStatus(rep, 1); st != iana.StatusNoBinding {
			t.Fatalf("renew without binding: status %s, want NoBinding", st)
		}
	})
}

func TestRelease(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	a := ts.lease(c, direct(c.mac))
	rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeRelease, withServerID(serverDUID), withIA(1, a), withIA(2, a)))
	if st, _ := topStatus(rep); st != iana.StatusSuccess {
		t.Fatalf("status %s", st)
	}
	if _, has := iaStatus(rep, 1); has {
		t.Fatal("released IA carries a status")
	}
	if st, _ := iaStatus(rep, 2); st != iana.StatusNoBinding {
		t.Fatalf("unknown IA: %s, want NoBinding", st)
	}
	if n := len(ts.Leases()); n != 0 {
		t.Fatalf("%d leases after release", n)
	}
	if n := len(reopen(t, ts, statefulCfg()).Leases()); n != 0 {
		t.Fatalf("%d leases after release and restart", n)
	}
}

func TestDeclineQuarantine(t *testing.T) {
	cfg := statefulCfg()
	cfg.Pools = []config.DHCPv6Pool{{Start: netip.MustParseAddr("2001:db8:0:2::1000"), End: netip.MustParseAddr("2001:db8:0:2::1001")}}
	ts := newTestServer(t, cfg, WithDeclineProbation(time.Hour))
	c := uuidClient(1)
	a := ts.lease(c, direct(c.mac))
	rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeDecline, withServerID(serverDUID), withIA(1, a)))
	if rep == nil || rep.MessageType != dhcpv6.MessageTypeReply {
		t.Fatal("no reply to decline")
	}
	if st, _ := topStatus(rep); st != iana.StatusSuccess {
		t.Fatalf("status %s", st)
	}
	if st := ts.Status(); st.DeclinedAddresses != 1 || st.LeasesInUse != 0 {
		t.Fatalf("status %+v", st)
	}
	// Nobody gets it during probation, not even after a restart; the
	// declining client gets the other address.
	ts = reopen(t, ts, cfg)
	for i := range byte(5) {
		o := uuidClient(10 + i)
		adv := ts.exchange(direct(o.mac), o.msg(dhcpv6.MessageTypeSolicit, withIA(1, a)))
		if got := addrsOf(adv, 1); got[a] != 0 {
			t.Fatalf("declined %s offered to another client", a)
		}
	}
	b := ts.lease(c, direct(c.mac))
	if b == a {
		t.Fatal("declined address given back")
	}
	ts.clock.Advance(time.Hour)
	o := uuidClient(20)
	if got := ts.lease(o, direct(o.mac)); got != a {
		t.Fatalf("after probation got %s, want the declined %s", got, a)
	}
}

func TestConfirm(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	for _, tt := range []struct {
		addrs []netip.Addr
		want  iana.StatusCode
	}{
		{[]netip.Addr{netip.MustParseAddr("2001:db8:0:2::1234")}, iana.StatusSuccess},
		{[]netip.Addr{netip.MustParseAddr("2001:db8:0:2::abcd:1")}, iana.StatusSuccess}, // on the link, outside the pool
		{[]netip.Addr{netip.MustParseAddr("2001:db8:0:2::1234"), netip.MustParseAddr("2001:db8:0:3::1")}, iana.StatusNotOnLink},
		{[]netip.Addr{netip.MustParseAddr("2001:db8:5::1")}, iana.StatusNotOnLink},
	} {
		rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeConfirm, withIA(1, tt.addrs...)))
		if st, _ := topStatus(rep); st != tt.want {
			t.Errorf("confirm %v: %s, want %s", tt.addrs, st, tt.want)
		}
	}
	// WithOnLink replaces the /64s of the pools.
	ts = newTestServer(t, statefulCfg(), WithOnLink([]netip.Prefix{netip.MustParsePrefix("2001:db8:0:3::/64")}))
	rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeConfirm, withIA(1, netip.MustParseAddr("2001:db8:0:3::1"))))
	if st, _ := topStatus(rep); st != iana.StatusSuccess {
		t.Errorf("with on-link override: %s", st)
	}
}

func TestInformationRequest(t *testing.T) {
	cfg := statelessCfg()
	cfg.Domains = []string{"tenant.example."} // absolute: the same name on the wire
	ts := newTestServer(t, cfg)
	c := uuidClient(1)
	rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeInformationRequest,
		withOption(dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList))))
	if rep.MessageType != dhcpv6.MessageTypeReply {
		t.Fatalf("got %s", rep.MessageType)
	}
	checkConfig(t, rep)
	if irt := rep.Options.InformationRefreshTime(0); irt != 3600*time.Second {
		t.Fatalf("information refresh time %v", irt)
	}
	if !rep.Options.ClientID().Equal(c.duid) || !bytes.Equal(rep.Options.ServerID().ToBytes(), serverDUID.ToBytes()) {
		t.Fatal("ids")
	}
	// Stateless: a Solicit gets NoAddrsAvail and nothing is leased.
	adv := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(1)))
	if st, _ := topStatus(adv); adv.MessageType != dhcpv6.MessageTypeAdvertise || st != iana.StatusNoAddrsAvail || len(adv.Options.IANA()) != 0 {
		t.Fatalf("stateless solicit answered:\n%s", adv.Summary())
	}
}

func TestOtherIAs(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	adv := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(1),
		withOption(&dhcpv6.OptIAPD{IaId: [4]byte{0, 0, 0, 5}}), withOption(&dhcpv6.OptIATA{IaId: [4]byte{0, 0, 0, 6}})))
	leased(t, adv, 1)
	pd := adv.Options.OneIAPD()
	if pd == nil || pd.Options.Status() == nil || pd.Options.Status().StatusCode != iana.StatusNoPrefixAvail {
		t.Fatalf("ia_pd not answered NoPrefixAvail:\n%s", adv.Summary())
	}
	ta := adv.Options.OneIATA()
	if ta == nil || ta.Options.Status() == nil || ta.Options.Status().StatusCode != iana.StatusNoAddrsAvail {
		t.Fatalf("ia_ta not answered NoAddrsAvail:\n%s", adv.Summary())
	}
}

func TestMultipleIAs(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	adv := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(1), withIA(2)))
	a1, a2 := leased(t, adv, 1), leased(t, adv, 2)
	if a1 == a2 {
		t.Fatal("two IAs offered the same address")
	}
	rep := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1, a1), withIA(2, a2)))
	if leased(t, rep, 1) != a1 || leased(t, rep, 2) != a2 {
		t.Fatal("request differs from advertise")
	}
	if n := ts.Status().LeasesInUse; n != 2 {
		t.Fatalf("%d leases", n)
	}
}

func TestReservations(t *testing.T) {
	reservedMAC := netip.MustParseAddr("2001:db8:0:2::33")
	reservedDUID := netip.MustParseAddr("2001:db8:0:2::44")
	mac33 := net.HardwareAddr{0xfa, 0x16, 0x3e, 0x33, 0x33, 0x33}
	llt := &dhcpv6.DUIDLLT{HWType: iana.HWTypeEthernet, Time: 12345, LinkLayerAddr: mac33}
	uuid := &dhcpv6.DUIDUUID{UUID: [16]byte{1, 2, 3}}
	en := &dhcpv6.DUIDEN{EnterpriseNumber: 9, EnterpriseIdentifier: []byte{1, 2, 3}}
	global := Meta{Src: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:0:2::99"), ClientPort), Dst: AllRelayAgentsAndServers, SrcMAC: mac33}
	tests := []struct {
		name  string
		duid  dhcpv6.DUID
		meta  Meta
		relay bool // through a relay with the RFC 6939 option carrying mac33
		want  netip.Addr
	}{
		{"by duid", &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{0xfa, 0x16, 0x3e, 0x44, 0x44, 0x44}}, direct(nil), false, reservedDUID},
		{"mac in duid-ll", &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: mac33}, direct(nil), false, reservedMAC},
		{"mac in duid-llt", llt, direct(nil), false, reservedMAC},
		{"duid-uuid, mac from the frame", uuid, direct(mac33), false, reservedMAC},
		{"duid-en, mac from the frame", en, direct(mac33), false, reservedMAC},
		{"duid-uuid, mac from rfc 6939 relay option", uuid, direct(nil), true, reservedMAC},
		{"duid-uuid, no mac known", uuid, direct(nil), false, netip.Addr{}},
		{"frame of a global source is not trusted", uuid, global, false, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, statefulCfg())
			c := &client{duid: tt.duid}
			sol := c.msg(dhcpv6.MessageTypeSolicit, withIA(1))
			var rep *dhcpv6.Message
			if tt.relay {
				rep = relayExchange(t, ts, sol, 0, mac33)
			} else {
				rep = ts.exchange(tt.meta, sol)
			}
			got := leased(t, rep, 1)
			if tt.want.IsValid() && got != tt.want {
				t.Fatalf("got %s, want the reservation %s", got, tt.want)
			}
			if !tt.want.IsValid() && (got == reservedMAC || got == reservedDUID || !ts.pol.inPool(got)) {
				t.Fatalf("got %s, want a pool address", got)
			}
		})
	}
	t.Run("reserved addresses are never given to others", func(t *testing.T) {
		ts := newTestServer(t, statefulCfg())
		for i := range byte(50) {
			c := uuidClient(i)
			adv := ts.exchange(direct(c.mac), c.msg(dhcpv6.MessageTypeSolicit, withIA(1, reservedMAC)))
			if got := leased(t, adv, 1); got == reservedMAC || got == reservedDUID {
				t.Fatalf("client %d got reserved %s", i, got)
			}
		}
	})
}

// relayExchange sends msg through `depth` relays (0 = one relay), the
// closest to the client adding the RFC 6939 option when mac is set, and
// returns the client message inside the Relay-reply, checking the chain.
func relayExchange(t *testing.T, ts *testServer, msg *dhcpv6.Message, depth int, mac net.HardwareAddr) *dhcpv6.Message {
	t.Helper()
	var d dhcpv6.DHCPv6 = msg
	for i := 0; i <= depth; i++ {
		r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward, HopCount: uint8(i),
			LinkAddr: net.ParseIP("2001:db8:0:2::1"), PeerAddr: net.ParseIP(fmt.Sprintf("fe80::%d", i+1))}
		r.AddOption(dhcpv6.OptInterfaceID([]byte(fmt.Sprintf("port-%d", i))))
		if i == 0 && mac != nil {
			r.AddOption(dhcpv6.OptClientLinkLayerAddress(iana.HWTypeEthernet, mac))
		}
		r.AddOption(dhcpv6.OptRelayMessage(d))
		d = r
	}
	relay := netip.MustParseAddr("2001:db8:0:2::fe")
	a, reason, ok := ts.send(Meta{Src: netip.AddrPortFrom(relay, ServerPort), Dst: netip.MustParseAddr("2001:db8:0:2::1")}, d.ToBytes())
	if !ok {
		t.Fatalf("relayed message dropped: %s", reason)
	}
	if a.dst != netip.AddrPortFrom(relay, ServerPort) {
		t.Fatalf("relay-reply sent to %s", a.dst)
	}
	out, err := dhcpv6.FromBytes(a.b)
	if err != nil {
		t.Fatal(err)
	}
	for i := depth; i >= 0; i-- {
		rr, ok := out.(*dhcpv6.RelayMessage)
		if !ok || rr.MessageType != dhcpv6.MessageTypeRelayReply {
			t.Fatalf("level %d: not a relay-reply: %v", i, out)
		}
		if rr.HopCount != uint8(i) || !rr.PeerAddr.Equal(net.ParseIP(fmt.Sprintf("fe80::%d", i+1))) || !rr.LinkAddr.Equal(net.ParseIP("2001:db8:0:2::1")) {
			t.Fatalf("level %d: hop count, link or peer address not copied: %s", i, rr.Summary())
		}
		if id := rr.Options.InterfaceID(); string(id) != fmt.Sprintf("port-%d", i) {
			t.Fatalf("level %d: interface-id %q not echoed", i, id)
		}
		out = rr.Options.RelayMessage()
	}
	m, ok := out.(*dhcpv6.Message)
	if !ok {
		t.Fatalf("innermost %T", out)
	}
	return m
}

func TestRelay(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	for depth := range 3 {
		rep := relayExchange(t, ts, c.msg(dhcpv6.MessageTypeSolicit, withIA(1)), depth, nil)
		if rep.MessageType != dhcpv6.MessageTypeAdvertise {
			t.Fatalf("depth %d: %s", depth, rep.MessageType)
		}
	}
	// A relayed Request is not "unicast" even though the relay unicasts it.
	a := leased(t, relayExchange(t, ts, c.msg(dhcpv6.MessageTypeSolicit, withIA(1)), 0, nil), 1)
	rep := relayExchange(t, ts, c.msg(dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1, a)), 0, nil)
	if leased(t, rep, 1) != a {
		t.Fatal("relayed request")
	}
	if st := ts.Status(); st.Relayed == 0 || st.Received["request"] != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestRelayDrops(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	wrap := func(d dhcpv6.DHCPv6, hop uint8, withMsg bool) *dhcpv6.RelayMessage {
		r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward, HopCount: hop,
			LinkAddr: net.ParseIP("2001:db8:0:2::1"), PeerAddr: net.ParseIP("fe80::1")}
		if withMsg {
			r.AddOption(dhcpv6.OptRelayMessage(d))
		}
		return r
	}
	deep := dhcpv6.DHCPv6(c.msg(dhcpv6.MessageTypeSolicit, withIA(1)))
	for i := range hopCountLimit + 2 {
		deep = wrap(deep, uint8(i), true)
	}
	twoMsgs := wrap(c.msg(dhcpv6.MessageTypeSolicit), 0, true)
	twoMsgs.AddOption(dhcpv6.OptRelayMessage(c.msg(dhcpv6.MessageTypeSolicit)))
	srv := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeReply}
	replyInside := wrap(srv, 0, true)
	relayReply := wrap(c.msg(dhcpv6.MessageTypeSolicit), 0, true)
	relayReply.MessageType = dhcpv6.MessageTypeRelayReply
	replyInRelay := wrap(relayReply, 1, true)
	tests := []struct {
		name string
		b    []byte
		want DropReason
	}{
		{"no relay message", wrap(nil, 0, false).ToBytes(), DropRelayTruncated},
		{"two relay messages", twoMsgs.ToBytes(), DropRelayTruncated},
		{"chain ends in a relay-reply", replyInRelay.ToBytes(), DropRelayTruncated},
		{"chain ends in a server message", replyInside.ToBytes(), DropNotClientMessage},
		{"too deep", deep.ToBytes(), DropRelayHopLimit},
		{"hop count above the limit", wrap(c.msg(dhcpv6.MessageTypeSolicit), hopCountLimit+1, true).ToBytes(), DropRelayHopLimit},
		{"relay-reply from outside", relayReply.ToBytes(), DropNotClientMessage},
		{"relay message cut short", wrap(c.msg(dhcpv6.MessageTypeSolicit), 0, true).ToBytes()[:60], DropMalformed},
		{"header only", []byte{12, 0}, DropMalformed},
		{"empty", nil, DropMalformed},
	}
	m := Meta{Src: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:0:2::fe"), ServerPort), Dst: netip.MustParseAddr("2001:db8:0:2::1")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reason, ok := ts.send(m, tt.b)
			if ok || reason != tt.want {
				t.Fatalf("answered %v, reason %s, want %s", ok, reason, tt.want)
			}
		})
	}
}

func TestRelaySourcePort(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward, LinkAddr: net.ParseIP("2001:db8:0:2::1"), PeerAddr: net.ParseIP("fe80::1")}
	r.AddOption(dhcpv6.OptRelayPort(0))
	r.AddOption(dhcpv6.OptRelayMessage(c.msg(dhcpv6.MessageTypeSolicit, withIA(1))))
	src := netip.AddrPortFrom(netip.MustParseAddr("2001:db8:0:2::fe"), 10547)
	a, _, ok := ts.send(Meta{Src: src, Dst: netip.MustParseAddr("2001:db8:0:2::1")}, r.ToBytes())
	if !ok || a.dst != src {
		t.Fatalf("answer to %s, want %s (RFC 8357)", a.dst, src)
	}
}

func TestAnswerAddress(t *testing.T) {
	ts := newTestServer(t, statelessCfg())
	c := uuidClient(1)
	m := direct(c.mac)
	m.Src = netip.AddrPortFrom(clientLL, 5000)
	a, _, ok := ts.send(m, c.msg(dhcpv6.MessageTypeInformationRequest).ToBytes())
	if !ok || a.dst != m.Src {
		t.Fatalf("answer to %s, want the client's source %s", a.dst, m.Src)
	}
}

// TestBoundedAnswers: however many IAs and addresses a message carries,
// the work and the answer are bounded; a relay chain whose echoed options
// would not fit in a datagram is dropped, not encoded with a wrapped
// length.
func TestBoundedAnswers(t *testing.T) {
	ts := newTestServer(t, statefulCfg())
	c := uuidClient(1)
	var opts []msgOpt
	for i := range 200 {
		var addrs []netip.Addr
		for j := range 20 {
			addrs = append(addrs, netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 9, 14: byte(i), 15: byte(j)}))
		}
		opts = append(opts, withIA(uint32(i), addrs...))
	}
	for _, typ := range []dhcpv6.MessageType{dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRebind} {
		rep := ts.exchange(direct(nil), c.msg(typ, opts...))
		if n := len(rep.Options.IANA()); n != maxIAsPerClient {
			t.Errorf("%s: %d IAs answered", typ, n)
		}
		for _, ia := range rep.Options.IANA() {
			if n := len(ia.Options.Addresses()); n > maxAddrsPerIA+1 {
				t.Errorf("%s: IA with %d addresses", typ, n)
			}
		}
	}
	for _, typ := range []dhcpv6.MessageType{dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline} {
		rep := ts.exchange(direct(nil), c.msg(typ, append(opts, withServerID(serverDUID))...))
		if n := len(rep.Options.IANA()); n > maxIAsPerClient {
			t.Errorf("%s: %d IAs answered", typ, n)
		}
	}

	build := func(idLen int) []byte {
		r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward, LinkAddr: net.ParseIP("2001:db8:0:2::1"), PeerAddr: net.ParseIP("fe80::1")}
		r.AddOption(dhcpv6.OptInterfaceID(make([]byte, idLen)))
		r.AddOption(dhcpv6.OptRelayMessage(c.msg(dhcpv6.MessageTypeInformationRequest)))
		return r.ToBytes()
	}
	small := len(build(0))
	b := build(maxAnswer - small - 10) // fits; the answer does not
	m := Meta{Src: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:0:2::fe"), ServerPort), Dst: netip.MustParseAddr("2001:db8:0:2::1")}
	if _, reason, ok := ts.send(m, b); ok || reason != DropAnswerTooLarge {
		t.Fatalf("oversized relay-reply: answered %v, reason %s", ok, reason)
	}
	if _, _, ok := ts.send(m, build(1000)); !ok {
		t.Fatal("relay with a 1000-byte interface-id not answered")
	}
}
