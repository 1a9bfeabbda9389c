package ra

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// NewNetlinkSystem returns the Linux System: link state from netlink through
// h (nil: a handle in the current network namespace) and NDP sockets from
// mdlayher/ndp. Listen opens its socket in the network namespace of the
// calling thread; the socket keeps that namespace afterwards.
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
			return LinkState{}, fmt.Errorf("interface %q does not exist: %w", name, ErrLinkNotReady)
		}
		return LinkState{}, fmt.Errorf("get link %q: %w", name, err)
	}
	attrs := l.Attrs()
	st := LinkState{
		Index: attrs.Index,
		MAC:   attrs.HardwareAddr,
		Up:    attrs.RawFlags&unix.IFF_UP != 0 && attrs.RawFlags&unix.IFF_RUNNING != 0,
	}
	addrs, err := s.h.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return LinkState{}, fmt.Errorf("list addresses of %q: %w", name, err)
	}
	for _, a := range addrs {
		if a.IPNet == nil || a.Flags&unix.IFA_F_DADFAILED != 0 {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.Is6() || ip.Is4In6() {
			continue
		}
		bits, _ := a.Mask.Size()
		switch {
		case ip.IsLinkLocalUnicast():
			if !st.LinkLocal.IsValid() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				st.LinkLocal = ip
			}
		case ip.IsGlobalUnicast():
			st.Global = append(st.Global, netip.PrefixFrom(ip, bits))
		}
	}
	return st, nil
}

func (s netlinkSystem) Listen(name string) (Conn, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w: %w", name, ErrLinkNotReady, err)
	}
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("listen on %q: %w", name, err)
		}
		// Typically the link-local address went away or is still tentative.
		return nil, fmt.Errorf("listen on %q: %w: %w", name, ErrLinkNotReady, err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := c.SetICMPFilter(&f); err != nil {
		c.Close()
		return nil, fmt.Errorf("set icmpv6 filter on %q: %w", name, err)
	}
	// The hop limit of received messages, to validate RSs (RFC 4861 §6.1.1).
	if err := c.SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
		c.Close()
		return nil, fmt.Errorf("enable hop limit control messages on %q: %w", name, err)
	}
	if err := c.JoinGroup(netip.IPv6LinkLocalAllRouters()); err != nil {
		c.Close()
		return nil, fmt.Errorf("join ff02::2 on %q: %w", name, err)
	}
	return c, nil
}
