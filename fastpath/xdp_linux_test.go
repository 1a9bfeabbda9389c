//go:build linux

package fastpath

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// skipUnlessBPF skips the test when it cannot use BPF: not root, or the
// kernel refuses with EPERM (no CAP_BPF, unprivileged container).
func skipUnlessBPF(tb testing.TB, err error) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("XDP test: needs root (bpf(2), XDP attach)")
	}
	if errors.Is(err, unix.EPERM) {
		tb.Skipf("XDP test: BPF not permitted: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

func testXDPLocals(tb testing.TB, locals []netip.Addr) *ebpf.Map {
	tb.Helper()
	skipUnlessBPF(tb, nil)
	m, err := newXDPLocals(64)
	skipUnlessBPF(tb, err)
	tb.Cleanup(func() { m.Close() })
	if err := setXDPLocals(m, locals); err != nil {
		tb.Fatal(err)
	}
	return m
}

// testXDPDecider loads the program with XDP_DROP as "take": a test run then
// shows the decision (the redirect falls back to XDP_PASS for an empty
// XSKMAP slot, hiding it). It returns the program and its kernel counters.
func testXDPDecider(tb testing.TB, locals *ebpf.Map) (*ebpf.Program, *ebpf.Map) {
	tb.Helper()
	kernel, err := newXDPKernelMap()
	skipUnlessBPF(tb, err)
	tb.Cleanup(func() { kernel.Close() })
	prog, err := newXDPProgramWith(asm.Instructions{asm.Mov.Imm(asm.R0, xdpDrop), asm.Return()}, locals, kernel, nil)
	skipUnlessBPF(tb, err)
	tb.Cleanup(func() { prog.Close() })
	return prog, kernel
}

func testKernelCounts(tb testing.TB, kernel *ebpf.Map) [NumKernelReasons]uint64 {
	tb.Helper()
	var c [NumKernelReasons]uint64
	if err := addXDPKernelCounts(kernel, &c); err != nil {
		tb.Fatal(err)
	}
	return c
}

func runXDP(tb testing.TB, prog *ebpf.Program, frame []byte) uint32 {
	tb.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		tb.Fatalf("test run of %d bytes: %v", len(frame), err)
	}
	return ret
}

// checkXDPAgrees fails when the XDP program (its XDP_DROP variant) and
// classify disagree about whether the kernel gets a frame. When classify
// leaves the frame to the kernel, it adds 1 to want[reason]: the count the
// program should have made.
func checkXDPAgrees(t *testing.T, prog *ebpf.Program, local localAddrs, frame []byte, want *[NumKernelReasons]uint64) {
	t.Helper()
	if len(frame) < ethLen {
		return // BPF_PROG_TEST_RUN wants an Ethernet header
	}
	ret := runXDP(t, prog, frame)
	if ret != xdpPass && ret != xdpDrop {
		t.Fatalf("XDP program returns %d for %x", ret, frame[:min(len(frame), minFrame)])
	}
	c := classify(frame, len(frame), &macRouterIn, local)
	kernel := c.Action == ActionKernel
	if (ret == xdpPass) != kernel {
		t.Fatalf("XDP program returns %d, classify kernel=%v for %x", ret, kernel, frame[:min(len(frame), minFrame)])
	}
	if kernel {
		want[c.Kernel]++
	}
}

// TestXDPProgramMatchesClassify checks that the XDP program takes exactly
// the frames classify does not leave to the kernel, and counts each frame
// it passes under classify's reason: frame by frame for the seeds and their
// truncations, in total for the random mutations.
func TestXDPProgramMatchesClassify(t *testing.T) {
	prog, kernel := testXDPDecider(t, testXDPLocals(t, testLocals))
	local := localSetOf(testLocals)
	rng := mrand.New(mrand.NewPCG(5, 6))
	vlan := func(f []byte) []byte { // 802.1Q tag in front of the IPv6 EtherType
		return append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0x00, 0x07), f[12:]...)
	}
	etherType := func(f []byte, et uint16) []byte { binary.BigEndian.PutUint16(f[offEthType:], et); return f }
	seeds := append(classifierSeeds(),
		pkt{dstMAC: macRouterIn, dst: "2001:db8:1::1"}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "febf::1"}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "fec0::1"}.bytes(),
		vlan(pkt{dstMAC: macRouterIn, payload: 8}.bytes()),
		etherType(pkt{dstMAC: macRouterIn, payload: 8}.bytes(), 0x0800),
		etherType(pkt{dstMAC: macRouterIn, payload: 8}.bytes(), 0xdd86),
		// Several reasons at once: the first in classify's order counts.
		pkt{dstMAC: macRouterIn, next: 60}.bytes(),
		pkt{dstMAC: macRouterIn, next: 43, hop: 1}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "2001:db8:2::1", hop: 1}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "2001:db8:2::1", next: protoFragment}.bytes(),
		pkt{dstMAC: macRouterIn, src: "fe80::1", next: protoFragment}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "ff02::1", src: "fe80::1"}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "ff02::1", version: 4}.bytes(),
		etherType(pkt{dstMAC: macRouterIn, version: 4}.bytes(), 0x0800),
	)
	// Frame by frame: exactly classify's reason counted, nothing when taken.
	var want, seen [NumKernelReasons]uint64
	for _, s := range seeds {
		for cut := ethLen; cut <= len(s); cut++ {
			f := s[:cut]
			before := want
			checkXDPAgrees(t, prog, local, f, &want)
			if got := testKernelCounts(t, kernel); got != want {
				c := classify(f, len(f), &macRouterIn, local)
				t.Fatalf("counters %v after %v, want %v (classify %+v) for %x", got, before, want, c, f[:min(len(f), minFrame)])
			}
			for r := range want {
				if want[r] != before[r] {
					seen[r]++
				}
			}
		}
	}
	for r, n := range seen {
		// Oversize is the length check before classification (claim
		// and worker), which native XDP never needs; the reasons from
		// other-host on are the XDP tier's.
		if n == 0 && KernelReason(r) != KernelOversize && KernelReason(r) < KernelOtherHost {
			t.Errorf("no seed frame counted as %s", KernelReason(r))
		}
	}
	// Random mutations of the header bytes that matter, as
	// TestIngressProgramMatchesClassify makes them. Each is a bpf(BPF_PROG_TEST_RUN) call: about 2 µs.
	n := 200000
	if testing.Short() {
		n = 20000
	}
	start := time.Now()
	for range n {
		f := mutateHeader(rng, seeds[rng.IntN(len(seeds))])
		checkXDPAgrees(t, prog, local, f, &want)
	}
	t.Logf("%d mutated frames in %v", n, time.Since(start).Round(time.Millisecond))
	got := testKernelCounts(t, kernel)
	for r := range got {
		if got[r] != want[r] {
			t.Errorf("%s: counted %d, classify %d", KernelReason(r), got[r], want[r])
		}
	}
	t.Logf("passed to the kernel by reason: %v", got)
}

func TestXDPLocalsUpdate(t *testing.T) {
	m := testXDPLocals(t, testLocals)
	prog, _ := testXDPDecider(t, m)
	a := netip.MustParseAddr("2001:db8:2::20")
	f := pkt{dstMAC: macRouterIn, dst: a.String()}.bytes()
	local := pkt{dstMAC: macRouterIn, dst: testLocals[0].String()}.bytes()
	check := func(step string, wantF, wantLocal uint32) {
		t.Helper()
		if got := runXDP(t, prog, f); got != wantF {
			t.Errorf("%s: frame to %s: %d, want %d", step, a, got, wantF)
		}
		if got := runXDP(t, prog, local); got != wantLocal {
			t.Errorf("%s: frame to %s: %d, want %d", step, testLocals[0], got, wantLocal)
		}
	}
	count := func() int {
		var k [16]byte
		var v uint8
		n := 0
		for it := m.Iterate(); it.Next(&k, &v); {
			n++
		}
		return n
	}
	check("initial", xdpDrop, xdpPass)
	if err := setXDPLocals(m, append([]netip.Addr{a, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:192.0.2.1")}, testLocals...)); err != nil {
		t.Fatal(err)
	}
	check("added", xdpPass, xdpPass)
	if n := count(); n != len(testLocals)+1 {
		t.Errorf("map holds %d addresses, want %d (IPv4 and IPv4-mapped ignored)", n, len(testLocals)+1)
	}
	if err := setXDPLocals(m, []netip.Addr{a}); err != nil {
		t.Fatal(err)
	}
	check("others removed", xdpPass, xdpDrop)
	if err := setXDPLocals(m, nil); err != nil {
		t.Fatal(err)
	}
	check("all removed", xdpDrop, xdpDrop)
	if n := count(); n != 0 {
		t.Errorf("map holds %d addresses, want 0", n)
	}
}

// TestXDPRedirect runs the real program: with no socket in the queue's
// slot every frame goes to the kernel; with one (an unbound AF_XDP socket
// is enough for the map) the frames the fast path takes are redirected.
func TestXDPRedirect(t *testing.T) {
	p, err := loadXDPProgram(testXDPLocals(t, testLocals), 4)
	skipUnlessBPF(t, err)
	t.Cleanup(func() { p.Close() })
	insns := xdpInstructions(xdpRedirectTake())
	if info, err := p.Prog.Info(); err == nil {
		verified, _ := info.VerifiedInstructions()
		t.Logf("program: %d instructions (%d slots), verifier processed %d", len(insns), insns.Size()/asm.InstructionSize, verified)
	}
	take := pkt{dstMAC: macRouterIn, payload: 8}.bytes()
	leave := pkt{dstMAC: macRouterIn, dst: testLocals[0].String()}.bytes()
	if got := runXDP(t, p.Prog, take); got != xdpPass {
		t.Errorf("empty slot: %d, want XDP_PASS", got)
	}
	counts := func(step string, want [NumKernelReasons]uint64) {
		t.Helper()
		var got [NumKernelReasons]uint64
		got[KernelHopLimit] = 1 // kernelCounts adds
		want[KernelHopLimit]++
		if err := p.kernelCounts(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: kernelCounts %v, want %v", step, got, want)
		}
	}
	counts("taken, empty slot", [NumKernelReasons]uint64{}) // the fast path's frame: not counted
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no AF_XDP socket: %v", err)
	}
	defer unix.Close(fd)
	if err := p.setSocket(0, fd); err != nil {
		t.Fatal(err) // a test run is on rx queue 0
	}
	if got := runXDP(t, p.Prog, take); got != xdpRedirect {
		t.Errorf("socket in slot: %d, want XDP_REDIRECT", got)
	}
	if got := runXDP(t, p.Prog, leave); got != xdpPass {
		t.Errorf("socket in slot, local destination: %d, want XDP_PASS", got)
	}
	if got := runXDP(t, p.Prog, leave[:minFrame-1]); got != xdpPass {
		t.Errorf("truncated: %d, want XDP_PASS", got)
	}
	counts("local, truncated", [NumKernelReasons]uint64{KernelLocal: 1, KernelTruncated: 1})
	if err := p.setSocket(4, fd); err == nil {
		t.Error("setSocket beyond the queues succeeded")
	}
	// Each program counts on its own.
	q, err := loadXDPProgram(testXDPLocals(t, testLocals), 1)
	if err != nil {
		t.Fatal(err)
	}
	runXDP(t, q.Prog, leave)
	var c [NumKernelReasons]uint64
	if err := q.kernelCounts(&c); err != nil || c != [NumKernelReasons]uint64{KernelLocal: 1} {
		t.Errorf("second program: kernelCounts %v, %v; want only 1 local", c, err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	c = [NumKernelReasons]uint64{}
	if err := q.kernelCounts(&c); err == nil || c != [NumKernelReasons]uint64{} {
		t.Errorf("closed program: kernelCounts %v, %v; want an error and nothing added", c, err)
	}
}

// TestXDPAttachVeth attaches the program to one end of a veth pair in a
// new network namespace (native XDP) and to a bridge (no native XDP:
// generic), and checks closing the link detaches it.
// enterTestNetns locks the calling goroutine's thread into a new network
// namespace (named "vrx" + random hex, returned) for the rest of the test;
// the namespace is deleted at cleanup, and the thread leaves it (or, if it
// cannot, stays locked and is discarded with the goroutine).
func enterTestNetns(t *testing.T) string {
	t.Helper()
	var rnd [2]byte
	_, _ = rand.Read(rnd[:])
	name := "vrx" + hex.EncodeToString(rnd[:])
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		orig.Close()
	})
	ns, err := netns.NewNamed(name) // and switches the thread into it
	if err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	if cur, err := netns.Get(); err != nil || !cur.Equal(ns) {
		t.Fatalf("thread not in netns %s (%v)", name, err)
	} else {
		cur.Close()
	}
	return name
}

func TestXDPAttachVeth(t *testing.T) {
	p, err := loadXDPProgram(testXDPLocals(t, testLocals), 1)
	skipUnlessBPF(t, err)
	t.Cleanup(func() { p.Close() })

	name := enterTestNetns(t)

	attached := func(ifname string) *netlink.LinkXdp {
		t.Helper()
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			t.Fatal(err)
		}
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			return x
		}
		return nil
	}
	try := func(ifname, wantMode string, wantAttachMode uint32) {
		t.Helper()
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		lk, mode, err := p.attach(l.Attrs().Index)
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Close()
		if mode != wantMode {
			t.Errorf("%s: attached in %s mode, want %s", ifname, mode, wantMode)
		}
		x := attached(ifname)
		info, err := p.Prog.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		if x == nil || x.ProgId != uint32(id) || x.AttachMode != wantAttachMode {
			t.Errorf("%s: netlink shows XDP %+v, want program %d in attach mode %d", ifname, x, id, wantAttachMode)
		}
		if err := lk.Close(); err != nil {
			t.Fatal(err)
		}
		if x := attached(ifname); x != nil {
			t.Errorf("%s: XDP %+v still attached after closing the link", ifname, x)
		}
	}

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + "a"}, PeerName: name + "b"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	try(name+"a", "native", nl.XDP_ATTACHED_DRV)

	// A bridge has no native XDP.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name + "br"}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Logf("no bridge interface (%v): generic fallback not tested", err)
		return
	}
	try(name+"br", "generic", nl.XDP_ATTACHED_SKB)
}

// BenchmarkXDPProgram runs frames through the program in the kernel
// (BPF_PROG_TEST_RUN with repeat) and reports the kernel's time per run:
// a forwardable frame through the decider and through the real program
// (empty XSKMAP slot: redirect falls back to XDP_PASS), and frames the real
// program leaves to the kernel: one to a local address (every check and
// the locals lookup) and a multicast one (an early check).
func BenchmarkXDPProgram(b *testing.B) {
	locals := testXDPLocals(b, testLocals)
	fwd := pkt{dstMAC: macRouterIn, payload: 8}.bytes()
	bench := func(b *testing.B, prog *ebpf.Program, f []byte, want uint32) {
		ret, d, err := prog.Benchmark(f, b.N, nil)
		if err != nil {
			b.Fatal(err)
		}
		if ret != want {
			b.Fatalf("returns %d, want %d", ret, want)
		}
		b.ReportMetric(float64(d.Nanoseconds()), "ns/op")
	}
	real := func(b *testing.B) *ebpf.Program {
		p, err := loadXDPProgram(locals, 1)
		skipUnlessBPF(b, err)
		b.Cleanup(func() { p.Close() })
		return p.Prog
	}
	b.Run("decide", func(b *testing.B) {
		prog, _ := testXDPDecider(b, locals)
		bench(b, prog, fwd, xdpDrop)
	})
	b.Run("redirect-empty-slot", func(b *testing.B) { bench(b, real(b), fwd, xdpPass) })
	b.Run("pass-local", func(b *testing.B) {
		bench(b, real(b), pkt{dstMAC: macRouterIn, dst: testLocals[0].String()}.bytes(), xdpPass)
	})
	b.Run("pass-multicast", func(b *testing.B) {
		bench(b, real(b), pkt{dstMAC: macRouterIn, dst: "ff02::1"}.bytes(), xdpPass)
	})
}
