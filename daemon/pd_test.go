package daemon

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	insdhcp "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/dhcpv6/pdclient/pdtest"
)

const pdConfig = `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {length: 56}
  eth1:
    role: downstream
    delegated: {from: eth0, subnet_id: 2}
    advertise:
      prefixes: [{prefix: "::/64", valid_lifetime: 86400s, preferred_lifetime: 14400s}]
  eth2:
    role: downstream
    delegated: {from: eth0, subnet_id: 255}
`

var (
	pdOld   = netip.MustParsePrefix("2001:db8:100::/56")
	pdNew   = netip.MustParsePrefix("2001:db8:200::/56")
	pdCmp   = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})
	pdDUID  = []byte{0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	pdSrvLL = netip.AddrPortFrom(netip.MustParseAddr("fe80::53"), pdclient.ServerPort)
)

func mustConfig(t *testing.T, s string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// pdUpstreamSrv is a delegating router behind every socket the clients
// open: it answers each message written, unless down.
type pdUpstreamSrv struct {
	mu      sync.Mutex
	srv     *pdtest.Server
	down    bool
	listens int // sockets opened: one per Run of a client
}

func (u *pdUpstreamSrv) set(fn func(s *pdtest.Server)) {
	u.mu.Lock()
	fn(u.srv)
	u.mu.Unlock()
}

func (u *pdUpstreamSrv) opened() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.listens
}

func (u *pdUpstreamSrv) listen(string) (pdclient.Conn, error) {
	u.mu.Lock()
	u.listens++
	u.mu.Unlock()
	return &answering{Conn: pdtest.NewConn(), up: u}, nil
}

type answering struct {
	*pdtest.Conn
	up *pdUpstreamSrv
}

func (a *answering) WriteTo(b []byte, dst netip.AddrPort) error {
	if err := a.Conn.WriteTo(b, dst); err != nil {
		return err
	}
	m, err := insdhcp.MessageFromBytes(b)
	if err != nil {
		return nil
	}
	a.up.mu.Lock()
	var resp *insdhcp.Message
	if !a.up.down {
		resp = a.up.srv.Answer(m)
	}
	a.up.mu.Unlock()
	if resp != nil {
		a.Deliver(resp.ToBytes(), pdSrvLL)
	}
	return nil
}

// factsRec records what a component publishes.
type factsRec struct {
	mu sync.Mutex
	f  Facts
	n  int
}

func (r *factsRec) publish(up func(*Facts)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.f.Clone()
	up(&f)
	r.f, r.n = f, r.n+1
}

func (r *factsRec) get() (Facts, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Clone(), r.n
}

// pdRig is a pd component on a scripted upstream, in a synctest bubble.
type pdRig struct {
	t      *testing.T
	cfg    *config.Config
	up     *pdUpstreamSrv
	rec    *factsRec
	c      *pdComponent
	cancel context.CancelCauseFunc
	done   chan error

	routesMu sync.Mutex
	routes   [][]netip.Prefix // every call of the component's routes
}

func (r *pdRig) lastRoutes() [][]netip.Prefix {
	r.routesMu.Lock()
	defer r.routesMu.Unlock()
	return slices.Clone(r.routes)
}

func newPDRig(t *testing.T, cfg *config.Config, dir string, up *pdUpstreamSrv) *pdRig {
	r := &pdRig{t: t, cfg: cfg, up: up, rec: &factsRec{}, done: make(chan error, 1)}
	env := Env{Log: slog.New(slog.DiscardHandler), StateDir: dir, Config: cfg, Publish: r.rec.publish}
	r.c = newPDComponent(env, []pdclient.Option{
		pdclient.WithListen(up.listen), pdclient.WithDUID(pdDUID),
		pdclient.WithRand(rand.New(rand.NewPCG(3, 4))),
	}, time.Now)
	r.c.routes = func(want []netip.Prefix) error {
		r.routesMu.Lock()
		r.routes = append(r.routes, slices.Clone(want))
		r.routesMu.Unlock()
		return nil
	}
	return r
}

func (r *pdRig) run(ctx context.Context) {
	f, _ := r.rec.get()
	if err := r.c.Apply(Effective(r.cfg, f)); err != nil {
		r.t.Fatal(err)
	}
	ctx, r.cancel = context.WithCancelCause(ctx)
	go func() { r.done <- r.c.Run(ctx, func() {}) }()
	r.t.Cleanup(r.stop)
}

func (r *pdRig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel(context.Canceled)
	r.cancel = nil
	if err := <-r.done; err != nil {
		r.t.Errorf("Run: %v", err)
	}
}

func (r *pdRig) status() Status {
	st := Status{Interfaces: []InterfaceStatus{{Name: "eth0"}, {Name: "eth1"}, {Name: "eth2"}}}
	r.c.Status(&st)
	return st
}

func addr(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// The delegation feeds the delegated interfaces: the ::1 of their /64
// (current first), the /64 advertised with the "::/64" entry's flags and
// the lease's deadlines where the interface advertises, and a stale prefix
// with preferred lifetime 0 until its end.
func TestPDFacts(t *testing.T) {
	cfg := mustConfig(t, pdConfig)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	u := &pdUpstream{
		cur:   pdclient.Delegation{Prefix: pdNew, Preferred: time.Hour, Valid: 2 * time.Hour, Obtained: t0},
		stale: []pdStale{{prefix: pdOld, since: t0, until: t0.Add(30 * time.Minute)}},
	}
	ups := map[string]*pdUpstream{"eth0": u}
	addrs, prefs := pdFacts(cfg, ups, t0.Add(time.Minute))
	wantAddrs := map[string][]netip.Prefix{
		"eth1": {addr("2001:db8:200:2::1/64"), addr("2001:db8:100:2::1/64")},
		"eth2": {addr("2001:db8:200:ff::1/64"), addr("2001:db8:100:ff::1/64")},
	}
	if diff := cmp.Diff(wantAddrs, addrs, pdCmp); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	tmpl := cfg.Interface("eth1").Advertise.Prefixes[0]
	cur, old := tmpl, tmpl
	cur.Prefix, cur.PreferredUntil, cur.ValidUntil = addr("2001:db8:200:2::/64"), t0.Add(time.Hour), t0.Add(2*time.Hour)
	old.Prefix, old.PreferredUntil, old.ValidUntil = addr("2001:db8:100:2::/64"), t0, t0.Add(30*time.Minute)
	if diff := cmp.Diff(map[string][]config.Prefix{"eth1": {cur, old}}, prefs, pdCmp); diff != "" {
		t.Errorf("prefixes (-want +got):\n%s", diff)
	}
	// Once the stale prefix's end passed, only the current one.
	addrs, prefs = pdFacts(cfg, ups, t0.Add(30*time.Minute))
	if got := addrs["eth1"]; len(got) != 1 || len(prefs["eth1"]) != 1 {
		t.Errorf("after the stale end: %v %v", got, prefs["eth1"])
	}
	// Without a delegation: nothing.
	u.cur, u.stale = pdclient.Delegation{}, nil
	if addrs, prefs = pdFacts(cfg, ups, t0); len(addrs) != 0 || len(prefs) != 0 {
		t.Errorf("without a delegation: %v %v", addrs, prefs)
	}
}

func TestValidatePD(t *testing.T) {
	cfg := mustConfig(t, `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {}
  eth1:
    role: downstream
    delegated: {from: eth0, subnet_id: 1}
    advertise:
      prefixes: [{prefix: "2001:db8:1::/64"}]
`)
	got := validatePD(cfg)
	if len(got) != 1 || got[0].Path != "interfaces.eth1.advertise.prefixes" || !strings.Contains(got[0].Msg, `"::/64"`) {
		t.Errorf("problems %v", got)
	}
	if ps := validatePD(mustConfig(t, pdConfig)); len(ps) != 0 {
		t.Errorf("problems in a good config: %v", ps)
	}
}

// The whole life of a delegation through the component: waiting, bound
// (facts and status), renumbered by the server (the old /64 deprecated,
// counting down, then dropped), with the lease kept in the state dir.
func TestPDComponentRenumbers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		up := &pdUpstreamSrv{srv: pdtest.NewServer(pdOld), down: true}
		up.set(func(s *pdtest.Server) {
			s.Preferred, s.Valid, s.T1, s.T2 = 10*time.Minute, 20*time.Minute, 5*time.Minute, 8*time.Minute
		})
		r := newPDRig(t, mustConfig(t, pdConfig), dir, up)
		r.run(t.Context())
		synctest.Wait()
		if st := r.status(); st.Interfaces[0].PrefixDelegation == nil ||
			st.Interfaces[0].PrefixDelegation.State != pdclient.StateWaiting || st.Interfaces[1].Delegated == nil ||
			st.Interfaces[1].Delegated.Prefix.IsValid() {
			t.Fatalf("status while the upstream is silent: %+v", st.Interfaces)
		}
		if f, _ := r.rec.get(); len(f.Addresses) != 0 {
			t.Fatalf("facts without a delegation: %+v", f)
		}

		// The upstream answers: the next Solicit (back-off ≤ ~2 s) binds.
		up.set(func(*pdtest.Server) {})
		up.mu.Lock()
		up.down = false
		up.mu.Unlock()
		time.Sleep(10 * time.Second)
		bound := r.status().Interfaces[0].PrefixDelegation.Obtained
		f, _ := r.rec.get()
		if diff := cmp.Diff([]netip.Prefix{addr("2001:db8:100:2::1/64")}, f.Addresses["eth1"], pdCmp); diff != "" {
			t.Errorf("eth1 addresses after binding (-want +got):\n%s", diff)
		}
		if ps := f.Prefixes["eth1"]; len(ps) != 1 || ps[0].Prefix != addr("2001:db8:100:2::/64") ||
			ps[0].ValidUntil.Sub(bound) > 20*time.Minute || ps[0].ValidUntil.Sub(bound) < 19*time.Minute {
			t.Errorf("eth1 advertised prefixes %+v, want the /64 valid until ~20 min", ps)
		}
		if _, ok := f.Prefixes["eth2"]; ok {
			t.Errorf("eth2 does not advertise, got prefixes %v", f.Prefixes["eth2"])
		}
		st := r.status()
		if pd := st.Interfaces[0].PrefixDelegation; pd.State != pdclient.StateBound || pd.Prefix != pdOld {
			t.Errorf("upstream status %+v", pd)
		}
		if d := st.Interfaces[1].Delegated; d.Prefix != addr("2001:db8:100:2::/64") || d.From != "eth0" || d.SubnetID != 2 {
			t.Errorf("eth1 delegated status %+v", d)
		}
		if _, err := os.Stat(filepath.Join(dir, "pd-eth0.json")); err != nil {
			t.Errorf("lease not kept: %v", err)
		}

		// The server delegates another prefix at the Renew (T1 = 5 min).
		up.set(func(s *pdtest.Server) { s.Prefix = pdNew })
		time.Sleep(time.Until(bound.Add(5*time.Minute)) + time.Second)
		renumbered := time.Now()
		f, _ = r.rec.get()
		if diff := cmp.Diff([]netip.Prefix{addr("2001:db8:200:2::1/64"), addr("2001:db8:100:2::1/64")}, f.Addresses["eth1"], pdCmp); diff != "" {
			t.Errorf("eth1 addresses after renumbering (-want +got):\n%s", diff)
		}
		ps := f.Prefixes["eth1"]
		if len(ps) != 2 || ps[0].Prefix != addr("2001:db8:200:2::/64") || ps[1].Prefix != addr("2001:db8:100:2::/64") {
			t.Fatalf("eth1 prefixes after renumbering: %+v", ps)
		}
		// The old one: preferred 0 from now on, valid for what remained
		// of its lease (20 min granted at bound, 5 min ago).
		if ps[1].PreferredUntil.After(renumbered) || ps[1].ValidUntil != bound.Add(20*time.Minute) {
			t.Errorf("stale prefix deadlines preferred %v valid %v, want ≤ now (%v) and %v",
				ps[1].PreferredUntil, ps[1].ValidUntil, renumbered, bound.Add(20*time.Minute))
		}
		if d := r.status().Interfaces[1].Delegated; len(d.Deprecated) != 1 || d.Deprecated[0] != addr("2001:db8:100:2::/64") {
			t.Errorf("eth1 delegated status %+v", d)
		}
		// When its valid lifetime ends, the old /64 and its ::1 go.
		time.Sleep(time.Until(bound.Add(20 * time.Minute)))
		synctest.Wait()
		f, _ = r.rec.get()
		if diff := cmp.Diff([]netip.Prefix{addr("2001:db8:200:2::1/64")}, f.Addresses["eth1"], pdCmp); diff != "" {
			t.Errorf("eth1 addresses after the old prefix's end (-want +got):\n%s", diff)
		}
		if ps := f.Prefixes["eth1"]; len(ps) != 1 {
			t.Errorf("eth1 prefixes after the old prefix's end: %+v", ps)
		}
		// Unreachable routes: none at start (clearing a crashed run's),
		// the prefix, both while the old one is stale, the new one, and
		// none after a stop that is no restart.
		r.stop()
		want := [][]netip.Prefix{nil, {pdOld}, {pdOld, pdNew}, {pdNew}, nil}
		if diff := cmp.Diff(want, r.lastRoutes(), pdCmp, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("unreachable routes (-want +got):\n%s", diff)
		}
	})
}

// A stale prefix the server gave an infinite (or long) lifetime is kept at
// most two hours; a withdrawn one (valid 0) goes at once.
func TestPDStaleLimit(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := &pdComponent{env: Env{Log: slog.New(slog.DiscardHandler)}, now: func() time.Time { return t0 },
		ups: map[string]*pdUpstream{}, published: map[string]bool{}, wake: make(chan struct{}, 1),
		cfg: mustConfig(t, pdConfig)}
	u := &pdUpstream{name: "eth0", cur: pdclient.Delegation{Prefix: pdOld, Preferred: pdclient.Infinity, Valid: pdclient.Infinity, Obtained: t0}}
	r.ups["eth0"] = u
	r.onChange(u, pdclient.Change{
		Current: pdclient.Delegation{Prefix: pdNew, Preferred: time.Hour, Valid: 2 * time.Hour, Obtained: t0},
		Gone:    []pdclient.Delegation{{Prefix: pdOld, Valid: pdclient.Infinity, Obtained: t0}},
	})
	if len(u.stale) != 1 || u.stale[0].until != t0.Add(staleValidLimit) {
		t.Errorf("stale %+v, want until +2h", u.stale)
	}
	r.onChange(u, pdclient.Change{
		Current: pdclient.Delegation{Prefix: pdOld, Preferred: time.Hour, Valid: 2 * time.Hour, Obtained: t0},
		Gone:    []pdclient.Delegation{{Prefix: pdNew, Obtained: t0}},
	})
	if len(u.stale) != 0 {
		t.Errorf("stale %+v, want none (the old prefix is back, the new one withdrawn)", u.stale)
	}
}

// A restart publishes the kept delegation in New, before the first apply
// and before the client runs, so the reconciler never removes its ::1.
func TestPDRestartPublishesKeptDelegation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		up := &pdUpstreamSrv{srv: pdtest.NewServer(pdOld)}
		r := newPDRig(t, mustConfig(t, pdConfig), dir, up)
		r.run(t.Context())
		time.Sleep(10 * time.Second)
		// A stop for a restart leaves the unreachable route in place.
		r.cancel(ErrRestart)
		r.cancel = nil
		if err := <-r.done; err != nil {
			t.Fatal(err)
		}
		if got := r.lastRoutes(); len(got) == 0 || !slices.Equal(got[len(got)-1], []netip.Prefix{pdOld}) {
			t.Errorf("routes after a stop for a restart: %v, want the delegated prefix kept", got)
		}

		up.mu.Lock()
		up.down = true // the restarted one must not need the upstream
		up.mu.Unlock()
		r2 := newPDRig(t, mustConfig(t, pdConfig), dir, up)
		f, n := r2.rec.get()
		if n != 1 {
			t.Errorf("New published %d times, want once", n)
		}
		if diff := cmp.Diff([]netip.Prefix{addr("2001:db8:100:2::1/64")}, f.Addresses["eth1"], pdCmp); diff != "" {
			t.Errorf("facts published by New (-want +got):\n%s", diff)
		}
		// Applying the same state publishes nothing new (no flap).
		if err := r2.c.Apply(Effective(r2.cfg, f)); err != nil {
			t.Fatal(err)
		}
		if _, n := r2.rec.get(); n != 1 {
			t.Errorf("Apply republished unchanged facts (%d publishes)", n)
		}
	})
}

// A stateful delegated interface renumbered as the pd component publishes
// it (the new ::1 first, the stale one after): the server's pools move to
// the new /64, and a Renew of the old address is answered with the old one
// at lifetime 0 and a new one in the new /64 (RFC 8415 §18.3.4).
func TestPDStatefulRenumbering(t *testing.T) {
	cfg := `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {length: 56}
  eth1:
    role: downstream
    delegated: {from: eth0, subnet_id: 2}
    dhcpv6:
      mode: stateful
      rapid_commit: true
      pools: [{start: "::1000", end: "::10ff"}]
`
	synctest.Test(t, func(t *testing.T) {
		f := startFakesOpts(t, cfg, nil, nil)
		oldGW, newGW := netip.MustParsePrefix("2001:db8:100:2::1/64"), netip.MustParsePrefix("2001:db8:200:2::1/64")
		f.d.publish(func(fc *Facts) { fc.Addresses = map[string][]netip.Prefix{"eth1": {oldGW}} })
		time.Sleep(time.Second)
		synctest.Wait()
		c := f.socket("eth1")
		if !c.Inject(rapidSolicit(vm2MAC, 1), clientMeta) {
			t.Fatal("socket closed")
		}
		synctest.Wait()
		var reply *insdhcp.Message
		select {
		case d := <-c.Sent():
			var err error
			if reply, err = insdhcp.MessageFromBytes(d.B); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("no answer to the Solicit")
		}
		old, _ := netip.AddrFromSlice(reply.Options.OneIANA().Options.Addresses()[0].IPv6Addr)
		if !oldGW.Masked().Contains(old) {
			t.Fatalf("leased %s, want one of %s", old, oldGW.Masked())
		}

		f.d.publish(func(fc *Facts) { fc.Addresses = map[string][]netip.Prefix{"eth1": {newGW, oldGW}} })
		time.Sleep(time.Second)
		synctest.Wait()
		renew := &insdhcp.Message{MessageType: insdhcp.MessageTypeRenew, TransactionID: insdhcp.TransactionID{0, 0, 2}}
		renew.AddOption(insdhcp.OptClientID(&insdhcp.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: vm2MAC}))
		renew.AddOption(insdhcp.OptServerID(reply.Options.ServerID()))
		ia := &insdhcp.OptIANA{IaId: [4]byte{0, 0, 0, 1}}
		ia.Options.Add(&insdhcp.OptIAAddress{IPv6Addr: old.AsSlice(), PreferredLifetime: time.Hour, ValidLifetime: 2 * time.Hour})
		renew.AddOption(ia)
		if !c.Inject(renew.ToBytes(), clientMeta) {
			t.Fatal("socket closed")
		}
		synctest.Wait()
		select {
		case d := <-c.Sent():
			m, err := insdhcp.MessageFromBytes(d.B)
			if err != nil {
				t.Fatal(err)
			}
			got := map[netip.Addr]time.Duration{}
			for _, a := range m.Options.OneIANA().Options.Addresses() {
				ip, _ := netip.AddrFromSlice(a.IPv6Addr)
				got[ip] = a.ValidLifetime
			}
			if v, ok := got[old]; !ok || v != 0 || len(got) != 2 {
				t.Errorf("Renew after renumbering answered %v, want %s at lifetime 0 and a new address", got, old)
			}
			for a, v := range got {
				if a != old && (!newGW.Masked().Contains(a) || v == 0) {
					t.Errorf("new lease %s valid %s, want one of %s", a, v, newGW.Masked())
				}
			}
		default:
			t.Fatal("no answer to the Renew")
		}
		f.stop()
	})
}

// The DHCPv6 server of a delegated interface takes the /64 of the current
// delegation, never that of a deprecated (stale) one, and waits when only
// a stale one is left.
func TestDelegatedSubnetSkipsDeprecated(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	oldGW, newGW := addr("2001:db8:100:2::1/64"), addr("2001:db8:200:2::1/64")
	stale := config.Prefix{Prefix: oldGW.Masked(), PreferredUntil: t0, ValidUntil: t0.Add(time.Hour)}
	cur := config.Prefix{Prefix: newGW.Masked(), PreferredUntil: t0.Add(time.Hour), ValidUntil: t0.Add(2 * time.Hour)}
	for _, tt := range []struct {
		addrs []netip.Prefix
		pfx   []config.Prefix
		want  netip.Prefix
	}{
		{[]netip.Prefix{newGW, oldGW}, []config.Prefix{cur, stale}, newGW.Masked()},
		{[]netip.Prefix{oldGW, newGW}, []config.Prefix{stale, cur}, newGW.Masked()},
		{[]netip.Prefix{oldGW}, []config.Prefix{stale}, netip.Prefix{}},
		{[]netip.Prefix{oldGW}, nil, oldGW.Masked()}, // not advertised: nothing says it is stale
	} {
		got, ok := delegatedSubnet(tt.addrs, tt.pfx, t0.Add(time.Minute))
		if got != tt.want || ok != tt.want.IsValid() {
			t.Errorf("delegatedSubnet(%v) = %v, %t; want %v", tt.addrs, got, ok, tt.want)
		}
	}
}

// The client's status becomes vrouter_pd_* metrics with bounded labels:
// every refusal reason, the message types seen, the remaining lifetime.
func TestPDMetrics(t *testing.T) {
	now := time.Now()
	st := Status{Interfaces: []InterfaceStatus{{Name: "eth0", PrefixDelegation: &pdclient.Status{
		Interface: "eth0", State: pdclient.StateBound, Prefix: pdOld, Valid: now.Add(time.Hour),
		Sent: map[string]uint64{"solicit": 2, "request": 1}, Received: map[string]uint64{"advertise": 1, "reply": 1},
		Refused: map[pdclient.Refusal]uint64{pdclient.Refusals()[1]: 3}, Delegations: 1,
	}}}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newCollector(func() Status { return st }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var bound, valid, refused float64
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "vrouter_pd_bound":
				bound = m.GetGauge().GetValue()
			case "vrouter_pd_valid_seconds":
				valid = m.GetGauge().GetValue()
			case "vrouter_pd_refused_total":
				refused += m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]int{
		"vrouter_pd_bound": 1, "vrouter_pd_messages_sent_total": 2, "vrouter_pd_messages_received_total": 2,
		"vrouter_pd_refused_total": len(pdclient.Refusals()), "vrouter_pd_delegations_total": 1,
		"vrouter_pd_expired_total": 1, "vrouter_pd_send_errors_total": 1, "vrouter_pd_valid_seconds": 1,
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s: %d series, want %d", name, got[name], n)
		}
	}
	if bound != 1 || refused != 3 || valid < 3590 || valid > 3600 {
		t.Errorf("bound %v, refused %v, valid %v", bound, refused, valid)
	}
}
