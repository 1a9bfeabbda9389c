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

// Unicast replies are rate-limited by a token bucket: an RS storm from many
// sources gets at most unicastBurst replies at once and unicastRate per
// second after that; the other solicitors are answered by the next
// multicast RA, which MIN_DELAY_BETWEEN_RAS spaces (RFC 7772 §5.1 allows
// either).
const (
	unicastRate  = 10
	unicastBurst = 20
)

// solicitResult says how a Router Solicitation is answered.
type solicitResult uint8

const (
	replyUnicast   solicitResult = iota // a unicast reply was scheduled
	replyPending                        // a unicast reply to src was already pending
	replyMulticast                      // the RS came from "::": multicast reply
	replyLimited                        // over the unicast limit: multicast reply
)

// scheduler decides when RAs go out (RFC 4861 §6.2.4, §6.2.6). It holds no
// timers: callers pass the current time, ask wake for the next deadline, and
// call multicastSent after each multicast RA. It is not safe for concurrent
// use.
type scheduler struct {
	minInterval, maxInterval time.Duration
	rng                      *rand.Rand

	sent      int       // multicast RAs sent since the (initial) phase began
	last      time.Time // last multicast RA; zero before the first
	next      time.Time // next multicast RA is due
	bySolicit bool      // next was brought forward by a solicitation
	unicast   []pendingUnicast

	tokens   float64   // unicast replies that may go out now
	tokensAt time.Time // when tokens was last refilled
}

type pendingUnicast struct {
	dst netip.Addr
	at  time.Time
}

func newScheduler(rng *rand.Rand, minInterval, maxInterval time.Duration) *scheduler {
	s := &scheduler{rng: rng, tokens: unicastBurst}
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
	s.bySolicit = false
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
	s.bySolicit = false
}

// multicastSolicited reports whether the multicast RA due next answers a
// solicitation (rather than being a periodic one).
func (s *scheduler) multicastSolicited() bool { return s.bySolicit }

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
// MAX_RA_DELAY_TIME, unicast to src (RFC 7772), or multicast when src is
// "::" or the unicast replies are over their rate limit — then no earlier
// than MIN_DELAY_BETWEEN_RAS after the last multicast RA, and absorbed by a
// multicast RA already due by then.
func (s *scheduler) solicited(now time.Time, src netip.Addr) solicitResult {
	at := now.Add(time.Duration(s.rng.Int64N(int64(maxRADelay) + 1)))
	if src.IsUnspecified() {
		s.multicastBy(at)
		return replyMulticast
	}
	for _, p := range s.unicast {
		if p.dst == src {
			return replyPending // a reply is already on its way
		}
	}
	s.refill(now)
	if s.tokens < 1 || len(s.unicast) >= maxPendingUnicast {
		s.multicastBy(at)
		return replyLimited
	}
	s.tokens--
	s.unicast = append(s.unicast, pendingUnicast{dst: src, at: at})
	return replyUnicast
}

// multicastBy makes a multicast RA go out at at, or as soon after as
// MIN_DELAY_BETWEEN_RAS allows, unless one is due earlier anyway.
func (s *scheduler) multicastBy(at time.Time) {
	at = s.notBefore(at)
	if at.Before(s.next) {
		s.next = at
		s.bySolicit = true
	}
}

// refill adds the unicast tokens earned since the last refill.
func (s *scheduler) refill(now time.Time) {
	if s.tokensAt.IsZero() || now.Before(s.tokensAt) {
		s.tokensAt = now
		return
	}
	s.tokens = min(s.tokens+now.Sub(s.tokensAt).Seconds()*unicastRate, unicastBurst)
	s.tokensAt = now
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
