package router

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/sys/unix"
)

// SolicitRouters sends one Router Solicitation on link name from its
// non-tentative link-local address, with hop limit 255 and a source
// link-layer address option, to ff02::2. Multicast loopback is off so our
// own advertiser on the same link never sees it.
func (o linuxOS) SolicitRouters(name string) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", name, err)
	}
	var src netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && ip.Is6() && ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			src = ip
			break
		}
	}
	if !src.IsValid() {
		return fmt.Errorf("%s: %w", name, ErrTentative)
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", src.WithZone(name).String())
	if err != nil {
		return fmt.Errorf("open icmpv6 socket on %s: %w", name, err)
	}
	defer c.Close()
	pc := c.IPv6PacketConn()
	ifi := &net.Interface{Index: l.Attrs().Index, Name: name}
	if err := pc.SetMulticastInterface(ifi); err != nil {
		return fmt.Errorf("rs on %s: %w", name, err)
	}
	if err := pc.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("rs on %s: %w", name, err)
	}
	if err := pc.SetMulticastHopLimit(ndp.HopLimit); err != nil {
		return fmt.Errorf("rs on %s: %w", name, err)
	}
	rs := &ndp.RouterSolicitation{}
	if mac := l.Attrs().HardwareAddr; len(mac) == 6 {
		rs.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}}
	}
	b, err := ndp.MarshalMessage(rs)
	if err != nil {
		return fmt.Errorf("marshal rs: %w", err)
	}
	dst := &net.IPAddr{IP: net.ParseIP("ff02::2"), Zone: name}
	if _, err := pc.WriteTo(b, nil, dst); err != nil {
		return fmt.Errorf("send rs on %s: %w", name, err)
	}
	return nil
}
