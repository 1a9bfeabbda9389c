package fastpath

import (
	"net/netip"
	"slices"
)

// RouteType is what a route does with matching packets.
type RouteType uint8

const (
	// RouteUnicast forwards out of Link, to Gateway or, when Gateway is not
	// valid, to the destination itself (an on-link prefix).
	RouteUnicast RouteType = iota
	// RouteBlackhole drops silently.
	RouteBlackhole
	// RouteUnreachable drops and sends Destination Unreachable, code 0.
	RouteUnreachable
	// RouteProhibit drops and sends Destination Unreachable, code 1.
	RouteProhibit
)

// Route is one FIB entry.
type Route struct {
	Prefix  netip.Prefix // masked IPv6 prefix
	Type    RouteType
	Link    int        // egress interface index (RouteUnicast)
	Gateway netip.Addr // next hop; invalid for on-link routes
	MTU     int        // route MTU (RTAX_MTU); 0 = the link's
	Metric  int        // lower wins among routes to the same prefix
}

// FIB is an immutable longest-prefix-match table of IPv6 routes: one hash
// table per distinct prefix length, probed from the longest length down. A
// lookup costs one hash probe per distinct length (a handful on a service
// VM) and does not allocate.
type FIB struct {
	lens   []int                    // distinct prefix lengths, descending
	tables []map[[16]byte]*fibEntry // tables[i] holds prefixes of length lens[i]
	n      int
}

type fibEntry struct {
	Route
	gw [16]byte // Gateway as bytes, zero for on-link
}

// NewFIB builds a FIB from routes. Non-IPv6 prefixes are ignored; of several
// routes to the same prefix the one with the lowest metric is kept.
func NewFIB(routes []Route) *FIB {
	byLen := map[int]map[[16]byte]*fibEntry{}
	for _, r := range routes {
		if !r.Prefix.IsValid() || !r.Prefix.Addr().Is6() || r.Prefix.Addr().Is4In6() {
			continue
		}
		p := r.Prefix.Masked()
		r.Prefix = p
		m := byLen[p.Bits()]
		if m == nil {
			m = map[[16]byte]*fibEntry{}
			byLen[p.Bits()] = m
		}
		k := p.Addr().As16()
		if old, ok := m[k]; ok && old.Metric <= r.Metric {
			continue
		}
		e := &fibEntry{Route: r}
		if r.Gateway.IsValid() {
			e.gw = r.Gateway.As16()
		}
		m[k] = e
	}
	f := &FIB{}
	for l := range byLen {
		f.lens = append(f.lens, l)
	}
	slices.SortFunc(f.lens, func(a, b int) int { return b - a })
	for _, l := range f.lens {
		f.tables = append(f.tables, byLen[l])
		f.n += len(byLen[l])
	}
	return f
}

// Len is the number of routes in the FIB.
func (f *FIB) Len() int { return f.n }

// Lookup returns the route with the longest prefix containing dst, or nil.
func (f *FIB) Lookup(dst netip.Addr) *Route {
	if !dst.Is6() {
		return nil
	}
	a := dst.As16()
	if e := f.lookup(&a); e != nil {
		return &e.Route
	}
	return nil
}

func (f *FIB) lookup(dst *[16]byte) *fibEntry {
	if f == nil {
		return nil
	}
	for i, l := range f.lens {
		k := maskAddr(dst, l)
		if e, ok := f.tables[i][k]; ok {
			return e
		}
	}
	return nil
}

// maskAddr returns a with all bits after the first bits cleared.
func maskAddr(a *[16]byte, bits int) [16]byte {
	var k [16]byte
	full := bits / 8
	copy(k[:full], a[:full])
	if rem := bits % 8; rem != 0 {
		k[full] = a[full] & (0xff << (8 - rem))
	}
	return k
}

func addrFrom16(a *[16]byte) netip.Addr { return netip.AddrFrom16(*a) }
