package ndproxy

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// recPort records writes; reads are not used by rule-level tests.
type recPort struct {
	mu  sync.Mutex
	out []sent
}

type sent struct {
	data []byte
	dst  MAC
}

func (p *recPort) ReadFrom([]byte) (int, MAC, error) { return 0, MAC{}, net.ErrClosed }
func (p *recPort) WriteTo(b []byte, dst MAC) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = append(p.out, sent{append([]byte(nil), b...), dst})
	return nil
}
func (p *recPort) Close() error { return nil }
func (p *recPort) take() []sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.out
	p.out = nil
	return o
}

var (
	upMAC     = MAC{0x02, 0, 0, 0, 0xc0, 0x01}
	downMAC   = MAC{0x02, 0, 0, 0, 0xd0, 0x01}
	routerMAC = MAC{0x02, 0, 0, 0, 0, 0x01}
	upLL      = netip.MustParseAddr("fe80::c001")
	downLL    = netip.MustParseAddr("fe80::d001")
	routerLL  = netip.MustParseAddr("fe80::1")
	routerGUA = netip.MustParseAddr("2001:db8::1")
	hostAddr  = netip.MustParseAddr("2001:db8::c001")
	c009      = netip.MustParseAddr("2001:db8::c009")
	c00a      = netip.MustParseAddr("2001:db8::c00a")
	outside   = netip.MustParseAddr("2001:db8::1234")
	prefix    = netip.MustParsePrefix("2001:db8::c008/125")
	t0        = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func testRule(t *testing.T, mode config.NDProxyMode, mutate ...func(*ruleConfig)) (*rule, *recPort, *recPort) {
	t.Helper()
	cfg := ruleConfig{NDProxy: config.NDProxy{Upstream: "eth0", Downstream: "docker0", Prefix: prefix, Mode: mode}}
	for _, m := range mutate {
		m(&cfg)
	}
	r := newRule(cfg, DefaultLimits(), slog.New(slog.DiscardHandler), nil)
	up, down := &recPort{}, &recPort{}
	r.active = true
	r.up, r.down = up, down
	r.setLinks(
		Link{Index: 2, Name: "eth0", MAC: upMAC, LinkLocal: upLL, Addrs: []netip.Addr{upLL, hostAddr}, Up: true},
		Link{Index: 3, Name: "docker0", MAC: downMAC, LinkLocal: downLL, Addrs: []netip.Addr{downLL}, Up: true},
	)
	return r, up, down
}

// naView is an NA decoded by mdlayher/ndp, independent of ndwire.
type naView struct {
	Src, Dst, Target netip.Addr
	HopLimit         uint8
	R, S, O          bool
	TLLA             string
	DstMAC           MAC
}

func decodeNA(t *testing.T, s sent) naView {
	t.Helper()
	p := s.data
	if len(p) < 40 || p[6] != 58 {
		t.Fatalf("not an ICMPv6 packet: % x", p)
	}
	src := netip.AddrFrom16([16]byte(p[8:24]))
	dst := netip.AddrFrom16([16]byte(p[24:40]))
	if ndwire.Checksum(src, dst, p[40:]) != 0 {
		t.Fatalf("bad checksum in % x", p)
	}
	m, err := ndp.ParseMessage(p[40:])
	if err != nil {
		t.Fatalf("ndp.ParseMessage: %v", err)
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok {
		t.Fatalf("got %T, want NA", m)
	}
	v := naView{Src: src, Dst: dst, Target: na.TargetAddress, HopLimit: p[7], R: na.Router, S: na.Solicited, O: na.Override, DstMAC: s.dst}
	for _, o := range na.Options {
		if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Target {
			v.TLLA = l.Addr.String()
		}
	}
	return v
}

func ns(src, dst, target netip.Addr, o ndwire.NSOptions) []byte {
	return ndwire.AppendNS(nil, src, dst, target, o)
}

func sn(a netip.Addr) netip.Addr { return ndwire.SolicitedNode(a) }

func TestStaticAnswers(t *testing.T) {
	slla := routerMAC
	otherMAC := MAC{0x02, 0, 0, 0, 0, 0x99}
	tests := []struct {
		name   string
		mut    func(*ruleConfig)
		pkt    []byte
		from   MAC
		want   []naView
		counts map[string]uint64
	}{
		{
			name: "multicast NS with SLLA",
			pkt:  ns(routerGUA, sn(c009), c009, ndwire.NSOptions{SLLA: &slla}),
			from: otherMAC, // SLLA wins over the frame source
			want: []naView{{Src: upLL, Dst: routerGUA, Target: c009, HopLimit: 255, S: true, TLLA: "02:00:00:00:c0:01", DstMAC: routerMAC}},
		},
		{
			name: "unicast NUD NS without SLLA",
			pkt:  ns(routerLL, c009, c009, ndwire.NSOptions{}),
			from: routerMAC,
			want: []naView{{Src: upLL, Dst: routerLL, Target: c009, HopLimit: 255, S: true, TLLA: "02:00:00:00:c0:01", DstMAC: routerMAC}},
		},
		{
			name: "router flag",
			mut:  func(c *ruleConfig) { c.Router = true },
			pkt:  ns(routerLL, c009, c009, ndwire.NSOptions{}),
			from: routerMAC,
			want: []naView{{Src: upLL, Dst: routerLL, Target: c009, HopLimit: 255, R: true, S: true, TLLA: "02:00:00:00:c0:01", DstMAC: routerMAC}},
		},
		{
			name: "answer from target",
			mut:  func(c *ruleConfig) { c.answerFromTarget = true },
			pkt:  ns(routerLL, c009, c009, ndwire.NSOptions{}),
			from: routerMAC,
			want: []naView{{Src: c009, Dst: routerLL, Target: c009, HopLimit: 255, S: true, TLLA: "02:00:00:00:c0:01", DstMAC: routerMAC}},
		},
		{
			name:   "DAD defended to all-nodes with S=0",
			pkt:    ns(netip.IPv6Unspecified(), sn(c009), c009, ndwire.NSOptions{}),
			from:   routerMAC,
			want:   []naView{{Src: upLL, Dst: allNodes, Target: c009, HopLimit: 255, TLLA: "02:00:00:00:c0:01", DstMAC: MAC{0x33, 0x33, 0, 0, 0, 1}}},
			counts: map[string]uint64{"defended": 1},
		},
		{name: "hop limit 254", pkt: ns(routerLL, sn(c009), c009, ndwire.NSOptions{HopLimit: 254, SLLA: &slla}), counts: map[string]uint64{"hop_limit": 1}},
		{name: "code 1", pkt: ns(routerLL, sn(c009), c009, ndwire.NSOptions{Code: 1, SLLA: &slla}), counts: map[string]uint64{"code": 1}},
		{name: "zero-length option", pkt: ns(routerLL, sn(c009), c009, ndwire.NSOptions{ZeroLengthOption: true}), counts: map[string]uint64{"option_length": 1}},
		{name: "DAD with SLLA", pkt: ns(netip.IPv6Unspecified(), sn(c009), c009, ndwire.NSOptions{SLLA: &slla}), counts: map[string]uint64{"dad_source_lla": 1}},
		{name: "DAD to all-nodes", pkt: ns(netip.IPv6Unspecified(), allNodes, c009, ndwire.NSOptions{}), counts: map[string]uint64{"dad_destination": 1}},
		{name: "bad checksum", pkt: ns(routerLL, sn(c009), c009, ndwire.NSOptions{BadChecksum: true}), counts: map[string]uint64{"checksum": 1}},
		{name: "multicast target", pkt: ns(routerLL, sn(c009), allNodes, ndwire.NSOptions{}), counts: map[string]uint64{"target_multicast": 1}},
		{name: "truncated", pkt: ns(routerLL, sn(c009), c009, ndwire.NSOptions{})[:50], counts: map[string]uint64{"truncated": 1}},
		{name: "outside prefix", pkt: ns(routerLL, sn(outside), outside, ndwire.NSOptions{}), counts: map[string]uint64{"not_proxied": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var muts []func(*ruleConfig)
			if tt.mut != nil {
				muts = append(muts, tt.mut)
			}
			r, up, down := testRule(t, config.NDProxyStatic, muts...)
			r.handleUpstream(tt.pkt, tt.from, t0)
			var got []naView
			for _, s := range up.take() {
				got = append(got, decodeNA(t, s))
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("advertisements (-want +got):\n%s", diff)
			}
			if d := down.take(); len(d) != 0 {
				t.Errorf("static mode sent %d packets downstream", len(d))
			}
			want := tt.counts
			if want == nil {
				want = map[string]uint64{"answered": 1}
			}
			if diff := cmp.Diff(want, counts(r), cmpOpts); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

// counts flattens the non-zero counters of r.
func counts(r *rule) map[string]uint64 {
	st := r.status()
	m := st.Dropped
	for k, v := range map[string]uint64{"answered": st.Answered, "defended": st.Defended, "probes": st.Probes, "unsolicited": st.Unsolicited} {
		if v > 0 {
			m[k] = v
		}
	}
	return m
}

func TestLocalAddressNotProxied(t *testing.T) {
	r, up, _ := testRule(t, config.NDProxyStatic, func(c *ruleConfig) { c.Prefix = netip.MustParsePrefix("2001:db8::c000/124") })
	r.handleUpstream(ns(routerLL, sn(hostAddr), hostAddr, ndwire.NSOptions{}), routerMAC, t0)
	if got := up.take(); len(got) != 0 {
		t.Fatalf("answered for the host's own address: %d packets", len(got))
	}
}

// probeView is an NS decoded by mdlayher/ndp.
type probeView struct {
	Src, Dst, Target netip.Addr
	SLLA             string
	DstMAC           MAC
}

func decodeNS(t *testing.T, s sent) probeView {
	t.Helper()
	p := s.data
	m, err := ndp.ParseMessage(p[40:])
	if err != nil {
		t.Fatalf("ndp.ParseMessage: %v", err)
	}
	n, ok := m.(*ndp.NeighborSolicitation)
	if !ok {
		t.Fatalf("got %T, want NS", m)
	}
	if _, why := ndwire.ParseNS(p); why != ndwire.OK {
		t.Fatalf("probe fails validation: %v", why)
	}
	v := probeView{Src: netip.AddrFrom16([16]byte(p[8:24])), Dst: netip.AddrFrom16([16]byte(p[24:40])), Target: n.TargetAddress, DstMAC: s.dst}
	for _, o := range n.Options {
		if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Source {
			v.SLLA = l.Addr.String()
		}
	}
	return v
}

func na(src, dst, target netip.Addr, flags uint8, mac MAC) []byte {
	return ndwire.AppendNA(nil, src, dst, target, flags, mac)
}

func TestAutoLearnsByProbe(t *testing.T) {
	r, up, down := testRule(t, config.NDProxyAuto)
	slla := routerMAC
	req := ns(routerGUA, sn(c009), c009, ndwire.NSOptions{SLLA: &slla})

	// Unknown target: probe downstream, no answer yet.
	r.handleUpstream(req, routerMAC, t0)
	if got := up.take(); len(got) != 0 {
		t.Fatalf("answered an unknown target: %d packets", len(got))
	}
	probes := down.take()
	if len(probes) != 1 {
		t.Fatalf("sent %d probes, want 1", len(probes))
	}
	want := probeView{Src: downLL, Dst: sn(c009), Target: c009, SLLA: "02:00:00:00:d0:01", DstMAC: MAC{0x33, 0x33, 0xff, 0, 0xc0, 0x09}}
	if diff := cmp.Diff(want, decodeNS(t, probes[0]), cmpOpts); diff != "" {
		t.Fatalf("probe (-want +got):\n%s", diff)
	}
	// A retransmission while pending does not probe again.
	r.handleUpstream(req, routerMAC, t0.Add(10*time.Millisecond))
	if got := down.take(); len(got) != 0 {
		t.Fatalf("probed again while pending")
	}

	// The container answers: the waiting router gets its NA at once,
	// followed by an unsolicited NA to all-nodes.
	containerMAC := MAC{0x02, 0x42, 0, 0, 0, 0x09}
	r.handleDownstream(na(c009, downLL, c009, ndwire.FlagSolicited|ndwire.FlagOverride, containerMAC), t0.Add(20*time.Millisecond))
	var got []naView
	for _, s := range up.take() {
		got = append(got, decodeNA(t, s))
	}
	wantNA := []naView{
		{Src: upLL, Dst: routerGUA, Target: c009, HopLimit: 255, S: true, TLLA: "02:00:00:00:c0:01", DstMAC: routerMAC},
		{Src: upLL, Dst: allNodes, Target: c009, HopLimit: 255, TLLA: "02:00:00:00:c0:01", DstMAC: MAC{0x33, 0x33, 0, 0, 0, 1}},
	}
	if diff := cmp.Diff(wantNA, got, cmpOpts); diff != "" {
		t.Fatalf("advertisements after learning (-want +got):\n%s", diff)
	}
	// Two more unsolicited NAs, one second apart, then no more.
	for i, at := range []time.Duration{500 * time.Millisecond, 1020 * time.Millisecond, 1500 * time.Millisecond, 2020 * time.Millisecond, 5 * time.Second} {
		r.tick(t0.Add(at))
		wantN := []int{0, 1, 0, 1, 0}[i]
		if got := up.take(); len(got) != wantN {
			t.Fatalf("tick at %v sent %d packets, want %d", at, len(got), wantN)
		}
	}
	// Now answered directly, unicast NUD included.
	r.handleUpstream(ns(routerLL, c009, c009, ndwire.NSOptions{}), routerMAC, t0.Add(6*time.Second))
	if got := up.take(); len(got) != 1 || !decodeNA(t, got[0]).S {
		t.Fatalf("learned target not answered: %v", got)
	}
	if diff := cmp.Diff([]netip.Addr{c009}, r.status().Targets, cmpOpts); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestAutoNegativeCache(t *testing.T) {
	r, up, down := testRule(t, config.NDProxyAuto)
	req := ns(routerLL, sn(c00a), c00a, ndwire.NSOptions{})
	r.handleUpstream(req, routerMAC, t0)
	if len(down.take()) != 1 {
		t.Fatal("no probe")
	}
	r.tick(t0.Add(r.lim.ProbeTimeout)) // no answer: negative
	r.handleUpstream(req, routerMAC, t0.Add(r.lim.ProbeTimeout+time.Millisecond))
	if n := len(down.take()); n != 0 {
		t.Fatalf("probed a negatively cached target (%d probes)", n)
	}
	if got := r.status().Dropped["negative"]; got != 1 {
		t.Fatalf("negative drops = %d, want 1", got)
	}
	// The negative entry lives at most NegativeTTL (≤ 3 s).
	later := t0.Add(r.lim.ProbeTimeout + r.lim.NegativeTTL)
	r.tick(later)
	r.handleUpstream(req, routerMAC, later.Add(time.Millisecond))
	if n := len(down.take()); n != 1 {
		t.Fatalf("after the negative TTL: %d probes, want 1", n)
	}
	if len(up.take()) != 0 {
		t.Fatal("answered a missing target")
	}
}

func TestAutoDownstreamDADSchedulesProbe(t *testing.T) {
	r, up, down := testRule(t, config.NDProxyAuto)
	// A container runs DAD for c00a.
	r.handleDownstream(ns(netip.IPv6Unspecified(), sn(c00a), c00a, ndwire.NSOptions{}), t0)
	r.tick(t0.Add(time.Second))
	if n := len(down.take()); n != 0 {
		t.Fatalf("probed during DAD")
	}
	r.tick(t0.Add(r.lim.DADWait))
	if n := len(down.take()); n != 1 {
		t.Fatalf("%d probes after DAD, want 1", n)
	}
	r.handleDownstream(na(c00a, downLL, c00a, ndwire.FlagSolicited, MAC{2}), t0.Add(r.lim.DADWait+time.Millisecond))
	got := up.take()
	if len(got) != 1 || decodeNA(t, got[0]).Dst != allNodes {
		t.Fatalf("want one unsolicited NA upstream, got %d", len(got))
	}
}

func TestAutoKernelNeighbors(t *testing.T) {
	r, up, _ := testRule(t, config.NDProxyAuto)
	r.setNeighbors([]netip.Addr{c009, outside, downLL}, t0)
	if diff := cmp.Diff([]netip.Addr{c009}, r.status().Targets, cmpOpts); diff != "" {
		t.Fatalf("targets (-want +got):\n%s", diff)
	}
	up.take()
	r.handleUpstream(ns(routerLL, c009, c009, ndwire.NSOptions{}), routerMAC, t0)
	if len(up.take()) != 1 {
		t.Fatal("kernel-learned target not answered")
	}
	// Kernel forgets it, and it stops answering our probes: forgotten
	// after Reachable plus the probes.
	r.setNeighbors(nil, t0.Add(time.Second))
	var forgotten time.Duration
	for d := time.Second; d < 2*time.Minute; d += 100 * time.Millisecond {
		r.tick(t0.Add(d))
		if len(r.status().Targets) == 0 {
			forgotten = d
			break
		}
	}
	if min := time.Second + r.lim.Reachable; forgotten < min || forgotten > min+5*time.Second {
		t.Fatalf("forgotten after %v, want about %v", forgotten, min+3*time.Second)
	}
}

func TestAutoRouteWork(t *testing.T) {
	r, _, _ := testRule(t, config.NDProxyAuto)
	r.setNeighbors([]netip.Addr{c009}, t0)
	add, del := r.tick(t0)
	if diff := cmp.Diff([]netip.Prefix{netip.PrefixFrom(c009, 128)}, add, cmpOpts); diff != "" || del != nil {
		t.Fatalf("routes add (-want +got):\n%s del %v", diff, del)
	}
	r.routed(c009, true, nil)
	if add, _ := r.tick(t0); add != nil {
		t.Fatalf("route requested twice: %v", add)
	}
}

// TestFloodBounded sends 60k bogus targets from one source and from many
// sources: state stays bounded and a learned target keeps being answered.
func TestFloodBounded(t *testing.T) {
	for _, many := range []bool{false, true} {
		t.Run(map[bool]string{false: "one source", true: "many sources"}[many], func(t *testing.T) {
			r, up, down := testRule(t, config.NDProxyAuto, func(c *ruleConfig) { c.Prefix = netip.MustParsePrefix("2001:db8:1::/64") })
			legit := netip.MustParseAddr("2001:db8:1::9")
			r.setNeighbors([]netip.Addr{legit}, t0)
			up.take()
			now := t0
			answered := 0
			for i := 0; i < 60000; i++ {
				now = now.Add(50 * time.Microsecond) // 20k NS/s
				src := routerLL
				if many {
					src = netip.AddrFrom16([16]byte{0xfe, 0x80, 14: byte(i >> 8), 15: byte(i)})
				}
				tg := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i) | 0x10})
				r.handleUpstream(ns(src, sn(tg), tg, ndwire.NSOptions{}), routerMAC, now)
				if i%100 == 0 {
					r.handleUpstream(ns(routerLL, legit, legit, ndwire.NSOptions{}), routerMAC, now)
					for _, s := range up.take() {
						if v := decodeNA(t, s); v.Target == legit && v.S {
							answered++
						}
					}
				}
				if i%2000 == 0 {
					r.tick(now)
				}
				if len(r.pending) > r.lim.MaxPending || len(r.negative) > r.lim.MaxNegative || len(r.srcLim.m) > r.lim.MaxSources {
					t.Fatalf("state grew: pending %d negative %d sources %d", len(r.pending), len(r.negative), len(r.srcLim.m))
				}
			}
			if answered != 600 {
				t.Errorf("legit target answered %d of 600 times", answered)
			}
			probes := len(down.take())
			// 3 s at 20k NS/s: the global budget is burst + 3 s of rate.
			if max := int(r.lim.ProbeBurst + 3*r.lim.ProbeRate); probes > max {
				t.Errorf("%d probes sent, budget %d", probes, max)
			}
			t.Logf("probes %d, drops %v", probes, r.status().Dropped)
		})
	}
}

func TestGroups(t *testing.T) {
	gs, all := groups(prefix, 256)
	if all || len(gs) != 8 || gs[1] != netip.MustParseAddr("ff02::1:ff00:c009") {
		t.Fatalf("groups(%v) = %v, %v", prefix, gs, all)
	}
	if _, all := groups(netip.MustParsePrefix("2001:db8::/64"), 256); !all {
		t.Fatal("a /64 should need ALLMULTI")
	}
	gs, all = groups(netip.MustParsePrefix("2001:db8::c009/128"), 256)
	if all || len(gs) != 1 {
		t.Fatalf("/128: %v %v", gs, all)
	}
}

// FuzzHandleUpstream feeds arbitrary packets to the NS path in both modes:
// no panic, and every packet sent is a valid NA for a target of the prefix
// answering a solicitation that passed validation.
func FuzzHandleUpstream(f *testing.F) {
	slla := routerMAC
	for _, p := range [][]byte{
		ns(routerGUA, sn(c009), c009, ndwire.NSOptions{SLLA: &slla}),
		ns(routerLL, c009, c009, ndwire.NSOptions{}),
		ns(netip.IPv6Unspecified(), sn(c009), c009, ndwire.NSOptions{}),
		ns(routerLL, sn(c009), c009, ndwire.NSOptions{HopLimit: 64}),
		ns(routerLL, sn(c009), c009, ndwire.NSOptions{ZeroLengthOption: true}),
		na(c009, downLL, c009, ndwire.FlagSolicited, MAC{2}),
		{0x60}, {},
	} {
		f.Add(p, false)
		f.Add(p, true)
	}
	f.Fuzz(func(t *testing.T, pkt []byte, auto bool) {
		mode := config.NDProxyStatic
		if auto {
			mode = config.NDProxyAuto
		}
		r, up, down := testRule(t, mode)
		r.setNeighbors([]netip.Addr{c009}, t0)
		up.take()
		r.handleUpstream(pkt, routerMAC, t0)
		r.handleDownstream(pkt, t0)
		r.tick(t0.Add(time.Second))
		in, why := ndwire.ParseNS(pkt)
		for _, s := range up.take() {
			out, w := ndwire.ParseNA(s.data)
			if w != ndwire.OK {
				t.Fatalf("sent an invalid NA (%v): % x", w, s.data)
			}
			if !prefix.Contains(out.Target) || !out.HasTLLA || out.TLLA != upMAC || out.Override {
				t.Fatalf("bad NA %+v", out)
			}
			if out.Solicited && (why != ndwire.OK || in.Target != out.Target) {
				t.Fatalf("solicited NA for %v without a valid NS (%v)", out.Target, why)
			}
		}
		for _, s := range down.take() {
			if _, w := ndwire.ParseNS(s.data); w != ndwire.OK {
				t.Fatalf("sent an invalid probe (%v)", w)
			}
		}
	})
}

// nopPort discards writes without allocating.
type nopPort struct{}

func (nopPort) WriteTo([]byte, MAC) error         { return nil }
func (nopPort) ReadFrom([]byte) (int, MAC, error) { return 0, MAC{}, net.ErrClosed }
func (nopPort) Close() error                      { return nil }

func TestAllocs(t *testing.T) {
	r, _, _ := testRule(t, config.NDProxyAuto, func(c *ruleConfig) { c.Prefix = netip.MustParsePrefix("2001:db8::/64") })
	r.up, r.down = nopPort{}, nopPort{}
	r.setNeighbors([]netip.Addr{c009}, t0)
	slla := routerMAC
	legit := ns(routerGUA, sn(c009), c009, ndwire.NSOptions{SLLA: &slla})
	bogus := ns(routerGUA, sn(outside), outside, ndwire.NSOptions{SLLA: &slla})
	hop := ns(routerGUA, sn(c009), c009, ndwire.NSOptions{HopLimit: 1})
	for name, pkt := range map[string][]byte{"answer": legit, "invalid": hop} {
		if n := testing.AllocsPerRun(1000, func() { r.handleUpstream(pkt, routerMAC, t0) }); n != 0 {
			t.Errorf("%s: %v allocations per NS, want 0", name, n)
		}
	}
	// A bogus target that is rate limited or negatively cached.
	for i := 0; i < 1000; i++ {
		r.handleUpstream(bogus, routerMAC, t0)
	}
	if n := testing.AllocsPerRun(1000, func() { r.handleUpstream(bogus, routerMAC, t0) }); n != 0 {
		t.Errorf("bogus: %v allocations per NS, want 0", n)
	}
}
