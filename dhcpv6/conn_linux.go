package dhcpv6

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
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
func ListenConn(iface string) (Conn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 listen on %s: %w", iface, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
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
	c := &linuxConn{ifi: ifi, udp: pc.(*net.UDPConn), p: ipv6.NewPacketConn(pc), fd: -1, macs: make(map[netip.Addr]net.HardwareAddr)}
	steps := []struct {
		what string
		fn   func() error
	}{
		{"control messages", func() error { return c.p.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true) }},
		{"join ff02::1:2", func() error {
			return c.p.JoinGroup(ifi, &net.UDPAddr{IP: AllRelayAgentsAndServers.AsSlice()})
		}},
		{"packet socket", c.openPacket},
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

	mu     sync.Mutex // guards fd against Close while draining
	fd     int        // AF_PACKET socket, -1 when closed
	macs   map[netip.Addr]net.HardwareAddr
	closed bool
}

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

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// drain reads the queued frames and remembers their sources' MACs.
func (c *linuxConn) drain() {
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
	c.mu.Lock()
	if mac, ok := c.macs[m.Src.Addr()]; ok {
		m.SrcMAC = mac
	}
	c.mu.Unlock()
	return n, m, nil
}

func (c *linuxConn) WriteTo(b []byte, dst netip.AddrPort) error {
	ua := &net.UDPAddr{IP: dst.Addr().AsSlice(), Port: int(dst.Port())}
	if dst.Addr().IsLinkLocalUnicast() || dst.Addr().IsLinkLocalMulticast() {
		ua.Zone = c.ifi.Name
	}
	_, err := c.p.WriteTo(b, &ipv6.ControlMessage{IfIndex: c.ifi.Index}, ua)
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
	err := c.udp.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
