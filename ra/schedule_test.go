package ra

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSchedulerIntervals(t *testing.T) {
	for seed := range uint64(50) {
		s := newScheduler(rand.New(rand.NewPCG(seed, 1)), 200*time.Second, 600*time.Second)
		now := t0
		s.restart(now)
		if !s.multicastDue(now) {
			t.Fatalf("seed %d: first RA not due immediately", seed)
		}
		for i := 1; i <= 20; i++ {
			s.multicastSent(now)
			d := s.wake().Sub(now)
			switch {
			case i < maxInitialAdvertisements:
				if d < minDelayBetweenRAs || d > maxInitialAdvertInterval {
					t.Fatalf("seed %d: interval after RA %d = %s, want within [3s, 16s]", seed, i, d)
				}
			default:
				if d < 200*time.Second || d > 600*time.Second {
					t.Fatalf("seed %d: interval after RA %d = %s, want within [200s, 600s]", seed, i, d)
				}
			}
			now = now.Add(d)
			if !s.multicastDue(now) || s.multicastDue(now.Add(-time.Nanosecond)) {
				t.Fatalf("seed %d: multicast not due exactly at wake", seed)
			}
		}
	}
}

func TestSchedulerIntervalsAreSpread(t *testing.T) {
	// Uniform in [min, max]: over many draws both ends of the range show up.
	s := newScheduler(rand.New(rand.NewPCG(1, 2)), 200*time.Second, 600*time.Second)
	s.sent = maxInitialAdvertisements
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for range 2000 {
		d := s.interval()
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > 210*time.Second || hi < 590*time.Second {
		t.Fatalf("intervals span [%s, %s], want close to [200s, 600s]", lo, hi)
	}
}

func TestSchedulerDefaults(t *testing.T) {
	tests := []struct{ min, max, wantMin, wantMax time.Duration }{
		{0, 0, 198 * time.Second, 600 * time.Second},
		{0, 4 * time.Second, 4 * time.Second, 4 * time.Second},
		{0, 30 * time.Second, 9900 * time.Millisecond, 30 * time.Second},
		{10 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		s := newScheduler(rand.New(rand.NewPCG(1, 1)), tt.min, tt.max)
		if s.minInterval != tt.wantMin || s.maxInterval != tt.wantMax {
			t.Errorf("newScheduler(%s, %s) intervals = %s, %s; want %s, %s", tt.min, tt.max, s.minInterval, s.maxInterval, tt.wantMin, tt.wantMax)
		}
	}
}

func TestSchedulerSolicitedMulticast(t *testing.T) {
	s := newScheduler(rand.New(rand.NewPCG(3, 4)), 200*time.Second, 600*time.Second)
	s.restart(t0)
	s.multicastSent(t0)
	// Steady state far from the next unsolicited RA.
	s.sent = maxInitialAdvertisements
	s.multicastSent(t0)

	// An RS 1s after a multicast RA: the reply waits for last+3s.
	s.solicited(t0.Add(time.Second), netip.IPv6Unspecified())
	if got := s.wake(); !got.Equal(t0.Add(minDelayBetweenRAs)) {
		t.Fatalf("reply to RS from :: at +1s scheduled at +%s, want +3s", got.Sub(t0))
	}
	// More RSs do not bring it forward.
	for i := range 100 {
		s.solicited(t0.Add(time.Second+time.Duration(i)*time.Millisecond), netip.IPv6Unspecified())
	}
	if got := s.wake(); !got.Equal(t0.Add(minDelayBetweenRAs)) {
		t.Fatalf("after storm reply at +%s, want +3s", got.Sub(t0))
	}
	now := t0.Add(minDelayBetweenRAs)
	s.multicastSent(now)
	if d := s.wake().Sub(now); d < 200*time.Second {
		t.Fatalf("timer after solicited multicast RA = %s, want a fresh interval >= 200s", d)
	}

	// An RS long after: replied within MAX_RA_DELAY_TIME.
	later := now.Add(100 * time.Second)
	s.solicited(later, netip.IPv6Unspecified())
	if d := s.wake().Sub(later); d < 0 || d > maxRADelay {
		t.Fatalf("reply delay %s, want within [0, 500ms]", d)
	}
}

func TestSchedulerSolicitedUnicast(t *testing.T) {
	s := newScheduler(rand.New(rand.NewPCG(5, 6)), 200*time.Second, 600*time.Second)
	s.restart(t0)
	s.multicastSent(t0)
	s.sent = maxInitialAdvertisements
	s.multicastSent(t0)
	a := netip.MustParseAddr("fe80::a")
	host := func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 13: 1, 14: byte(i >> 8), 15: byte(i)})
	}
	if r := s.solicited(t0, a); r != replyUnicast {
		t.Fatalf("first RS: %v, want unicast", r)
	}
	if r := s.solicited(t0, a); r != replyPending {
		t.Fatalf("duplicate RS: %v, want pending", r)
	}
	// An RS storm from many sources: the burst gets unicast replies, the
	// rest a multicast RA within 3s of the last one.
	var limited int
	for i := range 100 {
		if s.solicited(t0.Add(time.Second), host(i)) == replyLimited {
			limited++
		}
	}
	// The bucket refilled during the second: the burst, plus the first.
	if len(s.unicast) != unicastBurst+1 || limited != 100-unicastBurst {
		t.Fatalf("%d pending unicast replies, %d limited; want %d and %d", len(s.unicast), limited, unicastBurst+1, 100-unicastBurst)
	}
	if !s.multicastSolicited() || s.next.After(t0.Add(minDelayBetweenRAs)) {
		t.Fatalf("limited RSs scheduled a multicast RA at +%s (solicited %v), want +3s", s.next.Sub(t0), s.multicastSolicited())
	}
	if got := s.dueUnicast(t0.Add(-time.Nanosecond), nil); len(got) != 0 {
		t.Fatalf("replies due before the RS: %v", got)
	}
	got := s.dueUnicast(t0.Add(time.Second+maxRADelay), nil)
	if len(got) != unicastBurst+1 || got[0] != a {
		t.Fatalf("due replies = %d (first %v), want %d starting with %v", len(got), got[0], unicastBurst+1, a)
	}
	if len(s.unicast) != 0 {
		t.Fatalf("%d replies still pending", len(s.unicast))
	}
	// Tokens come back at unicastRate per second.
	later := t0.Add(2 * time.Second)
	n := 0
	for i := range 100 {
		if s.solicited(later, host(1000+i)) == replyUnicast {
			n++
		}
	}
	if n != unicastRate {
		t.Fatalf("%d unicast replies 1s after the burst, want %d", n, unicastRate)
	}
}

func TestSchedulerRestartKeepsSpacing(t *testing.T) {
	s := newScheduler(rand.New(rand.NewPCG(7, 8)), 200*time.Second, 600*time.Second)
	s.restart(t0)
	s.multicastSent(t0)
	s.restart(t0.Add(time.Second)) // e.g. Update right after an RA
	if got := s.wake(); !got.Equal(t0.Add(minDelayBetweenRAs)) {
		t.Fatalf("after restart next RA at +%s, want +3s", got.Sub(t0))
	}
	if s.sent != 0 {
		t.Fatalf("restart left sent = %d", s.sent)
	}
}
