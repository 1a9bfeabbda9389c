package dhcpv6

import (
	"net/netip"
	"time"
)

// Lease binds an address to the IA_NA (DUID, IAID) of a client until
// Expires (the end of its valid lifetime). A declined address is a Lease
// without DUID: nobody gets it before Expires.
type Lease struct {
	Addr    netip.Addr `json:"address"`
	DUID    []byte     `json:"duid,omitempty"`
	IAID    uint32     `json:"iaid"`
	Expires time.Time  `json:"expires"`
}

// Declined reports whether l quarantines an address a client declined.
func (l *Lease) Declined() bool { return len(l.DUID) == 0 }

// iaKey names one IA_NA of one client.
type iaKey struct {
	duid string
	iaid uint32
}

func (l *Lease) key() iaKey { return iaKey{string(l.DUID), l.IAID} }

// table holds the leases of one server, by address and by IA. Its size is
// bounded by the caller: a new lease is only added for a free address of
// the pools or a reservation, and never past maxLeases.
type table struct {
	byAddr map[netip.Addr]*Lease
	byIA   map[iaKey]*Lease
}

func newTable() *table {
	return &table{byAddr: make(map[netip.Addr]*Lease), byIA: make(map[iaKey]*Lease)}
}

func (t *table) len() int { return len(t.byAddr) }

// put adds or replaces l; a lease on the same address or for the same IA is
// removed first.
func (t *table) put(l *Lease) {
	if old, ok := t.byAddr[l.Addr]; ok {
		t.remove(old)
	}
	if !l.Declined() {
		if old, ok := t.byIA[l.key()]; ok {
			t.remove(old)
		}
		t.byIA[l.key()] = l
	}
	t.byAddr[l.Addr] = l
}

func (t *table) remove(l *Lease) {
	if t.byAddr[l.Addr] == l {
		delete(t.byAddr, l.Addr)
	}
	if !l.Declined() && t.byIA[l.key()] == l {
		delete(t.byIA, l.key())
	}
}

// live returns the lease on addr if it has not expired at now.
func (t *table) live(addr netip.Addr, now time.Time) *Lease {
	if l, ok := t.byAddr[addr]; ok && now.Before(l.Expires) {
		return l
	}
	return nil
}

// ofIA returns the unexpired lease of an IA.
func (t *table) ofIA(k iaKey, now time.Time) *Lease {
	if l, ok := t.byIA[k]; ok && now.Before(l.Expires) {
		return l
	}
	return nil
}

// expire removes the leases that expired at now and returns how many.
func (t *table) expire(now time.Time) int {
	n := 0
	for _, l := range t.byAddr {
		if !now.Before(l.Expires) {
			t.remove(l)
			n++
		}
	}
	return n
}
