package main

import (
	"math"
	"time"
)

// hist counts latencies at microsecond resolution up to max; longer ones
// fall in the last bucket.
type hist struct {
	us    []uint32
	n     uint64
	maxUS int
}

func newHist(max time.Duration) *hist {
	return &hist{us: make([]uint32, max.Microseconds()+1)}
}

func (h *hist) add(d time.Duration) {
	us := int(max(d.Microseconds(), 0))
	us = min(us, len(h.us)-1)
	h.us[us]++
	h.n++
	h.maxUS = max(h.maxUS, us)
}

// quantile returns the smallest latency (µs) with at least q of the samples
// at or below it; 0 without samples.
func (h *hist) quantile(q float64) int {
	if h.n == 0 {
		return 0
	}
	need := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for us, c := range h.us {
		seen += uint64(c)
		if seen >= need {
			return us
		}
	}
	return len(h.us) - 1
}
