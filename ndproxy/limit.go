package ndproxy

import (
	"net/netip"
	"time"
)

// bucket is a token bucket refilled at rate tokens per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) allow(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens += d * rate
		if b.tokens > burst {
			b.tokens = burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket would be full at now (idle long enough to
// be forgotten without changing behaviour).
func (b *bucket) full(now time.Time, rate, burst float64) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= burst
}

// keyedLimiter is a token bucket per key with a bounded number of keys. When
// full, new keys are refused until prune forgets idle ones: a flood from many
// sources cannot grow memory, and sources already tracked keep their share.
type keyedLimiter struct {
	rate, burst float64
	max         int
	m           map[netip.Addr]*bucket
}

func newKeyedLimiter(rate, burst float64, max int) *keyedLimiter {
	return &keyedLimiter{rate: rate, burst: burst, max: max, m: make(map[netip.Addr]*bucket)}
}

func (l *keyedLimiter) allow(k netip.Addr, now time.Time) bool {
	b, ok := l.m[k]
	if !ok {
		if len(l.m) >= l.max {
			return false
		}
		b = &bucket{}
		l.m[k] = b
	}
	return b.allow(now, l.rate, l.burst)
}

func (l *keyedLimiter) prune(now time.Time) {
	for k, b := range l.m {
		if b.full(now, l.rate, l.burst) {
			delete(l.m, k)
		}
	}
}
