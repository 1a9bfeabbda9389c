package fastpath

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// testMTU is the interface MTU of the ingress program tests: longer
// frames go to the kernel (see TestIngressProgramOversize).
const testMTU = 9000

var testLocals = []netip.Addr{
	netip.MustParseAddr("2001:db8:2::1"),
	netip.MustParseAddr("2001:db8:1::1"),
	netip.MustParseAddr("2001:db8:2::"), // subnet-router anycast
}

func ingressVM(tb testing.TB, locals []netip.Addr) *bpf.VM {
	tb.Helper()
	vm, err := bpf.NewVM(IngressProgram(locals, ethLen+testMTU))
	if err != nil {
		tb.Fatal(err)
	}
	return vm
}

func localSetOf(addrs []netip.Addr) localAddrs {
	l := localAddrs{}
	for _, a := range addrs {
		l[a.As16()] = struct{}{}
	}
	return l
}

// checkIngressAgrees fails when the tc program and classify disagree about
// whether the kernel gets an IPv6 frame: a frame both take is forwarded
// twice, a frame neither takes is lost.
func checkIngressAgrees(t *testing.T, vm *bpf.VM, local localAddrs, frame []byte) {
	t.Helper()
	if len(frame) < 14 || binary.BigEndian.Uint16(frame[12:]) != etherTypeIP6 {
		return // the filter is only attached for protocol ipv6
	}
	act, err := vm.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	c := classify(frame, len(frame), &macRouterIn, local)
	if kernel := act == tcActOK; kernel != (c.Action == ActionKernel) {
		t.Fatalf("tc program returns %d, classify %+v for %x", act, c, frame[:min(len(frame), minFrame)])
	}
}

// classifierSeeds are frames for the tests that check a kernel-side claim
// program against classify: one per decision classify makes.
func classifierSeeds() [][]byte {
	return [][]byte{
		pkt{dstMAC: macRouterIn, payload: 8}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "2001:db8:2::1"}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "2001:db8:2::"}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "2001:db8:2::2"}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "ff02::1"}.bytes(),
		pkt{dstMAC: macRouterIn, dst: "fe80::1"}.bytes(),
		pkt{dstMAC: macRouterIn, src: "fe80::1"}.bytes(),
		pkt{dstMAC: macRouterIn, hop: 1}.bytes(),
		pkt{dstMAC: macRouterIn, hop: 2}.bytes(),
		pkt{dstMAC: macRouterIn, next: protoFragment}.bytes(),
		pkt{dstMAC: macRouterIn, next: protoTCP}.bytes(),
		pkt{dstMAC: macRouterIn, next: protoICMPv6}.bytes(),
		pkt{dstMAC: macRouterIn, version: 4}.bytes(),
		pkt{dstMAC: macHostB}.bytes(),
		pkt{dstMAC: macRouterIn, payLenDelta: 9}.bytes(),
	}
}

// mutateHeader returns a copy of seed with one to three of the IPv6 header
// bytes changed (random, one bit flipped, or a value the classifiers test
// for), and now and then a byte of the EtherType.
func mutateHeader(rng *rand.Rand, seed []byte) []byte {
	f := append([]byte(nil), seed...)
	for range 1 + rng.IntN(3) {
		i := 14 + rng.IntN(40)
		if rng.IntN(64) == 0 {
			i = offEthType + rng.IntN(2)
		}
		switch rng.IntN(3) {
		case 0:
			f[i] = byte(rng.Uint32())
		case 1:
			f[i] ^= 1 << rng.IntN(8)
		default:
			f[i] = []byte{0, 1, 2, 6, 17, 44, 58, 0x60, 0x80, 0xc0, 0xfe, 0xff, 0x86, 0xdd}[rng.IntN(14)]
		}
	}
	return f
}

func TestIngressProgramMatchesClassify(t *testing.T) {
	vm := ingressVM(t, testLocals)
	local := localSetOf(testLocals)
	rng := rand.New(rand.NewPCG(3, 4))
	seeds := classifierSeeds()
	for _, s := range seeds {
		checkIngressAgrees(t, vm, local, s)
		for cut := 0; cut <= len(s); cut++ {
			checkIngressAgrees(t, vm, local, s[:cut])
		}
	}
	// Random mutations of the header bytes that matter.
	for range 200000 {
		f := mutateHeader(rng, seeds[rng.IntN(len(seeds))])
		checkIngressAgrees(t, vm, local, f)
	}
}

func TestIngressProgramManyLocals(t *testing.T) {
	// More locals than an 8-bit jump could skip: the program must still
	// assemble and match the last one.
	var locals []netip.Addr
	for i := range 300 {
		locals = append(locals, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 9, 15: byte(i), 14: byte(i >> 8)}))
	}
	if _, err := bpf.Assemble(IngressProgram(locals, ethLen+testMTU)); err != nil {
		t.Fatal(err)
	}
	vm := ingressVM(t, locals)
	for _, a := range []netip.Addr{locals[0], locals[299]} {
		f := pkt{dstMAC: macRouterIn, dst: a.String()}.bytes()
		if act, _ := vm.Run(f); act != tcActOK {
			t.Errorf("local %s: action %d, want pass", a, act)
		}
	}
	f := pkt{dstMAC: macRouterIn, dst: "2001:db8:0:9::ffff"}.bytes()
	if act, _ := vm.Run(f); act != tcActShot {
		t.Errorf("non-local: action %d, want drop", act)
	}
}

// TestIngressProgramOversize: a frame longer than the interface's MTU (a
// GRO- or TSO-merged skb) goes to the kernel, which segments it; a frame of
// exactly the MTU is the fast path's.
func TestIngressProgramOversize(t *testing.T) {
	const mtu = 1500
	vm, err := bpf.NewVM(IngressProgram(testLocals, ethLen+mtu))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		payload int
		want    int
	}{
		{mtu - ipv6HdrLen, tcActShot},
		{mtu - ipv6HdrLen + 1, tcActOK},
		{65000, tcActOK},
	} {
		f := pkt{dstMAC: macRouterIn, payload: tc.payload}.bytes()
		if act, err := vm.Run(f); err != nil || act != tc.want {
			t.Errorf("%d-byte frame: action %d (%v), want %d", len(f), act, err, tc.want)
		}
	}
}
