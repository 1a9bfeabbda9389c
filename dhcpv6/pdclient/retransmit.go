package pdclient

import (
	"math/rand/v2"
	"time"
)

// Transmission and retransmission parameters (RFC 8415 §7.6).
const (
	solMaxDelay = 1 * time.Second
	solTimeout  = 1 * time.Second
	solMaxRT    = 3600 * time.Second
	reqTimeout  = 1 * time.Second
	reqMaxRT    = 30 * time.Second
	reqMaxRC    = 10
	cnfTimeout  = 1 * time.Second
	cnfMaxRT    = 4 * time.Second
	cnfMaxRD    = 10 * time.Second
	renTimeout  = 10 * time.Second
	renMaxRT    = 600 * time.Second
	rebTimeout  = 10 * time.Second
	rebMaxRT    = 600 * time.Second
	relTimeout  = 1 * time.Second
	relMaxRC    = 4

	// The range a SOL_MAX_RT option may set (RFC 8415 §21.24).
	solMaxRTMin = 60 * time.Second
	solMaxRTMax = 86400 * time.Second
)

// params drive the retransmission of one message (RFC 8415 §15): initial and
// maximum retransmission time, maximum count and duration (0: no limit).
type params struct {
	irt, mrt time.Duration
	mrc      int
	mrd      time.Duration
}

// jitter returns RAND of RFC 8415 §15: uniform in [-0.1, +0.1].
func jitter(r *rand.Rand) float64 { return r.Float64()*0.2 - 0.1 }

// positiveJitter returns RAND in (0, +0.1], for the first RT of a Solicit,
// which must be strictly greater than IRT (RFC 8415 §15).
func positiveJitter(r *rand.Rand) float64 { return (1 - r.Float64()) * 0.1 }

// firstRT is RT = IRT + RAND*IRT.
func firstRT(irt time.Duration, rnd float64) time.Duration {
	return irt + time.Duration(rnd*float64(irt))
}

// nextRT is RT = 2*RTprev + RAND*RTprev, and MRT + RAND*MRT once that
// exceeds a non-zero MRT.
func nextRT(prev, mrt time.Duration, rnd float64) time.Duration {
	rt := 2*prev + time.Duration(rnd*float64(prev))
	if mrt > 0 && rt > mrt {
		rt = mrt + time.Duration(rnd*float64(mrt))
	}
	return rt
}
