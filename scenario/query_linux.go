package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// pollInterval is how often the Wait methods look.
const pollInterval = 25 * time.Millisecond

// Addr is an IPv6 address on an interface, with the kernel flags that
// decide whether it is usable.
type Addr struct {
	Prefix     netip.Prefix
	Tentative  bool // DAD not finished
	DADFailed  bool
	Deprecated bool // preferred lifetime over
	Permanent  bool // static, not from SLAAC (no lifetime)
}

// Usable reports whether the address can be used as a source.
func (a Addr) Usable() bool { return !a.Tentative && !a.DADFailed }

func (a Addr) String() string {
	s := a.Prefix.String()
	for _, f := range []struct {
		on   bool
		name string
	}{{a.Tentative, "tentative"}, {a.DADFailed, "dadfailed"}, {a.Deprecated, "deprecated"}, {a.Permanent, "permanent"}} {
		if f.on {
			s += " " + f.name
		}
	}
	return s
}

// Route is an IPv6 route of the main table.
type Route struct {
	Dst netip.Prefix // ::/0 for a default route
	Gw  netip.Addr   // invalid when directly connected
	Dev string
}

func (r Route) String() string {
	s := r.Dst.String()
	if r.Gw.IsValid() {
		s += " via " + r.Gw.String()
	}
	return s + " dev " + r.Dev
}

// withHandle runs f with an rtnetlink handle inside node's namespace.
func (s *Scenario) withHandle(n Node, f func(h *netlink.Handle) error) error {
	ns, err := netns.GetFromName(s.NS(n))
	if err != nil {
		return fmt.Errorf("namespace %s: %w", s.NS(n), err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	ns.Close()
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", s.NS(n), err)
	}
	defer h.Close()
	// A dump interrupted by a concurrent change is incomplete: redo it.
	for range 5 {
		if err = f(h); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return err
}

// Addrs returns the IPv6 addresses of ifname in node, link-local included.
func (s *Scenario) Addrs(n Node, ifname string) ([]Addr, error) {
	var res []Addr
	err := s.withHandle(n, func(h *netlink.Handle) error {
		res = nil
		link, err := h.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", ifname, s.NS(n), err)
		}
		list, err := h.AddrList(link, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		for _, a := range list {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok || a.IPNet == nil {
				continue
			}
			ones, _ := a.Mask.Size()
			res = append(res, Addr{
				Prefix:     netip.PrefixFrom(ip.Unmap(), ones),
				Tentative:  a.Flags&unix.IFA_F_TENTATIVE != 0,
				DADFailed:  a.Flags&unix.IFA_F_DADFAILED != 0,
				Deprecated: a.Flags&unix.IFA_F_DEPRECATED != 0,
				Permanent:  a.Flags&unix.IFA_F_PERMANENT != 0,
			})
		}
		return nil
	})
	return res, err
}

// GlobalAddrs returns the addresses of ifname in node that are not
// link-local, tentative ones included.
func (s *Scenario) GlobalAddrs(n Node, ifname string) ([]Addr, error) {
	all, err := s.Addrs(n, ifname)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(a Addr) bool { return a.Prefix.Addr().IsLinkLocalUnicast() }), nil
}

// Routes returns node's IPv6 routes of the main table (multipath routes
// as one Route per next hop).
func (s *Scenario) Routes(n Node) ([]Route, error) {
	var res []Route
	err := s.withHandle(n, func(h *netlink.Handle) error {
		res = nil
		list, err := h.RouteList(nil, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		names := map[int]string{}
		name := func(idx int) string {
			if nm, ok := names[idx]; ok {
				return nm
			}
			nm := fmt.Sprintf("if%d", idx)
			if l, err := h.LinkByIndex(idx); err == nil {
				nm = l.Attrs().Name
			}
			names[idx] = nm
			return nm
		}
		for _, r := range list {
			dst := netip.MustParsePrefix("::/0")
			if r.Dst != nil {
				ip, ok := netip.AddrFromSlice(r.Dst.IP)
				if !ok {
					continue
				}
				ones, _ := r.Dst.Mask.Size()
				dst = netip.PrefixFrom(ip.Unmap(), ones)
			}
			if len(r.MultiPath) > 0 {
				for _, nh := range r.MultiPath {
					gw, _ := netip.AddrFromSlice(nh.Gw)
					res = append(res, Route{Dst: dst, Gw: gw, Dev: name(nh.LinkIndex)})
				}
				continue
			}
			gw, _ := netip.AddrFromSlice(r.Gw)
			res = append(res, Route{Dst: dst, Gw: gw, Dev: name(r.LinkIndex)})
		}
		return nil
	})
	return res, err
}

// DefaultRoutes returns node's IPv6 default routes.
func (s *Scenario) DefaultRoutes(n Node) ([]Route, error) {
	all, err := s.Routes(n)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r Route) bool { return r.Dst.Bits() != 0 }), nil
}

func describeAddrs(addrs []Addr, err error) string {
	if err != nil {
		return err.Error()
	}
	if len(addrs) == 0 {
		return "no IPv6 address"
	}
	var s []string
	for _, a := range addrs {
		s = append(s, a.String())
	}
	return "addresses: " + strings.Join(s, ", ")
}

func describeRoutes(routes []Route, err error) string {
	if err != nil {
		return err.Error()
	}
	if len(routes) == 0 {
		return "no default route"
	}
	var s []string
	for _, r := range routes {
		s = append(s, r.String())
	}
	return "default routes: " + strings.Join(s, ", ")
}

// WaitAddr waits up to timeout until ifname in node has the address want
// (with its prefix length) and it is usable (DAD done). The error says
// which addresses the interface had at the end.
func (s *Scenario) WaitAddr(ctx context.Context, n Node, ifname string, want netip.Prefix, timeout time.Duration) error {
	err := poll(ctx, timeout, pollInterval, func() (bool, string) {
		addrs, err := s.Addrs(n, ifname)
		for _, a := range addrs {
			if a.Prefix == want && a.Usable() {
				return true, ""
			}
		}
		return false, describeAddrs(addrs, err)
	})
	if err != nil {
		return fmt.Errorf("%s %s: waiting for %v: %w", n.Title(), ifname, want, err)
	}
	return nil
}

// WaitNoAddr waits up to timeout until ifname in node no longer has want
// (a missing interface counts as not having it).
func (s *Scenario) WaitNoAddr(ctx context.Context, n Node, ifname string, want netip.Prefix, timeout time.Duration) error {
	err := poll(ctx, timeout, pollInterval, func() (bool, string) {
		addrs, err := s.Addrs(n, ifname)
		if err != nil {
			var nf netlink.LinkNotFoundError
			return errors.As(err, &nf), err.Error()
		}
		return !slices.ContainsFunc(addrs, func(a Addr) bool { return a.Prefix == want }), describeAddrs(addrs, nil)
	})
	if err != nil {
		return fmt.Errorf("%s %s: waiting for %v to go: %w", n.Title(), ifname, want, err)
	}
	return nil
}

// WaitDefaultRoute waits up to timeout until node has a default route via
// gateway via out of ifname.
func (s *Scenario) WaitDefaultRoute(ctx context.Context, n Node, ifname string, via netip.Addr, timeout time.Duration) error {
	err := poll(ctx, timeout, pollInterval, func() (bool, string) {
		routes, err := s.DefaultRoutes(n)
		for _, r := range routes {
			if r.Gw == via && r.Dev == ifname {
				return true, ""
			}
		}
		return false, describeRoutes(routes, err)
	})
	if err != nil {
		return fmt.Errorf("%s: waiting for default route via %v dev %s: %w", n.Title(), via, ifname, err)
	}
	return nil
}

// WaitNoDefaultRoute waits up to timeout until node has no default route
// via gateway via.
func (s *Scenario) WaitNoDefaultRoute(ctx context.Context, n Node, via netip.Addr, timeout time.Duration) error {
	err := poll(ctx, timeout, pollInterval, func() (bool, string) {
		routes, err := s.DefaultRoutes(n)
		if err != nil {
			return false, err.Error()
		}
		return !slices.ContainsFunc(routes, func(r Route) bool { return r.Gw == via }), describeRoutes(routes, nil)
	})
	if err != nil {
		return fmt.Errorf("%s: waiting for the default route via %v to go: %w", n.Title(), via, err)
	}
	return nil
}

// Ping sends count echo requests from node to dst, 0.2s apart, and fails
// unless every one is answered within 2s. (No -w: with a deadline ping
// keeps sending until it has count replies, which hides loss.)
func (s *Scenario) Ping(ctx context.Context, n Node, dst netip.Addr, count int) (PingResult, error) {
	if count < 1 {
		count = 1
	}
	out, err := s.Exec(ctx, n, "ping", "-6", "-n", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", dst.String())
	res := parsePing(out)
	if err == nil && (res.Transmitted != count || res.Received != count) {
		err = fmt.Errorf("%d echo requests, %d replies, want %d of each", res.Transmitted, res.Received, count)
	}
	if err != nil {
		return res, fmt.Errorf("%s: ping %v: %w", n.Title(), dst, err)
	}
	return res, nil
}

// Traceroute runs `traceroute -6 -n` from node to dst (one probe per hop,
// at most 5 hops, 2s per probe) and returns the address answering at each
// hop (invalid where no answer came), with the output.
func (s *Scenario) Traceroute(ctx context.Context, n Node, dst netip.Addr) ([]netip.Addr, string, error) {
	out, err := s.Exec(ctx, n, "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "5", dst.String())
	if err != nil {
		return nil, out, fmt.Errorf("%s: traceroute %v: %w", n.Title(), dst, err)
	}
	return parseTraceroute(out), out, nil
}
