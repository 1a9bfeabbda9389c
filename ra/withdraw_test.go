package ra

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
)

func TestTrackerWithdrawal(t *testing.T) {
	tr := newTracker()
	p := item{Kind: kindPrefix, Key: "2001:db8::/64", OnLink: true, Autonomous: true, Lifetime: 86400 * time.Second}
	r := item{Kind: kindRoute, Key: "2001:db8:ff::/48", Preference: int(ndp.High), Lifetime: 1800 * time.Second}
	if !tr.observe(t0, []item{p, r}) {
		t.Fatal("first observe reported no change")
	}
	// Only a lifetime changes: recorded, but no state-file write.
	p2 := p
	p2.Lifetime = 86399 * time.Second
	if tr.observe(t0.Add(time.Second), []item{p2, r}) {
		t.Error("a decremented lifetime counted as a change")
	}
	// The route goes: withdrawn for its lifetime; the prefix: for 2h.
	if !tr.observe(t0.Add(time.Minute), nil) {
		t.Fatal("removal not a change")
	}
	ws, _ := tr.active(t0.Add(time.Minute))
	if len(ws) != 2 {
		t.Fatalf("withdrawing %v, want 2 items", ws)
	}
	ws, changed := tr.active(t0.Add(31 * time.Minute))
	if !changed || len(ws) != 1 || ws[0].Kind != kindPrefix {
		t.Fatalf("after 30m withdrawing %v (changed %v), want the prefix only", ws, changed)
	}
	// Advertised again: no longer withdrawn.
	tr.observe(t0.Add(32*time.Minute), []item{p})
	if ws, _ := tr.active(t0.Add(32 * time.Minute)); len(ws) != 0 {
		t.Fatalf("re-advertised prefix still withdrawn: %v", ws)
	}
	tr.observe(t0.Add(33*time.Minute), nil)
	if ws, _ := tr.active(t0.Add(33*time.Minute + maxWithdraw)); len(ws) != 0 {
		t.Fatalf("withdrawal not bounded by %s: %v", maxWithdraw, ws)
	}
}

func TestAppendWithdrawn(t *testing.T) {
	ws := []item{
		{Kind: kindPrefix, Key: "2001:db8::/64", OnLink: true, Autonomous: true},
		{Kind: kindRoute, Key: "2001:db8:ff::/48", Preference: int(ndp.Low)},
		{Kind: kindRDNSS, Key: "2001:db8::53"},
		{Kind: kindRDNSS, Key: "2001:db8::54"},
		{Kind: kindDNSSL, Key: "example.org"},
		{Kind: kindPREF64, Key: "64:ff9b::/96"},
		{Kind: kindPrefix, Key: "garbage"},      // from a damaged state file
		{Kind: kindPREF64, Key: "64:ff9b::/80"}, // not a PREF64 length
		{Kind: "bogus", Key: "x"},
	}
	got := appendWithdrawn(nil, ws)
	want := []ndp.Option{
		&ndp.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true, Prefix: netip.MustParseAddr("2001:db8::")},
		&ndp.RouteInformation{PrefixLength: 48, Preference: ndp.Low, Prefix: netip.MustParseAddr("2001:db8:ff::")},
		&ndp.PREF64{Prefix: netip.MustParsePrefix("64:ff9b::/96")},
		&ndp.RecursiveDNSServer{Servers: []netip.Addr{netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("2001:db8::54")}},
		&ndp.DNSSearchList{DomainNames: []string{"example.org"}},
	}
	if diff := cmp.Diff(want, got, addrCmp); diff != "" {
		t.Errorf("withdrawn options (-want +got):\n%s", diff)
	}
	if _, err := ndp.MarshalMessage(&ndp.RouterAdvertisement{Options: got}); err != nil {
		t.Errorf("withdrawn options do not marshal: %v", err)
	}
}

func TestStateFile(t *testing.T) {
	f := stateFile(filepath.Join(t.TempDir(), "sub", "ra-eth1.json"))
	tr, err := f.load()
	if err != nil || len(tr.Advertised) != 0 {
		t.Fatalf("missing file: %v, %v", tr, err)
	}
	tr.observe(t0, []item{{Kind: kindRoute, Key: "2001:db8:ff::/48", Lifetime: time.Hour}})
	tr.observe(t0, nil)
	cfg := config.Advertise{Prefixes: []config.Prefix{{Prefix: netip.MustParsePrefix("2001:db8::/64"),
		ValidLifetime: time.Hour, PreferredLifetime: time.Minute, DecrementLifetimes: true}}}
	tr.deadlines(t0, cfg, LinkState{})
	if err := f.save(tr); err != nil {
		t.Fatal(err)
	}
	back, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tr, back, addrCmp); diff != "" {
		t.Errorf("state round trip (-saved +loaded):\n%s", diff)
	}
	// A damaged file is an error and an empty tracker, not a crash.
	if err := writeFile(string(f), "{not json"); err != nil {
		t.Fatal(err)
	}
	if tr, err := f.load(); err == nil || len(tr.Withdrawn) != 0 {
		t.Errorf("damaged file: %v, %v", tr, err)
	}
	if err := writeFile(string(f), `{"version": 9}`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.load(); err == nil {
		t.Error("unknown version accepted")
	}
}

func TestDecrementingLifetimes(t *testing.T) {
	tr := newTracker()
	cfg := config.Advertise{RouterLifetime: 1800 * time.Second, Prefixes: []config.Prefix{
		{Prefix: netip.MustParsePrefix("2001:db8::/64"), ValidLifetime: time.Hour, PreferredLifetime: 30 * time.Minute, DecrementLifetimes: true},
		{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), ValidLifetime: time.Hour, PreferredLifetime: 30 * time.Minute},
	}}
	tr.deadlines(t0, cfg, LinkState{})
	at := func(d time.Duration) (*ndp.PrefixInformation, *ndp.PrefixInformation) {
		now := t0.Add(d)
		if tr.deadlines(now, cfg, LinkState{}) {
			t.Fatalf("deadlines changed at +%s", d)
		}
		m, err := (&advert{cfg: cfg, now: now, expires: tr.Expires}).build()
		if err != nil {
			t.Fatal(err)
		}
		return m.Options[0].(*ndp.PrefixInformation), m.Options[1].(*ndp.PrefixInformation)
	}
	dec, fixed := at(10*time.Minute + 500*time.Millisecond)
	if dec.ValidLifetime != 50*time.Minute-time.Second || dec.PreferredLifetime != 20*time.Minute-time.Second {
		t.Errorf("after 10m0.5s: valid %s preferred %s, want 49m59s and 19m59s", dec.ValidLifetime, dec.PreferredLifetime)
	}
	if fixed.ValidLifetime != time.Hour {
		t.Errorf("non-decrementing prefix at %s", fixed.ValidLifetime)
	}
	dec, _ = at(2 * time.Hour)
	if dec.ValidLifetime != 0 || dec.PreferredLifetime != 0 {
		t.Errorf("after 2h: %s/%s, want 0/0", dec.ValidLifetime, dec.PreferredLifetime)
	}
	// New configured lifetimes restart the countdown.
	cfg.Prefixes[0].ValidLifetime = 2 * time.Hour
	if !tr.deadlines(t0.Add(3*time.Hour), cfg, LinkState{}) {
		t.Error("changed lifetime did not restart the deadline")
	}
}

// Deadlines (a delegated prefix's lease) cap the configured lifetimes and
// count down; the fingerprint (no time) ignores them; a "::/64" expansion of
// the same prefix does not override the capped one.
func TestLifetimeDeadlines(t *testing.T) {
	p := netip.MustParsePrefix("2001:db8:100:2::/64")
	cfg := config.Advertise{RouterLifetime: 1800 * time.Second, Prefixes: []config.Prefix{
		{Prefix: netip.MustParsePrefix("::/64"), OnLink: true, Autonomous: true, ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second},
		{Prefix: p, OnLink: true, Autonomous: true, ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
			ValidUntil: t0.Add(2 * time.Hour), PreferredUntil: t0.Add(time.Hour)},
		// A stale prefix: preferred 0, valid counting down.
		{Prefix: netip.MustParsePrefix("2001:db8:200:2::/64"), OnLink: true, Autonomous: true, ValidLifetime: 86400 * time.Second,
			ValidUntil: t0.Add(30 * time.Minute)},
	}}
	st := LinkState{Global: []netip.Prefix{netip.MustParsePrefix("2001:db8:100:2::1/64"), netip.MustParsePrefix("2001:db8:200:2::1/64")}}
	pios := func(now time.Time) map[netip.Prefix][2]time.Duration {
		m, err := (&advert{cfg: cfg, st: st, now: now}).build()
		if err != nil {
			t.Fatal(err)
		}
		out := map[netip.Prefix][2]time.Duration{}
		for _, o := range m.Options {
			if pi, ok := o.(*ndp.PrefixInformation); ok {
				q := netip.PrefixFrom(pi.Prefix, int(pi.PrefixLength))
				if _, dup := out[q]; dup {
					t.Errorf("%s advertised twice", q)
				}
				out[q] = [2]time.Duration{pi.PreferredLifetime, pi.ValidLifetime}
			}
		}
		return out
	}
	stale := netip.MustParsePrefix("2001:db8:200:2::/64")
	for _, tt := range []struct {
		at         time.Duration
		cur, stale [2]time.Duration // preferred, valid
	}{
		{0, [2]time.Duration{time.Hour, 2 * time.Hour}, [2]time.Duration{0, 30 * time.Minute}},
		{10*time.Minute + 500*time.Millisecond, [2]time.Duration{50*time.Minute - time.Second, 110*time.Minute - time.Second}, [2]time.Duration{0, 20*time.Minute - time.Second}},
		{90 * time.Minute, [2]time.Duration{0, 30 * time.Minute}, [2]time.Duration{0, 0}},
		{3 * time.Hour, [2]time.Duration{0, 0}, [2]time.Duration{0, 0}},
	} {
		got := pios(t0.Add(tt.at))
		want := map[netip.Prefix][2]time.Duration{p: tt.cur, stale: tt.stale}
		if diff := cmp.Diff(want, got, addrCmp); diff != "" {
			t.Errorf("at +%s (-want +got):\n%s", tt.at, diff)
		}
	}
	// Lifetimes shorter than the deadlines are not raised.
	cfg.Prefixes[1].ValidLifetime, cfg.Prefixes[1].PreferredLifetime = 600*time.Second, 300*time.Second
	if got := pios(t0)[p]; got != [2]time.Duration{300 * time.Second, 600 * time.Second} {
		t.Errorf("short configured lifetimes under long deadlines: %v", got)
	}
	// Without a time (the fingerprint), the configured lifetimes.
	m, err := (&advert{cfg: cfg, st: st}).build()
	if err != nil {
		t.Fatal(err)
	}
	if pi := m.Options[0].(*ndp.PrefixInformation); pi.ValidLifetime != 600*time.Second {
		t.Errorf("without a time: valid %s, want the configured 600s", pi.ValidLifetime)
	}
}

func writeFile(name, s string) error { return os.WriteFile(name, []byte(s), 0o600) }

func TestSplit(t *testing.T) {
	m, err := buildRA(fullConfig(), LinkState{MAC: testMAC}, false)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := split(m, 1500)
	if len(whole) != 1 {
		t.Fatalf("full config split into %d RAs at MTU 1500, want 1", len(whole))
	}
	parts, err := split(m, ipv6HeaderLen+raHeaderLen+8+40)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 3 {
		t.Errorf("%d parts at a tiny MTU, want several", len(parts))
	}
	if _, err := split(m, ipv6HeaderLen+raHeaderLen+8+16); err == nil {
		t.Error("an option larger than the MTU was accepted")
	}
}
