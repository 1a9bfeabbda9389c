package ha

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// State is the state of a virtual router (RFC 9568 §6.4).
type State string

// States of a Group, shared by all its instances.
const (
	// StateInitialize: not started, stopped, or waiting for every HA
	// link to be up with a link-local address (§6.4.1).
	StateInitialize State = "initialize"
	// StateBackup: listening to the Active router; holds no virtual
	// address and sends nothing (§6.4.2).
	StateBackup State = "backup"
	// StateActive: owns the virtual MAC and addresses on every HA link
	// and advertises on each (§6.4.3).
	StateActive State = "active"
)

// Transition is a change of a Group's state.
type Transition struct {
	From   State     `json:"from"`
	To     State     `json:"to"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// skewTime is Skew_Time = ((256 - Priority) * Active_Adver_Interval) / 256
// (RFC 9568 §6.1), kept to the nanosecond instead of truncated to
// centiseconds so that neighbouring priorities never share a skew.
func skewTime(priority uint8, activeAdverInterval time.Duration) time.Duration {
	return time.Duration(int64(256-int(priority)) * int64(activeAdverInterval) / 256)
}

// activeDownInterval is Active_Down_Interval = 3 * Active_Adver_Interval +
// Skew_Time (RFC 9568 §6.1).
func activeDownInterval(priority uint8, activeAdverInterval time.Duration) time.Duration {
	return 3*activeAdverInterval + skewTime(priority, activeAdverInterval)
}

// params are the configured parameters of the virtual router.
type params struct {
	vrid     uint8
	priority uint8
	interval time.Duration // Advertisement_Interval
	preempt  bool
	names    []string // interface of each instance, for reasons
}

// peer is what the last valid advertisement on an instance said.
type peer struct {
	addr     netip.Addr
	priority uint8
	interval time.Duration
	seen     time.Time
}

// instance is the per-interface part of the state machine.
type instance struct {
	up      bool
	primary netip.Addr // our link-local address: source of our adverts and tie-break key

	activeAdverInterval time.Duration // Active_Adver_Interval
	downTimer           time.Time     // Active_Down_Timer deadline; zero when not running
	expired             bool          // the Active_Down_Timer fired in Backup
	adverTimer          time.Time     // Adver_Timer deadline; zero when not running

	peer peer
}

type stepKind uint8

const (
	// stepActivate: bring every virtual link up with its addresses.
	stepActivate stepKind = iota
	// stepAdvert: send an advertisement with priority prio on inst.
	stepAdvert
	// stepNA: send unsolicited Neighbor Advertisements on inst.
	stepNA
	// stepDeactivate: take every virtual link down, without addresses.
	stepDeactivate
	// stepRelease: after a clean stop, the peer is Active on inst: take
	// that virtual link down, without addresses.
	stepRelease
	// stepTransition: the group changed state.
	stepTransition
)

// step is one thing the state machine asks its runner to do, in order.
type step struct {
	kind stepKind
	inst int
	prio uint8
	tr   Transition
}

// machine is the VRRPv3 state machine of a group of instances (RFC 9568
// §6.4 and the group rule in the package doc). It is pure: time comes in
// as arguments, effects go out as steps.
type machine struct {
	p       params
	rng     *rand.Rand
	state   State
	running bool
	inst    []instance
	last    Transition
	// tieBreak: we last yielded on an equal-priority tie-break, and no
	// Active has advertised steadily since (until tieBreakEnd). Then the
	// next takeover waits for hold.
	tieBreak    bool
	tieBreakEnd time.Time
	hold        time.Time
	// why the Backup will take over when its timers run out, for the
	// transition's reason.
	why string
	// After a clean stop from Active: the instances whose virtual link
	// is still up, keeping the virtual addresses, until the peer is heard
	// Active there or drainEnd (see stop).
	drain    []bool
	drainEnd time.Time
}

func newMachine(p params, rng *rand.Rand) *machine {
	return &machine{p: p, rng: rng, state: StateInitialize, inst: make([]instance, len(p.names))}
}

func (m *machine) owner() bool { return m.p.priority == 255 }

// start is the Startup event for the group; it takes effect once every
// link is up.
func (m *machine) start(now time.Time) []step {
	m.running = true
	return m.startup(now, nil)
}

// maxDrain caps how long a stopped Active keeps its virtual links.
const maxDrain = time.Second

// drainTimeout is how long a stopped Active keeps its virtual links at
// most: the longest the peer may take to become Active, its
// Active_Down_Interval at priority 1 (the priority 0 lost, the timer
// started by our last advertisement), capped at maxDrain.
func drainTimeout(interval time.Duration) time.Duration {
	return min(activeDownInterval(1, interval), maxDrain)
}

// stop is the Shutdown event (RFC 9568 §6.4.2, §6.4.3): an Active router
// sends priority 0 on every link it can and goes to Initialize. Unlike a
// link going down, the virtual links stay up with their addresses: the
// kernel keeps forwarding what the hosts send to the virtual MAC during
// the peer's Skew_Time, as the bridges still deliver it here. Each is
// released (stepRelease) when the peer advertises with a priority above 0
// on its instance, that is once the peer is Active there and has sent its
// unsolicited NAs, so the two never forward at once; the rest go down
// together (stepDeactivate) after drainTimeout. Nothing but the priority
// 0 is sent meanwhile; draining reports whether the drain runs.
func (m *machine) stop(now time.Time) []step {
	m.running = false
	if m.state != StateActive || !slices.ContainsFunc(m.inst, func(in instance) bool { return in.up }) {
		return m.shutdown(now, "stopped", nil)
	}
	m.drain = make([]bool, len(m.inst))
	for i := range m.inst {
		m.drain[i] = m.inst[i].up
	}
	m.drainEnd = now.Add(drainTimeout(m.p.interval))
	return m.shutdown(now, "stopped", nil)
}

// draining reports whether a stopped Active still keeps a virtual link.
func (m *machine) draining() bool { return m.drain != nil }

// release ends the drain of instance i, and the drain when it was the
// last.
func (m *machine) release(i int) []step {
	if m.drain == nil || !m.drain[i] {
		return nil
	}
	m.drain[i] = false
	return append([]step{{kind: stepRelease, inst: i}}, m.endDrain(false)...)
}

// endDrain ends the drain when no instance is left to drain or at the
// timeout (all), taking down the links that are still up.
func (m *machine) endDrain(all bool) []step {
	if m.drain == nil {
		return nil
	}
	left := slices.Contains(m.drain, true)
	if left && !all {
		return nil
	}
	m.drain, m.drainEnd = nil, time.Time{}
	if !left {
		return nil
	}
	return []step{{kind: stepDeactivate}}
}

func (m *machine) allUp() bool {
	for i := range m.inst {
		if !m.inst[i].up {
			return false
		}
	}
	return true
}

func (m *machine) startup(now time.Time, steps []step) []step {
	if !m.running || m.state != StateInitialize || !m.allUp() {
		return steps
	}
	if m.owner() {
		return m.becomeActive(now, "address owner (priority 255)", steps)
	}
	for i := range m.inst {
		in := &m.inst[i]
		in.activeAdverInterval = m.p.interval
		in.downTimer = now.Add(activeDownInterval(m.p.priority, m.p.interval))
		in.expired = false
		in.adverTimer = time.Time{}
	}
	m.why = "no advertisement within Active_Down_Interval of startup"
	return m.transition(now, StateBackup, "startup", steps)
}

// shutdown goes to Initialize; from Active it first sends priority 0 on
// every link that is up so the Backup takes over after Skew_Time, then
// takes the virtual links down unless a clean stop drains them.
func (m *machine) shutdown(now time.Time, reason string, steps []step) []step {
	switch m.state {
	case StateInitialize:
		return steps
	case StateActive:
		for i := range m.inst {
			m.inst[i].adverTimer = time.Time{}
			if m.inst[i].up {
				steps = append(steps, step{kind: stepAdvert, inst: i, prio: 0})
			}
		}
		steps = m.transition(now, StateInitialize, reason, steps)
		if m.drain == nil {
			steps = append(steps, step{kind: stepDeactivate})
		}
	case StateBackup:
		steps = m.transition(now, StateInitialize, reason, steps)
	}
	for i := range m.inst {
		m.inst[i].downTimer = time.Time{}
		m.inst[i].expired = false
	}
	m.tieBreak, m.hold = false, time.Time{}
	return steps
}

// setLink reports the state of instance i's link: up with the link-local
// address primary, or down. A link going down is a Shutdown event for the
// whole group; the last link coming up is its Startup event.
func (m *machine) setLink(i int, up bool, primary netip.Addr, now time.Time) []step {
	in := &m.inst[i]
	was := in.up
	in.up = up && primary.IsValid()
	in.primary = primary
	switch {
	case was && !in.up && m.drain != nil:
		// Nothing to hear from the peer there any more.
		return m.release(i)
	case was && !in.up:
		return m.shutdown(now, fmt.Sprintf("link %s down", m.p.names[i]), nil)
	case !was && in.up:
		return m.startup(now, nil)
	}
	return nil
}

// advert processes a valid advertisement a from src on instance i
// (RFC 9568 §6.4.2, §6.4.3).
func (m *machine) advert(i int, a Advert, src netip.Addr, now time.Time) []step {
	in := &m.inst[i]
	if !in.up {
		return nil
	}
	in.peer = peer{addr: src, priority: a.Priority, interval: a.IntervalDuration(), seen: now}
	if m.drain != nil && a.Priority > 0 {
		// Only an Active advertises with a priority above 0.
		return m.release(i)
	}
	switch m.state {
	case StateBackup:
		return m.backupAdvert(i, a, src, now)
	case StateActive:
		return m.activeAdvert(i, a, src, now)
	}
	return nil
}

func (m *machine) backupAdvert(i int, a Advert, src netip.Addr, now time.Time) []step {
	in := &m.inst[i]
	if a.Priority == 0 {
		m.why = fmt.Sprintf("%s resigned on %s (priority 0)", src, m.p.names[i])
		// The Active resigned: take over after Skew_Time. It resigned
		// the whole group, so the other links get no longer either.
		for j := range m.inst {
			o := &m.inst[j]
			if j != i && (o.expired || o.downTimer.IsZero()) {
				continue
			}
			d := now.Add(skewTime(m.p.priority, o.activeAdverInterval))
			if j == i || d.Before(o.downTimer) {
				o.downTimer, o.expired = d, false
			}
		}
		return nil
	}
	if !m.p.preempt || a.Priority >= m.p.priority {
		in.activeAdverInterval = a.IntervalDuration()
		in.downTimer = now.Add(activeDownInterval(m.p.priority, in.activeAdverInterval))
		in.expired = false
		// Adverts right after a tie-break yield may be the peer's last
		// assertions before it yielded too; only an Active heard for a
		// whole Active_Down_Interval ends the contention.
		if m.tieBreak && !now.Before(m.tieBreakEnd) {
			m.tieBreak, m.hold = false, time.Time{}
		}
		m.why = "no advertisement from the Active within Active_Down_Interval"
		return nil
	}
	// Preempt_Mode and a lower priority: discarded, so the
	// Active_Down_Timer runs out and we take over.
	m.why = fmt.Sprintf("preempting %s on %s (priority %d)", src, m.p.names[i], a.Priority)
	return nil
}

func (m *machine) activeAdvert(i int, a Advert, src netip.Addr, now time.Time) []step {
	in := &m.inst[i]
	if a.Priority == 0 {
		in.adverTimer = now.Add(m.p.interval)
		return []step{{kind: stepAdvert, inst: i, prio: m.p.priority}}
	}
	higher := a.Priority > m.p.priority
	tie := a.Priority == m.p.priority && src.Compare(in.primary) > 0
	if !higher && !tie {
		// RFC 9568 §6.4.3: assert Active at once to the sender and to
		// learning bridges.
		in.adverTimer = now.Add(m.p.interval)
		return []step{{kind: stepAdvert, inst: i, prio: m.p.priority}}
	}
	// Give way on every link: the peer is Active here, so this router
	// is Backup everywhere; priority 0 on the other links hands them
	// over after Skew_Time instead of Active_Down_Interval.
	var steps []step
	ivl := a.IntervalDuration()
	for j := range m.inst {
		o := &m.inst[j]
		o.adverTimer = time.Time{}
		o.activeAdverInterval = ivl
		o.downTimer = now.Add(activeDownInterval(m.p.priority, ivl))
		o.expired = false
		if j != i && o.up {
			steps = append(steps, step{kind: stepAdvert, inst: j, prio: 0})
		}
	}
	m.tieBreak, m.tieBreakEnd, m.hold = tie, now.Add(activeDownInterval(m.p.priority, ivl)), time.Time{}
	m.why = "no advertisement from the Active within Active_Down_Interval"
	var reason string
	if tie {
		reason = fmt.Sprintf("%s on %s has our priority %d and a higher address", src, m.p.names[i], a.Priority)
	} else {
		reason = fmt.Sprintf("%s on %s has priority %d above our %d", src, m.p.names[i], a.Priority, m.p.priority)
	}
	steps = m.transition(now, StateBackup, reason, steps)
	return append(steps, step{kind: stepDeactivate})
}

// tick fires the timers that are due at now.
func (m *machine) tick(now time.Time) []step {
	var steps []step
	switch m.state {
	case StateInitialize:
		if m.drain != nil && !now.Before(m.drainEnd) {
			steps = m.endDrain(true)
		}
	case StateActive:
		for i := range m.inst {
			in := &m.inst[i]
			if !in.adverTimer.IsZero() && !now.Before(in.adverTimer) {
				steps = append(steps, step{kind: stepAdvert, inst: i, prio: m.p.priority})
				in.adverTimer = now.Add(m.p.interval)
			}
		}
	case StateBackup:
		all := true
		for i := range m.inst {
			in := &m.inst[i]
			if !in.expired && !in.downTimer.IsZero() && !now.Before(in.downTimer) {
				in.expired, in.downTimer = true, time.Time{}
			}
			all = all && in.expired
		}
		if !all {
			return nil
		}
		if m.tieBreak {
			// Both routers may have yielded at once on opposite
			// tie-breaks; a random hold lets one of them go first.
			if m.hold.IsZero() {
				m.hold = now.Add(time.Duration(m.rng.Int64N(int64(m.p.interval))))
			}
			if now.Before(m.hold) {
				return nil
			}
		}
		return m.becomeActive(now, m.why, steps)
	}
	return steps
}

func (m *machine) becomeActive(now time.Time, reason string, steps []step) []step {
	steps = append(steps, step{kind: stepActivate})
	for i := range m.inst {
		in := &m.inst[i]
		in.downTimer, in.expired = time.Time{}, false
		in.adverTimer = now.Add(m.p.interval)
		steps = append(steps, step{kind: stepAdvert, inst: i, prio: m.p.priority})
	}
	for i := range m.inst {
		steps = append(steps, step{kind: stepNA, inst: i})
	}
	m.tieBreak, m.hold = false, time.Time{}
	return m.transition(now, StateActive, reason, steps)
}

func (m *machine) transition(now time.Time, to State, reason string, steps []step) []step {
	tr := Transition{From: m.state, To: to, At: now, Reason: reason}
	m.state = to
	m.last = tr
	return append(steps, step{kind: stepTransition, tr: tr})
}

// next is when tick must run next; the zero Time when no timer runs.
func (m *machine) next() time.Time {
	var t time.Time
	earliest := func(d time.Time) {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	switch m.state {
	case StateInitialize:
		earliest(m.drainEnd)
	case StateActive:
		for i := range m.inst {
			earliest(m.inst[i].adverTimer)
		}
	case StateBackup:
		all := true
		for i := range m.inst {
			if !m.inst[i].expired {
				earliest(m.inst[i].downTimer)
				all = false
			}
		}
		if all {
			earliest(m.hold)
		}
	}
	return t
}
