package pdtest

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// Datagram is one message the client wrote.
type Datagram struct {
	Time    time.Time // time.Now() at the write (the fake clock in synctest)
	Dst     netip.AddrPort
	Bytes   []byte
	Message *dhcpv6.Message // Bytes parsed back; nil if they do not parse
}

type inbound struct {
	b   []byte
	src netip.AddrPort
}

// Conn is an in-memory DHCPv6 client socket; it implements pdclient.Conn.
// The test delivers datagrams with Deliver and reads what the client wrote
// with Sent. After Close, ReadFrom and WriteTo return net.ErrClosed; after
// FailRead(err), ReadFrom returns err.
type Conn struct {
	in        chan inbound
	closed    chan struct{}
	closeOnce sync.Once
	failed    chan struct{}
	failOnce  sync.Once
	readErr   error

	mu       sync.Mutex
	sent     []Datagram
	writeErr error
}

// NewConn returns an open Conn.
func NewConn() *Conn {
	return &Conn{in: make(chan inbound, 64), closed: make(chan struct{}), failed: make(chan struct{})}
}

// Deliver queues b as a datagram from src for the client to read; it drops
// it once the Conn is closed.
func (c *Conn) Deliver(b []byte, src netip.AddrPort) {
	select {
	case c.in <- inbound{b: append([]byte(nil), b...), src: src}:
	case <-c.closed:
	}
}

// Sent returns the datagrams written so far, oldest first.
func (c *Conn) Sent() []Datagram {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Datagram(nil), c.sent...)
}

// SetWriteError makes WriteTo fail with err (nil: succeed again); failed
// writes are not recorded.
func (c *Conn) SetWriteError(err error) {
	c.mu.Lock()
	c.writeErr = err
	c.mu.Unlock()
}

// FailRead makes ReadFrom return err from now on, as a socket that broke.
func (c *Conn) FailRead(err error) {
	c.failOnce.Do(func() {
		c.readErr = err
		close(c.failed)
	})
}

// Closed reports whether Close was called.
func (c *Conn) Closed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// ReadFrom implements pdclient.Conn; like a UDP socket it truncates a
// datagram longer than b.
func (c *Conn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	select {
	case <-c.closed:
		return 0, netip.AddrPort{}, net.ErrClosed
	case <-c.failed:
		return 0, netip.AddrPort{}, c.readErr
	case in := <-c.in:
		return copy(b, in.b), in.src, nil
	}
}

// WriteTo implements pdclient.Conn.
func (c *Conn) WriteTo(b []byte, dst netip.AddrPort) error {
	if c.Closed() {
		return net.ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	d := Datagram{Time: time.Now(), Dst: dst, Bytes: append([]byte(nil), b...)}
	if m, err := dhcpv6.MessageFromBytes(b); err == nil {
		d.Message = m
	}
	c.sent = append(c.sent, d)
	return nil
}

// Close implements pdclient.Conn.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}
