// Package hatest provides an in-memory fake of ha.System: routers, each
// with its own System, attached to shared link segments that carry VRRP
// advertisements between their ports. It runs inside testing/synctest
// bubbles (only channels and mutexes block).
package hatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vrouter/vrouter/ha"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// errDown is what a send through a virtual link that is down returns, as
// the kernel's ENETDOWN.
var errDown = errors.New("network is down")

// Net is a set of link segments shared by the Systems of several routers.
type Net struct {
	mu      sync.Mutex
	systems []*System
	filter  func(from, to string) bool
	frames  []Frame
}

// Frame is something a port put on a segment.
type Frame struct {
	Segment string
	From    string // System name
	// SrcMAC is the source MAC: the virtual MAC, as everything a Port
	// sends goes out through its virtual link.
	SrcMAC net.HardwareAddr
	// Advert is set for a VRRP advertisement, NA for a neighbor
	// advertisement.
	Advert *ha.Advert
	NA     []byte
}

// NewNet returns an empty Net.
func NewNet() *Net { return &Net{} }

// SetFilter makes the Net deliver a frame from System from to System to
// only when f returns true; nil delivers everything.
func (n *Net) SetFilter(f func(from, to string) bool) {
	n.mu.Lock()
	n.filter = f
	n.mu.Unlock()
}

// Frames returns what was put on the segments so far.
func (n *Net) Frames() []Frame {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Frame(nil), n.frames...)
}

// System is a fake ha.System: one router with its interfaces.
type System struct {
	net  *Net
	name string

	mu       sync.Mutex
	ifaces   map[string]*Iface
	ports    map[string]*Port
	changes  []chan struct{}
	opens    int
	failOpen error
	delay    map[string]time.Duration // Link's time to answer, per interface
}

// Iface is an interface of a fake System.
type Iface struct {
	Name, Segment string
	Index         int
	Up            bool
	LinkLocal     netip.Addr
}

// NewSystem adds a router called name to n.
func (n *Net) NewSystem(name string) *System {
	s := &System{net: n, name: name, ifaces: map[string]*Iface{}, ports: map[string]*Port{}}
	n.mu.Lock()
	n.systems = append(n.systems, s)
	n.mu.Unlock()
	return s
}

// Name is the router's name.
func (s *System) Name() string { return s.name }

// AddLink adds interface name, up, attached to segment, with link-local
// address ll.
func (s *System) AddLink(name, segment string, ll netip.Addr) {
	s.mu.Lock()
	s.ifaces[name] = &Iface{Name: name, Segment: segment, Index: len(s.ifaces) + 2, Up: true, LinkLocal: ll}
	s.mu.Unlock()
	s.notify()
}

// SetUp sets interface name up or down.
func (s *System) SetUp(name string, up bool) {
	s.mu.Lock()
	s.ifaces[name].Up = up
	s.mu.Unlock()
	s.notify()
}

// Recreate gives interface name a new index, as when it is deleted and
// created again.
func (s *System) Recreate(name string) {
	s.mu.Lock()
	s.ifaces[name].Index += 100
	s.mu.Unlock()
	s.notify()
}

// FailOpen makes Open fail with err (nil: succeed again).
func (s *System) FailOpen(err error) {
	s.mu.Lock()
	s.failOpen = err
	s.mu.Unlock()
}

// SetLinkDelay makes Link take d to read interface name (as netlink may on
// a loaded machine); the state it returns is the state at the end.
func (s *System) SetLinkDelay(name string, d time.Duration) {
	s.mu.Lock()
	if s.delay == nil {
		s.delay = map[string]time.Duration{}
	}
	s.delay[name] = d
	s.mu.Unlock()
}

// Opens counts the calls of Open that succeeded.
func (s *System) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

func (s *System) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.changes {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Link implements ha.System.
func (s *System) Link(name string) (ha.Link, error) {
	s.mu.Lock()
	d := s.delay[name]
	s.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.ifaces[name]
	if !ok {
		return ha.Link{}, fmt.Errorf("interface %s does not exist: %w: %w", name, ha.ErrLinkNotReady, netwatch.ErrLinkNotFound)
	}
	return ha.Link{Index: in.Index, Up: in.Up, LinkLocal: in.LinkLocal}, nil
}

// Changes implements ha.System.
func (s *System) Changes(ctx context.Context) (<-chan struct{}, error) {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	s.changes = append(s.changes, c)
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, o := range s.changes {
			if o == c {
				s.changes = append(s.changes[:i], s.changes[i+1:]...)
				break
			}
		}
		close(c)
	}()
	return c, nil
}

// Open implements ha.System.
func (s *System) Open(spec ha.PortSpec) (ha.Port, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failOpen != nil {
		return nil, s.failOpen
	}
	in, ok := s.ifaces[spec.Interface]
	if !ok || in.Index != spec.Index {
		return nil, fmt.Errorf("open %s: %w", spec.Interface, ha.ErrLinkNotReady)
	}
	if old := s.ports[spec.Interface]; old != nil && !old.isClosed() {
		return nil, fmt.Errorf("open %s: already open", spec.Interface)
	}
	p := &Port{sys: s, spec: spec, in: make(chan ha.Packet, 64), closed: make(chan struct{})}
	s.ports[spec.Interface] = p
	s.opens++
	return p, nil
}

// Port returns the port last opened on interface name, or nil.
func (s *System) Port(name string) *Port {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports[name]
}

// Port is a fake ha.Port.
type Port struct {
	sys    *System
	spec   ha.PortSpec
	in     chan ha.Packet
	closed chan struct{}

	mu      sync.Mutex
	active  bool
	adverts []ha.Advert
	nas     [][]byte
	shut    bool
	refresh int
}

func (p *Port) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shut
}

// Spec is what the port was opened with.
func (p *Port) Spec() ha.PortSpec { return p.spec }

// Active reports whether the virtual link is up with its addresses.
func (p *Port) Active() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// Closed reports whether the port was closed (its virtual link removed).
func (p *Port) Closed() bool { return p.isClosed() }

// Adverts returns the advertisements the port sent.
func (p *Port) Adverts() []ha.Advert {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ha.Advert(nil), p.adverts...)
}

// NAs returns the neighbor advertisements the port sent.
func (p *Port) NAs() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.nas...)
}

// Inject delivers pkt to the port as if it arrived on its interface; it
// reports false when the receive queue is full.
func (p *Port) Inject(pkt ha.Packet) bool {
	select {
	case p.in <- pkt:
		return true
	default:
		return false
	}
}

// ReadPacket implements ha.Port.
func (p *Port) ReadPacket(b []byte) (ha.Packet, error) {
	select {
	case pkt := <-p.in:
		n := copy(b, pkt.Data)
		pkt.Data = b[:n]
		return pkt, nil
	case <-p.closed:
		return ha.Packet{}, fmt.Errorf("read %s: %w", p.spec.Interface, net.ErrClosed)
	}
}

// Refresh implements ha.Refresher: it counts the calls.
func (p *Port) Refresh() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refresh++
	return nil
}

// Refreshes counts the calls of Refresh.
func (p *Port) Refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refresh
}

// Activate implements ha.Port.
func (p *Port) Activate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shut {
		return net.ErrClosed
	}
	p.active = true
	return nil
}

// Deactivate implements ha.Port.
func (p *Port) Deactivate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active = false
	return nil
}

// SendAdvert implements ha.Port: it parses b (a test fails on what does
// not parse through the sender's Adverts) and delivers it to every other
// port on the segment whose interface is up.
func (p *Port) SendAdvert(b []byte, src netip.Addr) error {
	a, err := ha.ParseAdvert(b, src, ha.AllRouters)
	if err != nil {
		return fmt.Errorf("fake: sent advertisement does not parse: %w", err)
	}
	if err := p.sendable(); err != nil {
		return err
	}
	p.mu.Lock()
	p.adverts = append(p.adverts, a)
	p.mu.Unlock()
	p.put(Frame{Advert: &a}, ha.Packet{Data: append([]byte(nil), b...), HopLimit: ha.HopLimit, Src: src, Dst: ha.AllRouters})
	return nil
}

// SendNA implements ha.Port.
func (p *Port) SendNA(b []byte) error {
	if err := p.sendable(); err != nil {
		return err
	}
	p.mu.Lock()
	p.nas = append(p.nas, append([]byte(nil), b...))
	p.mu.Unlock()
	p.put(Frame{NA: append([]byte(nil), b...)}, ha.Packet{})
	return nil
}

// sendable fails as the kernel does when the virtual link or its parent is
// down.
func (p *Port) sendable() error {
	p.mu.Lock()
	active, closed := p.active, p.shut
	p.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	if !active {
		return fmt.Errorf("send on %s: %w", p.spec.VirtualLink, errDown)
	}
	p.sys.mu.Lock()
	in := p.sys.ifaces[p.spec.Interface]
	up := in != nil && in.Up && in.Index == p.spec.Index
	p.sys.mu.Unlock()
	if !up {
		return fmt.Errorf("send on %s: %w", p.spec.Interface, errDown)
	}
	return nil
}

// put records f and, for an advertisement, delivers pkt to the other
// ports on the segment.
func (p *Port) put(f Frame, pkt ha.Packet) {
	n := p.sys.net
	p.sys.mu.Lock()
	seg := p.sys.ifaces[p.spec.Interface].Segment
	p.sys.mu.Unlock()
	f.Segment, f.From, f.SrcMAC = seg, p.sys.name, p.spec.VirtualMAC
	n.mu.Lock()
	n.frames = append(n.frames, f)
	systems, filter := append([]*System(nil), n.systems...), n.filter
	n.mu.Unlock()
	if f.Advert == nil {
		return
	}
	for _, s := range systems {
		if s == p.sys || (filter != nil && !filter(p.sys.name, s.name)) {
			continue
		}
		s.mu.Lock()
		var to *Port
		for name, in := range s.ifaces {
			if in.Segment == seg && in.Up {
				if q := s.ports[name]; q != nil && q.spec.Index == in.Index {
					to = q
				}
			}
		}
		s.mu.Unlock()
		if to != nil && !to.isClosed() {
			to.Inject(pkt)
		}
	}
}

// Close implements ha.Port.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.shut {
		p.shut = true
		p.active = false
		close(p.closed)
	}
	return nil
}
