package ha_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ha"
	"github.com/vrouter/vrouter/ha/hatest"
)

const ivl = 100 * time.Millisecond

// skew and down are Skew_Time and Active_Down_Interval at ivl.
func skew(prio int) time.Duration { return time.Duration(256-prio) * ivl / 256 }
func down(prio int) time.Duration { return 3*ivl + skew(prio) }

// router is a Group on a fake System with two HA interfaces: eth0 on
// segment "up", eth1 on segment "tenant".
type router struct {
	t      *testing.T
	name   string
	sys    *hatest.System
	g      *ha.Group
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	trs []ha.Transition
}

type routerOpt struct {
	prio     uint8
	preempt  bool
	interval time.Duration // ivl when 0
	ll0      string        // link-local on eth0, eth1
	ll1      string
	seed     uint64
}

func haConfig(o routerOpt) *config.HA {
	interval := o.interval
	if interval == 0 {
		interval = ivl
	}
	return &config.HA{
		VRID: 51, Priority: o.prio, AdvertInterval: interval, Preempt: o.preempt,
		Interfaces: []config.HAInterface{
			{Name: "eth0", VirtualAddresses: []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("2001:db8:0:1::fe/64")}},
			{Name: "eth1", VirtualAddresses: []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("2001:db8:0:2::1/64")}},
		},
	}
}

// newRouter attaches a router to n (or reuses sys) and starts its Group.
func newRouter(t *testing.T, n *hatest.Net, sys *hatest.System, name string, o routerOpt) *router {
	t.Helper()
	if sys == nil {
		sys = n.NewSystem(name)
		sys.AddLink("eth0", "up", netip.MustParseAddr(o.ll0))
		sys.AddLink("eth1", "tenant", netip.MustParseAddr(o.ll1))
	}
	r := &router{t: t, name: name, sys: sys, done: make(chan struct{})}
	g, err := ha.New(haConfig(o), slog.New(slog.DiscardHandler), ha.WithSystem(sys),
		ha.WithRand(rand.New(rand.NewPCG(o.seed, 1))),
		ha.OnTransition(func(tr ha.Transition) {
			r.mu.Lock()
			r.trs = append(r.trs, tr)
			r.mu.Unlock()
			// The callback may read the status.
			if st := r.g.Status(); st.State != tr.To {
				t.Errorf("%s: status %s inside the callback for %s", name, st.State, tr.To)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	r.g = g
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		if err := g.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
	}()
	return r
}

// stop cancels the Group (a clean stop: priority 0) and waits for Run.
func (r *router) stop() {
	r.cancel()
	<-r.done
}

func (r *router) transitions() []ha.Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ha.Transition(nil), r.trs...)
}

// lastTo is the time of the last transition to s, or the zero Time.
func (r *router) lastTo(s ha.State) time.Time {
	trs := r.transitions()
	for i := len(trs) - 1; i >= 0; i-- {
		if trs[i].To == s {
			return trs[i].At
		}
	}
	return time.Time{}
}

func (r *router) state() ha.State { return r.g.State() }

func wantStates(t *testing.T, when string, rs ...any) {
	t.Helper()
	for i := 0; i < len(rs); i += 2 {
		r, want := rs[i].(*router), rs[i+1].(ha.State)
		if got := r.state(); got != want {
			t.Fatalf("%s: %s is %s, want %s (transitions %+v)", when, r.name, got, want, r.transitions())
		}
	}
}

// checkPorts checks what the fake ports saw: a port is active exactly
// when its router is, and no router ever failed to send (a send while its
// virtual link is down would fail, as on Linux).
func checkPorts(t *testing.T, rs ...*router) {
	t.Helper()
	for _, r := range rs {
		st := r.g.Status()
		for _, in := range st.Instances {
			p := r.sys.Port(in.Interface)
			if p == nil {
				t.Fatalf("%s: no port on %s", r.name, in.Interface)
			}
			if p.Active() != (st.State == ha.StateActive) {
				t.Errorf("%s %s: virtual link active %v in state %s", r.name, in.Interface, p.Active(), st.State)
			}
			if in.SendErrors != 0 || in.NeighborAdvErrs != 0 {
				t.Errorf("%s %s: %d send errors, %d NA errors", r.name, in.Interface, in.SendErrors, in.NeighborAdvErrs)
			}
		}
	}
}

var (
	optA = routerOpt{prio: 200, preempt: true, ll0: "fe80::a:0", ll1: "fe80::a:1", seed: 1}
	optB = routerOpt{prio: 100, preempt: true, ll0: "fe80::b:0", ll1: "fe80::b:1", seed: 2}
)

func TestGroupsElectOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		start := time.Now()
		a := newRouter(t, n, nil, "a", optA)
		b := newRouter(t, n, nil, "b", optB)
		defer b.stop()
		defer a.stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantStates(t, "after 2s", a, ha.StateActive, b, ha.StateBackup)
		checkPorts(t, a, b)
		// The higher priority has the shorter Active_Down_Interval.
		if got := a.lastTo(ha.StateActive).Sub(start); got != down(200) {
			t.Errorf("a Active after %v, want Active_Down_Interval %v", got, down(200))
		}
		for _, f := range n.Frames() {
			if f.From == "b" {
				t.Fatalf("Backup b put a frame on %s: %+v", f.Segment, f)
			}
		}
		// a advertised on both links every interval since, and sent
		// one NA per virtual address with R=1, O=1 and the virtual MAC.
		for _, name := range []string{"eth0", "eth1"} {
			p := a.sys.Port(name)
			if n, want := len(p.Adverts()), int((2*time.Second-down(200))/ivl)+1; n < want-1 || n > want {
				t.Errorf("a sent %d adverts on %s, want about %d", n, name, want)
			}
			for _, adv := range p.Adverts() {
				if adv.Priority != 200 || adv.Interval != 10 || adv.Addresses[0] != netip.MustParseAddr("fe80::1") || len(adv.Addresses) != 2 {
					t.Fatalf("advert %+v", adv)
				}
			}
			nas := p.NAs()
			if len(nas) != 2 {
				t.Fatalf("%d NAs on %s, want 2", len(nas), name)
			}
			for i, b := range nas {
				m, err := ndp.ParseMessage(b)
				if err != nil {
					t.Fatal(err)
				}
				na := m.(*ndp.NeighborAdvertisement)
				lla := na.Options[0].(*ndp.LinkLayerAddress)
				if !na.Router || !na.Override || na.Solicited || na.TargetAddress != p.Spec().Addresses[i].Addr() ||
					lla.Direction != ndp.Target || lla.Addr.String() != "00:00:5e:00:02:33" {
					t.Fatalf("NA %+v %+v", na, lla)
				}
			}
			if got := p.Spec().VirtualLink; got != ha.VirtualLinkName(51, p.Spec().Index) {
				t.Errorf("virtual link %q", got)
			}
		}
		// b heard them and knows its peer.
		st := b.g.Status()
		for _, in := range st.Instances {
			if in.Peer == nil || in.Peer.Priority != 200 || in.AdvertsReceived == 0 || in.AdvertsSent != 0 {
				t.Errorf("b %s: %+v", in.Interface, in)
			}
		}
	})
}

func TestGroupsCrashFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		b := newRouter(t, n, nil, "b", optB)
		defer b.stop()
		defer a.stop()
		time.Sleep(time.Second + 37*time.Millisecond)
		wantStates(t, "before", a, ha.StateActive, b, ha.StateBackup)
		// a dies without a word: nothing of it reaches the wire.
		crash := time.Now()
		n.SetFilter(func(from, _ string) bool { return from != "a" })
		time.Sleep(time.Second)
		wantStates(t, "after the crash", b, ha.StateActive)
		took := b.lastTo(ha.StateActive).Sub(crash)
		// b's timer ran from a's last advert (at most one interval
		// before the crash) for Active_Down_Interval.
		if took <= down(100)-ivl || took > down(100) {
			t.Errorf("b took over %v after the crash, want within (%v, %v]", took, down(100)-ivl, down(100))
		}
		checkPorts(t, b)
	})
}

func TestGroupsCleanStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		b := newRouter(t, n, nil, "b", optB)
		defer b.stop()
		time.Sleep(time.Second)
		before := len(n.Frames())
		stop := time.Now()
		a.cancel()
		// Until b takes over after Skew_Time, a has resigned with
		// priority 0 on both links but keeps its virtual links up with
		// the addresses: the bridges still send the virtual MAC to a.
		time.Sleep(skew(100) - time.Nanosecond)
		synctest.Wait()
		wantStates(t, "during Skew_Time", a, ha.StateInitialize, b, ha.StateBackup)
		for _, name := range []string{"eth0", "eth1"} {
			p := a.sys.Port(name)
			advs := p.Adverts()
			if last := advs[len(advs)-1]; last.Priority != 0 {
				t.Errorf("a's last advert on %s has priority %d", name, last.Priority)
			}
			if p.Closed() || !p.Active() {
				t.Errorf("a's port on %s during Skew_Time: closed %v active %v", name, p.Closed(), p.Active())
			}
		}
		select {
		case <-a.done:
			t.Fatal("a's Run returned before b took over")
		default:
		}
		// b's first adverts as Active release a's links at once.
		<-a.done
		if took := time.Since(stop); took != skew(100) {
			t.Errorf("a kept its virtual links %v after the stop, want until b took over after Skew_Time %v", took, skew(100))
		}
		for _, name := range []string{"eth0", "eth1"} {
			if p := a.sys.Port(name); !p.Closed() || p.Active() {
				t.Errorf("a's port on %s: closed %v active %v", name, p.Closed(), p.Active())
			}
		}
		// Since the stop, a sent its priority 0 and nothing else.
		for _, f := range n.Frames()[before:] {
			if f.From == "a" && (f.Advert == nil || f.Advert.Priority != 0) {
				t.Errorf("a sent after its stop: %+v", f)
			}
		}
		time.Sleep(time.Second)
		wantStates(t, "after the stop", a, ha.StateInitialize, b, ha.StateActive)
		if took := b.lastTo(ha.StateActive).Sub(stop); took != skew(100) {
			t.Errorf("b took over %v after the stop, want Skew_Time %v", took, skew(100))
		}
		if trs := b.transitions(); !strings.Contains(trs[len(trs)-1].Reason, "resigned") {
			t.Errorf("b's reason: %q", trs[len(trs)-1].Reason)
		}
		if st := a.g.Status(); st.EffectivePriority != 0 || st.LastTransition.Reason != "stopped" {
			t.Errorf("stopped status %+v", st)
		}
		if got := a.lastTo(ha.StateInitialize).Sub(stop); got != 0 {
			t.Errorf("a left Active %v after the stop, want at once (the daemon's standby)", got)
		}
	})
}

// TestGroupStopWithoutPeer: a stopped Active that never hears a peer keeps
// its virtual links for the longest a peer may take, at most a second.
func TestGroupStopWithoutPeer(t *testing.T) {
	for _, tc := range []struct {
		interval, bound time.Duration
	}{
		{ivl, 3*ivl + 255*ivl/256},
		{20 * time.Millisecond, 60*time.Millisecond + 255*20*time.Millisecond/256},
		{2 * time.Second, time.Second},
	} {
		synctest.Test(t, func(t *testing.T) {
			n := hatest.NewNet()
			o := optA
			o.interval = tc.interval
			a := newRouter(t, n, nil, "a", o)
			time.Sleep(4*tc.interval + time.Second)
			wantStates(t, "alone", a, ha.StateActive)
			nas := len(a.sys.Port("eth1").NAs())
			stop := time.Now()
			a.cancel()
			time.Sleep(tc.bound - time.Nanosecond)
			synctest.Wait()
			for _, name := range []string{"eth0", "eth1"} {
				if p := a.sys.Port(name); p.Closed() || !p.Active() {
					t.Errorf("interval %v: port on %s just before the bound: closed %v active %v", tc.interval, name, p.Closed(), p.Active())
				}
			}
			<-a.done
			if took := time.Since(stop); took != tc.bound {
				t.Errorf("interval %v: Run returned %v after the stop, want %v", tc.interval, took, tc.bound)
			}
			for _, name := range []string{"eth0", "eth1"} {
				p := a.sys.Port(name)
				if !p.Closed() || p.Active() {
					t.Errorf("interval %v: port on %s: closed %v active %v", tc.interval, name, p.Closed(), p.Active())
				}
				advs := p.Adverts()
				if len(advs) < 2 || advs[len(advs)-1].Priority != 0 || advs[len(advs)-2].Priority == 0 {
					t.Errorf("interval %v: %s: one priority 0 last, got %+v", tc.interval, name, advs[max(0, len(advs)-3):])
				}
			}
			if got := len(a.sys.Port("eth1").NAs()); got != nas {
				t.Errorf("interval %v: %d NAs sent after the stop", tc.interval, got-nas)
			}
		})
	}
}

// TestGroupStopReleasesPerLink: after a stop, each virtual link goes down
// as soon as the peer advertises as Active on it (priority above 0), the
// group once every link is released.
func TestGroupStopReleasesPerLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		time.Sleep(time.Second)
		src := netip.MustParseAddr("fe80::b:1")
		packet := func(prio uint8) ha.Packet {
			adv := ha.Advert{VRID: 51, Priority: prio, Interval: 10, Addresses: []netip.Addr{netip.MustParseAddr("fe80::1")}}
			b, err := adv.Append(nil, src, ha.AllRouters)
			if err != nil {
				t.Fatal(err)
			}
			return ha.Packet{Data: b, HopLimit: ha.HopLimit, Src: src, Dst: ha.AllRouters}
		}
		stop := time.Now()
		a.cancel()
		synctest.Wait()
		p0, p1 := a.sys.Port("eth0"), a.sys.Port("eth1")
		time.Sleep(10 * time.Millisecond)
		p1.Inject(packet(100))
		synctest.Wait()
		if !p0.Active() || p1.Active() || p0.Closed() || p1.Closed() {
			t.Errorf("peer Active on eth1: eth0 active %v closed %v, eth1 active %v closed %v", p0.Active(), p0.Closed(), p1.Active(), p1.Closed())
		}
		// Another router resigning is not the peer taking over.
		p0.Inject(packet(0))
		synctest.Wait()
		if !p0.Active() {
			t.Error("eth0 released by a priority 0")
		}
		time.Sleep(10 * time.Millisecond)
		p0.Inject(packet(100))
		<-a.done
		if took := time.Since(stop); took != 20*time.Millisecond {
			t.Errorf("Run returned %v after the stop, want 20ms (when the peer was heard on both links)", took)
		}
		if !p0.Closed() || !p1.Closed() {
			t.Error("ports not closed")
		}
	})
}

func TestGroupsLinkDownAndPreemption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		b := newRouter(t, n, nil, "b", optB)
		defer b.stop()
		defer a.stop()
		time.Sleep(time.Second)
		// a's tenant link goes down: a gives way on both links; its
		// priority 0 upstream hands both over to b after Skew_Time,
		// although b's tenant side never heard a resign.
		linkDown := time.Now()
		a.sys.SetUp("eth1", false)
		time.Sleep(time.Second)
		wantStates(t, "tenant link of a down", a, ha.StateInitialize, b, ha.StateActive)
		if took := b.lastTo(ha.StateActive).Sub(linkDown); took != skew(100) {
			t.Errorf("b took over %v after a's link went down, want Skew_Time %v", took, skew(100))
		}
		if st := a.g.Status(); st.EffectivePriority != 0 || !strings.Contains(st.LastTransition.Reason, "eth1 down") {
			t.Errorf("a: %+v", st.LastTransition)
		}
		checkPorts(t, a, b)
		// Back up: a listens first (Backup), then preempts b, which
		// gives way on a's first advert.
		linkUp := time.Now()
		a.sys.SetUp("eth1", true)
		time.Sleep(time.Second)
		wantStates(t, "link back", a, ha.StateActive, b, ha.StateBackup)
		if got := a.lastTo(ha.StateActive).Sub(linkUp); got != down(200) {
			t.Errorf("a preempted %v after its link came back, want Active_Down_Interval %v", got, down(200))
		}
		if trs := a.transitions(); !strings.Contains(trs[len(trs)-1].Reason, "preempting fe80::b:") {
			t.Errorf("a's reason: %q", trs[len(trs)-1].Reason)
		}
		if got := b.lastTo(ha.StateBackup); !got.Equal(a.lastTo(ha.StateActive)) {
			t.Errorf("b yielded at %v, a became Active at %v", got, a.lastTo(ha.StateActive))
		}
		checkPorts(t, a, b)
	})
}

func TestGroupsNoPreemption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		oa, ob := optA, optB
		oa.preempt, ob.preempt = false, false
		b := newRouter(t, n, nil, "b", ob)
		time.Sleep(time.Second)
		wantStates(t, "b alone", b, ha.StateActive)
		a := newRouter(t, n, nil, "a", oa)
		defer a.stop()
		defer b.stop()
		time.Sleep(3 * time.Second)
		// a has the higher priority but does not preempt: b stays.
		wantStates(t, "a joined", a, ha.StateBackup, b, ha.StateActive)
		checkPorts(t, a, b)
	})
}

func TestGroupsSplitBrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		b := newRouter(t, n, nil, "b", optB)
		defer b.stop()
		defer a.stop()
		time.Sleep(time.Second)
		n.SetFilter(func(from, to string) bool { return false })
		time.Sleep(time.Second)
		wantStates(t, "split", a, ha.StateActive, b, ha.StateActive)
		time.Sleep(13 * time.Millisecond) // off the advert cadence
		heal := time.Now()
		n.SetFilter(nil)
		time.Sleep(time.Second)
		wantStates(t, "healed", a, ha.StateActive, b, ha.StateBackup)
		if took := b.lastTo(ha.StateBackup).Sub(heal); took > ivl {
			t.Errorf("two Active routers for %v after healing, want at most one interval %v", took, ivl)
		}
		checkPorts(t, a, b)
	})
}

// TestGroupsEqualPriority: equal priorities where each router wins the
// address tie-break on one link. Both yield when they meet as Active; the
// random hold lets one go first, and then it stays.
func TestGroupsEqualPriority(t *testing.T) {
	for seed := range uint64(8) {
		synctest.Test(t, func(t *testing.T) {
			n := hatest.NewNet()
			a := newRouter(t, n, nil, "a", routerOpt{prio: 100, preempt: true, ll0: "fe80::f", ll1: "fe80::1", seed: 2*seed + 1})
			b := newRouter(t, n, nil, "b", routerOpt{prio: 100, preempt: true, ll0: "fe80::e", ll1: "fe80::2", seed: 2*seed + 2})
			defer b.stop()
			defer a.stop()
			time.Sleep(3 * time.Second)
			before := len(a.transitions()) + len(b.transitions())
			sa, sb := a.state(), b.state()
			if (sa == ha.StateActive) == (sb == ha.StateActive) {
				t.Fatalf("seed %d: a %s, b %s; transitions a %+v b %+v", seed, sa, sb, a.transitions(), b.transitions())
			}
			t.Logf("seed %d: a %+v\nb %+v", seed, a.transitions(), b.transitions())
			time.Sleep(10 * time.Second)
			if after := len(a.transitions()) + len(b.transitions()); after != before {
				t.Fatalf("seed %d: still changing: a %+v b %+v", seed, a.transitions(), b.transitions())
			}
			checkPorts(t, a, b)
		})
	}
}

func TestGroupOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		b := newRouter(t, n, nil, "b", optB)
		time.Sleep(time.Second)
		start := time.Now()
		o := newRouter(t, n, nil, "o", routerOpt{prio: 255, ll0: "fe80::1:0", ll1: "fe80::1:1", seed: 3})
		defer o.stop()
		defer b.stop()
		synctest.Wait()
		wantStates(t, "owner started", o, ha.StateActive, b, ha.StateBackup)
		if got := o.lastTo(ha.StateActive); !got.Equal(start) {
			t.Errorf("owner Active after %v, want at once", got.Sub(start))
		}
	})
}

func TestGroupReopensRecreatedLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		defer a.stop()
		time.Sleep(time.Second)
		old := a.sys.Port("eth1")
		a.sys.Recreate("eth1")
		time.Sleep(time.Second)
		p := a.sys.Port("eth1")
		if p == old || !old.Closed() {
			t.Fatal("port not reopened after the link was recreated")
		}
		if p.Spec().VirtualLink == old.Spec().VirtualLink {
			t.Errorf("virtual link name %q kept for a new index", p.Spec().VirtualLink)
		}
		// The group went through Initialize and is Active again.
		wantStates(t, "after", a, ha.StateActive)
		checkPorts(t, a)
	})
}

// TestGroupRefreshesPorts: every change notification refreshes the open
// ports (the Linux port copies the forwarding setting then).
func TestGroupRefreshesPorts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		defer a.stop()
		synctest.Wait()
		before := a.sys.Port("eth1").Refreshes()
		if before == 0 {
			t.Fatal("ports not refreshed when opened")
		}
		a.sys.SetUp("eth0", true) // a change notification, nothing else
		synctest.Wait()
		if got := a.sys.Port("eth1").Refreshes(); got != before+1 {
			t.Errorf("refreshes %d after a change notification, want %d", got, before+1)
		}
	})
}

func TestGroupOpenFailureRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		sys := n.NewSystem("a")
		sys.AddLink("eth0", "up", netip.MustParseAddr("fe80::a:0"))
		sys.AddLink("eth1", "tenant", netip.MustParseAddr("fe80::a:1"))
		sys.FailOpen(context.DeadlineExceeded)
		a := newRouter(t, n, sys, "a", optA)
		defer a.stop()
		time.Sleep(3 * time.Second)
		wantStates(t, "open failing", a, ha.StateInitialize)
		sys.FailOpen(nil)
		time.Sleep(3 * time.Second)
		wantStates(t, "open works", a, ha.StateActive)
	})
}

func TestGroupCountsDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		defer a.stop()
		time.Sleep(time.Second)
		src := netip.MustParseAddr("fe80::b:1")
		good := ha.Advert{VRID: 51, Priority: 250, Interval: 10, Addresses: []netip.Addr{netip.MustParseAddr("fe80::1")}}
		b, _ := good.Append(nil, src, ha.AllRouters)
		other := good
		other.VRID = 52
		ob, _ := other.Append(nil, src, ha.AllRouters)
		p := a.sys.Port("eth1")
		for _, pkt := range []ha.Packet{
			{Data: b, HopLimit: 64, Src: src, Dst: ha.AllRouters},
			{Data: b[:10], HopLimit: 255, Src: src, Dst: ha.AllRouters},
			{Data: ob, HopLimit: 255, Src: src, Dst: ha.AllRouters},
			{Data: ob, HopLimit: 255, Src: src, Dst: ha.AllRouters},
		} {
			p.Inject(pkt)
		}
		synctest.Wait()
		in := a.g.Status().Instances[1]
		want := map[string]uint64{"hop_limit": 1, "truncated": 1, "other_vrid": 2}
		if len(in.AdvertsDropped) != len(want) {
			t.Fatalf("dropped %v, want %v", in.AdvertsDropped, want)
		}
		for k, v := range want {
			if in.AdvertsDropped[k] != v {
				t.Fatalf("dropped %v, want %v", in.AdvertsDropped, want)
			}
		}
		wantStates(t, "after bad packets", a, ha.StateActive)
		// A valid advert with a higher priority is processed: a yields.
		p.Inject(ha.Packet{Data: b, HopLimit: 255, Src: src, Dst: ha.AllRouters})
		synctest.Wait()
		wantStates(t, "after a better advert", a, ha.StateBackup)
		st := a.g.Status()
		if got := st.Instances[1].Peer; got == nil || got.Address != src || got.Priority != 250 {
			t.Errorf("peer %+v", got)
		}
		if st.Transitions["backup_to_active"] != 1 || st.Transitions["active_to_backup"] != 1 || st.Transitions["initialize_to_backup"] != 1 {
			t.Errorf("transitions %v", st.Transitions)
		}
	})
}

func TestStatusJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		defer a.stop()
		time.Sleep(time.Second)
		b, err := json.Marshal(a.g.Status())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"state", "vrid", "priority", "effective_priority", "advert_interval_ms", "active_advert_interval_ms", "last_transition", "transitions", "instances"} {
			if _, ok := m[k]; !ok {
				t.Errorf("status JSON lacks %q: %s", k, b)
			}
		}
		in := m["instances"].([]any)[1].(map[string]any)
		for _, k := range []string{"interface", "virtual_link", "virtual_mac", "link_up", "address", "adverts_sent", "adverts_received", "neighbor_adverts_sent", "virtual_addresses"} {
			if _, ok := in[k]; !ok {
				t.Errorf("instance JSON lacks %q: %s", k, b)
			}
		}
		if m["state"] != "active" || in["virtual_mac"] != "00:00:5e:00:02:33" || m["advert_interval_ms"] != 100.0 {
			t.Errorf("status %s", b)
		}
	})
}

func TestNewValidates(t *testing.T) {
	good := haConfig(optA)
	if _, err := ha.New(good, nil, ha.WithSystem(hatest.NewNet().NewSystem("x"))); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *config.HA)
		want string
	}{
		{"vrid 0", func(c *config.HA) { c.VRID = 0 }, "vrid"},
		{"priority 0", func(c *config.HA) { c.Priority = 0 }, "priority"},
		{"interval 5ms", func(c *config.HA) { c.AdvertInterval = 5 * time.Millisecond }, "advert_interval"},
		{"interval 15ms", func(c *config.HA) { c.AdvertInterval = 15 * time.Millisecond }, "advert_interval"},
		{"interval 41s", func(c *config.HA) { c.AdvertInterval = 41 * time.Second }, "advert_interval"},
		{"no interfaces", func(c *config.HA) { c.Interfaces = nil }, "interfaces"},
		{"twice", func(c *config.HA) { c.Interfaces[1].Name = "eth0" }, "named twice"},
		{"no address", func(c *config.HA) { c.Interfaces[0].VirtualAddresses = nil }, "virtual_addresses"},
		{"first global", func(c *config.HA) {
			c.Interfaces[0].VirtualAddresses[0], c.Interfaces[0].VirtualAddresses[1] = c.Interfaces[0].VirtualAddresses[1], c.Interfaces[0].VirtualAddresses[0]
		}, "not link-local"},
		{"IPv4", func(c *config.HA) { c.Interfaces[1].VirtualAddresses[1] = netip.MustParsePrefix("192.0.2.1/24") }, "not an IPv6"},
		{"multicast", func(c *config.HA) { c.Interfaces[1].VirtualAddresses[1] = netip.MustParsePrefix("ff02::5/128") }, "not a unicast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := haConfig(optA)
			tc.edit(c)
			_, err := ha.New(c, nil, ha.WithSystem(hatest.NewNet().NewSystem("x")))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one about %q", err, tc.want)
			}
		})
	}
	if _, err := ha.New(nil, nil); err == nil {
		t.Fatal("nil config accepted")
	}
}

// TestProblemsPaths: each problem names the field at fault, relative to
// the ha section, for the daemon's positioned errors.
func TestProblemsPaths(t *testing.T) {
	if ps := ha.Problems(haConfig(optA)); len(ps) != 0 {
		t.Fatalf("good config: %v", ps)
	}
	for _, tc := range []struct {
		name string
		edit func(c *config.HA)
		want []string
	}{
		{"vrid and priority", func(c *config.HA) { c.VRID, c.Priority = 0, 0 }, []string{"vrid", "priority"}},
		{"interval", func(c *config.HA) { c.AdvertInterval = 15 * time.Millisecond }, []string{"advert_interval"}},
		{"twice", func(c *config.HA) { c.Interfaces[1].Name = "eth0" }, []string{"interfaces.eth0"}},
		{"no address", func(c *config.HA) { c.Interfaces[1].VirtualAddresses = nil }, []string{"interfaces.eth1.virtual_addresses"}},
		{"first global", func(c *config.HA) {
			c.Interfaces[1].VirtualAddresses = c.Interfaces[1].VirtualAddresses[1:]
		}, []string{"interfaces.eth1.virtual_addresses[0]"}},
		{"multicast", func(c *config.HA) { c.Interfaces[1].VirtualAddresses[1] = netip.MustParsePrefix("ff02::5/128") }, []string{"interfaces.eth1.virtual_addresses[1]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := haConfig(optA)
			tc.edit(c)
			var got []string
			for _, p := range ha.Problems(c) {
				got = append(got, p.Path)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVirtualLinkName(t *testing.T) {
	for _, tc := range []struct {
		vrid  uint8
		index int
		want  string
	}{
		{51, 3, "vrrp51.3"},
		{255, 9999999, "vrrp255.9999999"},
		{255, 10000000, "vrff.989680"},
		{1, 1<<31 - 1, "vr1.7fffffff"},
	} {
		if got := ha.VirtualLinkName(tc.vrid, tc.index); got != tc.want || len(got) > 15 {
			t.Errorf("VirtualLinkName(%d, %d) = %q, want %q", tc.vrid, tc.index, got, tc.want)
		}
	}
	if got := ha.VirtualMAC(51).String(); got != "00:00:5e:00:02:33" {
		t.Errorf("VirtualMAC(51) = %s", got)
	}
}

// TestGroupLinkDownTimedWhenRead: a link going down while the group is
// still reading an earlier link of the same resync is stamped with the
// time it was read, never before the change (CI once saw a transition
// 16 ms older than the command that caused it).
func TestGroupLinkDownTimedWhenRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := hatest.NewNet()
		a := newRouter(t, n, nil, "a", optA)
		defer a.stop()
		time.Sleep(time.Second)
		wantStates(t, "alone", a, ha.StateActive)
		a.sys.SetLinkDelay("eth0", 5*time.Millisecond)
		a.sys.SetUp("eth0", true) // a resync that reads eth0 for 5 ms
		time.Sleep(time.Millisecond)
		linkDown := time.Now()
		a.sys.SetUp("eth1", false)
		time.Sleep(time.Second)
		wantStates(t, "eth1 down", a, ha.StateInitialize)
		if at := a.lastTo(ha.StateInitialize); at.Before(linkDown) {
			t.Errorf("a gave way at %v, %v before its link went down", at, linkDown.Sub(at))
		}
	})
}
