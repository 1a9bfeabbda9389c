package ndproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/ndproxy/internal/afpacket"
)

// rtprotNDProxy marks routes the proxy installs ("proto 199" in ip route).
const rtprotNDProxy = 199

func defaultSystem() System { return linuxSystem{} }

// linuxSystem is System on the running kernel, in the current namespace.
type linuxSystem struct{}

func (linuxSystem) Link(name string) (Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return Link{}, fmt.Errorf("%s: %w", name, ErrLinkNotFound)
		}
		return Link{}, fmt.Errorf("link %s: %w", name, err)
	}
	a := l.Attrs()
	// Up needs IFF_RUNNING (operstate up) besides carrier: the kernel sets
	// it from its link watcher once the carrier change has been processed
	// (queues activated), so what we send at once is not lost to a link
	// that is only half up.
	up := a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0
	out := Link{Index: a.Index, Name: a.Name, Up: up}
	if len(a.HardwareAddr) != 6 {
		return Link{}, fmt.Errorf("link %s: not an Ethernet interface (hardware address %q)", name, a.HardwareAddr)
	}
	copy(out.MAC[:], a.HardwareAddr)
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return Link{}, fmt.Errorf("addresses of %s: %w", name, err)
	}
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		out.Addrs = append(out.Addrs, ip)
		if ip.IsLinkLocalUnicast() && !out.LinkLocal.IsValid() &&
			ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			out.LinkLocal = ip
		}
	}
	return out, nil
}

func (linuxSystem) OpenPort(ifindex int, icmpTypes ...uint8) (Port, error) {
	return afpacket.Listen(ifindex, icmpTypes...)
}

type allMulti struct{ link netlink.Link }

func (a allMulti) Close() error { return netlink.LinkSetAllmulticastOff(a.link) }

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (linuxSystem) JoinGroups(ifindex int, groups []netip.Addr, all bool) (io.Closer, error) {
	var cs closers
	if len(groups) > 0 {
		m, err := afpacket.Join(ifindex, groups)
		if err != nil {
			return nil, err
		}
		cs = append(cs, m)
	}
	if all {
		l, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			cs.Close()
			return nil, fmt.Errorf("link %d: %w", ifindex, err)
		}
		if l.Attrs().RawFlags&unix.IFF_ALLMULTI == 0 {
			if err := netlink.LinkSetAllmulticastOn(l); err != nil {
				cs.Close()
				return nil, fmt.Errorf("allmulti on %s: %w", l.Attrs().Name, err)
			}
			cs = append(cs, allMulti{l})
		}
	}
	return cs, nil
}

func (linuxSystem) Neighbors(ifindex int) ([]netip.Addr, error) {
	ns, err := netlink.NeighList(ifindex, netlink.FAMILY_V6)
	if err != nil {
		return nil, fmt.Errorf("neighbours of %d: %w", ifindex, err)
	}
	const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT
	var out []netip.Addr
	for _, n := range ns {
		if n.State&usable == 0 || n.Flags&netlink.NTF_PROXY != 0 {
			continue
		}
		if ip, ok := netip.AddrFromSlice(n.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

func (linuxSystem) AddRoute(ifindex int, dst netip.Prefix) (bool, error) {
	rs, err := netlink.RouteGet(net.IP(dst.Addr().AsSlice()))
	if err == nil && len(rs) > 0 && rs[0].LinkIndex == ifindex {
		return false, nil
	}
	r := &netlink.Route{
		LinkIndex: ifindex,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 128)},
		Protocol:  rtprotNDProxy,
		Scope:     netlink.SCOPE_LINK,
	}
	if err := netlink.RouteAdd(r); err != nil {
		return false, fmt.Errorf("add route %s dev %d: %w", dst, ifindex, err)
	}
	return true, nil
}

func (linuxSystem) DelRoute(ifindex int, dst netip.Prefix) error {
	r := &netlink.Route{
		LinkIndex: ifindex,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 128)},
		Protocol:  rtprotNDProxy,
		Scope:     netlink.SCOPE_LINK,
	}
	if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete route %s dev %d: %w", dst, ifindex, err)
	}
	return nil
}

func (linuxSystem) OwnedRoutes() ([]Route, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Protocol: rtprotNDProxy}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("list proxy routes: %w", err)
	}
	var out []Route
	for _, r := range rs {
		if r.Dst == nil || r.LinkIndex <= 0 {
			continue
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, bits := r.Dst.Mask.Size()
		if !ok || bits != 128 {
			continue
		}
		out = append(out, Route{Ifindex: r.LinkIndex, Dst: netip.PrefixFrom(a, ones)})
	}
	return out, nil
}

// Watch implements System with a netwatch.Watcher of its own (the daemon
// passes its shared watcher's events with WithEvents instead).
func (linuxSystem) Watch(ctx context.Context, notify func()) error {
	w := netwatch.New(netwatch.Netlink{}, nil)
	if err := w.Start(ctx); err != nil {
		return err
	}
	sub := w.Subscribe(netwatch.Links|netwatch.Addrs|netwatch.Neighs, 0)
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.C():
			notify()
		}
	}
}
