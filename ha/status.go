package ha

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// Status is a snapshot of a Group, for `vrouter status`. Zero counts are
// left out of the maps.
type Status struct {
	State    State `json:"state"`
	VRID     uint8 `json:"vrid"`
	Priority uint8 `json:"priority"`
	// EffectivePriority is what this router competes with now: Priority
	// while every HA link is usable, 0 while one is not (it then stays in
	// Initialize and gives way) or after it stopped.
	EffectivePriority uint8 `json:"effective_priority"`
	Preempt           bool  `json:"preempt"`
	// AdvertIntervalMS is the configured Advertisement_Interval.
	AdvertIntervalMS int64 `json:"advert_interval_ms"`
	// ActiveAdvertIntervalMS is the interval in use: ours while Active,
	// the one the Active advertises while Backup.
	ActiveAdvertIntervalMS int64       `json:"active_advert_interval_ms,omitempty"`
	LastTransition         *Transition `json:"last_transition,omitempty"`
	// Transitions counts state changes by "from_to", e.g.
	// "backup_to_active".
	Transitions map[string]uint64 `json:"transitions,omitempty"`
	Instances   []InstanceStatus  `json:"instances"`
}

// InstanceStatus is one HA interface of a Group.
type InstanceStatus struct {
	Interface   string `json:"interface"`
	VirtualLink string `json:"virtual_link,omitempty"`
	VirtualMAC  string `json:"virtual_mac"`
	LinkUp      bool   `json:"link_up"`
	// Address is our link-local address, the source of our adverts.
	Address netip.Addr `json:"address,omitzero"`
	// Peer is the router whose advertisement arrived last on this link:
	// while Backup, the Active.
	Peer             *PeerStatus       `json:"peer,omitempty"`
	AdvertsSent      uint64            `json:"adverts_sent"`
	ResignsSent      uint64            `json:"resigns_sent,omitempty"` // adverts with priority 0
	SendErrors       uint64            `json:"send_errors,omitempty"`
	AdvertsReceived  uint64            `json:"adverts_received"`
	AdvertsDropped   map[string]uint64 `json:"adverts_dropped,omitempty"`
	NeighborAdverts  uint64            `json:"neighbor_adverts_sent"`
	NeighborAdvErrs  uint64            `json:"neighbor_advert_errors,omitempty"`
	VirtualAddresses []netip.Prefix    `json:"virtual_addresses"`
}

// PeerStatus is what another router's last advertisement said.
type PeerStatus struct {
	Address          netip.Addr `json:"address"`
	Priority         uint8      `json:"priority"`
	AdvertIntervalMS int64      `json:"advert_interval_ms"`
	LastSeen         time.Time  `json:"last_seen"`
}

const numStates = 3

func stateIndex(s State) int {
	switch s {
	case StateBackup:
		return 1
	case StateActive:
		return 2
	}
	return 0
}

var stateNames = [numStates]State{StateInitialize, StateBackup, StateActive}

// instStats are the counters of one instance. The atomics are written by
// the reader and Run goroutines and read by Status; the rest is owned by
// Run, except link, address and virtualLink, guarded by Group.mu.
type instStats struct {
	received  atomic.Uint64
	dropped   [numDropReasons]atomic.Uint64
	adverts   atomic.Uint64
	resigns   atomic.Uint64
	sendErrs  atomic.Uint64
	nas       atomic.Uint64
	naErrs    atomic.Uint64
	retry     time.Time
	lastErr   string // last link or port error logged
	lastSend  string // last send error logged
	lastNA    string // last NA error logged
	lastRfr   string // last Refresh error logged
	linkUp    bool
	address   netip.Addr
	virtualLk string
}

func (s *instStats) retryAt() time.Time  { return s.retry }
func (s *instStats) failed(at time.Time) { s.retry = at }

// linkErr logs a link or port error once per change.
func (s *instStats) linkErr(log *slog.Logger, iface string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == s.lastErr {
		return
	}
	s.lastErr = msg
	if err != nil {
		log.Warn("HA interface not usable", "iface", iface, "err", err)
	}
}

// refreshed logs a Refresh error once per change.
func (s *instStats) refreshed(log *slog.Logger, iface string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == s.lastRfr {
		return
	}
	s.lastRfr = msg
	if err != nil {
		log.Warn("virtual link does not follow its interface", "iface", iface, "err", err)
	}
}

// setLink records the link state; the caller holds Group.mu.
func (s *instStats) setLink(up bool, addr netip.Addr, p *port) {
	s.linkUp, s.address = up, addr
	s.virtualLk = ""
	if p != nil {
		s.virtualLk = p.spec.VirtualLink
	}
}

func (s *instStats) sent(log *slog.Logger, m *Metrics, iface string, prio uint8, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
		s.sendErrs.Add(1)
		if m != nil {
			m.sendErrors.WithLabelValues(iface).Inc()
		}
	} else {
		if prio == 0 {
			s.resigns.Add(1)
		} else {
			s.adverts.Add(1)
		}
		if m != nil {
			m.sent.WithLabelValues(iface, sentKind(prio)).Inc()
		}
	}
	if msg != s.lastSend {
		s.lastSend = msg
		if err != nil {
			log.Warn("send VRRP advertisement", "iface", iface, "priority", prio, "err", err)
		}
	}
}

func sentKind(prio uint8) string {
	if prio == 0 {
		return "resign"
	}
	return "advert"
}

func (s *instStats) naSent(log *slog.Logger, iface string, target netip.Addr, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
		s.naErrs.Add(1)
	} else {
		s.nas.Add(1)
	}
	if msg != s.lastNA {
		s.lastNA = msg
		if err != nil {
			log.Warn("send unsolicited neighbor advertisement", "iface", iface, "target", target, "err", err)
		}
	}
}

// Status returns the Group's state and counters. It is safe to call at
// any time, from any goroutine.
func (g *Group) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.m
	st := Status{
		State:            m.state,
		VRID:             g.p.vrid,
		Priority:         g.p.priority,
		Preempt:          g.p.preempt,
		AdvertIntervalMS: g.p.interval.Milliseconds(),
	}
	if m.running && m.allUp() {
		st.EffectivePriority = g.p.priority
	}
	switch m.state {
	case StateActive:
		st.ActiveAdvertIntervalMS = g.p.interval.Milliseconds()
	case StateBackup:
		st.ActiveAdvertIntervalMS = m.inst[0].activeAdverInterval.Milliseconds()
	}
	if !m.last.At.IsZero() {
		tr := m.last
		st.LastTransition = &tr
	}
	for f := range numStates {
		for t := range numStates {
			if n := g.trans[f][t].Load(); n > 0 {
				if st.Transitions == nil {
					st.Transitions = map[string]uint64{}
				}
				st.Transitions[string(stateNames[f])+"_to_"+string(stateNames[t])] = n
			}
		}
	}
	for i, name := range g.p.names {
		s := &g.stats[i]
		in := InstanceStatus{
			Interface:        name,
			VirtualLink:      s.virtualLk,
			VirtualMAC:       VirtualMAC(g.p.vrid).String(),
			LinkUp:           s.linkUp,
			Address:          s.address,
			AdvertsSent:      s.adverts.Load(),
			ResignsSent:      s.resigns.Load(),
			SendErrors:       s.sendErrs.Load(),
			AdvertsReceived:  s.received.Load(),
			NeighborAdverts:  s.nas.Load(),
			NeighborAdvErrs:  s.naErrs.Load(),
			VirtualAddresses: g.addrs[i],
		}
		if p := m.inst[i].peer; p.addr.IsValid() {
			in.Peer = &PeerStatus{Address: p.addr, Priority: p.priority, AdvertIntervalMS: p.interval.Milliseconds(), LastSeen: p.seen}
		}
		for r := range numDropReasons {
			if n := s.dropped[r].Load(); n > 0 {
				if in.AdvertsDropped == nil {
					in.AdvertsDropped = map[string]uint64{}
				}
				in.AdvertsDropped[r.String()] = n
			}
		}
		st.Instances = append(st.Instances, in)
	}
	return st
}
