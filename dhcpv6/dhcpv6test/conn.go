package dhcpv6test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vrouter/vrouter/dhcpv6"
)

// Datagram is one datagram through a Conn: Meta for what the server
// reads, Dst for what it writes.
type Datagram struct {
	B    []byte
	Meta dhcpv6.Meta
	Dst  netip.AddrPort
}

// Conn is an in-memory dhcpv6.Conn. ReadFrom returns what Inject put in,
// WriteTo queues to Sent (up to 1024 datagrams; beyond, WriteTo fails).
// After Close, ReadFrom returns net.ErrClosed and Inject drops.
type Conn struct {
	in   chan Datagram
	out  chan Datagram
	done chan struct{}
	once sync.Once
}

// NewConn returns an open Conn.
func NewConn() *Conn {
	return &Conn{in: make(chan Datagram), out: make(chan Datagram, 1024), done: make(chan struct{})}
}

// Inject hands b to the server's next ReadFrom; it blocks until then and
// reports false if the conn was closed first.
func (c *Conn) Inject(b []byte, m dhcpv6.Meta) bool {
	select {
	case c.in <- Datagram{B: slices.Clone(b), Meta: m}:
		return true
	case <-c.done:
		return false
	}
}

// Sent is what the server wrote, in order.
func (c *Conn) Sent() <-chan Datagram { return c.out }

// ReadFrom implements dhcpv6.Conn.
func (c *Conn) ReadFrom(b []byte) (int, dhcpv6.Meta, error) {
	select {
	case d := <-c.in:
		return copy(b, d.B), d.Meta, nil
	case <-c.done:
		return 0, dhcpv6.Meta{}, fmt.Errorf("read: %w", net.ErrClosed)
	}
}

// WriteTo implements dhcpv6.Conn.
func (c *Conn) WriteTo(b []byte, dst netip.AddrPort) error {
	select {
	case <-c.done:
		return fmt.Errorf("write: %w", net.ErrClosed)
	default:
	}
	select {
	case c.out <- Datagram{B: slices.Clone(b), Dst: dst}:
		return nil
	default:
		return errors.New("write: queue full")
	}
}

// Close implements dhcpv6.Conn.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// Clock is a settable dhcpv6.Clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now implements dhcpv6.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
