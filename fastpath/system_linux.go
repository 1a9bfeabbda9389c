package fastpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// osSystem is the Linux System: AF_PACKET ring ports, netlink
// subscriptions for the tables, tc ingress filters for the claim.
type osSystem struct {
	log      *slog.Logger
	ring     RingConfig
	cpus     []int
	threaded bool
	napiNice int
}

func newOSSystem(log *slog.Logger, cpus []int, threaded bool, napiNice int, ring *RingConfig) (System, error) {
	s := &osSystem{log: log, ring: DefaultRingConfig, cpus: cpus, threaded: threaded, napiNice: napiNice}
	if ring != nil {
		s.ring = *ring
	}
	return s, nil
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
	cfg := s.ring
	for cfg.TxFrameSize < a.MTU+ethLen+v2Data {
		cfg.TxFrameSize *= 2
	}
	p, err := OpenRingPort(a.Index, cfg)
	if err != nil {
		return nil, Link{}, err
	}
	return p, Link{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr, MTU: a.MTU}, nil
}

// Run implements System.
func (s *osSystem) Run(ctx context.Context, links []Link, t *Tables, resolve <-chan NeighbourRef, ready func()) error {
	done := make(chan struct{})
	defer close(done)
	errc := make(chan error, 4)
	onErr := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	routes := make(chan netlink.RouteUpdate, 1024)
	neighs := make(chan netlink.NeighUpdate, 1024)
	addrs := make(chan netlink.AddrUpdate, 256)
	linkUp := make(chan netlink.LinkUpdate, 64)
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe routes: %w", err)
	}
	if err := netlink.NeighSubscribeWithOptions(neighs, done, netlink.NeighSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe neighbours: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe addresses: %w", err)
	}
	if err := netlink.LinkSubscribeWithOptions(linkUp, done, netlink.LinkSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe links: %w", err)
	}

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

	claim, err := claimIngress(links, t.Locals())
	if err != nil {
		return err
	}
	defer func() {
		if err := claim.release(); err != nil {
			s.log.Error("fast path: removing ingress filters", "err", err)
		}
	}()
	if s.threaded {
		for _, l := range links {
			restore, err := threadedNAPI(l.Name, s.cpus, s.napiNice)
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
		case err := <-errc:
			return fmt.Errorf("netlink subscription: %w", err)
		case u, ok := <-routes:
			if !ok {
				return errors.New("route subscription closed")
			}
			st.route(&u.Route, u.Type == unix.RTM_NEWROUTE)
		case u, ok := <-neighs:
			if !ok {
				return errors.New("neighbour subscription closed")
			}
			st.neigh(&u.Neigh, u.Type == unix.RTM_NEWNEIGH)
		case u, ok := <-addrs:
			if !ok {
				return errors.New("address subscription closed")
			}
			if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok && ip.Is6() && !ip.Is4In6() {
				t.SetAddress(u.LinkIndex, ip, u.NewAddr)
			}
		case u, ok := <-linkUp:
			if !ok {
				return errors.New("link subscription closed")
			}
			if a := u.Attrs(); owned[a.Index] && len(a.HardwareAddr) == 6 {
				t.SetLink(Link{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr, MTU: a.MTU})
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
			for _, r := range t.UsedNeighbours() {
				if st.neighState[neighKey{r.Link, r.Addr.As16()}]&netlink.NUD_STALE != 0 {
					_ = useNeighbour(r)
				}
			}
			clear(lastAsk)
			continue
		}
		// Apply whatever else is queued before publishing.
		drain(st, t, routes, neighs)
		t.Commit()
		if st.localsChanged {
			st.localsChanged = false
			if err := claim.setLocals(t.Locals()); err != nil {
				return err
			}
		}
	}
}

func drain(st *syncState, t *Tables, routes chan netlink.RouteUpdate, neighs chan netlink.NeighUpdate) {
	for range 4096 {
		select {
		case u := <-routes:
			st.route(&u.Route, u.Type == unix.RTM_NEWROUTE)
		case u := <-neighs:
			st.neigh(&u.Neigh, u.Type == unix.RTM_NEWNEIGH)
		default:
			return
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
