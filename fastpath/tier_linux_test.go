//go:build linux

package fastpath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/internal/csum"
)

// xdpMD is struct xdp_md, the context of an XDP test run.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// tierRoute is a route of the test's FIB model.
type tierRoute struct {
	prefix netip.Prefix
	typ    RouteType
	link   int
	gw     netip.Addr
	mtu    int
	locked bool // the MTU metric is locked: forwarding uses it (else the device's)
}

// tierEnv is the model of what the tier's program sees: its maps and the
// kernel's FIB and neighbours as the test set them up in its namespace.
type tierEnv struct {
	in      int // ingress ifindex
	ifaces  map[int]tierIfInfo
	links   map[int]int // ifindex → MTU
	macs    map[int][6]byte
	locals  localAddrs
	routes  []tierRoute
	neigh   map[neighKey][6]byte
	egress  map[int]bool
	noFwdIn bool // forwarding off on the ingress interface
}

// tierOutcome is what the program does with a frame: the action, the
// counter it adds 1 to and, for XDP_REDIRECT, the frame as it leaves and
// its egress and next hop.
type tierOutcome struct {
	action  uint32
	counter int
	frame   []byte
	egress  int
	nextHop netip.Addr
}

func (o tierOutcome) String() string {
	name := "?"
	switch {
	case o.counter < tierForwarded:
		name = "kernel " + KernelReason(o.counter).String()
	case o.counter == tierForwarded:
		name = fmt.Sprintf("forwarded via %d to %s", o.egress, o.nextHop)
	default:
		name = "dropped " + DropReason(o.counter-tierDropBase).String()
	}
	return fmt.Sprintf("action %d, %s", o.action, name)
}

// decide is the model: what the program must do with frame received on
// e.in, in the program's order of checks.
func (e *tierEnv) decide(frame []byte) tierOutcome {
	pass := func(r KernelReason) tierOutcome { return tierOutcome{action: xdpPass, counter: int(r)} }
	info, known := e.ifaces[e.in]
	c := classify(frame, len(frame), &info.MAC, nil) // the FIB knows the locals
	if c.Action == ActionKernel && c.Kernel == KernelLocal {
		panic("classify without locals said local")
	}
	if c.Action == ActionKernel {
		return pass(c.Kernel)
	}
	if !known || [6]byte(frame[:6]) != info.MAC {
		return pass(KernelOtherHost)
	}
	src, dst := frame[offSrc:offSrc+16], frame[offDst:offDst+16]
	if src[0] == 0xff || badDestination(src) || badDestination(dst) {
		return pass(KernelBadAddress)
	}
	payLen := int(binary.BigEndian.Uint16(frame[offPayLen:]))
	if minFrame+payLen > len(frame) {
		return pass(KernelBadLength)
	}
	frame = bytes.Clone(frame[:minFrame+payLen])
	next := frame[offNextHdr]
	if next == protoICMPv6 && len(frame) > minFrame && frame[minFrame] >= 133 && frame[minFrame] <= 137 {
		return pass(KernelND)
	}
	if e.noFwdIn {
		return pass(KernelForwardingOff)
	}
	d := netip.AddrFrom16([16]byte(dst))
	if e.locals.isLocal((*[16]byte)(dst)) {
		return pass(KernelLocal)
	}
	var r *tierRoute
	for i := range e.routes {
		if e.routes[i].prefix.Contains(d) && (r == nil || e.routes[i].prefix.Bits() > r.prefix.Bits()) {
			r = &e.routes[i]
		}
	}
	if r == nil {
		return pass(KernelNoRoute)
	}
	if r.typ != RouteUnicast {
		return pass(KernelRejectRoute)
	}
	mtu := e.links[r.link]
	if r.mtu > 0 && r.locked {
		mtu = r.mtu
	}
	if ipv6HdrLen+payLen > mtu {
		return pass(KernelTooBig)
	}
	nh := d
	if r.gw.IsValid() {
		nh = r.gw
	}
	mac, ok := e.neigh[neighKey{r.link, nh.As16()}]
	if !ok || mac == [6]byte{} {
		return pass(KernelNoNeighbour)
	}
	if !e.egress[r.link] {
		return pass(KernelNotRedirect)
	}
	if info.Flags&tierFlagPartialCsum != 0 {
		if l4, field, ok := transportSegment(frame); ok {
			ps := csum.Add(0, frame[offSrc:offSrc+32]) + uint64(len(l4)) + uint64(next)
			if binary.BigEndian.Uint16(l4[field:]) == csum.Fold(ps) {
				completeChecksum(frame)
			}
		}
	}
	out := e.macs[r.link]
	frame = rewrite(frame, ipv6HdrLen+payLen, &mac, &out)
	return tierOutcome{action: xdpRedirect, counter: tierForwarded, frame: frame, egress: r.link, nextHop: nh}
}

// tierTestEnv sets up, in a new network namespace, the interfaces, routes
// and neighbours of the model and loads the program with its maps:
//
//	in (2001:db8:1::1/64)  out (2001:db8:2::1/64, egress)  side (2001:db8:5::1/64, not an egress)
//	2001:db8:3::/64 via 2001:db8:2::2 dev out     2001:db8:6::/64 dev out mtu lock 1280
//	2001:db8:a::/64 dev out mtu 1280 (not locked: forwarding uses the device's MTU)
//	2001:db8:4::/64 blackhole, :7::/64 unreachable, :8::/64 prohibit
//	neighbours: out 2001:db8:2::2, ::20, 2001:db8:6::20; side 2001:db8:5::20
func tierTestEnv(t *testing.T) (*tierEnv, *ebpf.Program, *tierMaps) {
	t.Helper()
	locals := testXDPLocals(t, nil)
	m, err := newTierMaps()
	skipUnlessBPF(t, err)
	t.Cleanup(func() { m.Close() })
	prog, err := loadTierProgram(locals, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })

	name := enterTestNetns(t)
	sysctl := func(path, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join("/proc/sys/net/ipv6", path), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	sysctl("conf/all/forwarding", "1")
	sysctl("conf/default/accept_dad", "0")
	e := &tierEnv{ifaces: map[int]tierIfInfo{}, links: map[int]int{}, macs: map[int][6]byte{},
		locals: localAddrs{}, neigh: map[neighKey][6]byte{}, egress: map[int]bool{}}
	link := func(suffix, addr string, mac net.HardwareAddr) int {
		t.Helper()
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + suffix, HardwareAddr: mac}, PeerName: name + suffix + "p"}
		if err := netlink.LinkAdd(v); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{v.Name, v.PeerName} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				t.Fatal(err)
			}
			if err := netlink.LinkSetUp(l); err != nil {
				t.Fatal(err)
			}
		}
		l, err := netlink.LinkByName(v.Name)
		if err != nil {
			t.Fatal(err)
		}
		p := netip.MustParsePrefix(addr)
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		idx := l.Attrs().Index
		e.links[idx] = l.Attrs().MTU
		e.macs[idx] = [6]byte(l.Attrs().HardwareAddr)
		e.locals[p.Addr().As16()] = struct{}{}
		e.locals[p.Masked().Addr().As16()] = struct{}{} // subnet-router anycast
		e.routes = append(e.routes, tierRoute{prefix: p.Masked(), typ: RouteUnicast, link: idx})
		return idx
	}
	in := link("i", "2001:db8:1::1/64", net.HardwareAddr(macRouterIn[:]))
	out := link("o", "2001:db8:2::1/64", net.HardwareAddr(macRouterOut[:]))
	side := link("s", "2001:db8:5::1/64", nil)
	e.in = in
	route := func(r tierRoute) {
		t.Helper()
		nr := &netlink.Route{Dst: &net.IPNet{IP: r.prefix.Addr().AsSlice(), Mask: net.CIDRMask(r.prefix.Bits(), 128)}, MTU: r.mtu, MTULock: r.locked}
		switch r.typ {
		case RouteUnicast:
			nr.LinkIndex = r.link
			if r.gw.IsValid() {
				nr.Gw = r.gw.AsSlice()
			}
		case RouteBlackhole:
			nr.Type = unix.RTN_BLACKHOLE
		case RouteUnreachable:
			nr.Type = unix.RTN_UNREACHABLE
		case RouteProhibit:
			nr.Type = unix.RTN_PROHIBIT
		}
		if err := netlink.RouteAdd(nr); err != nil {
			t.Fatalf("route %+v: %v", r, err)
		}
		e.routes = append(e.routes, r)
	}
	route(tierRoute{prefix: netip.MustParsePrefix("2001:db8:3::/64"), typ: RouteUnicast, link: out, gw: netip.MustParseAddr("2001:db8:2::2")})
	route(tierRoute{prefix: netip.MustParsePrefix("2001:db8:6::/64"), typ: RouteUnicast, link: out, mtu: 1280, locked: true})
	route(tierRoute{prefix: netip.MustParsePrefix("2001:db8:a::/64"), typ: RouteUnicast, link: out, mtu: 1280})
	route(tierRoute{prefix: netip.MustParsePrefix("2001:db8:4::/64"), typ: RouteBlackhole})
	route(tierRoute{prefix: netip.MustParsePrefix("2001:db8:7::/64"), typ: RouteUnreachable})
	route(tierRoute{prefix: netip.MustParsePrefix("2001:db8:8::/64"), typ: RouteProhibit})
	neigh := func(link int, addr string, mac [6]byte) {
		t.Helper()
		n := &netlink.Neigh{LinkIndex: link, Family: netlink.FAMILY_V6, State: netlink.NUD_PERMANENT,
			IP: netip.MustParseAddr(addr).AsSlice(), HardwareAddr: mac[:]}
		if err := netlink.NeighAdd(n); err != nil {
			t.Fatalf("neighbour %s: %v", addr, err)
		}
		e.neigh[neighKey{link, netip.MustParseAddr(addr).As16()}] = mac
	}
	neigh(out, "2001:db8:2::2", macHostB)
	neigh(out, "2001:db8:2::20", [6]byte{0x02, 0, 0, 0, 0x20, 0x20})
	neigh(out, "2001:db8:6::20", [6]byte{0x02, 0, 0, 0, 0x60, 0x20})
	neigh(out, "2001:db8:a::20", [6]byte{0x02, 0, 0, 0, 0xa0, 0x20})
	neigh(side, "2001:db8:5::20", [6]byte{0x02, 0, 0, 0, 0x50, 0x20})

	var la []netip.Addr
	for a := range e.locals {
		la = append(la, netip.AddrFrom16(a))
	}
	if err := setXDPLocals(locals, la); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []int{in, out, side} {
		mac := e.macs[idx]
		e.ifaces[idx] = tierIfInfo{MAC: mac}
		if err := m.setInterface(idx, mac[:], 0); err != nil {
			t.Fatal(err)
		}
	}
	e.egress[out] = true
	if err := m.setEgress(out, true); err != nil {
		t.Fatal(err)
	}
	return e, prog, m
}

// runTier runs the program on frame as received on ingress and returns
// the action and the frame as the program left it.
func runTier(tb testing.TB, prog *ebpf.Program, ingress int, frame []byte) (uint32, []byte) {
	tb.Helper()
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{
		Data:    frame,
		DataOut: out,
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ingress)},
	}
	ret, err := prog.Run(opts)
	if err != nil {
		tb.Fatalf("test run of %d bytes: %v", len(frame), err)
	}
	return ret, opts.DataOut
}

func tierCounters(tb testing.TB, m *tierMaps) Stats {
	tb.Helper()
	var s Stats
	if err := m.addCounts(&s); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestTierProgramLoads(t *testing.T) {
	locals := testXDPLocals(t, nil)
	m, err := newTierMaps()
	skipUnlessBPF(t, err)
	defer m.Close()
	prog, err := loadTierProgram(locals, m)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	insns := tierInstructions()
	if info, err := prog.Info(); err == nil {
		verified, _ := info.VerifiedInstructions()
		t.Logf("program: %d instructions (%d slots), verifier processed %d", len(insns), insns.Size()/asm.InstructionSize, verified)
	}
}

// tierFrame builds a frame to dst on the test's ingress: UDP with a
// correct checksum by default.
type tierFrame struct {
	dstMAC     [6]byte
	src, dst   string
	next       uint8
	hop        uint8
	payload    int
	icmpType   uint8
	partial    bool // checksum field holds only the pseudo-header sum
	payLenDiff int  // added to the payload length field
	pad        int  // bytes after the packet
}

func (f tierFrame) bytes() []byte {
	if f.next == 0 {
		f.next = protoUDP
	}
	b := pkt{dstMAC: f.dstMAC, srcMAC: macHostA, src: f.src, dst: f.dst, hop: f.hop, next: f.next, payload: f.payload}.bytes()
	l4 := b[minFrame:]
	var field int
	switch f.next {
	case protoUDP:
		if len(l4) >= 8 {
			binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		}
		field = 6
	case protoTCP:
		if len(l4) >= 20 {
			l4[12] = 5 << 4
		}
		field = 16
	case protoICMPv6:
		if len(l4) > 0 {
			l4[0] = f.icmpType
		}
		field = -1
	default:
		field = -1
	}
	if field >= 0 && len(l4) >= field+2 {
		l4[field], l4[field+1] = 0, 0
		ps := csum.Add(0, b[offSrc:offSrc+32]) + uint64(len(l4)) + uint64(f.next)
		if f.partial {
			binary.BigEndian.PutUint16(l4[field:], csum.Fold(ps))
		} else {
			c := ^csum.Fold(csum.Add(ps, l4))
			if c == 0 && f.next == protoUDP {
				c = 0xffff
			}
			binary.BigEndian.PutUint16(l4[field:], c)
		}
	}
	binary.BigEndian.PutUint16(b[offPayLen:], uint16(len(l4)+f.payLenDiff))
	return append(b, make([]byte, f.pad)...)
}

// tierSeeds are frames for every outcome of the model's environment.
func tierSeeds() []tierFrame {
	in := macRouterIn
	return []tierFrame{
		{dstMAC: in, dst: "2001:db8:2::20", payload: 8},                                    // forwarded
		{dstMAC: in, dst: "2001:db8:2::20", next: protoTCP, payload: 40},                   // forwarded
		{dstMAC: in, dst: "2001:db8:2::20", next: protoICMPv6, icmpType: 128, payload: 16}, // echo: forwarded
		{dstMAC: in, dst: "2001:db8:3::99", payload: 100},                                  // via the gateway
		{dstMAC: in, dst: "2001:db8:6::20", payload: 1232},                                 // route MTU 1280: fits
		{dstMAC: in, dst: "2001:db8:6::20", payload: 1241},                                 // 1 byte over
		{dstMAC: in, dst: "2001:db8:2::20", payload: 1460},                                 // device MTU 1500: fits
		{dstMAC: in, dst: "2001:db8:2::20", payload: 1461},                                 // over
		{dstMAC: in, dst: "2001:db8:2::21", payload: 8},                                    // no neighbour
		{dstMAC: in, dst: "2001:db8:5::20", payload: 8},                                    // egress not a redirect target
		{dstMAC: in, dst: "2001:db8:9::1", payload: 8},                                     // no route
		{dstMAC: in, dst: "2001:db8:4::1", payload: 8},                                     // blackhole
		{dstMAC: in, dst: "2001:db8:7::1", payload: 8},                                     // unreachable
		{dstMAC: in, dst: "2001:db8:8::1", payload: 8},                                     // prohibit
		{dstMAC: in, dst: "2001:db8:2::1", payload: 8},                                     // local
		{dstMAC: in, dst: "2001:db8:2::", payload: 8},                                      // anycast: local
		{dstMAC: in, dst: "2001:db8:2::20", next: protoICMPv6, icmpType: 135, payload: 24}, // ND
		{dstMAC: in, dst: "2001:db8:2::20", next: protoICMPv6, icmpType: 137, payload: 40}, // redirect (ND)
		{dstMAC: in, dst: "2001:db8:2::20", next: protoICMPv6, icmpType: 138, payload: 8},  // not ND
		{dstMAC: macHostB, dst: "2001:db8:2::20", payload: 8},                              // other host
		{dstMAC: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dst: "2001:db8:2::20", payload: 8},
		{dstMAC: in, src: "::", dst: "2001:db8:2::20", payload: 8},                        // bad source
		{dstMAC: in, src: "::1", dst: "2001:db8:2::20", payload: 8},                       // bad source
		{dstMAC: in, src: "ff05::1", dst: "2001:db8:2::20", payload: 8},                   // bad source
		{dstMAC: in, dst: "::1", payload: 8},                                              // bad destination
		{dstMAC: in, dst: "::", payload: 8},                                               // bad destination
		{dstMAC: in, dst: "2001:db8:2::20", payload: 8, payLenDiff: 1},                    // truncated
		{dstMAC: in, dst: "2001:db8:2::20", payload: 8, pad: 6},                           // padded
		{dstMAC: in, dst: "2001:db8:2::20", payload: 0, pad: 6},                           // padded, no UDP header
		{dstMAC: in, dst: "2001:db8:2::20", payload: 8, hop: 1},                           // hop limit
		{dstMAC: in, dst: "2001:db8:2::20", payload: 8, next: 60},                         // extension header
		{dstMAC: in, dst: "2001:db8:2::20", payload: 8, next: protoFragment},              // fragment
		{dstMAC: in, dst: "ff02::1", payload: 8},                                          // multicast
		{dstMAC: in, dst: "fe80::1", payload: 8},                                          // link-local
		{dstMAC: in, dst: "2001:db8:2::20", payload: 8, partial: true},                    // partial UDP checksum
		{dstMAC: in, dst: "2001:db8:2::20", next: protoTCP, payload: 1000, partial: true}, // partial TCP checksum
		{dstMAC: in, dst: "2001:db8:2::20", next: protoTCP, payload: 1337, partial: true}, // odd length
		{dstMAC: in, dst: "2001:db8:2::20", next: protoTCP, payload: 1440, partial: true}, // full-size segment
		{dstMAC: in, dst: "2001:db8:2::20", next: protoTCP, payload: 19, partial: true},   // too short for TCP's field
		{dstMAC: in, dst: "2001:db8:2::20", payload: 7, partial: true},                    // too short for UDP's field
		{dstMAC: in, dst: "2001:db8:2::20", next: protoTCP, payload: 100, partial: true, pad: 3},
	}
}

// mutateTier changes a seed in the ways the program distinguishes.
func mutateTier(rng *mrand.Rand, f tierFrame) tierFrame {
	dsts := []string{"2001:db8:2::20", "2001:db8:2::21", "2001:db8:3::1", "2001:db8:6::20", "2001:db8:a::20", "2001:db8:5::20",
		"2001:db8:9::1", "2001:db8:4::1", "2001:db8:2::1", "::1", "::", "ff02::1", "fe80::2", "2001:db8:8::8"}
	srcs := []string{"2001:db8:1::10", "::", "::1", "ff02::1", "fe80::1", "2001:db8:2::20"}
	for range 1 + rng.IntN(3) {
		switch rng.IntN(9) {
		case 0:
			f.dst = dsts[rng.IntN(len(dsts))]
		case 1:
			f.src = srcs[rng.IntN(len(srcs))]
		case 2:
			f.hop = []uint8{1, 2, 64, 255}[rng.IntN(4)]
		case 3:
			f.next = []uint8{protoTCP, protoUDP, protoICMPv6, 0, 43, protoFragment, 59}[rng.IntN(7)]
			f.icmpType = uint8(128 + rng.IntN(12))
		case 4:
			f.payLenDiff = rng.IntN(7) - 3
		case 5:
			f.pad = rng.IntN(8)
		case 6:
			f.payload = []int{0, 1, 7, 8, 19, 20, 100, 511, 512, 513, 1232, 1240, 1241, 1460, 1461}[rng.IntN(15)]
		case 7:
			f.partial = !f.partial
		case 8:
			f.dstMAC = [][6]byte{macRouterIn, macRouterOut, macHostB}[rng.IntN(3)]
		}
	}
	return f
}

// TestTierProgramMatchesModel runs the tier's program (BPF_PROG_TEST_RUN
// with the ingress interface in the context, so that bpf_fib_lookup asks
// the namespace's real FIB and neighbours) on seeds for every outcome and
// on mutations of them, and compares action, counters, frame and next-hop
// table with the model, with and without checksum completion on the
// ingress.
func TestTierProgramMatchesModel(t *testing.T) {
	e, prog, m := tierTestEnv(t)
	rng := mrand.New(mrand.NewPCG(7, 8))
	var want Stats
	seen := map[int]int{}
	nextHops := map[NeighbourRef]bool{}
	check := func(f []byte, what string) {
		t.Helper()
		o := e.decide(f)
		ret, out := runTier(t, prog, e.in, f)
		if ret != o.action {
			t.Fatalf("%s: program returns %d, model %v\nframe %x", what, ret, o, f)
		}
		want.Received++
		switch {
		case o.counter < tierForwarded:
			want.ToKernel[o.counter]++
			if !bytes.Equal(out, f) {
				t.Fatalf("%s: passed to the kernel changed:\n got %x\nwant %x", what, out, f)
			}
		case o.counter == tierForwarded:
			want.Forwarded++
			nextHops[NeighbourRef{Link: o.egress, Addr: o.nextHop}] = true
			if !bytes.Equal(out, o.frame) {
				t.Fatalf("%s: forwarded frame\n got %x\nwant %x\n  in %x", what, out, o.frame, f)
			}
		}
		seen[o.counter]++
	}
	for _, partialIn := range []bool{false, true} {
		info := e.ifaces[e.in]
		info.Flags = 0
		if partialIn {
			info.Flags = tierFlagPartialCsum
		}
		e.ifaces[e.in] = info
		if err := m.setInterface(e.in, info.MAC[:], info.Flags); err != nil {
			t.Fatal(err)
		}
		for i, s := range tierSeeds() {
			check(s.bytes(), fmt.Sprintf("seed %d (%+v), partial-checksum ingress %v", i, s, partialIn))
		}
		n := 20000
		if testing.Short() {
			n = 2000
		}
		start := time.Now()
		seeds := tierSeeds()
		for range n {
			f := mutateTier(rng, seeds[rng.IntN(len(seeds))])
			check(f.bytes(), fmt.Sprintf("mutation %+v, partial-checksum ingress %v", f, partialIn))
		}
		t.Logf("%d mutated frames in %v", n, time.Since(start).Round(time.Millisecond))
	}
	got := tierCounters(t, m)
	if got != want {
		t.Errorf("counters\n got %+v\nwant %+v", got, want)
	}
	for _, r := range []KernelReason{KernelOtherHost, KernelBadAddress, KernelBadLength, KernelND, KernelNoRoute,
		KernelRejectRoute, KernelNoNeighbour, KernelTooBig, KernelNotRedirect, KernelHopLimit, KernelLocal} {
		if seen[int(r)] == 0 {
			t.Errorf("no frame left to the kernel as %s", r)
		}
	}
	if seen[tierForwarded] == 0 {
		t.Error("no frame forwarded")
	}
	hops, err := m.takeNextHops()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hops {
		if !nextHops[h] {
			t.Errorf("next-hop table holds %v, which no forwarded frame used", h)
		}
	}
	if len(hops) == 0 || len(hops) > len(nextHops) {
		t.Errorf("next-hop table: %v, want a non-empty subset of %v", hops, nextHops)
	}
	if again, err := m.takeNextHops(); err != nil || len(again) != 0 {
		t.Errorf("next-hop table after taking: %v, %v; want empty", again, err)
	}
	t.Logf("outcomes: %v", seen)
}

// TestTierForwardingOff: with forwarding off on the ingress interface the
// kernel would not forward, and neither does the tier.
func TestTierForwardingOff(t *testing.T) {
	e, prog, m := tierTestEnv(t)
	l, err := netlink.LinkByIndex(e.in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+l.Attrs().Name+"/forwarding", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	e.noFwdIn = true
	f := tierSeeds()[0].bytes()
	if ret, _ := runTier(t, prog, e.in, f); ret != xdpPass {
		t.Errorf("forwarding off: %d, want XDP_PASS", ret)
	}
	if got := tierCounters(t, m); got.ToKernel[KernelForwardingOff] != 1 {
		t.Errorf("counters %+v, want forwarding-off 1", got)
	}
}

// TestTierRedirectFailures runs the program on live frames
// (BPF_F_TEST_XDP_LIVE_FRAMES: redirects are carried out) toward an egress
// whose veth peer has no NAPI, so the redirects fail: the failures are
// counted, and once the peer has NAPI the frames arrive and nothing more
// is counted.
func TestTierRedirectFailures(t *testing.T) {
	e, prog, m := tierTestEnv(t)
	r, err := newRedirectFailures(m.Egress)
	skipUnlessBPF(t, err)
	defer r.Close()
	f := tierSeeds()[0].bytes()
	live := func(n uint32) {
		t.Helper()
		_, err := prog.Run(&ebpf.RunOptions{
			Data:    f,
			Repeat:  n,
			Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			Context: xdpMD{DataEnd: uint32(len(f)), IngressIfindex: uint32(e.in)},
		})
		if err != nil {
			t.Fatalf("live frames: %v", err)
		}
	}
	live(10)
	if got := r.count(); got != 10 {
		t.Errorf("redirect failures after 10 frames to a peer without NAPI: %d, want 10", got)
	}
	var egress int
	for idx := range e.egress {
		egress = idx
	}
	l, err := netlink.LinkByIndex(egress)
	if err != nil {
		t.Fatal(err)
	}
	undo, err := vethPeerGRO(l.Attrs().Name)
	if err != nil {
		t.Fatal(err)
	}
	defer undo()
	peer, err := netlink.LinkByIndex(l.Attrs().ParentIndex)
	if err != nil {
		t.Fatal(err)
	}
	before := peer.Attrs().Statistics.RxPackets
	live(10)
	if got := r.count(); got != 10 {
		t.Errorf("redirect failures after 10 more frames to a peer with NAPI: %d, want still 10", got)
	}
	if peer, err = netlink.LinkByIndex(peer.Attrs().Index); err != nil {
		t.Fatal(err)
	}
	if got := peer.Attrs().Statistics.RxPackets - before; got != 10 {
		t.Errorf("the peer received %d frames, want 10", got)
	}
	if s := tierCounters(t, m); s.Forwarded != 20 {
		t.Errorf("forwarded %d, want 20 (the program redirected all; the failures are the devices')", s.Forwarded)
	}
}
