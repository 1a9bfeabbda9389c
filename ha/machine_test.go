package ha

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	llA     = netip.MustParseAddr("fe80::a")
	llB     = netip.MustParseAddr("fe80::b")
	llPeer1 = netip.MustParseAddr("fe80::1") // below llA and llB
	llPeerF = netip.MustParseAddr("fe80::f") // above llA and llB
)

func TestTimerFormulas(t *testing.T) {
	// Values worked out by hand from RFC 9568 §6.1:
	// Skew_Time = ((256 - Priority) * Active_Adver_Interval) / 256,
	// Active_Down_Interval = 3 * Active_Adver_Interval + Skew_Time.
	for _, tc := range []struct {
		prio       uint8
		interval   time.Duration
		skew, down time.Duration
	}{
		{100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{200, time.Second, 218750 * time.Microsecond, 3218750 * time.Microsecond},
		{200, 100 * time.Millisecond, 21875 * time.Microsecond, 321875 * time.Microsecond},
		{100, 20 * time.Millisecond, 12187500 * time.Nanosecond, 72187500 * time.Nanosecond},
		{255, time.Second, 3906250 * time.Nanosecond, 3003906250 * time.Nanosecond},
		{1, 10 * time.Millisecond, 9960937 * time.Nanosecond, 39960937 * time.Nanosecond}, // 9.9609375ms, truncated to ns
		{254, MaxInterval, 319921875 * time.Microsecond / 1000, 3*MaxInterval + 319921875*time.Microsecond/1000},
	} {
		if got := skewTime(tc.prio, tc.interval); got != tc.skew {
			t.Errorf("skewTime(%d, %v) = %v, want %v", tc.prio, tc.interval, got, tc.skew)
		}
		if got := activeDownInterval(tc.prio, tc.interval); got != tc.down {
			t.Errorf("activeDownInterval(%d, %v) = %v, want %v", tc.prio, tc.interval, got, tc.down)
		}
	}
	// A higher priority always has the shorter skew, even where RFC
	// arithmetic in whole centiseconds would make them equal.
	for p := 1; p < 255; p++ {
		if a, b := skewTime(uint8(p), 20*time.Millisecond), skewTime(uint8(p+1), 20*time.Millisecond); a <= b {
			t.Fatalf("skew of priority %d (%v) not above that of %d (%v)", p, a, p+1, b)
		}
	}
}

// newTestMachine returns a started machine with two instances ("eth0",
// "eth1") up with link-local llA on both.
func newTestMachine(t *testing.T, prio uint8, interval time.Duration, preempt bool) *machine {
	t.Helper()
	m := newMachine(params{vrid: 7, priority: prio, interval: interval, preempt: preempt, names: []string{"eth0", "eth1"}},
		rand.New(rand.NewPCG(1, 2)))
	if steps := m.setLink(0, true, llA, t0); steps != nil {
		t.Fatalf("link up before start: %v", steps)
	}
	m.setLink(1, true, llA, t0)
	return m
}

// describe renders steps as short strings for comparisons.
func describe(steps []step) []string {
	var out []string
	for _, s := range steps {
		switch s.kind {
		case stepActivate:
			out = append(out, "activate")
		case stepDeactivate:
			out = append(out, "deactivate")
		case stepAdvert:
			out = append(out, "advert "+[]string{"eth0", "eth1"}[s.inst]+" prio "+strconv.Itoa(int(s.prio)))
		case stepNA:
			out = append(out, "na "+[]string{"eth0", "eth1"}[s.inst])
		case stepRelease:
			out = append(out, "release "+[]string{"eth0", "eth1"}[s.inst])
		case stepTransition:
			out = append(out, string(s.tr.From)+"->"+string(s.tr.To))
		}
	}
	return out
}

func adv(prio uint8, interval time.Duration) Advert {
	return Advert{VRID: 7, Priority: prio, Interval: uint16(interval / Centisecond), Addresses: []netip.Addr{netip.MustParseAddr("fe80::1")}}
}

func wantSteps(t *testing.T, what string, got []step, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, describe(got)); diff != "" {
		t.Errorf("%s: steps (-want +got):\n%s", what, diff)
	}
}

var becameActive = []string{"activate", "advert eth0 prio 100", "advert eth1 prio 100", "na eth0", "na eth1", "backup->active"}

func TestStartupAndTimeout(t *testing.T) {
	const ivl = time.Second
	m := newTestMachine(t, 100, ivl, true)
	wantSteps(t, "start", m.start(t0), "initialize->backup")
	down := t0.Add(3609375 * time.Microsecond)
	if got := m.next(); !got.Equal(down) {
		t.Fatalf("next = %v, want Active_Down_Interval later %v", got.Sub(t0), down.Sub(t0))
	}
	wantSteps(t, "tick just before", m.tick(down.Add(-time.Nanosecond)))
	if m.state != StateBackup {
		t.Fatalf("state %s before the timer", m.state)
	}
	wantSteps(t, "timer", m.tick(down), becameActive...)
	if got := m.next(); !got.Equal(down.Add(ivl)) {
		t.Fatalf("next advert at %v, want %v", got.Sub(t0), down.Add(ivl).Sub(t0))
	}
	wantSteps(t, "adver timer", m.tick(down.Add(ivl)), "advert eth0 prio 100", "advert eth1 prio 100")
	wantSteps(t, "adver timer again", m.tick(down.Add(2*ivl)), "advert eth0 prio 100", "advert eth1 prio 100")
}

func TestStartupWaitsForEveryLink(t *testing.T) {
	m := newMachine(params{vrid: 7, priority: 100, interval: time.Second, names: []string{"eth0", "eth1"}}, rand.New(rand.NewPCG(1, 2)))
	m.setLink(0, true, llA, t0)
	wantSteps(t, "start with eth1 down", m.start(t0))
	if m.state != StateInitialize || !m.next().IsZero() {
		t.Fatalf("state %s next %v, want initialize without timers", m.state, m.next())
	}
	// Up without a link-local address is not usable.
	wantSteps(t, "eth1 up without link-local", m.setLink(1, true, netip.Addr{}, t0))
	wantSteps(t, "eth1 usable", m.setLink(1, true, llA, t0.Add(time.Second)), "initialize->backup")
	if got, want := m.next(), t0.Add(time.Second+3609375*time.Microsecond); !got.Equal(want) {
		t.Fatalf("Active_Down_Timer from link up: %v, want %v", got, want)
	}
}

func TestOwnerGoesActiveAtOnce(t *testing.T) {
	m := newTestMachine(t, 255, time.Second, false)
	wantSteps(t, "start", m.start(t0), "activate", "advert eth0 prio 255", "advert eth1 prio 255", "na eth0", "na eth1", "initialize->active")
}

func TestBackupAdvertisements(t *testing.T) {
	const ivl = time.Second
	for _, tc := range []struct {
		name       string
		local      uint8
		preempt    bool
		theirs     uint8
		theirIvl   time.Duration
		wantDownAt time.Duration // after the advert at t0+1s; 0 = unchanged
	}{
		// RFC 9568 §6.4.2: adopt their interval, reset to Active_Down_Interval.
		{"higher priority", 100, true, 200, 2 * time.Second, 3*2*time.Second + 156*2*time.Second/256},
		{"equal priority, no tie-break in Backup", 100, true, 100, ivl, 3*ivl + 156*ivl/256},
		{"lower priority without preemption", 100, false, 50, 500 * time.Millisecond, 1500*time.Millisecond + 156*500*time.Millisecond/256},
		{"lower priority with preemption is discarded", 100, true, 50, 500 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMachine(t, tc.local, ivl, tc.preempt)
			m.start(t0)
			orig := m.inst[0].downTimer
			at := t0.Add(time.Second)
			wantSteps(t, "advert", m.advert(0, adv(tc.theirs, tc.theirIvl), llPeer1, at))
			in := m.inst[0]
			if tc.wantDownAt == 0 {
				if !in.downTimer.Equal(orig) || in.activeAdverInterval != ivl {
					t.Fatalf("discarded advert changed the timer: %v (was %v), interval %v", in.downTimer, orig, in.activeAdverInterval)
				}
				wantSteps(t, "timer", m.tick(orig), "activate", "advert eth0 prio 100", "advert eth1 prio 100", "na eth0", "na eth1", "backup->active")
				return
			}
			if !in.downTimer.Equal(at.Add(tc.wantDownAt)) {
				t.Fatalf("Active_Down_Timer %v after the advert, want %v", in.downTimer.Sub(at), tc.wantDownAt)
			}
			if in.activeAdverInterval != tc.theirIvl {
				t.Fatalf("Active_Adver_Interval %v, want theirs %v", in.activeAdverInterval, tc.theirIvl)
			}
			if in.peer.addr != llPeer1 || in.peer.priority != tc.theirs {
				t.Fatalf("peer %+v", in.peer)
			}
		})
	}
}

func TestBackupPriorityZero(t *testing.T) {
	const ivl = time.Second
	m := newTestMachine(t, 100, ivl, true)
	m.start(t0)
	at := t0.Add(time.Second)
	m.advert(0, adv(200, ivl), llPeer1, at)
	m.advert(1, adv(200, ivl), llPeer1, at)
	// The Active resigns on eth0: Skew_Time there (RFC 9568 §6.4.2), and
	// no longer than Skew_Time on eth1, since it resigned the group.
	stop := at.Add(100 * time.Millisecond)
	m.advert(0, adv(0, ivl), llPeer1, stop)
	skew := 156 * ivl / 256
	for i := range m.inst {
		if got := m.inst[i].downTimer; !got.Equal(stop.Add(skew)) {
			t.Errorf("instance %d: Active_Down_Timer %v after the priority 0, want Skew_Time %v", i, got.Sub(stop), skew)
		}
	}
	wantSteps(t, "before skew", m.tick(stop.Add(skew-1)))
	wantSteps(t, "skew", m.tick(stop.Add(skew)), becameActive...)
}

func TestGroupWaitsForEveryInstance(t *testing.T) {
	const ivl = time.Second
	m := newTestMachine(t, 100, ivl, false)
	m.start(t0)
	down := m.inst[0].downTimer
	// eth1 keeps hearing the Active, eth0 not.
	m.advert(1, adv(150, ivl), llPeer1, t0.Add(3*time.Second))
	wantSteps(t, "eth0 timer alone", m.tick(down))
	if !m.inst[0].expired || m.state != StateBackup {
		t.Fatalf("eth0 expired=%v state %s", m.inst[0].expired, m.state)
	}
	// An advert on eth0 again puts its timer back.
	m.advert(0, adv(150, ivl), llPeer1, down.Add(time.Second))
	if m.inst[0].expired {
		t.Fatal("eth0 still expired after an advert")
	}
	m.advert(1, adv(150, ivl), llPeer1, t0.Add(6*time.Second))
	// eth0 runs out first, then eth1: Active only then.
	wantSteps(t, "eth0 out again", m.tick(down.Add(time.Second).Add(3609375*time.Microsecond)))
	wantSteps(t, "both out", m.tick(t0.Add(6*time.Second+3609375*time.Microsecond)), becameActive...)
}

// active returns a machine that became Active at t0 + its down interval,
// and that time.
func active(t *testing.T, prio uint8, ivl time.Duration, preempt bool) (*machine, time.Time) {
	t.Helper()
	m := newTestMachine(t, prio, ivl, preempt)
	m.start(t0)
	at := m.next()
	m.tick(at)
	if m.state != StateActive {
		t.Fatalf("not active: %s", m.state)
	}
	return m, at
}

func TestActiveAdvertisements(t *testing.T) {
	const ivl = time.Second
	for _, tc := range []struct {
		name   string
		theirs uint8
		src    netip.Addr
		want   []string
	}{
		{"priority 0: advert at once", 0, llPeer1, []string{"advert eth1 prio 100"}},
		{"lower priority: assert at once", 50, llPeerF, []string{"advert eth1 prio 100"}},
		{"equal priority, lower address: assert", 100, llPeer1, []string{"advert eth1 prio 100"}},
		{"equal priority, higher address: yield", 100, llPeerF, []string{"advert eth0 prio 0", "active->backup", "deactivate"}},
		{"higher priority: yield", 101, llPeer1, []string{"advert eth0 prio 0", "active->backup", "deactivate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, at := active(t, 100, ivl, true)
			now := at.Add(300 * time.Millisecond)
			wantSteps(t, "advert on eth1", m.advert(1, adv(tc.theirs, 2*time.Second), tc.src, now), tc.want...)
			if m.state == StateActive {
				if got := m.inst[1].adverTimer; !got.Equal(now.Add(ivl)) {
					t.Errorf("Adver_Timer not reset: %v", got.Sub(now))
				}
				return
			}
			// Yielded: Active_Down_Timer from their interval on every link.
			for i := range m.inst {
				in := m.inst[i]
				if want := now.Add(3*2*time.Second + 156*2*time.Second/256); !in.downTimer.Equal(want) || !in.adverTimer.IsZero() {
					t.Errorf("instance %d: down %v adver %v", i, in.downTimer.Sub(now), in.adverTimer)
				}
			}
			if tc.theirs == 100 && !m.tieBreak {
				t.Error("tie-break yield not remembered")
			}
			if !strings.Contains(m.last.Reason, "eth1") {
				t.Errorf("reason %q does not name the interface", m.last.Reason)
			}
		})
	}
}

func TestLinkDownResigns(t *testing.T) {
	const ivl = time.Second
	m, at := active(t, 100, ivl, true)
	// eth1 goes down: priority 0 where it can still be sent, then nothing.
	wantSteps(t, "eth1 down", m.setLink(1, false, llA, at), "advert eth0 prio 0", "active->initialize", "deactivate")
	if !m.next().IsZero() {
		t.Fatalf("timer running in initialize: %v", m.next())
	}
	wantSteps(t, "advert while initialize", m.advert(0, adv(50, ivl), llPeer1, at))
	wantSteps(t, "eth1 up", m.setLink(1, true, llA, at.Add(time.Second)), "initialize->backup")
	// Link down in Backup: just Initialize.
	wantSteps(t, "eth0 down in backup", m.setLink(0, false, llA, at.Add(2*time.Second)), "backup->initialize")
}

func TestStop(t *testing.T) {
	m, at := active(t, 100, time.Second, true)
	// The virtual links stay up: no deactivate yet.
	wantSteps(t, "stop", m.stop(at), "advert eth0 prio 0", "advert eth1 prio 0", "active->initialize")
	if m.state != StateInitialize || !m.draining() {
		t.Fatalf("state %s, draining %v after stop", m.state, m.draining())
	}
	// The longest the peer may take, capped at a second.
	end := at.Add(maxDrain)
	if got := m.next(); !got.Equal(end) {
		t.Fatalf("drain ends %v after the stop, want %v", got.Sub(at), maxDrain)
	}
	wantSteps(t, "tick before the end", m.tick(end.Add(-time.Nanosecond)))
	// The peer's priority 0 says nothing about who is Active.
	wantSteps(t, "peer resigns too", m.advert(0, adv(0, time.Second), llPeer1, at))
	wantSteps(t, "peer Active on eth1", m.advert(1, adv(50, time.Second), llPeer1, at), "release eth1")
	wantSteps(t, "again on eth1", m.advert(1, adv(50, time.Second), llPeer1, at))
	if !m.draining() {
		t.Fatal("drain over with eth0 still up")
	}
	wantSteps(t, "timeout", m.tick(end), "deactivate")
	if m.draining() || !m.next().IsZero() {
		t.Fatalf("draining %v, next %v after the timeout", m.draining(), m.next())
	}
	wantSteps(t, "link flap after stop", slices.Concat(m.setLink(0, false, llA, at), m.setLink(0, true, llA, at)))
	if m.state != StateInitialize {
		t.Fatalf("state %s after stop", m.state)
	}

	// Heard on every link: over without a timeout; a link going down
	// releases its instance.
	m, at = active(t, 100, 20*time.Millisecond, true)
	wantSteps(t, "stop", m.stop(at), "advert eth0 prio 0", "advert eth1 prio 0", "active->initialize")
	if got, want := m.next(), at.Add(activeDownInterval(1, 20*time.Millisecond)); !got.Equal(want) {
		t.Fatalf("drain ends %v after the stop, want %v", got.Sub(at), want.Sub(at))
	}
	wantSteps(t, "eth0 down", m.setLink(0, false, llA, at), "release eth0")
	wantSteps(t, "peer Active on eth1", m.advert(1, adv(50, 20*time.Millisecond), llPeer1, at), "release eth1")
	if m.draining() || !m.next().IsZero() {
		t.Fatalf("draining %v, next %v with every link released", m.draining(), m.next())
	}

	m2 := newTestMachine(t, 100, time.Second, true)
	m2.start(t0)
	wantSteps(t, "stop in backup", m2.stop(t0), "backup->initialize")
	if m2.draining() {
		t.Fatal("a Backup drains")
	}
}

func TestTieBreakHold(t *testing.T) {
	const ivl = time.Second
	m, at := active(t, 100, ivl, true)
	yield := at.Add(100 * time.Millisecond)
	m.advert(0, adv(100, ivl), llPeerF, yield)
	if m.state != StateBackup || !m.tieBreak {
		t.Fatalf("state %s tieBreak %v", m.state, m.tieBreak)
	}
	down := m.next()
	wantSteps(t, "timers out", m.tick(down))
	hold := m.hold
	if hold.Before(down) || !hold.Before(down.Add(ivl)) {
		t.Fatalf("hold %v after the timers, want within [0, %v)", hold.Sub(down), ivl)
	}
	if hold.After(down) {
		if got := m.next(); !got.Equal(hold) {
			t.Fatalf("next %v, want the hold %v", got, hold)
		}
		wantSteps(t, "before hold", m.tick(hold.Add(-1)))
	}
	wantSteps(t, "hold over", m.tick(hold), becameActive...)
	if m.tieBreak || !m.hold.IsZero() {
		t.Fatal("hold kept after becoming Active")
	}
	// Yield again; the peer's adverts right after do not end the
	// contention, those a whole Active_Down_Interval later do.
	again := hold.Add(time.Millisecond)
	m.advert(0, adv(100, ivl), llPeerF, again)
	m.advert(0, adv(100, ivl), llPeerF, again.Add(time.Millisecond))
	if !m.tieBreak {
		t.Fatal("tie-break forgotten on the advert right after the yield")
	}
	m.advert(0, adv(100, ivl), llPeerF, again.Add(activeDownInterval(100, ivl)))
	if m.tieBreak {
		t.Fatal("tie-break remembered after an Active advertised for Active_Down_Interval")
	}
}

// TestEqualPriorityConverges runs two machines with equal priorities,
// each winning the address tie-break on one of the two links, on a
// simulated wire without delay. In random delivery orders, and in the
// perfectly mirrored one where both routers yield at once and their timers
// stay in step (only the random hold separates them), they must end with
// exactly one Active and stay so.
func TestEqualPriorityConverges(t *testing.T) {
	for seed := range uint64(50) {
		simulateEqualPriority(t, seed, false)
	}
	for seed := range uint64(20) {
		simulateEqualPriority(t, seed, true)
	}
}

func simulateEqualPriority(t *testing.T, seed uint64, mirrored bool) {
	t.Helper()
	const ivl = 100 * time.Millisecond
	order := rand.New(rand.NewPCG(seed, 99))
	ms := [2]*machine{}
	lls := [2][2]netip.Addr{{llPeerF, llPeer1}, {llB, llA}} // 0 wins link 0, 1 wins link 1
	for r := range ms {
		ms[r] = newMachine(params{vrid: 7, priority: 100, interval: ivl, preempt: true, names: []string{"eth0", "eth1"}},
			rand.New(rand.NewPCG(seed, uint64(r))))
		ms[r].setLink(0, true, lls[r][0], t0)
		ms[r].setLink(1, true, lls[r][1], t0)
		ms[r].start(t0)
	}
	type msg struct {
		inst int
		prio uint8
	}
	var inbox [2][]msg
	emit := func(from int, steps []step) {
		var out []msg
		for _, s := range steps {
			if s.kind == stepAdvert {
				out = append(out, msg{s.inst, s.prio})
			}
		}
		if mirrored && from == 1 {
			slices.Reverse(out) // router 1 sends on its winning link first, as router 0 does
		}
		inbox[1-from] = append(inbox[1-from], out...)
	}
	now := t0
	for now.Before(t0.Add(20 * time.Second)) {
		next := time.Time{}
		for _, m := range ms {
			if n := m.next(); !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
		now = next
		rs := []int{0, 1}
		if !mirrored {
			rs = order.Perm(2)
		}
		for _, r := range rs {
			emit(r, ms[r].tick(now))
		}
		for len(inbox[0])+len(inbox[1]) > 0 {
			// Mirrored: one message to each in turn. Random: any order.
			if mirrored {
				batch := [2][]msg{inbox[0], inbox[1]}
				inbox = [2][]msg{}
				for k := 0; k < max(len(batch[0]), len(batch[1])); k++ {
					for r := range 2 {
						if k < len(batch[r]) {
							emit(r, ms[r].advert(batch[r][k].inst, adv(batch[r][k].prio, ivl), lls[1-r][batch[r][k].inst], now))
						}
					}
				}
				continue
			}
			to := order.IntN(2)
			if len(inbox[to]) == 0 {
				to = 1 - to
			}
			i := order.IntN(len(inbox[to]))
			w := inbox[to][i]
			inbox[to] = append(inbox[to][:i], inbox[to][i+1:]...)
			emit(to, ms[to].advert(w.inst, adv(w.prio, ivl), lls[1-to][w.inst], now))
		}
		if now.After(t0.Add(5*time.Second)) && (ms[0].state == StateActive) == (ms[1].state == StateActive) {
			t.Fatalf("seed %d mirrored %v at %v: states %s and %s", seed, mirrored, now.Sub(t0), ms[0].state, ms[1].state)
		}
	}
}
