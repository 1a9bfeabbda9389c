package fastpath

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Link is what the datapath needs to know of one interface.
type Link struct {
	Index int
	Name  string
	MAC   net.HardwareAddr
	MTU   int
}

// Tables is the forwarding state: routes, neighbours, this host's addresses
// and links. A [System] fills it from the kernel; the datapath reads
// immutable snapshots that Commit publishes, so updates never block
// forwarding. Tables is safe for concurrent use.
type Tables struct {
	mu     sync.Mutex
	routes map[routeKey]Route
	neigh  map[neighKey][6]byte
	local  map[[16]byte]struct{}
	links  map[int]Link
	addrs  map[int]map[netip.Addr]struct{}

	dirtyFIB, dirtyNeigh, dirtyLocal, dirtyLinks bool
	cur                                          atomic.Pointer[snapshot]
	neighChanged                                 chan struct{} // Commit published new neighbours
}

type routeKey struct {
	prefix netip.Prefix
	metric int
}

type neighKey struct {
	link int
	addr [16]byte
}

// NewTables returns empty tables.
func NewTables() *Tables {
	t := &Tables{
		routes: map[routeKey]Route{},
		neigh:  map[neighKey][6]byte{},
		local:  map[[16]byte]struct{}{},
		links:  map[int]Link{},
		addrs:  map[int]map[netip.Addr]struct{}{},

		neighChanged: make(chan struct{}, 1),
	}
	t.cur.Store(&snapshot{fib: NewFIB(nil), neigh: map[neighKey]*neighbour{},
		local: localAddrs{}, links: map[int]*linkState{}})
	return t
}

// SetRoute adds or replaces the route to r.Prefix with metric r.Metric.
func (t *Tables) SetRoute(r Route) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.routes[routeKey{r.Prefix.Masked(), r.Metric}] = r
	t.dirtyFIB = true
}

// DeleteRoute removes the route to prefix with metric.
func (t *Tables) DeleteRoute(prefix netip.Prefix, metric int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.routes, routeKey{prefix.Masked(), metric})
	t.dirtyFIB = true
}

// SetNeighbour records that addr on link has hardware address mac.
func (t *Tables) SetNeighbour(link int, addr netip.Addr, mac net.HardwareAddr) {
	if len(mac) != 6 {
		t.DeleteNeighbour(link, addr)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.neigh[neighKey{link, addr.As16()}] = [6]byte(mac)
	t.dirtyNeigh = true
}

// DeleteNeighbour forgets addr on link (unresolved, failed or removed).
func (t *Tables) DeleteNeighbour(link int, addr netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.neigh, neighKey{link, addr.As16()})
	t.dirtyNeigh = true
}

// SetLocal marks addr as an address of this host (or not): packets to it go
// to the kernel.
func (t *Tables) SetLocal(addr netip.Addr, local bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if local {
		t.local[addr.As16()] = struct{}{}
	} else {
		delete(t.local, addr.As16())
	}
	t.dirtyLocal = true
}

// Locals returns this host's addresses.
func (t *Tables) Locals() []netip.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]netip.Addr, 0, len(t.local))
	for a := range t.local {
		out = append(out, netip.AddrFrom16(a))
	}
	return out
}

// SetLink records a link's MAC and MTU.
func (t *Tables) SetLink(l Link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.links[l.Index] = l
	t.dirtyLinks = true
}

// SetAddress adds (or removes) an address configured on link; the datapath
// uses them as sources of ICMPv6 errors.
func (t *Tables) SetAddress(link int, addr netip.Addr, present bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.addrs[link]
	if present {
		if m == nil {
			m = map[netip.Addr]struct{}{}
			t.addrs[link] = m
		}
		m[addr] = struct{}{}
	} else {
		delete(m, addr)
	}
	t.dirtyLinks = true
}

// Commit publishes the changes made since the last Commit to the datapath.
func (t *Tables) Commit() {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	s := *old
	if t.dirtyFIB {
		routes := make([]Route, 0, len(t.routes))
		for _, r := range t.routes {
			routes = append(routes, r)
		}
		s.fib = NewFIB(routes)
	}
	if t.dirtyNeigh {
		s.neigh = make(map[neighKey]*neighbour, len(t.neigh))
		for k, mac := range t.neigh {
			n := &neighbour{mac: mac}
			if on := old.neigh[k]; on != nil && on.mac == mac {
				n = on // keep the used mark
			}
			s.neigh[k] = n
		}
	}
	if t.dirtyLocal {
		s.local = make(localAddrs, len(t.local))
		for a := range t.local {
			s.local[a] = struct{}{}
		}
	}
	if t.dirtyLinks {
		s.links = make(map[int]*linkState, len(t.links))
		for i, l := range t.links {
			ls := &linkState{Link: l}
			if len(l.MAC) == 6 {
				ls.mac = [6]byte(l.MAC)
			}
			ls.src, ls.hasSrc = pickSource(t.addrs[i])
			s.links[i] = ls
		}
	}
	neigh := t.dirtyNeigh
	t.dirtyFIB, t.dirtyNeigh, t.dirtyLocal, t.dirtyLinks = false, false, false, false
	t.cur.Store(&s)
	if neigh {
		select {
		case t.neighChanged <- struct{}{}:
		default:
		}
	}
}

// neighbourChanges receives a value after a Commit that changed the
// neighbours (coalesced: one value may stand for several commits).
func (t *Tables) neighbourChanges() <-chan struct{} { return t.neighChanged }

// UsedNeighbours returns the neighbours the datapath used since the last
// call and clears their marks. The System refreshes them in the kernel so
// they do not go stale while only the fast path talks to them.
func (t *Tables) UsedNeighbours() []NeighbourRef {
	s := t.cur.Load()
	var out []NeighbourRef
	for k, n := range s.neigh {
		if n.used.Swap(false) {
			out = append(out, NeighbourRef{Link: k.link, Addr: netip.AddrFrom16(k.addr)})
		}
	}
	return out
}

// NeighbourRef names a neighbour.
type NeighbourRef struct {
	Link int
	Addr netip.Addr
}

// pickSource returns the first global unicast address, else a link-local one.
func pickSource(addrs map[netip.Addr]struct{}) ([16]byte, bool) {
	var best netip.Addr
	for a := range addrs {
		if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsLoopback() {
			continue
		}
		switch {
		case !best.IsValid():
			best = a
		case best.IsLinkLocalUnicast() && !a.IsLinkLocalUnicast():
			best = a
		case best.IsLinkLocalUnicast() == a.IsLinkLocalUnicast() && a.Less(best):
			best = a
		}
	}
	if !best.IsValid() {
		return [16]byte{}, false
	}
	return best.As16(), true
}

// snapshot is one immutable view of the tables.
type snapshot struct {
	fib   *FIB
	neigh map[neighKey]*neighbour
	local localAddrs
	links map[int]*linkState
}

type neighbour struct {
	mac  [6]byte
	used atomic.Bool
}

type linkState struct {
	Link
	mac    [6]byte
	src    [16]byte
	hasSrc bool
}

type localAddrs map[[16]byte]struct{}

func (l localAddrs) isLocal(a *[16]byte) bool {
	_, ok := l[*a]
	return ok
}
