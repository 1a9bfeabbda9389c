package dhcpv6

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ListenConn opens the DHCPv6 server socket of interface iface in the
// network namespace of the calling thread: a UDP socket on port 547 bound
// to the interface (SO_BINDTODEVICE, so servers on several interfaces
// coexist) that joined ff02::1:2 there, and beside it an AF_PACKET socket
// that sees the same datagrams as frames and remembers the link-layer
// source of each IPv6 source address. The kernel queues a frame to packet
// sockets before the IPv6 layer delivers its datagram, so when the UDP
// socket returns a datagram its frame has been queued: draining the packet
// socket then gives the MAC of that datagram's sender. The UDP socket does
// the IP work (checksums, reassembly, local destinations). It needs
// CAP_NET_RAW (the packet socket) and CAP_NET_BIND_SERVICE (port 547).
//
// The conn reads and writes batches of datagrams (recvmmsg, sendmmsg) for
// the server, and reads the packet socket only while the server asks for
// MACs (it has reservations by MAC): frames queued meanwhile are dropped by
// the kernel when the socket's buffer is full, at little cost. Its receive
// buffer is 4 MiB (rcvBuf) where CAP_NET_ADMIN allows it, else as large as
// net.core.rmem_max allows: it absorbs what comes while a garbage
// collection or the scheduler holds the server (the server empties it
// between batches and drops its overload itself).
func ListenConn(iface string) (Conn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 listen on %s: %w", iface, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
			// Best effort: without CAP_NET_ADMIN the kernel caps it.
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
			}
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp6", net.JoinHostPort("::", strconv.Itoa(ServerPort)))
	if errors.Is(err, unix.EACCES) {
		return nil, fmt.Errorf("dhcpv6 listen on %s: %w (binding UDP port %d needs CAP_NET_BIND_SERVICE)", iface, err, ServerPort)
	}
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 listen on %s: %w", iface, err)
	}
	c := &linuxConn{ifi: ifi, udp: pc.(*net.UDPConn), p: ipv6.NewPacketConn(pc), fd: -1, macs: make(map[netip.Addr]net.HardwareAddr),
		oob: (&ipv6.ControlMessage{IfIndex: ifi.Index}).Marshal()}
	c.learn.Store(true)
	steps := []struct {
		what string
		fn   func() error
	}{
		{"control messages", func() error { return c.p.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true) }},
		{"join ff02::1:2", func() error {
			return c.p.JoinGroup(ifi, &net.UDPAddr{IP: AllRelayAgentsAndServers.AsSlice()})
		}},
		{"packet socket", c.openPacket},
		{"second descriptor", c.openDrain},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			c.Close()
			return nil, fmt.Errorf("dhcpv6 listen on %s: %s: %w", iface, st.what, err)
		}
	}
	return c, nil
}

type linuxConn struct {
	ifi *net.Interface
	udp *net.UDPConn
	p   *ipv6.PacketConn
	// drain is the same socket through a second descriptor, for the reads
	// that do not wait: Go serializes the reads of one descriptor, and one
	// that waits would hold them up.
	drainUDP *net.UDPConn
	drainP   *ipv6.PacketConn
	oob      []byte      // control message of every datagram sent: the interface
	learn    atomic.Bool // read the packet socket (LearnMACs)

	mu     sync.Mutex // guards fd against Close while draining, and macs
	fd     int        // AF_PACKET socket, -1 when closed
	macs   map[netip.Addr]net.HardwareAddr
	closed bool

	// Message headers for ReadBatch, which a waiting reader and a
	// draining handler call at the same time, and WriteBatch.
	rmsgs sync.Pool // *[]ipv6.Message
	wmu   sync.Mutex
	wmsg  []ipv6.Message
}

// rcvBuf is the UDP socket's receive buffer.
const rcvBuf = 4 << 20

// maxMACs bounds the source-to-MAC map; it is cleared when full.
const maxMACs = 4096

// The packet socket's filter, on the IPv6 header (SOCK_DGRAM): UDP to port
// 547 without extension headers; the first 40 bytes are enough.
var packetFilter = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 6, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: 3},
	bpf.LoadAbsolute{Off: 42, Size: 2},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ServerPort, SkipTrue: 1},
	bpf.RetConstant{Val: 40},
	bpf.RetConstant{Val: 0},
}

func (c *linuxConn) openPacket() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	raw, err := bpf.Assemble(packetFilter)
	if err != nil {
		unix.Close(fd)
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(raw)), Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return err
	}
	// Our own answers to relays go to port 547 too.
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: c.ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return err
	}
	c.mu.Lock()
	c.fd = fd
	c.mu.Unlock()
	return nil
}

func (c *linuxConn) openDrain() error {
	f, err := c.udp.File() // a duplicate of the descriptor
	if err != nil {
		return err
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return err
	}
	u, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return fmt.Errorf("not UDP: %T", pc)
	}
	c.drainUDP, c.drainP = u, ipv6.NewPacketConn(u)
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// LearnMACs turns the reading of the packet socket on or off. When turned
// on, the frames queued meanwhile are read first, all of them.
func (c *linuxConn) LearnMACs(on bool) {
	if c.learn.Swap(on) || !on {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var b [1]byte
	for range 1 << 16 {
		if c.closed {
			return
		}
		if _, _, err := unix.Recvfrom(c.fd, b[:], unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// drain reads the queued frames and remembers their sources' MACs.
func (c *linuxConn) drain() {
	if !c.learn.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	var b [40]byte
	for range 1024 {
		n, from, err := unix.Recvfrom(c.fd, b[:], unix.MSG_DONTWAIT)
		if err != nil {
			return
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || n < 40 || ll.Pkttype == unix.PACKET_OUTGOING || ll.Pkttype == unix.PACKET_OTHERHOST || ll.Halen == 0 || ll.Halen > 8 {
			continue
		}
		src := netip.AddrFrom16([16]byte(b[8:24]))
		if len(c.macs) >= maxMACs {
			clear(c.macs)
		}
		c.macs[src] = net.HardwareAddr(append([]byte(nil), ll.Addr[:ll.Halen]...))
	}
}

func (c *linuxConn) ReadFrom(b []byte) (int, Meta, error) {
	n, cm, src, err := c.p.ReadFrom(b)
	if err != nil {
		return 0, Meta{}, err
	}
	var m Meta
	if u, ok := src.(*net.UDPAddr); ok {
		a, _ := netip.AddrFromSlice(u.IP)
		m.Src = netip.AddrPortFrom(a.Unmap(), uint16(u.Port))
	}
	if cm != nil {
		m.Dst, _ = netip.AddrFromSlice(cm.Dst)
		m.IfIndex = cm.IfIndex
	}
	c.drain()
	c.lookupMACs([]Meta{m})
	return n, m, nil
}

// lookupMACs sets SrcMAC in ms from what drain learned.
func (c *linuxConn) lookupMACs(ms []Meta) {
	if !c.learn.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range ms {
		if mac, ok := c.macs[ms[i].Src.Addr()]; ok {
			ms[i].SrcMAC = mac
		}
	}
}

// ReadBatch implements batchConn.
func (c *linuxConn) ReadBatch(bufs [][]byte, ns []int, ms []Meta, wait bool) (int, error) {
	k := min(len(bufs), len(ns), len(ms))
	pm, _ := c.rmsgs.Get().(*[]ipv6.Message)
	if pm == nil {
		pm = new([]ipv6.Message)
	}
	defer c.rmsgs.Put(pm)
	for len(*pm) < k {
		*pm = append(*pm, ipv6.Message{Buffers: make([][]byte, 1), OOB: ipv6.NewControlMessage(ipv6.FlagDst | ipv6.FlagInterface)})
	}
	msgs := (*pm)[:k]
	defer func() {
		for i := range msgs {
			msgs[i].Buffers[0], msgs[i].Addr = nil, nil
		}
	}()
	for i := range msgs {
		msgs[i].Buffers[0], msgs[i].Addr = bufs[i], nil
		msgs[i].OOB = msgs[i].OOB[:cap(msgs[i].OOB)]
	}
	flags := 0
	if !wait {
		flags = unix.MSG_DONTWAIT
	}
	p := c.p
	if !wait {
		p = c.drainP
	}
	n, err := p.ReadBatch(msgs, flags)
	if err != nil {
		if !wait && errors.Is(err, unix.EAGAIN) {
			return 0, nil
		}
		return 0, err
	}
	for i, msg := range msgs[:n] {
		ns[i] = msg.N
		m := Meta{}
		if u, ok := msg.Addr.(*net.UDPAddr); ok {
			a, _ := netip.AddrFromSlice(u.IP)
			m.Src = netip.AddrPortFrom(a.Unmap(), uint16(u.Port))
		}
		var cm ipv6.ControlMessage
		if cm.Parse(msg.OOB[:msg.NN]) == nil {
			m.Dst, _ = netip.AddrFromSlice(cm.Dst)
			m.IfIndex = cm.IfIndex
		}
		ms[i] = m
	}
	c.drain()
	c.lookupMACs(ms[:n])
	return n, nil
}

// WriteBatch implements batchConn.
func (c *linuxConn) WriteBatch(bs [][]byte, dsts []netip.AddrPort) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	k := min(len(bs), len(dsts))
	for len(c.wmsg) < k {
		c.wmsg = append(c.wmsg, ipv6.Message{Buffers: make([][]byte, 1), OOB: c.oob})
	}
	msgs := c.wmsg[:k]
	for i := range msgs {
		msgs[i].Buffers[0] = bs[i]
		msgs[i].Addr = udpAddr(dsts[i])
	}
	defer func() {
		for i := range msgs {
			msgs[i].Buffers[0], msgs[i].Addr = nil, nil
		}
	}()
	sent := 0
	for sent < k {
		n, err := c.p.WriteBatch(msgs[sent:], 0)
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// udpAddr is dst without a zone: the socket is bound to the interface and
// every datagram names it in its control message, which is what the kernel
// uses for a link-local destination. (A zone would be looked up by name,
// in the namespace of the calling thread, for every datagram.)
func udpAddr(dst netip.AddrPort) *net.UDPAddr {
	return &net.UDPAddr{IP: dst.Addr().AsSlice(), Port: int(dst.Port())}
}

func (c *linuxConn) WriteTo(b []byte, dst netip.AddrPort) error {
	_, err := c.p.WriteTo(b, &ipv6.ControlMessage{IfIndex: c.ifi.Index}, udpAddr(dst))
	return err
}

func (c *linuxConn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
	}
	c.mu.Unlock()
	if c.drainUDP != nil {
		c.drainUDP.Close()
	}
	err := c.udp.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
