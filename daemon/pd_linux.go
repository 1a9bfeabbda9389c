//go:build linux

package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// rtprotPD marks the unreachable routes of delegated prefixes ("proto 198"
// in ip route), so that only those are ever removed.
const rtprotPD = 198

// pdKernelRoutes makes the unreachable routes of proto rtprotPD in the
// main table exactly want: the whole delegated prefixes, so that packets
// to their unassigned parts are answered with ICMPv6 unreachable instead
// of going back upstream by the default route (RFC 7084 WPD-5). The
// assigned /64s win by longest match (the connected route of their ::1).
func pdKernelRoutes(want []netip.Prefix) error {
	have, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Protocol: rtprotPD}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("list delegated-prefix routes: %w", err)
	}
	wanted := map[netip.Prefix]bool{}
	for _, p := range want {
		wanted[p.Masked()] = true
	}
	var errs []error
	for _, r := range have {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			continue
		}
		p := netip.PrefixFrom(a.Unmap(), ones)
		if wanted[p] && r.Type == unix.RTN_UNREACHABLE {
			delete(wanted, p)
			continue
		}
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s: %w", p, err))
		}
	}
	for p := range wanted {
		r := &netlink.Route{
			Dst:      &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)},
			Type:     unix.RTN_UNREACHABLE,
			Protocol: rtprotPD,
			Table:    unix.RT_TABLE_MAIN,
		}
		if err := netlink.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("add unreachable route %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// linkCarrier reads a link event of netwatch (a netlink.LinkUpdate): the
// link's name and whether its lower layer is up (IFF_LOWER_UP).
func linkCarrier(msg any) (name string, up, ok bool) {
	lu, ok := msg.(netlink.LinkUpdate)
	if !ok || lu.Link == nil {
		return "", false, false
	}
	return lu.Link.Attrs().Name, lu.IfInfomsg.Flags&unix.IFF_LOWER_UP != 0, true
}
