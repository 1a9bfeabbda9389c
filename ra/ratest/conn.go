package ratest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// Packet is one message written to a Conn.
type Packet struct {
	Time    time.Time // time.Now() at the write (the fake clock in synctest)
	Dst     netip.Addr
	Message ndp.Message // parsed back from Bytes, as a receiver would see it
	Bytes   []byte      // the ICMPv6 message (checksum left zero)
}

type inbound struct {
	b   []byte
	cm  *ipv6.ControlMessage
	src netip.Addr
}

// Conn is an in-memory NDP socket (it implements ra.Conn). The test side
// delivers messages with Receive or ReceiveBytes and inspects what was written
// with Packets. After Close, reads and writes return net.ErrClosed; after
// Fail(err), they return err.
type Conn struct {
	local netip.Addr
	in    chan inbound

	closeOnce sync.Once
	closed    chan struct{}

	mu       sync.Mutex
	sent     []Packet
	failErr  error
	failed   chan struct{}
	deadline chan struct{} // closed when the read deadline passes
	timer    *time.Timer
}

// NewConn returns a Conn whose own address is local.
func NewConn(local netip.Addr) *Conn {
	return &Conn{
		local:    local,
		in:       make(chan inbound, 64),
		closed:   make(chan struct{}),
		failed:   make(chan struct{}),
		deadline: make(chan struct{}),
	}
}

// ReadRaw implements ra.Conn. Like a raw socket it truncates a message
// longer than b.
func (c *Conn) ReadRaw(b []byte) (int, *ipv6.ControlMessage, netip.Addr, error) {
	c.mu.Lock()
	dl, failed := c.deadline, c.failed
	c.mu.Unlock()
	select {
	case <-c.closed:
		return 0, nil, netip.Addr{}, net.ErrClosed
	case <-failed:
		return 0, nil, netip.Addr{}, c.failure()
	case <-dl:
		return 0, nil, netip.Addr{}, os.ErrDeadlineExceeded
	case in := <-c.in:
		return copy(b, in.b), in.cm, in.src, nil
	}
}

// WriteTo implements ra.Conn. It marshals m as ndp.Conn does, so a message
// the wire cannot carry fails here too.
func (c *Conn) WriteTo(m ndp.Message, _ *ipv6.ControlMessage, dst netip.Addr) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	if err := c.failure(); err != nil {
		return err
	}
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		return err
	}
	parsed, err := ndp.ParseMessage(b)
	if err != nil {
		return fmt.Errorf("ratest: written message does not parse: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, Packet{Time: time.Now(), Dst: dst, Message: parsed, Bytes: b})
	return nil
}

// SetReadDeadline implements ra.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	select {
	case <-c.deadline:
		c.deadline = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return nil
	}
	d := time.Until(t)
	if d <= 0 {
		close(c.deadline)
		return nil
	}
	ch := c.deadline
	c.timer = time.AfterFunc(d, func() { close(ch) })
	return nil
}

// SetWriteDeadline implements ra.Conn; writes never block, so it does nothing.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// Close implements ra.Conn.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.mu.Lock()
		if c.timer != nil {
			c.timer.Stop()
		}
		c.mu.Unlock()
	})
	return nil
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

// Fail makes pending and later reads and writes return err, as a socket does
// when its link goes away.
func (c *Conn) Fail(err error) {
	if err == nil {
		err = errors.New("ratest: conn failed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failErr == nil {
		c.failErr = err
		close(c.failed)
	}
}

func (c *Conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failErr
}

// Receive delivers m from src with the given IPv6 hop limit to the reader.
// It blocks while 64 messages are queued; it returns net.ErrClosed once the
// Conn is closed.
func (c *Conn) Receive(m ndp.Message, src netip.Addr, hopLimit int) error {
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		return err
	}
	return c.ReceiveBytes(b, src, hopLimit)
}

// ReceiveBytes delivers the ICMPv6 message b as it is, malformed or not.
func (c *Conn) ReceiveBytes(b []byte, src netip.Addr, hopLimit int) error {
	b = append([]byte(nil), b...)
	select {
	case c.in <- inbound{b: b, cm: &ipv6.ControlMessage{HopLimit: hopLimit}, src: src}:
		return nil
	case <-c.closed:
		return net.ErrClosed
	}
}

// Packets returns a copy of what was written so far.
func (c *Conn) Packets() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.sent...)
}
