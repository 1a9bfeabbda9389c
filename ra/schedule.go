package ra

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// Router constants of RFC 4861 §10.
const (
	maxInitialAdvertisements = 3
	maxInitialAdvertInterval = 16 * time.Second
	minDelayBetweenRAs       = 3 * time.Second
	maxRADelay               = 500 * time.Millisecond
)

// maxPendingUnicast bounds the unicast replies waiting for their delay, so an
// RS storm from many sources cannot grow memory.
const maxPendingUnicast = 64

// scheduler decides when RAs go out (RFC 4861 §6.2.4, §6.2.6). It holds no
// timers: callers pass the current time, ask wake for the next deadline, and
// call multicastSent after each multicast RA. It is not safe for concurrent
// use.
type scheduler struct {
	minInterval, maxInterval time.Duration
	rng                      *rand.Rand

	sent    int       // multicast RAs sent since the (initial) phase began
	last    time.Time // last multicast RA; zero before the first
	next    time.Time // next multicast RA is due
	unicast []pendingUnicast
}

type pendingUnicast struct {
	dst netip.Addr
	at  time.Time
}

func newScheduler(rng *rand.Rand, minInterval, maxInterval time.Duration) *scheduler {
	s := &scheduler{rng: rng}
	s.setIntervals(minInterval, maxInterval)
	return s
}

// setIntervals applies the RFC 4861 §6.2.1 defaults to unset values:
// MaxRtrAdvInterval 600s, MinRtrAdvInterval 0.33*Max (Max when Max < 9s).
func (s *scheduler) setIntervals(minInterval, maxInterval time.Duration) {
	if maxInterval <= 0 {
		maxInterval = 600 * time.Second
	}
	if minInterval <= 0 || minInterval > maxInterval {
		minInterval = maxInterval
		if maxInterval >= 9*time.Second {
			minInterval = maxInterval * 33 / 100
		}
	}
	s.minInterval, s.maxInterval = minInterval, maxInterval
}

// restart enters the initial phase: the next multicast RA goes out now, or
// as soon as MIN_DELAY_BETWEEN_RAS allows.
func (s *scheduler) restart(now time.Time) {
	s.sent = 0
	s.next = s.notBefore(now)
}

// notBefore returns t, or later if a multicast RA went out less than
// MIN_DELAY_BETWEEN_RAS before t.
func (s *scheduler) notBefore(t time.Time) time.Time {
	if !s.last.IsZero() {
		if earliest := s.last.Add(minDelayBetweenRAs); t.Before(earliest) {
			return earliest
		}
	}
	return t
}

// multicastSent records a multicast RA sent at now and resets the timer to a
// new random interval (§6.2.4; also after solicited ones, §6.2.6).
func (s *scheduler) multicastSent(now time.Time) {
	s.sent++
	s.last = now
	s.next = now.Add(s.interval())
}

// interval is uniformly random in [MinRtrAdvInterval, MaxRtrAdvInterval],
// at most MAX_INITIAL_RTR_ADVERT_INTERVAL between the first
// MAX_INITIAL_RTR_ADVERTISEMENTS, and never below MIN_DELAY_BETWEEN_RAS.
func (s *scheduler) interval() time.Duration {
	d := s.minInterval
	if span := s.maxInterval - s.minInterval; span > 0 {
		d += time.Duration(s.rng.Int64N(int64(span) + 1))
	}
	if s.sent < maxInitialAdvertisements && d > maxInitialAdvertInterval {
		d = maxInitialAdvertInterval
	}
	return max(d, minDelayBetweenRAs)
}

// solicited schedules the reply to a valid Router Solicitation from src
// (zone stripped) received at now: after a random delay of up to
// MAX_RA_DELAY_TIME, unicast to src, or multicast when src is "::" — then
// no earlier than MIN_DELAY_BETWEEN_RAS after the last multicast RA, and
// absorbed by a multicast RA already due by then.
func (s *scheduler) solicited(now time.Time, src netip.Addr) {
	at := now.Add(time.Duration(s.rng.Int64N(int64(maxRADelay) + 1)))
	if src.IsUnspecified() {
		at = s.notBefore(at)
		if at.Before(s.next) {
			s.next = at
		}
		return
	}
	for _, p := range s.unicast {
		if p.dst == src {
			return // a reply is already on its way
		}
	}
	if len(s.unicast) >= maxPendingUnicast {
		return
	}
	s.unicast = append(s.unicast, pendingUnicast{dst: src, at: at})
}

// multicastDue reports whether a multicast RA is due at now.
func (s *scheduler) multicastDue(now time.Time) bool { return !now.Before(s.next) }

// dueUnicast removes and returns, appended to dst, the unicast replies due at
// now.
func (s *scheduler) dueUnicast(now time.Time, dst []netip.Addr) []netip.Addr {
	kept := s.unicast[:0]
	for _, p := range s.unicast {
		if now.Before(p.at) {
			kept = append(kept, p)
		} else {
			dst = append(dst, p.dst)
		}
	}
	clear(s.unicast[len(kept):])
	s.unicast = kept
	return dst
}

// wake returns when the scheduler next has something to send.
func (s *scheduler) wake() time.Time {
	t := s.next
	for _, p := range s.unicast {
		if p.at.Before(t) {
			t = p.at
		}
	}
	return t
}
