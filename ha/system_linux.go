package ha

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/internal/ifname"
	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/router"
)

// NewLinuxSystem returns the System of the running kernel, in the network
// namespace of the process: links and virtual links through netlink,
// sysctls through /proc/sys, raw IPv6 sockets for VRRP and NAs, and
// router.Watch for link changes.
func NewLinuxSystem(log *slog.Logger) System {
	if log == nil {
		log = slog.Default()
	}
	return linuxSystem{log: log}
}

type linuxSystem struct{ log *slog.Logger }

func (linuxSystem) Link(name string) (Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return Link{}, fmt.Errorf("interface %s does not exist: %w: %w", name, ErrLinkNotReady, netwatch.ErrLinkNotFound)
		}
		return Link{}, fmt.Errorf("link %s: %w", name, err)
	}
	a := l.Attrs()
	out := Link{Index: a.Index, Up: a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return Link{}, fmt.Errorf("addresses of %s: %w", name, err)
	}
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if ok && ip.IsLinkLocalUnicast() && ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			out.LinkLocal = ip
			break
		}
	}
	return out, nil
}

func (s linuxSystem) Changes(ctx context.Context) (<-chan struct{}, error) {
	return router.Watch(ctx, s.log)
}

// Open creates (or takes over) the virtual link, down and without
// addresses, and opens the sockets.
func (s linuxSystem) Open(spec PortSpec) (Port, error) {
	if len(spec.Addresses) == 0 || !spec.Addresses[0].Addr().IsLinkLocalUnicast() {
		return nil, fmt.Errorf("virtual link %s: the first virtual address must be link-local", spec.VirtualLink)
	}
	vl, err := ensureVirtualLink(spec)
	if err != nil {
		return nil, err
	}
	p := &linuxPort{spec: spec, log: s.log, vindex: vl.Attrs().Index, vlink: vl}
	if err := p.Deactivate(); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.open(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// ensureVirtualLink creates the macvlan of spec, or keeps the one that is
// already there when it has the right parent, MAC and mode, and sets its
// IPv6 sysctls before it is ever up:
//   - addr_gen_mode 1 (none): no kernel link-local, and the virtual MAC is
//     never used to derive an interface identifier (RFC 9568 §7.4);
//   - accept_ra 0, autoconf 0: no RS sent, no SLAAC address;
//   - accept_dad 0, dad_transmits 0: no DAD NS for the virtual addresses,
//     which the peer may hold at the same time during a split brain;
//   - forwarding as on the parent: NAs carry R=1 and the kernel routes
//     what arrives on the virtual MAC.
func ensureVirtualLink(spec PortSpec) (netlink.Link, error) {
	if l, err := netlink.LinkByName(spec.VirtualLink); err == nil {
		mv, ok := l.(*netlink.Macvlan)
		a := l.Attrs()
		if ok && a.ParentIndex == spec.Index && bytes.Equal(a.HardwareAddr, spec.VirtualMAC) && mv.Mode == netlink.MACVLAN_MODE_BRIDGE {
			return l, setVirtualSysctls(spec)
		}
		if err := netlink.LinkDel(l); err != nil {
			return nil, fmt.Errorf("remove stale link %s: %w", spec.VirtualLink, err)
		}
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: spec.VirtualLink, ParentIndex: spec.Index, HardwareAddr: spec.VirtualMAC},
		Mode:      netlink.MACVLAN_MODE_BRIDGE,
	}
	if err := netlink.LinkAdd(mv); err != nil {
		return nil, fmt.Errorf("create macvlan %s on %s: %w", spec.VirtualLink, spec.Interface, err)
	}
	l, err := netlink.LinkByName(spec.VirtualLink)
	if err != nil {
		return nil, fmt.Errorf("created macvlan %s: %w", spec.VirtualLink, err)
	}
	if err := setVirtualSysctls(spec); err != nil {
		netlink.LinkDel(l)
		return nil, err
	}
	return l, nil
}

func setVirtualSysctls(spec PortSpec) error {
	fwd, err := readSysctl(spec.Interface, "forwarding")
	if err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"disable_ipv6", "0"},
		{"addr_gen_mode", "1"},
		{"accept_ra", "0"},
		{"autoconf", "0"},
		{"accept_dad", "0"},
		{"dad_transmits", "0"},
		{"use_tempaddr", "0"},
		{"router_solicitations", "0"},
		{"ndisc_notify", "0"},
		{"forwarding", fwd},
	} {
		if err := writeSysctl(spec.VirtualLink, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

func sysctlPath(iface, key string) (string, error) {
	if err := ifname.Check(iface); err != nil {
		return "", err
	}
	return "/proc/sys/net/ipv6/conf/" + iface + "/" + key, nil
}

func readSysctl(iface, key string) (string, error) {
	path, err := sysctlPath(iface, key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read net.ipv6.conf.%s.%s: %w", iface, key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctl(iface, key, value string) error {
	path, err := sysctlPath(iface, key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set net.ipv6.conf.%s.%s=%s: %w", iface, key, value, err)
	}
	return nil
}

// linuxPort is Port on the running kernel.
type linuxPort struct {
	spec PortSpec
	log  *slog.Logger

	mu       sync.Mutex
	takeover *time.Timer // returns to the parent's RetransTimer
	vlink    netlink.Link
	vindex   int

	rxc, txc, ndc net.PacketConn
	rx, tx, nd    *ipv6.PacketConn
}

// dropAll is a socket filter that keeps nothing: the send-only sockets
// never queue what arrives.
var dropAll = []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}

func (p *linuxPort) open() error {
	var err error
	ifi := &net.Interface{Index: p.spec.Index, Name: p.spec.Interface}
	// Receive: every VRRP packet arriving on the parent, with its hop
	// limit and destination.
	p.rxc, err = listenRaw("ip6:112", func(fd int) error {
		return unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, p.spec.Interface)
	})
	if err != nil {
		return fmt.Errorf("VRRP socket on %s: %w", p.spec.Interface, err)
	}
	p.rx = ipv6.NewPacketConn(p.rxc)
	// Send: through the virtual link (so from the virtual MAC) but from
	// the parent's link-local address, which IPV6_FREEBIND allows.
	p.txc, err = listenRaw("ip6:112", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
	})
	if err != nil {
		return fmt.Errorf("VRRP send socket for %s: %w", p.spec.VirtualLink, err)
	}
	p.tx = ipv6.NewPacketConn(p.txc)
	p.ndc, err = listenRaw("ip6:ipv6-icmp", nil)
	if err != nil {
		return fmt.Errorf("ICMPv6 socket for %s: %w", p.spec.VirtualLink, err)
	}
	p.nd = ipv6.NewPacketConn(p.ndc)
	var block ipv6.ICMPFilter
	block.SetAll(true)
	steps := []struct {
		what string
		do   func() error
	}{
		{"receive hop limits", func() error { return p.rx.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true) }},
		{"join ff02::12", func() error { return p.rx.JoinGroup(ifi, &net.IPAddr{IP: AllRouters.AsSlice()}) }},
		{"disable multicast loopback", func() error { return p.rx.SetMulticastLoopback(false) }},
		{"filter the send socket", func() error { return p.tx.SetBPF(dropAll) }},
		{"set multicast hop limit", func() error { return p.tx.SetMulticastHopLimit(HopLimit) }},
		{"disable multicast loopback", func() error { return p.tx.SetMulticastLoopback(false) }},
		{"filter the ICMPv6 socket", func() error { return p.nd.SetICMPFilter(&block) }},
		{"set NA multicast hop limit", func() error { return p.nd.SetMulticastHopLimit(HopLimit) }},
		{"disable NA multicast loopback", func() error { return p.nd.SetMulticastLoopback(false) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s on %s: %w", s.what, p.spec.Interface, err)
		}
	}
	return nil
}

// listenRaw opens a raw IPv6 socket for network ("ip6:PROTO") bound to
// "::", with control run on the socket before it is bound.
func listenRaw(network string, control func(fd int) error) (net.PacketConn, error) {
	lc := net.ListenConfig{}
	if control != nil {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = control(int(fd)) }); err != nil {
				return err
			}
			return serr
		}
	}
	return lc.ListenPacket(context.Background(), network, "::")
}

func (p *linuxPort) ReadPacket(b []byte) (Packet, error) {
	n, cm, src, err := p.rx.ReadFrom(b)
	if err != nil {
		return Packet{}, err
	}
	pkt := Packet{Data: b[:n], HopLimit: -1}
	if a, ok := src.(*net.IPAddr); ok {
		pkt.Src, _ = netip.AddrFromSlice(a.IP)
	}
	if cm != nil {
		pkt.HopLimit = cm.HopLimit
		pkt.Dst, _ = netip.AddrFromSlice(cm.Dst)
	}
	return pkt, nil
}

// Neighbour resolution right after a takeover. The virtual link starts
// with an empty neighbour table, and its first Neighbor Solicitations race
// with the last frames the previous Active sends from the same virtual MAC
// (its priority 0 advertisements on its other links, answers for the
// virtual addresses while it drains): a learning bridge that saw one of
// those after our solicitation delivers the host's answer to the previous
// Active, and the kernel retransmits only after RetransTimer (1 s), an
// outage of a second for every flow through that neighbour (seen in
// TestHAPairFigures as INCOMPLETE entries on the new Active's virtual
// links, upstream router and tenant hosts alike). For takeoverWindow
// after it comes up, the virtual link retransmits every takeoverRetrans
// instead, up to takeoverSolicit times: a retransmitted solicitation
// leaves from the virtual MAC and so moves the bridges' entries back
// itself, and together the tries cover 200 ms, two advertisements at
// 100 ms, after which ours have moved the entries too. Then the link goes
// back to the parent's settings.
const (
	takeoverWindow  = 3 * time.Second
	takeoverSolicit = 10
)

// takeoverRetrans is the virtual link's RetransTimer right after a
// takeover at the advertisement interval ivl.
func takeoverRetrans(ivl time.Duration) time.Duration {
	return min(max(ivl, 10*time.Millisecond), 20*time.Millisecond)
}

// setTakeover sets the virtual link's neighbour RetransTimer and
// multicast solicitations for a takeover (on), or to the parent's.
func (p *linuxPort) setTakeover(on bool) error {
	for _, kv := range [][2]string{
		{"retrans_time_ms", strconv.FormatInt(takeoverRetrans(p.spec.Interval).Milliseconds(), 10)},
		{"mcast_solicit", strconv.Itoa(takeoverSolicit)},
	} {
		key, v := kv[0], kv[1]
		if !on {
			b, err := os.ReadFile(neighPath(p.spec.Interface, key))
			if err != nil {
				return fmt.Errorf("read net.ipv6.neigh.%s.%s: %w", p.spec.Interface, key, err)
			}
			v = strings.TrimSpace(string(b))
		}
		if err := os.WriteFile(neighPath(p.spec.VirtualLink, key), []byte(v), 0o644); err != nil {
			return fmt.Errorf("set net.ipv6.neigh.%s.%s=%s: %w", p.spec.VirtualLink, key, v, err)
		}
	}
	return nil
}

// neighPath is the neighbour sysctl key of iface (a name ifname.Check
// accepted when the port was opened).
func neighPath(iface, key string) string {
	return "/proc/sys/net/ipv6/neigh/" + iface + "/" + key
}

// stopTakeover cancels a pending return to the parent's RetransTimer.
func (p *linuxPort) stopTakeover() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.takeover != nil {
		p.takeover.Stop()
		p.takeover = nil
	}
}

// Activate puts the addresses on the virtual link (without DAD), then
// brings it up: it never runs, not even briefly, without them.
func (p *linuxPort) Activate() error {
	p.stopTakeover()
	if err := p.setTakeover(true); err != nil {
		return err
	}
	p.mu.Lock()
	p.takeover = time.AfterFunc(takeoverWindow, func() {
		if err := p.setTakeover(false); err != nil {
			p.log.Warn("virtual link keeps its takeover RetransTimer", "link", p.spec.VirtualLink, "err", err)
		}
	})
	p.mu.Unlock()
	for _, a := range p.spec.Addresses {
		na := &netlink.Addr{
			IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), 128)},
			Flags: unix.IFA_F_NODAD,
		}
		if err := netlink.AddrReplace(p.vlink, na); err != nil {
			return fmt.Errorf("add %s to %s: %w", a, p.spec.VirtualLink, err)
		}
	}
	if err := netlink.LinkSetUp(p.vlink); err != nil {
		return fmt.Errorf("set %s up: %w", p.spec.VirtualLink, err)
	}
	return nil
}

// Deactivate takes the virtual link down first, so nothing (MLD done
// messages included) leaves from the virtual MAC, then removes whatever
// address is left on it.
func (p *linuxPort) Deactivate() error {
	p.stopTakeover()
	if err := netlink.LinkSetDown(p.vlink); err != nil {
		return fmt.Errorf("set %s down: %w", p.spec.VirtualLink, err)
	}
	if err := p.setTakeover(false); err != nil {
		return err
	}
	addrs, err := netlink.AddrList(p.vlink, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", p.spec.VirtualLink, err)
	}
	for _, a := range addrs {
		if err := netlink.AddrDel(p.vlink, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove %s from %s: %w", a.IPNet, p.spec.VirtualLink, err)
		}
	}
	return nil
}

func (p *linuxPort) SendAdvert(b []byte, src netip.Addr) error {
	cm := &ipv6.ControlMessage{HopLimit: HopLimit, Src: src.AsSlice(), IfIndex: p.vindex}
	_, err := p.tx.WriteTo(b, cm, &net.IPAddr{IP: AllRouters.AsSlice()})
	return err
}

func (p *linuxPort) SendNA(b []byte) error {
	cm := &ipv6.ControlMessage{HopLimit: HopLimit, Src: p.spec.Addresses[0].Addr().AsSlice(), IfIndex: p.vindex}
	_, err := p.nd.WriteTo(b, cm, &net.IPAddr{IP: netip.IPv6LinkLocalAllNodes().AsSlice()})
	return err
}

func (p *linuxPort) Close() error {
	p.stopTakeover()
	var errs []error
	for _, c := range []net.PacketConn{p.rxc, p.txc, p.ndc} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	if err := netlink.LinkDel(p.vlink); err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p.spec.VirtualLink, err))
		}
	}
	return errors.Join(errs...)
}

// Refresh copies the interface's IPv6 forwarding setting to the virtual
// link when it differs (Refresher): the router reconciler or an operator
// may change it at any time, and the virtual link's Neighbor
// Advertisements (R flag) and the RA advertiser on it read the virtual
// link's own setting.
func (p *linuxPort) Refresh() error {
	want, err := readSysctl(p.spec.Interface, "forwarding")
	if err != nil {
		return err
	}
	got, err := readSysctl(p.spec.VirtualLink, "forwarding")
	if err != nil {
		return err
	}
	if got == want {
		return nil
	}
	return writeSysctl(p.spec.VirtualLink, "forwarding", want)
}
