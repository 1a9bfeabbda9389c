package ra

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// State is what an Advertiser is doing.
type State string

// States of an Advertiser.
const (
	StateWaiting     State = "waiting"     // for its link to be up with a link-local address
	StateAdvertising State = "advertising" // socket open, RAs going out
	StateStopped     State = "stopped"     // Run returned
)

// Status is a snapshot of an Advertiser, for `vrouter status`. The maps are
// keyed by the names of Kind, DropReason and Field; zero counts are left out.
type Status struct {
	Interface string     `json:"interface"`
	State     State      `json:"state"`
	LinkLocal netip.Addr `json:"link_local,omitzero"`
	// Forwarding is false when the interface does not forward, so RAs
	// carry router lifetime 0.
	Forwarding            bool              `json:"forwarding"`
	Sent                  map[string]uint64 `json:"sent"`
	SolicitationsReceived uint64            `json:"solicitations_received"`
	SolicitationsDropped  map[string]uint64 `json:"solicitations_dropped,omitempty"`
	Inconsistencies       map[string]uint64 `json:"inconsistencies,omitempty"`
	Errors                uint64            `json:"errors"`
	LastMulticast         time.Time         `json:"last_multicast,omitzero"`
	// Withdrawing counts the items advertised with zero lifetimes.
	Withdrawing int `json:"withdrawing"`
}

// stats are the counters behind Status; safe for concurrent use.
type stats struct {
	mu        sync.Mutex
	state     State
	linkLocal netip.Addr

	sent          [numKinds]atomic.Uint64
	rsReceived    atomic.Uint64
	rsDropped     [numDropReasons]atomic.Uint64
	inconsistent  [numFields]atomic.Uint64
	errors        atomic.Uint64
	lastMulticast atomic.Int64 // Unix nanoseconds; 0 = never
	forwarding    atomic.Bool
	withdrawing   atomic.Int64
}

func (s *stats) setState(st State) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}

func (s *stats) setLink(ll netip.Addr) {
	s.mu.Lock()
	s.linkLocal = ll
	s.mu.Unlock()
}

// Status returns the Advertiser's current counters and state. It is safe to
// call at any time, from any goroutine.
func (a *Advertiser) Status() Status {
	s := &a.stats
	s.mu.Lock()
	st := Status{Interface: a.iface, State: s.state, LinkLocal: s.linkLocal}
	s.mu.Unlock()
	st.Forwarding = s.forwarding.Load()
	st.Sent = make(map[string]uint64)
	for k := range numKinds {
		st.Sent[k.String()] = s.sent[k].Load()
	}
	st.SolicitationsReceived = s.rsReceived.Load()
	for r := range numDropReasons {
		if n := s.rsDropped[r].Load(); n > 0 {
			if st.SolicitationsDropped == nil {
				st.SolicitationsDropped = make(map[string]uint64)
			}
			st.SolicitationsDropped[r.String()] = n
		}
	}
	for f := range numFields {
		if n := s.inconsistent[f].Load(); n > 0 {
			if st.Inconsistencies == nil {
				st.Inconsistencies = make(map[string]uint64)
			}
			st.Inconsistencies[f.String()] = n
		}
	}
	st.Errors = s.errors.Load()
	if ns := s.lastMulticast.Load(); ns != 0 {
		st.LastMulticast = time.Unix(0, ns)
	}
	st.Withdrawing = int(s.withdrawing.Load())
	return st
}

// countRS counts a received RS, and its drop reason when it is invalid.
func (a *Advertiser) countRS(valid bool, reason DropReason) {
	a.stats.rsReceived.Add(1)
	if !valid {
		a.countDrop(reason)
	}
}

func (a *Advertiser) countDrop(reason DropReason) {
	a.stats.rsDropped[reason].Add(1)
}

func (a *Advertiser) countSent(kind Kind, now time.Time) {
	a.stats.sent[kind].Add(1)
	if kind != KindSolicitedUnicast {
		a.stats.lastMulticast.Store(now.UnixNano())
	}
}
