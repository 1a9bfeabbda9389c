package pdclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// udpConn is the real Conn: a UDP socket on [::]:546 bound to one interface.
type udpConn struct {
	pc   *net.UDPConn
	zone string // the interface index: a numeric zone needs no name lookup
}

// Listen opens the DHCPv6 client socket of interface iface in the calling
// thread's network namespace: UDP port 546 on the unspecified address, bound
// to the device (SO_BINDTODEVICE), so that several upstream interfaces each
// have their client and the kernel picks the link-local source address RFC
// 8415 §13.1 asks for. Server replies come to that link-local address.
func Listen(iface string) (Conn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 client socket on %s: %w", iface, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp6", net.JoinHostPort("::", strconv.Itoa(ClientPort)))
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 client socket on %s: %w", iface, err)
	}
	return &udpConn{pc: pc.(*net.UDPConn), zone: strconv.Itoa(ifi.Index)}, nil
}

func (c *udpConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, src, err := c.pc.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return n, netip.AddrPortFrom(src.Addr().Unmap().WithZone(""), src.Port()), nil
}

func (c *udpConn) WriteTo(b []byte, dst netip.AddrPort) error {
	a := dst.Addr()
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		a = a.WithZone(c.zone)
	}
	_, err := c.pc.WriteToUDPAddrPort(b, netip.AddrPortFrom(a, dst.Port()))
	if err != nil && c.deviceGone() {
		return fmt.Errorf("%w: %w", ErrInterfaceGone, err)
	}
	return err
}

// deviceGone reports whether the device the socket is bound to no longer
// exists: the kernel names it by its index in the socket's own namespace,
// whatever the calling thread's.
func (c *udpConn) deviceGone() bool {
	rc, err := c.pc.SyscallConn()
	if err != nil {
		return false
	}
	var gone bool
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
		gone = errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV)
	})
	return gone
}

func (c *udpConn) Close() error { return c.pc.Close() }
