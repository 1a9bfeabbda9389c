//go:build linux

package fastpath

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tierState is the XDP tier of an osSystem: one program and its maps for
// all the interfaces on the tier, and their ports.
type tierState struct {
	maps  *tierMaps
	prog  *ebpf.Program
	ports map[int]*tierPort // by interface index
}

// tierPort is the Port of an interface on the XDP tier. The kernel
// forwards there (the tier's program, or the kernel's stack for what the
// program passes), so the port receives nothing: Read blocks until Close.
// Write sends with sendmmsg(2) on an AF_PACKET socket, for frames that
// userspace datapaths of other interfaces forward out of this one.
type tierPort struct {
	sys     *osSystem
	ifindex int
	tx      *RingPort
	closed  chan struct{}
	once    sync.Once
}

var _ Port = (*tierPort)(nil)

// sendOnly implements sendOnlyPort: the engine runs no worker for it.
func (p *tierPort) sendOnly() {}

// Read implements Port: it blocks until Close.
func (p *tierPort) Read(bufs [][]byte, sizes []int) (int, error) {
	<-p.closed
	return 0, fmt.Errorf("xdp tier: %w", net.ErrClosed)
}

// Write implements Port.
func (p *tierPort) Write(bufs [][]byte) (int, error) { return p.tx.Write(bufs) }

// Close implements Port. The last port of the tier to close releases the
// program and its maps, keeping their counts.
func (p *tierPort) Close() error {
	p.once.Do(func() {
		close(p.closed)
		_ = p.tx.Close()
		s := p.sys
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.tier
		if t == nil || t.ports[p.ifindex] != p {
			return
		}
		delete(t.ports, p.ifindex)
		if len(t.ports) == 0 {
			_ = t.maps.addCounts(&s.tierFinal)
			_ = t.prog.Close()
			_ = t.maps.Close()
			s.tier = nil
		}
	})
	return nil
}

// tierMaxMTU is the largest MTU the tier takes: native XDP handles a frame
// in one page (veth: 4096 - 256 bytes of XDP headroom - 320 of
// skb_shared_info - the Ethernet header, 3506; virtio-net about the same).
const tierMaxMTU = 3500

// openTier puts an interface on the XDP tier: it loads the program and its
// maps with the first interface, and opens the interface's send-only port.
// The program is attached by claim.
func (s *osSystem) openTier(a *netlink.LinkAttrs) (_ *tierPort, err error) {
	if a.MTU > tierMaxMTU {
		return nil, fmt.Errorf("xdp tier: MTU %d above the %d native XDP takes in one page", a.MTU, tierMaxMTU)
	}
	if s.locals == nil {
		if s.locals, err = newXDPLocals(xdpMaxLocals); err != nil {
			return nil, fmt.Errorf("xdp tier: local address map: %w", err)
		}
	}
	s.mu.Lock()
	t := s.tier
	s.mu.Unlock()
	if t == nil {
		m, err := newTierMaps()
		if err != nil {
			return nil, err
		}
		prog, err := loadTierProgram(s.locals, m)
		if err != nil {
			m.Close()
			return nil, err
		}
		t = &tierState{maps: m, prog: prog, ports: map[int]*tierPort{}}
	}
	tx := &RingPort{ifindex: a.Index, rxFd: -1, txFd: -1, wakeFd: -1,
		cfg: RingConfig{SendMmsg: true, TxFrameSize: ethLen + a.MTU + v2Data}}
	if err := tx.openTX(); err != nil {
		tx.release()
		if len(t.ports) == 0 {
			t.prog.Close()
			t.maps.Close()
		}
		return nil, fmt.Errorf("xdp tier: af_packet tx: %w", err)
	}
	p := &tierPort{sys: s, ifindex: a.Index, tx: tx, closed: make(chan struct{})}
	s.mu.Lock()
	s.tier = t
	t.ports[a.Index] = p
	s.mu.Unlock()
	return p, nil
}

// tierLink returns whether the interface is on the XDP tier.
func (s *osSystem) tierLink(ifindex int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tier != nil && s.tier.ports[ifindex] != nil
}

// tierNextHops returns the next hops the tier forwarded to lately (see
// tierMaps.takeNextHops), nil without a tier.
func (s *osSystem) tierNextHops() []NeighbourRef {
	s.mu.Lock()
	t := s.tier
	s.mu.Unlock()
	if t == nil {
		return nil
	}
	hops, err := t.maps.takeNextHops()
	if err != nil {
		s.log.Debug("fast path: xdp tier next hops", "err", err)
	}
	return hops
}

// tierClaim is the XDP tier's part of a claim: the attached program, the
// redirect targets kept current, and the settings to restore.
type tierClaim struct {
	s      *osSystem
	log    *slog.Logger
	maps   *tierMaps
	links  []Link         // every fast-path interface: the possible egresses
	xdp    []link.Link    // the program on each tier interface
	undo   []func() error // settings to restore after the program is detached
	failed *redirectFailures

	mu      sync.Mutex
	targets map[int]bool // interface index → in the devmap
	watch   *xdpFeatureConn
	stop    chan struct{}
	done    chan struct{}
}

// claimTier attaches the tier's program to the tier interfaces among
// links, fills its interface map and puts the fast-path interfaces that
// take redirected frames in its devmap, then keeps that set current as
// devices change.
func (s *osSystem) claimTier(links []Link) (_ *tierClaim, err error) {
	s.mu.Lock()
	t := s.tier
	s.mu.Unlock()
	if t == nil {
		return nil, nil
	}
	c := &tierClaim{s: s, log: s.log, maps: t.maps, links: links, targets: map[int]bool{}}
	defer func() {
		if err != nil {
			c.release()
		}
	}()
	for _, l := range links {
		if !s.tierLink(l.Index) {
			continue
		}
		var flags uint32
		if linkKind(l.Name) == "veth" {
			flags |= tierFlagPartialCsum
		}
		if err := t.maps.setInterface(l.Index, l.MAC, flags); err != nil {
			return c, err
		}
		lk, mode, err := attachXDP(t.prog, l.Index)
		if err != nil {
			return c, fmt.Errorf("%s: attach XDP tier program: %w", l.Name, err)
		}
		c.xdp = append(c.xdp, lk)
		s.setInfo(l.Name, func(i *PortInfo) { i.Claim = "xdp-" + mode })
		s.log.Info("fast path: XDP tier program attached", "link", l.Name, "mode", mode)
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
	if c.failed, err = newRedirectFailures(t.maps.Egress); err != nil {
		s.log.Warn("fast path: redirect failures of the XDP tier are not counted", "err", err)
	}
	watch, err := dialXDPFeatures(true)
	switch {
	case errors.Is(err, errNoXDPFeatures):
		s.log.Warn("fast path: the kernel does not say which interfaces take redirected frames (Linux < 6.3): the XDP tier redirects to every fast-path interface and counts failures", "err", err)
		for _, l := range links {
			if err := c.setTarget(l, true, "assumed"); err != nil {
				return c, err
			}
		}
		return c, nil
	case err != nil:
		return c, fmt.Errorf("xdp tier: %w", err)
	}
	c.watch = watch
	if err := c.refresh(true); err != nil {
		return c, err
	}
	if err := watch.setReceiveTimeout(200 * time.Millisecond); err != nil {
		return c, fmt.Errorf("xdp tier: %w", err)
	}
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.follow()
	return c, nil
}

// setTarget puts a link in the devmap or takes it out, and logs a change.
func (c *tierClaim) setTarget(l Link, on bool, why string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	was, known := c.targets[l.Index]
	if known && was == on {
		return nil
	}
	if err := c.maps.setEgress(l.Index, on); err != nil {
		return err
	}
	c.targets[l.Index] = on
	if on {
		c.log.Info("fast path: XDP tier redirects to interface", "link", l.Name, "because", why)
	} else {
		c.log.Warn("fast path: XDP tier does not redirect to interface; the kernel forwards what leaves there", "link", l.Name, "because", why)
	}
	return nil
}

// refresh reads the devices' XDP features and updates the devmap. With
// prepare, it first gives a veth whose peer cannot take redirected frames
// what it needs (GRO on the peer, see vethPeerGRO).
func (c *tierClaim) refresh(prepare bool) error {
	dump, err := dialXDPFeatures(false)
	if err != nil {
		return fmt.Errorf("xdp tier: %w", err)
	}
	defer dump.Close()
	features, err := dump.Dump()
	if err != nil {
		return fmt.Errorf("xdp tier: %w", err)
	}
	for _, l := range c.links {
		f, ok := features[l.Index]
		if ok && f&xdpActNDOXmit == 0 && prepare && linkKind(l.Name) == "veth" {
			undo, err := vethPeerGRO(l.Name)
			if err != nil {
				c.log.Warn("fast path: redirects into a veth need NAPI on its peer (GRO or an XDP program there); could not turn GRO on there", "link", l.Name, "err", err)
			} else {
				c.log.Info("fast path: turned GRO on on the veth peer so that it takes redirected frames", "link", l.Name)
				c.undo = append(c.undo, undo)
				if again, err := dump.Dump(); err == nil {
					f = again[l.Index]
				}
			}
		}
		why := "it takes redirected frames (ndo_xdp_xmit)"
		if f&xdpActNDOXmit == 0 {
			why = "it takes no redirected frames now (a veth needs NAPI on its peer, other drivers an XDP program)"
		}
		if err := c.setTarget(l, f&xdpActNDOXmit != 0, why); err != nil {
			return err
		}
	}
	return nil
}

// follow keeps the devmap current: on every device notification, and
// every few seconds in case one was lost, until release closes stop (the
// socket's receive timeout bounds the wait).
func (c *tierClaim) follow() {
	defer close(c.done)
	last := time.Now()
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		changed := false
		err := c.watch.Receive(func(uint8, int, uint64) { changed = true })
		if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.ENOBUFS) {
			c.log.Warn("fast path: xdp tier: device notifications", "err", err)
			return
		}
		if changed || errors.Is(err, unix.ENOBUFS) || time.Since(last) >= 5*time.Second {
			last = time.Now()
			if err := c.refresh(false); err != nil {
				c.log.Debug("fast path: xdp tier targets", "err", err)
			}
		}
	}
}

// setLink follows a change of a tier interface's MAC address.
func (c *tierClaim) setLink(ifindex int, mac net.HardwareAddr) error {
	if c == nil || !c.s.tierLink(ifindex) || len(mac) != 6 {
		return nil
	}
	var v tierIfInfo
	if err := c.maps.IfInfo.Lookup(uint32(ifindex), &v); err != nil {
		return nil // not claimed (yet)
	}
	if v.MAC == [6]byte(mac) {
		return nil
	}
	return c.maps.setInterface(ifindex, mac, v.Flags)
}

// addCounts adds the redirect failures counted so far to s.
func (c *tierClaim) addCounts(s *Stats) {
	if c != nil && c.failed != nil {
		s.Dropped[DropTxError] += c.failed.count()
	}
}

// release detaches the program, stops following devices and restores
// what claimTier changed.
func (c *tierClaim) release() {
	if c == nil {
		return
	}
	for _, lk := range c.xdp {
		if err := lk.Close(); err != nil {
			c.log.Error("fast path: detaching XDP tier program", "err", err)
		}
	}
	c.xdp = nil
	if c.watch != nil {
		if c.done != nil {
			close(c.stop)
			<-c.done
		}
		_ = c.watch.Close()
		c.watch = nil
	}
	if c.failed != nil {
		c.s.mu.Lock()
		c.s.tierFinal.Dropped[DropTxError] += c.failed.count()
		c.s.mu.Unlock()
		c.failed.Close()
		c.failed = nil
	}
	for i := len(c.undo) - 1; i >= 0; i-- {
		if err := c.undo[i](); err != nil {
			c.log.Error("fast path: restoring interface settings", "err", err)
		}
	}
	c.undo = nil
}

// linkKind returns the kind of the interface name ("veth", "virtio_net"
// is a driver, not a kind: ""), "" when unknown.
func linkKind(name string) string {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return ""
	}
	return l.Type()
}

// attachXDP attaches prog to the interface ifindex with a BPF link, in
// driver mode, or in generic mode if the driver refuses; closing the link
// detaches it, and so does the end of the process, crash or not. The mode
// returned is "native" or "generic".
func attachXDP(prog *ebpf.Program, ifindex int) (link.Link, string, error) {
	l, errNative := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if errNative == nil {
		return l, "native", nil
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
	if err != nil {
		return nil, "", fmt.Errorf("attach xdp to ifindex %d: native: %w; generic: %w", ifindex, errNative, err)
	}
	return l, "generic", nil
}

// vethPeerGRO turns GRO on on the peer of the veth name, which gives the
// peer the NAPI instance a redirect into name needs, and returns how to
// turn it off again. The peer may live in another network namespace: it is
// found by its namespace id among the named namespaces and those of
// running processes, which needs CAP_SYS_ADMIN.
func vethPeerGRO(name string) (undo func() error, err error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	a := l.Attrs()
	if a.ParentIndex <= 0 {
		return nil, fmt.Errorf("%s: no veth peer", name)
	}
	inPeerNS := func(f func() error) error { return f() }
	if a.NetNsID >= 0 {
		ns, err := netnsByID(a.NetNsID)
		if err != nil {
			return nil, fmt.Errorf("%s: peer's namespace (id %d): %w", name, a.NetNsID, err)
		}
		inPeerNS = func(f func() error) error {
			defer ns.Close()
			return runInNetns(ns, f)
		}
	}
	var peer string
	var wasOn bool
	err = inPeerNS(func() error {
		p, err := netlink.LinkByIndex(a.ParentIndex)
		if err != nil {
			return err
		}
		peer = p.Attrs().Name
		if wasOn, err = ethtoolGRO(peer, -1); err != nil || wasOn {
			return err
		}
		_, err = ethtoolGRO(peer, 1)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: GRO on its peer %q: %w", name, peer, err)
	}
	if wasOn {
		return func() error { return nil }, nil
	}
	// The namespace is found again to undo: the handle above is closed.
	return func() error {
		if a.NetNsID < 0 {
			_, err := ethtoolGRO(peer, 0)
			return err
		}
		ns, err := netnsByID(a.NetNsID)
		if err != nil {
			return nil // the peer's namespace is gone, and the peer with it
		}
		defer ns.Close()
		return runInNetns(ns, func() error {
			if _, err := netlink.LinkByName(peer); err != nil {
				return nil
			}
			_, err := ethtoolGRO(peer, 0)
			return err
		})
	}, nil
}

// netnsByID returns a handle of the network namespace that the calling
// thread's namespace knows by id: one of the named namespaces
// (/run/netns) or of a running process.
func netnsByID(id int) (netns.NsHandle, error) {
	candidates, _ := filepath.Glob("/run/netns/*")
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	candidates = append(candidates, procs...)
	seen := map[uint64]bool{}
	for _, path := range candidates {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil || seen[st.Ino] {
			continue
		}
		seen[st.Ino] = true
		h, err := netns.GetFromPath(path)
		if err != nil {
			continue
		}
		if got, err := netlink.GetNetNsIdByFd(int(h)); err == nil && got == id {
			return h, nil
		}
		h.Close()
	}
	return netns.None(), fmt.Errorf("no namespace with id %d found: %w", id, os.ErrNotExist)
}

// runInNetns runs f on a locked thread switched into ns, and switches the
// thread back (a thread that cannot go back is discarded).
func runInNetns(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
