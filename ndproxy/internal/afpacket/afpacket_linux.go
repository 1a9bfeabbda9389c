// Package afpacket sends and receives IPv6 NDP packets on one Ethernet
// interface through an AF_PACKET (SOCK_DGRAM) socket with a classic BPF filter
// on the ICMPv6 type, and joins IPv6 multicast groups with an ordinary socket
// so that MLD reports are sent for them.
//
// A link-layer socket sees unicast Neighbor Solicitations for addresses that
// are not assigned to the machine (the kernel would forward or drop them
// before any ICMPv6 socket), the hop limit as received, and the sender's MAC.
package afpacket

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
)

const ethPIPv6 = 0x86dd

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Conn is an AF_PACKET socket bound to one interface, receiving only IPv6
// packets that carry ICMPv6 of the given types directly after the IPv6
// header. Methods are safe for concurrent use.
type Conn struct {
	f       *os.File
	rc      syscall.RawConn
	ifindex int
	closed  atomic.Bool

	// Read state, reused so that ReadFrom does not allocate; ReadFrom is
	// not meant to be called from two goroutines at once (a mutex keeps
	// that safe, not fast).
	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerr   error
	rsa    unix.RawSockaddrLinklayer
	readFn func(fd uintptr) bool

	// Write state, likewise.
	wmu     sync.Mutex
	wsa     unix.SockaddrLinklayer
	wbuf    []byte
	werr    error
	writeFn func(fd uintptr) bool
}

// Listen opens a Conn on ifindex receiving ICMPv6 messages of the given types.
func Listen(ifindex int, icmpTypes ...uint8) (*Conn, error) {
	if len(icmpTypes) == 0 || len(icmpTypes) > 8 {
		return nil, fmt.Errorf("afpacket: need 1 to 8 icmpv6 types, got %d", len(icmpTypes))
	}
	// Protocol 0 receives nothing until bind, so no unfiltered packet is
	// queued before the filter is attached.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afpacket: socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	prog, err := filter(icmpTypes)
	if err != nil {
		return nil, err
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, prog); err != nil {
		return nil, fmt.Errorf("afpacket: attach filter: %w", err)
	}
	const rcvbuf = 4 << 20
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(ethPIPv6), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("afpacket: bind ifindex %d: %w", ifindex, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("afpacket:%d", ifindex))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		ok = true // f owns fd now
		return nil, fmt.Errorf("afpacket: %w", err)
	}
	ok = true
	c := &Conn{f: f, rc: rc, ifindex: ifindex}
	c.readFn = c.doRead
	c.writeFn = c.doWrite
	c.wsa = unix.SockaddrLinklayer{Protocol: htons(ethPIPv6), Ifindex: ifindex, Halen: 6}
	return c, nil
}

func filter(types []uint8) (*unix.SockFprog, error) {
	// Offsets are from the IPv6 header (SOCK_DGRAM strips the link header).
	ins := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 58, SkipFalse: uint8(len(types) + 1)},
		bpf.LoadAbsolute{Off: 40, Size: 1},
	}
	for i, t := range types {
		ins = append(ins, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(t), SkipTrue: uint8(len(types) - i)})
	}
	ins = append(ins, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: 0xffff})
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, fmt.Errorf("afpacket: assemble filter: %w", err)
	}
	f := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}, nil
}

// ReadFrom reads one IPv6 packet addressed to this host (unicast to its MAC,
// multicast or broadcast) into b and returns its length and the sender's
// MAC. Packets the host sends and packets for other hosts are skipped. After
// Close it returns an error satisfying errors.Is(err, net.ErrClosed). It does
// not allocate.
func (c *Conn) ReadFrom(b []byte) (int, ndwire.MAC, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var from ndwire.MAC
	c.rbuf = b
	defer func() { c.rbuf = nil }()
	for {
		if err := c.rc.Read(c.readFn); err != nil {
			return 0, from, c.wrap(err)
		}
		if c.rerr != nil {
			// ENETDOWN is reported once when the link goes down; the
			// socket keeps working once it is up again.
			return 0, from, fmt.Errorf("afpacket: recvfrom: %w", c.rerr)
		}
		switch c.rsa.Pkttype {
		case unix.PACKET_HOST, unix.PACKET_MULTICAST, unix.PACKET_BROADCAST:
			copy(from[:], c.rsa.Addr[:6])
			return c.rn, from, nil
		}
	}
}

func (c *Conn) doRead(fd uintptr) bool {
	var p unsafe.Pointer
	if len(c.rbuf) > 0 {
		p = unsafe.Pointer(&c.rbuf[0])
	}
	l := uint32(unix.SizeofSockaddrLinklayer)
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(p), uintptr(len(c.rbuf)), 0,
		uintptr(unsafe.Pointer(&c.rsa)), uintptr(unsafe.Pointer(&l)))
	if e == unix.EAGAIN {
		return false
	}
	c.rn, c.rerr = int(r), nil
	if e != 0 {
		c.rn, c.rerr = 0, e
	}
	return true
}

// WriteTo sends the IPv6 packet b to the Ethernet address dst.
func (c *Conn) WriteTo(b []byte, dst ndwire.MAC) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	copy(c.wsa.Addr[:], dst[:])
	c.wbuf = b
	defer func() { c.wbuf = nil }()
	if err := c.rc.Write(c.writeFn); err != nil {
		return c.wrap(err)
	}
	if c.werr != nil {
		return fmt.Errorf("afpacket: sendto: %w", c.werr)
	}
	return nil
}

func (c *Conn) doWrite(fd uintptr) bool {
	c.werr = unix.Sendto(int(fd), c.wbuf, 0, &c.wsa)
	return c.werr != unix.EAGAIN
}

// wrap reports errors after Close as net.ErrClosed (os.File reports them as
// an unexported "use of closed file").
func (c *Conn) wrap(err error) error {
	if c.closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("afpacket: %w", net.ErrClosed)
	}
	return err
}

// SetReadDeadline sets the deadline for ReadFrom.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// Close closes the socket; a blocked ReadFrom returns.
func (c *Conn) Close() error {
	c.closed.Store(true)
	return c.f.Close()
}

// Membership holds IPv6 multicast group memberships on one interface. The
// kernel sends MLD reports for them, so MLD-snooping switches forward the
// groups to us.
type Membership struct {
	fd int
}

// Join joins groups on ifindex with one socket. Close leaves them all.
func Join(ifindex int, groups []netip.Addr) (*Membership, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("afpacket: multicast socket: %w", err)
	}
	for _, g := range groups {
		mreq := &unix.IPv6Mreq{Multiaddr: g.As16(), Interface: uint32(ifindex)}
		if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("afpacket: join %s on ifindex %d: %w", g, ifindex, err)
		}
	}
	return &Membership{fd: fd}, nil
}

// Close leaves the groups.
func (m *Membership) Close() error {
	if m.fd < 0 {
		return nil
	}
	err := unix.Close(m.fd)
	m.fd = -1
	return err
}
