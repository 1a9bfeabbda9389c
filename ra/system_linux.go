package ra

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/internal/ifname"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// NewNetlinkSystem returns the Linux System: links from netlink through h
// (nil: a handle in the current network namespace), addresses from a
// netlink dump filtered by the kernel and the forwarding sysctl, both in the
// network namespace of the calling thread, and NDP sockets from
// mdlayher/ndp, opened in the namespace of the calling thread (a socket
// keeps its namespace afterwards).
func NewNetlinkSystem(h *netlink.Handle) System {
	if h == nil {
		h = &netlink.Handle{} // a socket per request, in the caller's namespace
	}
	return netlinkSystem{h: h}
}

func defaultSystem() System { return NewNetlinkSystem(nil) }

type netlinkSystem struct{ h *netlink.Handle }

func (s netlinkSystem) LinkState(name string) (LinkState, error) {
	l, err := s.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return LinkState{}, fmt.Errorf("interface %q does not exist: %w: %w", name, ErrLinkNotReady, netwatch.ErrLinkNotFound)
		}
		return LinkState{}, fmt.Errorf("get link %q: %w", name, err)
	}
	attrs := l.Attrs()
	st := LinkState{
		Index: attrs.Index,
		MAC:   attrs.HardwareAddr,
		Up:    attrs.RawFlags&unix.IFF_UP != 0 && attrs.RawFlags&unix.IFF_RUNNING != 0,
		MTU:   attrs.MTU,
	}
	addrs, err := linkAddrs(attrs.Index)
	if err != nil {
		return LinkState{}, fmt.Errorf("list addresses of %q: %w", name, err)
	}
	for _, a := range addrs {
		if a.flags&unix.IFA_F_DADFAILED != 0 {
			continue
		}
		ip := a.addr
		switch {
		case ip.IsLinkLocalUnicast():
			if !st.LinkLocal.IsValid() && a.flags&unix.IFA_F_TENTATIVE == 0 {
				st.LinkLocal = ip
			}
		case ip.IsGlobalUnicast():
			st.Global = append(st.Global, netip.PrefixFrom(ip, a.bits))
		}
	}
	return st, nil
}

func (s netlinkSystem) Listen(name string) (Conn, error) {
	st, err := s.LinkState(name)
	if err != nil {
		return nil, err
	}
	if !st.LinkLocal.IsValid() {
		return nil, fmt.Errorf("listen on %q: no usable link-local address: %w", name, ErrLinkNotReady)
	}
	c, err := listenICMP(name, st.Index, st.LinkLocal)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("listen on %q: %w", name, err)
		}
		// Typically the link-local address went away meanwhile.
		return nil, fmt.Errorf("listen on %q: %w: %w", name, ErrLinkNotReady, err)
	}
	return c, nil
}

// icmpConn is an NDP socket on one interface. Unlike ndp.Listen, opening it
// costs no dump of every interface's addresses (net.Interface.Addrs and the
// zone lookup by name), which matters with hundreds of interfaces.
type icmpConn struct {
	pc *ipv6.PacketConn
	c  net.PacketConn
	cm ipv6.ControlMessage // for writes: hop limit 255, our source and interface
}

func listenICMP(name string, index int, ll netip.Addr) (*icmpConn, error) {
	// A numeric zone needs no interface lookup.
	c, err := net.ListenPacket("ip6:ipv6-icmp", ll.WithZone(strconv.Itoa(index)).String())
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(c)
	ic := &icmpConn{pc: pc, c: c, cm: ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ll.AsSlice(), IfIndex: index}}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement) // §6.2.7 consistency checks
	steps := []struct {
		what string
		err  func() error
	}{
		{"set hop limit", func() error { return pc.SetHopLimit(ndp.HopLimit) }},
		{"set multicast hop limit", func() error { return pc.SetMulticastHopLimit(ndp.HopLimit) }},
		{"enable checksums", func() error { return pc.SetChecksum(true, 2) }},
		{"set icmpv6 filter", func() error { return pc.SetICMPFilter(&f) }},
		// The hop limit of received messages, to validate RSs (§6.1.1).
		{"enable hop limit control messages", func() error { return pc.SetControlMessage(ipv6.FlagHopLimit, true) }},
		{"join ff02::2", func() error {
			return pc.JoinGroup(&net.Interface{Index: index, Name: name}, &net.IPAddr{IP: netip.IPv6LinkLocalAllRouters().AsSlice()})
		}},
	}
	for _, s := range steps {
		if err := s.err(); err != nil {
			c.Close()
			return nil, fmt.Errorf("%s on %q: %w", s.what, name, err)
		}
	}
	return ic, nil
}

func (c *icmpConn) ReadRaw(b []byte) (int, *ipv6.ControlMessage, netip.Addr, error) {
	n, cm, src, err := c.pc.ReadFrom(b)
	if err != nil {
		return 0, nil, netip.Addr{}, err
	}
	var ip netip.Addr
	if a, ok := src.(*net.IPAddr); ok {
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	return n, cm, ip, nil
}

func (c *icmpConn) WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error {
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		return err
	}
	if cm == nil {
		cm = &c.cm
	}
	_, err = c.pc.WriteTo(b, cm, &net.IPAddr{IP: dst.WithZone("").AsSlice()})
	return err
}

func (c *icmpConn) SetReadDeadline(t time.Time) error  { return c.pc.SetReadDeadline(t) }
func (c *icmpConn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }
func (c *icmpConn) Close() error                       { return c.c.Close() }

// Forwarding reads /proc/sys/net/ipv6/conf/NAME/forwarding in the network
// namespace of the calling thread.
func (s netlinkSystem) Forwarding(name string) (bool, error) {
	return readForwarding(name)
}

func readForwarding(name string) (bool, error) {
	if !ifname.Valid(name) {
		return false, fmt.Errorf("forwarding of %q: invalid interface name", name)
	}
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + name + "/forwarding")
	if err != nil {
		return false, fmt.Errorf("read forwarding of %q: %w", name, err)
	}
	switch strings.TrimSpace(string(b)) {
	case "0":
		return false, nil
	case "":
		return false, fmt.Errorf("read forwarding of %q: empty", name)
	}
	return true, nil
}

type ifAddr struct {
	addr  netip.Addr
	bits  int
	flags uint32
}

// linkAddrs lists the IPv6 addresses of interface index with one netlink
// dump that the kernel filters (NETLINK_GET_STRICT_CHK), in the network
// namespace of the calling thread. netlink.AddrList dumps the addresses of
// every interface and filters them here, which with hundreds of advertising
// interfaces polled every second costs O(n²) work and hundreds of MB.
func linkAddrs(index int) ([]ifAddr, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
		return nil, fmt.Errorf("netlink strict check: %w", err)
	}
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("netlink timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	const seq = 1
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfAddrmsg)
	binary.NativeEndian.PutUint32(req[0:4], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:6], unix.RTM_GETADDR)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], seq)
	req[unix.NLMSG_HDRLEN] = unix.AF_INET6
	binary.NativeEndian.PutUint32(req[unix.NLMSG_HDRLEN+4:], uint32(index))
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out []ifAddr
	buf := make([]byte, 8<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := -int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
						return nil, fmt.Errorf("netlink dump: %w", syscall.Errno(errno))
					}
				}
				return out, nil
			case unix.RTM_NEWADDR:
			default:
				continue
			}
			if len(m.Data) < unix.SizeofIfAddrmsg {
				continue
			}
			bits, flags := int(m.Data[1]), uint32(m.Data[2])
			if m.Data[0] != unix.AF_INET6 || int(binary.NativeEndian.Uint32(m.Data[4:8])) != index {
				continue // a kernel without strict checking
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(&m)
			if err != nil {
				continue
			}
			var a ifAddr
			for _, at := range attrs {
				switch at.Attr.Type {
				case unix.IFA_ADDRESS:
					if ip, ok := netip.AddrFromSlice(at.Value); ok && !a.addr.IsValid() {
						a.addr = ip
					}
				case unix.IFA_LOCAL: // the local address on point-to-point links
					if ip, ok := netip.AddrFromSlice(at.Value); ok {
						a.addr = ip
					}
				case unix.IFA_FLAGS:
					if len(at.Value) >= 4 {
						flags = binary.NativeEndian.Uint32(at.Value)
					}
				}
			}
			if a.addr.Is6() && !a.addr.Is4In6() {
				a.bits, a.flags = bits, flags
				out = append(out, a)
			}
		}
	}
}
