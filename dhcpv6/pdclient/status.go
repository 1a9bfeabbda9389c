package pdclient

import (
	"encoding/hex"
	"net/netip"
	"sync"
	"time"
)

// State is what the client is doing.
type State string

// States of a Client.
const (
	// StateWaiting: no delegation; soliciting or requesting one.
	StateWaiting State = "waiting for a delegation"
	// StateBound: a delegation, nothing to send before T1.
	StateBound State = "bound"
	// StateRenewing: past T1, renewing with the server that delegated
	// (or requesting the prefix again after a NoBinding, or soliciting
	// for another one when the server will not give it back).
	StateRenewing State = "renewing"
	// StateRebinding: past T2 (or just restarted with a lease), asking any
	// server to extend the delegation.
	StateRebinding State = "rebinding"
	// StateStopped: Run returned.
	StateStopped State = "stopped"
)

// Status is a snapshot of a Client, for `vrouter status`. Times are zero
// where they do not apply (no delegation, an infinite lifetime or T1/T2).
type Status struct {
	Interface string `json:"interface"`
	State     State  `json:"state"`
	// Exchange is the message being (re)transmitted: solicit, request,
	// renew, rebind, release; empty when bound.
	Exchange  string       `json:"exchange,omitempty"`
	Prefix    netip.Prefix `json:"prefix,omitzero"`
	Obtained  time.Time    `json:"obtained,omitzero"`
	Preferred time.Time    `json:"preferred_until,omitzero"`
	Valid     time.Time    `json:"valid_until,omitzero"`
	// T1 and T2 are when the client renews and rebinds.
	T1 time.Time `json:"t1,omitzero"`
	T2 time.Time `json:"t2,omitzero"`
	// Server is the address the delegation came from and ServerID its
	// DUID in hex.
	Server   netip.Addr `json:"server,omitzero"`
	ServerID string     `json:"server_id,omitempty"`
	// Hint is the prefix asked for in Solicits (a length hint is ::/len).
	Hint netip.Prefix `json:"hint,omitzero"`
	// Sent counts messages by type (solicit, request, renew, rebind,
	// release), retransmissions included; Received counts the Advertise
	// and Reply messages acted upon.
	Sent     map[string]uint64 `json:"sent"`
	Received map[string]uint64 `json:"received"`
	// Refused counts refused messages and prefixes by reason (zero counts
	// left out).
	Refused map[Refusal]uint64 `json:"refused,omitempty"`
	// Delegations counts the times a new prefix was delegated; Expired the
	// times one expired without being extended.
	Delegations uint64 `json:"delegations"`
	Expired     uint64 `json:"expired"`
	// SendErrors counts datagrams the socket did not take.
	SendErrors uint64 `json:"send_errors"`
}

// stats is what Status reports; written by Run, read by anyone.
type stats struct {
	mu          sync.Mutex
	state       State
	exchange    string
	current     Delegation
	t1, t2      time.Time
	server      netip.Addr
	serverID    []byte
	hint        netip.Prefix
	sent        map[string]uint64
	received    map[string]uint64
	refused     [numRefusals]uint64
	delegations uint64
	expired     uint64
	sendErrors  uint64
}

// Status returns the client's state and counters; safe from any goroutine.
func (c *Client) Status() Status {
	s := &c.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Interface: c.iface, State: s.state, Exchange: s.exchange,
		Prefix: s.current.Prefix, T1: s.t1, T2: s.t2, Hint: s.hint,
		Sent: make(map[string]uint64), Received: make(map[string]uint64),
		Delegations: s.delegations, Expired: s.expired, SendErrors: s.sendErrors,
	}
	if s.current.IsValid() {
		st.Obtained = s.current.Obtained
		st.Preferred = s.current.PreferredUntil()
		st.Valid = s.current.ValidUntil()
		st.Server = s.server
		st.ServerID = hex.EncodeToString(s.serverID)
	}
	for k, v := range s.sent {
		st.Sent[k] = v
	}
	for k, v := range s.received {
		st.Received[k] = v
	}
	for r, n := range s.refused {
		if n > 0 {
			if st.Refused == nil {
				st.Refused = make(map[Refusal]uint64)
			}
			st.Refused[Refusal(r)] = n
		}
	}
	return st
}

// Current returns the delegation in use (the zero Delegation: none).
func (c *Client) Current() Delegation {
	c.stats.mu.Lock()
	defer c.stats.mu.Unlock()
	return c.stats.current
}
