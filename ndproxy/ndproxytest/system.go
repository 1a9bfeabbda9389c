// Package ndproxytest provides a fake ndproxy.System: links, ports backed by
// channels, and recorded groups and routes, so the proxy's logic runs in unit
// tests without root.
package ndproxytest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vrouter/vrouter/ndproxy"
)

// Frame is one packet on a fake port: an IPv6 packet and the peer MAC (the
// sender for frames read by the proxy, the destination for frames it
// writes), and for written frames when they were written (time.Now, so the
// fake clock of a synctest bubble).
type Frame struct {
	Data []byte
	MAC  ndproxy.MAC
	At   time.Time
}

// Port is a fake ndproxy.Port. Tests write to In and read from Out.
type Port struct {
	Ifindex int
	Types   []uint8
	In      chan Frame
	Out     chan Frame

	once   sync.Once
	closed chan struct{}
}

func newPort(ifindex int, types []uint8) *Port {
	return &Port{Ifindex: ifindex, Types: types, In: make(chan Frame, 64), Out: make(chan Frame, 4096), closed: make(chan struct{})}
}

// ReadFrom implements ndproxy.Port.
func (p *Port) ReadFrom(b []byte) (int, ndproxy.MAC, error) {
	select {
	case <-p.closed:
		return 0, ndproxy.MAC{}, net.ErrClosed
	case f := <-p.In:
		return copy(b, f.Data), f.MAC, nil
	}
}

// WriteTo implements ndproxy.Port; it fails when Out is full rather than
// blocking the proxy.
func (p *Port) WriteTo(b []byte, dst ndproxy.MAC) error {
	select {
	case <-p.closed:
		return net.ErrClosed
	default:
	}
	select {
	case p.Out <- Frame{Data: slices.Clone(b), MAC: dst, At: time.Now()}:
		return nil
	default:
		return fmt.Errorf("fake port %d: output full", p.Ifindex)
	}
}

// Close implements ndproxy.Port.
func (p *Port) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// Closed reports whether Close was called.
func (p *Port) Closed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// System is a fake ndproxy.System. The zero value is not usable; call New.
type System struct {
	mu        sync.Mutex
	links     map[string]ndproxy.Link
	ports     map[int]*Port
	opened    chan *Port
	groups    map[int][]netip.Addr
	allMulti  map[int]bool
	neighbors map[int][]netip.Addr
	routes    map[ndproxy.Route]bool
	routesErr error // returned by OwnedRoutes
	// kernelRoutes are routes the "kernel" already has: dst prefix -> ifindex.
	kernelRoutes map[netip.Prefix]int
	notify       func()
}

// New returns an empty fake system.
func New() *System {
	return &System{
		links:        make(map[string]ndproxy.Link),
		ports:        make(map[int]*Port),
		opened:       make(chan *Port, 64),
		groups:       make(map[int][]netip.Addr),
		allMulti:     make(map[int]bool),
		neighbors:    make(map[int][]netip.Addr),
		routes:       make(map[ndproxy.Route]bool),
		kernelRoutes: make(map[netip.Prefix]int),
	}
}

// SetLink adds or replaces a link and notifies the watcher.
func (s *System) SetLink(l ndproxy.Link) {
	s.mu.Lock()
	s.links[l.Name] = l
	n := s.notify
	s.mu.Unlock()
	if n != nil {
		n()
	}
}

// DelLink removes a link and notifies the watcher.
func (s *System) DelLink(name string) {
	s.mu.Lock()
	delete(s.links, name)
	n := s.notify
	s.mu.Unlock()
	if n != nil {
		n()
	}
}

// SetNeighbors sets the kernel neighbour table of ifindex and notifies.
func (s *System) SetNeighbors(ifindex int, addrs ...netip.Addr) {
	s.mu.Lock()
	s.neighbors[ifindex] = addrs
	n := s.notify
	s.mu.Unlock()
	if n != nil {
		n()
	}
}

// SetKernelRoute pretends the kernel routes dst out of ifindex.
func (s *System) SetKernelRoute(dst netip.Prefix, ifindex int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kernelRoutes[dst] = ifindex
}

// Opened returns the channel on which every opened port is announced.
func (s *System) Opened() <-chan *Port { return s.opened }

// Link implements ndproxy.System.
func (s *System) Link(name string) (ndproxy.Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[name]
	if !ok {
		return ndproxy.Link{}, fmt.Errorf("%s: %w", name, ndproxy.ErrLinkNotFound)
	}
	l.Addrs = slices.Clone(l.Addrs)
	return l, nil
}

func (s *System) hasIndex(ifindex int) bool {
	for _, l := range s.links {
		if l.Index == ifindex {
			return true
		}
	}
	return false
}

// OpenPort implements ndproxy.System.
func (s *System) OpenPort(ifindex int, types ...uint8) (ndproxy.Port, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasIndex(ifindex) {
		return nil, fmt.Errorf("fake: open port: no link with index %d", ifindex)
	}
	if p, ok := s.ports[ifindex]; ok && !p.Closed() && slices.Equal(p.Types, types) {
		return nil, fmt.Errorf("fake: port on %d for %v opened twice", ifindex, types)
	}
	p := newPort(ifindex, types)
	s.ports[ifindex] = p
	s.opened <- p
	return p, nil
}

type membership struct {
	s       *System
	ifindex int
}

func (m membership) Close() error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	delete(m.s.groups, m.ifindex)
	delete(m.s.allMulti, m.ifindex)
	return nil
}

// JoinGroups implements ndproxy.System.
func (s *System) JoinGroups(ifindex int, groups []netip.Addr, all bool) (io.Closer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasIndex(ifindex) {
		return nil, fmt.Errorf("fake: join: no link with index %d", ifindex)
	}
	if _, ok := s.groups[ifindex]; ok {
		return nil, fmt.Errorf("fake: groups on %d joined twice", ifindex)
	}
	s.groups[ifindex] = slices.Clone(groups)
	s.allMulti[ifindex] = all
	return membership{s, ifindex}, nil
}

// Neighbors implements ndproxy.System.
func (s *System) Neighbors(ifindex int) ([]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.neighbors[ifindex]), nil
}

// AddRoute implements ndproxy.System.
func (s *System) AddRoute(ifindex int, dst netip.Prefix) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, i := range s.kernelRoutes {
		if i == ifindex && p.Bits() <= dst.Bits() && p.Contains(dst.Addr()) {
			return false, nil
		}
	}
	k := ndproxy.Route{Ifindex: ifindex, Dst: dst}
	if s.routes[k] {
		return false, fmt.Errorf("fake: route %s dev %d exists", dst, ifindex)
	}
	s.routes[k] = true
	return true, nil
}

// DelRoute implements ndproxy.System.
func (s *System) DelRoute(ifindex int, dst netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ndproxy.Route{Ifindex: ifindex, Dst: dst}
	if !s.routes[k] {
		return fmt.Errorf("fake: route %s dev %d does not exist", dst, ifindex)
	}
	delete(s.routes, k)
	return nil
}

// OwnedRoutes implements ndproxy.System: the routes AddRoute installed and
// not deleted, also by an earlier Proxy on this System (a predecessor
// process), and those SetOwnedRoute added.
func (s *System) OwnedRoutes() ([]ndproxy.Route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routesErr != nil {
		return nil, s.routesErr
	}
	out := slices.Collect(maps.Keys(s.routes))
	slices.SortFunc(out, func(a, b ndproxy.Route) int {
		if a.Ifindex != b.Ifindex {
			return a.Ifindex - b.Ifindex
		}
		return a.Dst.Addr().Compare(b.Dst.Addr())
	})
	return out, nil
}

// SetOwnedRoute adds a route as a crashed or restarted predecessor left
// it (installed by the proxy, not by this one).
func (s *System) SetOwnedRoute(ifindex int, dst netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[ndproxy.Route{Ifindex: ifindex, Dst: dst}] = true
}

// FailOwnedRoutes makes OwnedRoutes return err (nil: succeed again).
func (s *System) FailOwnedRoutes(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routesErr = err
}

// Watch implements ndproxy.System.
func (s *System) Watch(ctx context.Context, notify func()) error {
	s.mu.Lock()
	s.notify = notify
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.notify = nil
	s.mu.Unlock()
	return nil
}

// State renders what the proxy installed as sorted lines, for cmp.Diff:
// "route DST dev N", "group G dev N", "allmulti dev N".
func (s *System) State() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.routes {
		out = append(out, fmt.Sprintf("route %s dev %d", k.Dst, k.Ifindex))
	}
	for _, i := range slices.Sorted(maps.Keys(s.groups)) {
		for _, g := range s.groups[i] {
			out = append(out, fmt.Sprintf("group %s dev %d", g, i))
		}
		if s.allMulti[i] {
			out = append(out, fmt.Sprintf("allmulti dev %d", i))
		}
	}
	sort.Strings(out)
	return out
}

// String renders State on one line per entry.
func (s *System) String() string { return strings.Join(s.State(), "\n") }
