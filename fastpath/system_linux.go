package fastpath

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// osSystem is the Linux System: the XDP tier (forwarding inside XDP),
// AF_XDP ports fed by XDP programs or AF_PACKET ring ports claimed by tc
// ingress filters, netlink subscriptions for the tables.
type osSystem struct {
	log      *slog.Logger
	io       string
	ring     RingConfig
	xdp      XDPConfig
	cpus     []int
	threaded bool
	napiNice int
	// tierNAPINice is the nice value of the XDP tier's NAPI threads.
	tierNAPINice int

	// The map of local addresses the XDP programs share.
	locals *ebpf.Map
	// watch is the daemon's shared watcher (WithWatcher); nil: Run
	// starts one of its own.
	watch Watcher

	mu sync.Mutex // guards the rest, which Stats and Ports read
	// AF_XDP ports OpenPort opened, by interface index, until Run
	// releases its claim or the port closes; Stats reads their
	// programs' counters.
	xdpPorts    map[int]*xdpPort
	kernelFinal [NumKernelReasons]uint64 // counted by programs no longer in xdpPorts
	info        map[string]PortInfo      // by interface name
	// The XDP tier: its program, maps and ports (nil: no interface on
	// it), the current claim's part, and what a closed tier counted.
	tier      *tierState
	tierClaim *tierClaim
	tierFinal Stats
}

// eventQueue bounds the kernel events waiting for Run; an overflow makes
// Run start again from a fresh dump.
const eventQueue = 1 << 14

// setWatcher implements watcherSetter.
func (s *osSystem) setWatcher(w Watcher) { s.watch = w }

// portInfo implements portInformer.
func (s *osSystem) portInfo() []PortInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PortInfo, 0, len(s.info))
	for _, p := range s.info {
		out = append(out, p)
	}
	return out
}

func (s *osSystem) setInfo(name string, f func(*PortInfo)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.info[name]
	p.Interface = name
	f(&p)
	s.info[name] = p
}

// addSystemCounts implements systemCounter: what the AF_XDP claim
// programs passed to the kernel, by reason, and what the XDP tier
// received, forwarded, passed to the kernel and dropped.
func (s *osSystem) addSystemCounts(into *Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k [NumKernelReasons]uint64
	for i, n := range s.kernelFinal {
		k[i] += n
	}
	for _, p := range s.xdpPorts {
		_ = p.prog.kernelCounts(&k)
	}
	for i, n := range k {
		into.ToKernel[i] += n
		into.Received += n
	}
	addStats(into, &s.tierFinal)
	if s.tier != nil {
		_ = s.tier.maps.addCounts(into)
	}
	s.tierClaim.addCounts(into)
}

// newOSSystem returns the Linux System; nice holds the NAPI threads' nice
// value and the XDP tier's.
func newOSSystem(log *slog.Logger, io string, cpus []int, threaded bool, nice [2]int, ring *RingConfig, xdp *XDPConfig) (System, error) {
	if io == "" {
		io = config.FastpathIOAuto
	}
	s := &osSystem{log: log, io: io, ring: DefaultRingConfig, xdp: DefaultXDPConfig, cpus: cpus, threaded: threaded, napiNice: nice[0], tierNAPINice: nice[1],
		xdpPorts: map[int]*xdpPort{}, info: map[string]PortInfo{}}
	if ring != nil {
		s.ring = *ring
	}
	if xdp != nil {
		s.xdp = *xdp
	}
	return s, nil
}

// xdpPort is an XDPPort with the XDP program that feeds it; closing it
// closes both (the program is detached by Run before).
type xdpPort struct {
	*XDPPort
	prog *xdpProgram
	sys  *osSystem
	// early is the program's link when openXDP attached it already (see
	// there), until claim takes it over; earlyMode is its mode. s.mu.
	early     link.Link
	earlyMode string
	tx        int // transmit queues the sockets send on (see TxQueues)
}

// TxQueues implements txQueuer: the sockets of queues beyond the
// interface's transmit queues only receive (see openXDP).
func (p *xdpPort) TxQueues() int { return p.tx }

// Close closes the port and its program, keeping the program's counts.
func (p *xdpPort) Close() error {
	err := p.XDPPort.Close()
	s := p.sys
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.early != nil {
		err = errors.Join(err, p.early.Close())
		p.early = nil
	}
	s.forget(p)
	if p.prog != nil {
		err = errors.Join(err, p.prog.Close())
		p.prog = nil
	}
	return err
}

// OpenPort implements System.
func (s *osSystem) OpenPort(name string) (Port, Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, Link{}, fmt.Errorf("link: %w", err)
	}
	a := l.Attrs()
	if a.EncapType != "ether" || len(a.HardwareAddr) != 6 {
		return nil, Link{}, fmt.Errorf("link type %q: the fast path needs Ethernet", a.EncapType)
	}
	link := Link{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr, MTU: a.MTU}
	if s.io == config.FastpathIOXDP || s.io == config.FastpathIOAuto {
		p, err := s.openTier(a)
		if err == nil {
			s.log.Info("fast path port", "link", a.Name, "io", config.FastpathIOXDP)
			s.setInfo(a.Name, func(i *PortInfo) { i.IO, i.Claim = config.FastpathIOXDP, "" })
			return p, link, nil
		}
		if s.io == config.FastpathIOXDP {
			return nil, Link{}, err
		}
		s.log.Warn("fast path: XDP tier not possible, trying AF_XDP", "link", a.Name, "err", err)
	}
	if s.io != config.FastpathIOPacket {
		p, err := s.openXDP(a)
		if err == nil {
			s.log.Info("fast path port", "link", a.Name, "io", config.FastpathIOAFXDP, "queues", len(p.qs), "frame_size", p.cfg.FrameSize)
			s.setInfo(a.Name, func(i *PortInfo) { i.IO, i.Claim = config.FastpathIOAFXDP, "" })
			return p, link, nil
		}
		if s.io == config.FastpathIOAFXDP {
			return nil, Link{}, err
		}
		s.log.Warn("fast path: AF_XDP not possible, using AF_PACKET", "link", a.Name, "err", err)
	}
	cfg := s.ring
	for cfg.TxFrameSize < a.MTU+ethLen+v2Data {
		cfg.TxFrameSize *= 2
	}
	p, err := OpenRingPort(a.Index, cfg)
	if err != nil {
		return nil, Link{}, err
	}
	s.log.Info("fast path port", "link", a.Name, "io", config.FastpathIOPacket)
	s.setInfo(a.Name, func(i *PortInfo) { i.IO, i.Claim = config.FastpathIOPacket, "" })
	return p, link, nil
}

// openXDP opens the AF_XDP port of an interface and loads (but does not
// attach) its XDP program.
func (s *osSystem) openXDP(a *netlink.LinkAttrs) (_ *xdpPort, err error) {
	cfg := s.xdp
	// In copy mode the kernel puts a frame XDP_PACKET_HEADROOM into its
	// chunk. Larger chunks, fewer of them: the UMEM keeps its size.
	for cfg.FrameSize < 4096 && ethLen+a.MTU > cfg.FrameSize-unix.XDP_PACKET_HEADROOM {
		cfg.FrameSize *= 2
		cfg.Frames = max(64, cfg.Frames/2)
	}
	if ethLen+a.MTU > cfg.FrameSize-unix.XDP_PACKET_HEADROOM {
		return nil, fmt.Errorf("af_xdp: MTU %d needs frames longer than the %d bytes a page holds after the XDP headroom", a.MTU, cfg.FrameSize-unix.XDP_PACKET_HEADROOM)
	}
	if s.locals == nil {
		if s.locals, err = newXDPLocals(xdpMaxLocals); err != nil {
			return nil, fmt.Errorf("af_xdp: local address map: %w", err)
		}
	}
	// A driver may receive on more queues once an XDP program is
	// attached: virtio-net adds a queue pair per CPU for XDP's
	// transmissions when the device has that many, and the device then
	// spreads received flows over those too. Where the device has more
	// queues than it uses, the program is attached now, before the
	// sockets are bound (a socket binds only to a queue that exists), and
	// claim takes the link over; its socket map stays empty until claim,
	// so that meanwhile it hands every frame to the kernel. The sockets
	// of the extra queues only receive: transmit queues beyond the
	// interface's are virtio-net's XDP queues, which ndo_xdp_xmit uses
	// without a lock.
	queues := rxQueues(a.Name)
	prog, err := loadXDPProgram(s.locals, max(queues, a.NumRxQueues))
	if err != nil {
		return nil, fmt.Errorf("af_xdp: load XDP program: %w", err)
	}
	var early link.Link
	var earlyMode string
	if a.NumRxQueues > queues {
		if early, earlyMode, err = attachXDP(prog.Prog, a.Index); err != nil {
			return nil, errors.Join(fmt.Errorf("af_xdp: attach XDP program: %w", err), prog.Close())
		}
		if n := rxQueues(a.Name); n > queues {
			s.log.Info("fast path: more receive queues with XDP", "link", a.Name, "before", queues, "with_xdp", n)
			queues = n
		}
	}
	p, err := OpenXDPPort(a.Index, queues, cfg)
	if err != nil {
		if early != nil {
			err = errors.Join(err, early.Close())
		}
		return nil, errors.Join(err, prog.Close())
	}
	xp := &xdpPort{XDPPort: p, prog: prog, sys: s, early: early, earlyMode: earlyMode, tx: min(queues, txQueues(a.Name))}
	s.mu.Lock()
	s.xdpPorts[a.Index] = xp
	s.mu.Unlock()
	return xp, nil
}

// forget takes p out of xdpPorts, keeping its program's counts. s.mu must
// be held.
func (s *osSystem) forget(p *xdpPort) {
	if s.xdpPorts[p.ifindex] == p {
		_ = p.prog.kernelCounts(&s.kernelFinal)
		delete(s.xdpPorts, p.ifindex)
	}
}

// xdpPort returns the AF_XDP port OpenPort opened on link, or nil.
func (s *osSystem) xdpPort(link int) *xdpPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.xdpPorts[link]
}

// xdpMaxLocals bounds the local address map of the XDP programs. An
// address beyond it is not in the map: its frames would go to the fast
// path, which hands nothing back to the kernel, so Run fails instead.
const xdpMaxLocals = 4096

// Run implements System.
func (s *osSystem) Run(ctx context.Context, links []Link, t *Tables, resolve <-chan NeighbourRef, ready func()) error {
	w := s.watch
	if w == nil {
		own := netwatch.New(netwatch.Netlink{}, s.log)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if err := own.Start(wctx); err != nil {
			return err
		}
		w = own
	}
	sub := w.Subscribe(netwatch.Links|netwatch.Addrs|netwatch.Neighs|netwatch.Routes, eventQueue)
	defer sub.Close()

	// Subscribed first, listed second: an update that races the dump is
	// applied again afterwards, which is harmless.
	st := newSyncState(t)
	rl, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for i := range rl {
		st.route(&rl[i], true)
	}
	nl, err := netlink.NeighList(0, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("list neighbours: %w", err)
	}
	for i := range nl {
		st.neigh(&nl[i], true)
	}
	for _, l := range links {
		al, err := netlink.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: l.Index}}, netlink.FAMILY_V6)
		if err != nil {
			return fmt.Errorf("list addresses of %s: %w", l.Name, err)
		}
		for _, a := range al {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				t.SetAddress(l.Index, ip, true)
			}
		}
	}
	t.Commit()

	if s.threaded {
		for _, l := range links {
			nice := s.napiNice
			if s.tierLink(l.Index) {
				nice = s.tierNAPINice
			}
			restore, err := threadedNAPI(l.Name, s.cpus, nice)
			if errors.Is(err, fs.ErrPermission) {
				// The systemd unit's dynamic user may not write the
				// root-owned /sys/class/net/IF/threaded (CAP_NET_ADMIN
				// does not cover sysfs files); the fast path then runs
				// with the kernel's receive processing in softirq, as
				// without fastpath.cpus, its workers still pinned.
				s.log.Warn("fast path: receive processing stays in softirq (threaded NAPI not permitted)", "link", l.Name, "err", err)
				continue
			}
			if err != nil {
				return fmt.Errorf("receive processing: %w", err)
			}
			defer func() {
				if err := restore(); err != nil {
					s.log.Error("fast path: restoring NAPI settings", "link", l.Name, "err", err)
				}
			}()
		}
	}
	// Claimed after the NAPI setup: an XDP program attached to a veth
	// keeps the NAPI instances GRO made (see the package doc).
	cl, err := s.claim(links, t.Locals())
	if err != nil {
		return err
	}
	defer cl.release()
	s.log.Info("fast path tables synced", "routes", t.cur.Load().fib.Len(), "neighbours", len(nl))
	ready()

	owned := map[int]bool{}
	for _, l := range links {
		owned[l.Index] = true
	}
	refresh := time.NewTicker(2 * time.Second)
	defer refresh.Stop()
	lastAsk := map[NeighbourRef]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.C():
			for _, ev := range sub.Events() {
				switch u := ev.Msg.(type) {
				case netlink.RouteUpdate:
					st.route(&u.Route, u.Type == unix.RTM_NEWROUTE)
				case netlink.NeighUpdate:
					st.neigh(&u.Neigh, u.Type == unix.RTM_NEWNEIGH)
				case netlink.AddrUpdate:
					if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok && ip.Is6() && !ip.Is4In6() {
						t.SetAddress(u.LinkIndex, ip, u.NewAddr)
					}
				case netlink.LinkUpdate:
					if a := u.Attrs(); owned[a.Index] && u.Header.Type == unix.RTM_DELLINK {
						// An AF_XDP socket whose device is gone reports
						// nothing to poll: stop, and let the caller start
						// again once the interface is back.
						return fmt.Errorf("interface %s (index %d) was removed", a.Name, a.Index)
					}
					if a := u.Attrs(); owned[a.Index] && len(a.HardwareAddr) == 6 {
						t.SetLink(Link{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr, MTU: a.MTU})
						if err := cl.setLink(a.Index, a.MTU, a.HardwareAddr); err != nil {
							return err
						}
					}
				}
				if ev.Kind == netwatch.KindResync {
					// The tables may have missed changes: start again
					// from a fresh dump.
					return errors.New("netlink events lost; restarting to resync the tables")
				}
			}
		case r := <-resolve:
			if time.Since(lastAsk[r]) < time.Second {
				continue
			}
			lastAsk[r] = time.Now()
			if err := useNeighbour(r); err != nil {
				s.log.Debug("fast path: neighbour resolution", "addr", r.Addr, "link", r.Link, "err", err)
			}
			continue
		case <-refresh.C:
			// Neighbours only the fast path talks to would go stale: ask
			// the kernel to confirm them (STALE → DELAY → PROBE).
			for _, r := range append(t.UsedNeighbours(), s.tierNextHops()...) {
				if st.neighState[neighKey{r.Link, r.Addr.As16()}]&netlink.NUD_STALE != 0 {
					_ = useNeighbour(r)
				}
			}
			clear(lastAsk)
			continue
		}
		t.Commit()
		if st.localsChanged {
			st.localsChanged = false
			if err := cl.setLocals(t.Locals()); err != nil {
				return err
			}
		}
	}
}

// syncState turns netlink messages into Tables calls.
type syncState struct {
	t             *Tables
	neighState    map[neighKey]int
	localsChanged bool
}

func newSyncState(t *Tables) *syncState {
	return &syncState{t: t, neighState: map[neighKey]int{}}
}

func (s *syncState) route(r *netlink.Route, add bool) {
	if r.Family != 0 && r.Family != netlink.FAMILY_V6 {
		return
	}
	prefix := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	if r.Dst != nil {
		ip, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, bits := r.Dst.Mask.Size()
		if !ok || bits != 128 || !ip.Is6() || ip.Is4In6() {
			return
		}
		prefix = netip.PrefixFrom(ip, ones)
	}
	switch r.Table {
	case unix.RT_TABLE_LOCAL:
		if (r.Type == unix.RTN_LOCAL || r.Type == unix.RTN_ANYCAST) && prefix.Bits() == 128 {
			s.t.SetLocal(prefix.Addr(), add)
			s.localsChanged = true
		}
		return
	case unix.RT_TABLE_MAIN:
	default:
		return
	}
	if !add {
		s.t.DeleteRoute(prefix, r.Priority)
		return
	}
	fr := Route{Prefix: prefix, Metric: r.Priority, MTU: r.MTU, Link: r.LinkIndex}
	gw := r.Gw
	if len(r.MultiPath) > 0 {
		fr.Link, gw = r.MultiPath[0].LinkIndex, r.MultiPath[0].Gw
	}
	if ip, ok := netip.AddrFromSlice(gw); ok && !ip.IsUnspecified() {
		fr.Gateway = ip
	}
	switch r.Type {
	case unix.RTN_UNICAST:
		fr.Type = RouteUnicast
	case unix.RTN_BLACKHOLE:
		fr.Type = RouteBlackhole
	case unix.RTN_UNREACHABLE, unix.RTN_THROW:
		fr.Type = RouteUnreachable
	case unix.RTN_PROHIBIT:
		fr.Type = RouteProhibit
	default:
		return
	}
	s.t.SetRoute(fr)
}

const usableNUD = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

func (s *syncState) neigh(n *netlink.Neigh, add bool) {
	if n.Family != netlink.FAMILY_V6 || n.Flags&netlink.NTF_PROXY != 0 {
		return
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok || !ip.Is6() {
		return
	}
	k := neighKey{n.LinkIndex, ip.As16()}
	if add && n.State&usableNUD != 0 && len(n.HardwareAddr) == 6 {
		s.t.SetNeighbour(n.LinkIndex, ip, n.HardwareAddr)
		s.neighState[k] = n.State
		return
	}
	if add && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED|netlink.NUD_NONE) == 0 && len(n.HardwareAddr) != 6 {
		return // a state change without an address (e.g. a probe): keep what we have
	}
	s.t.DeleteNeighbour(n.LinkIndex, ip)
	delete(s.neighState, k)
}

// useNeighbour asks the kernel to resolve (or confirm) a neighbour:
// RTM_NEWNEIGH with NTF_USE, as `ip neigh replace ADDR dev DEV use`.
func useNeighbour(r NeighbourRef) error {
	return netlink.NeighSet(&netlink.Neigh{
		LinkIndex: r.Link,
		Family:    netlink.FAMILY_V6,
		IP:        net.IP(r.Addr.AsSlice()),
		Flags:     netlink.NTF_USE,
	})
}

// claim keeps the kernel from forwarding what the fast path forwards: an XDP
// program on each AF_XDP interface, a tc ingress filter on each AF_PACKET
// interface. On the XDP tier's interfaces the tier's program forwards
// itself.
type claim struct {
	s       *osSystem
	ingress *ingressClaim // nil: no AF_PACKET interface
	xdp     []link.Link
	undo    []func() error // settings to restore after the XDP links are gone
	tier    *tierClaim     // nil: no interface on the XDP tier
}

func (s *osSystem) claim(links []Link, locals []netip.Addr) (c *claim, err error) {
	c = &claim{s: s}
	defer func() {
		if err != nil {
			c.release()
		}
	}()
	var packet []Link
	for _, l := range links {
		if s.xdpPort(l.Index) == nil && !s.tierLink(l.Index) {
			packet = append(packet, l)
		}
	}
	if len(packet) > 0 {
		if c.ingress, err = claimIngress(packet, locals); err != nil {
			return c, err
		}
		for _, l := range packet {
			s.setInfo(l.Name, func(i *PortInfo) { i.Claim = "tc-ingress" })
		}
	}
	if s.locals != nil {
		if err := c.setXDPLocals(locals); err != nil {
			return c, err
		}
	}
	for _, l := range links {
		p := s.xdpPort(l.Index)
		if p == nil {
			continue
		}
		for q, fd := range p.FDs() {
			if err := p.prog.setSocket(q, fd); err != nil {
				return c, fmt.Errorf("%s: af_xdp socket map: %w", l.Name, err)
			}
		}
		s.mu.Lock()
		lk, mode := p.early, p.earlyMode
		p.early = nil
		s.mu.Unlock()
		if lk == nil {
			var err error
			if lk, mode, err = attachXDP(p.prog.Prog, l.Index); err != nil {
				return c, fmt.Errorf("%s: attach XDP program: %w", l.Name, err)
			}
		}
		c.xdp = append(c.xdp, lk)
		s.setInfo(l.Name, func(i *PortInfo) { i.Claim = "xdp-" + mode })
		s.log.Info("fast path: XDP program attached", "link", l.Name, "mode", mode)
		if mode != "native" {
			s.log.Warn("fast path: the driver runs no native XDP; generic XDP costs an skb per frame", "link", l.Name)
			undo, err := groOff(l.Name)
			if err != nil {
				return c, fmt.Errorf("%s: GRO off for generic XDP: %w", l.Name, err)
			}
			if undo != nil {
				c.undo = append(c.undo, undo)
				s.log.Info("fast path: GRO off for generic XDP", "link", l.Name)
			}
		}
	}
	// The tier last: its devmap takes the other interfaces as they are
	// once claimed (an XDP program makes a virtio-net a redirect target).
	if c.tier, err = s.claimTier(links); err != nil {
		return c, err
	}
	s.mu.Lock()
	s.tierClaim = c.tier
	s.mu.Unlock()
	return c, nil
}

// groOff turns GRO off on the interface for generic XDP, which runs after
// GRO: a merged frame longer than the MTU would be redirected to a socket
// whose chunks cannot hold it. It returns how to turn GRO back on, nil when
// it was off already.
func groOff(name string) (undo func() error, err error) {
	on, err := ethtoolGRO(name, -1)
	if err != nil || !on {
		return nil, err
	}
	if _, err := ethtoolGRO(name, 0); err != nil {
		return nil, err
	}
	return func() error { _, err := ethtoolGRO(name, 1); return err }, nil
}

func (c *claim) setXDPLocals(locals []netip.Addr) error {
	if len(locals) > xdpMaxLocals {
		return fmt.Errorf("%d local addresses, the XDP programs hold %d", len(locals), xdpMaxLocals)
	}
	if err := setXDPLocals(c.s.locals, locals); err != nil {
		return fmt.Errorf("XDP local address map: %w", err)
	}
	return nil
}

// setLink follows an MTU or MAC change of a claimed link (the ingress
// filter leaves longer frames to the kernel; the XDP tier takes frames for
// the link's MAC).
func (c *claim) setLink(link, mtu int, mac net.HardwareAddr) error {
	if err := c.tier.setLink(link, mac); err != nil {
		return err
	}
	if c.ingress != nil {
		return c.ingress.setMTU(link, mtu)
	}
	return nil
}

func (c *claim) setLocals(locals []netip.Addr) error {
	if c.ingress != nil {
		if err := c.ingress.setLocals(locals); err != nil {
			return err
		}
	}
	if c.s.locals != nil {
		return c.setXDPLocals(locals)
	}
	return nil
}

// release detaches the XDP programs and removes the ingress filters.
func (c *claim) release() {
	c.s.mu.Lock()
	if c.s.tierClaim == c.tier {
		c.s.tierClaim = nil
	}
	c.s.mu.Unlock()
	c.tier.release()
	c.tier = nil
	for _, lk := range c.xdp {
		if err := lk.Close(); err != nil {
			c.s.log.Error("fast path: detaching XDP program", "err", err)
		}
	}
	c.xdp = nil
	for i := len(c.undo) - 1; i >= 0; i-- {
		if err := c.undo[i](); err != nil {
			c.s.log.Error("fast path: restoring GRO", "err", err)
		}
	}
	c.undo = nil
	s := c.s
	s.mu.Lock()
	for _, p := range s.xdpPorts {
		s.forget(p)
	}
	for k, p := range s.info {
		p.Claim = ""
		s.info[k] = p
	}
	s.mu.Unlock()
	if c.ingress != nil {
		if err := c.ingress.release(); err != nil {
			c.s.log.Error("fast path: removing ingress filters", "err", err)
		}
		c.ingress = nil
	}
	if c.s.locals != nil {
		_ = c.s.locals.Close()
		c.s.locals = nil
	}
}
