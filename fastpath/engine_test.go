package fastpath_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

var (
	macIn   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macOut  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	macA    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa0}
	macB    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb0}
	addrA   = netip.MustParseAddr("2001:db8:1::10")
	addrB   = netip.MustParseAddr("2001:db8:2::20")
	routerA = netip.MustParseAddr("2001:db8:1::1")
	routerB = netip.MustParseAddr("2001:db8:2::1")
)

// testEngine runs an engine with two channel ports: "in" (link 1, toward
// host A) and "out" (link 2, MTU 1400, toward host B).
type testEngine struct {
	e        *fastpath.Engine
	in, out  *fastpathtest.ChannelPort
	sys      *fastpathtest.System
	cancel   context.CancelFunc
	done     chan error
	stopOnce bool
}

func startEngine(t *testing.T, opts ...fastpath.Option) *testEngine {
	t.Helper()
	checkGoroutineLeaks(t)
	in, out := fastpathtest.NewChannelPort(64), fastpathtest.NewChannelPort(64)
	sys := &fastpathtest.System{
		Interfaces: map[string]fastpathtest.Interface{
			"in":  {Link: fastpath.Link{Index: 1, Name: "in", MAC: macIn, MTU: 1500}, Port: in},
			"out": {Link: fastpath.Link{Index: 2, Name: "out", MAC: macOut, MTU: 1400}, Port: out},
		},
		Resolve: make(chan fastpath.NeighbourRef, 8),
		Setup: func(t *fastpath.Tables) {
			mp := netip.MustParsePrefix
			t.SetRoute(fastpath.Route{Prefix: mp("2001:db8:1::/64"), Link: 1})
			t.SetRoute(fastpath.Route{Prefix: mp("2001:db8:2::/64"), Link: 2})
			t.SetRoute(fastpath.Route{Prefix: mp("2001:db8:99::/48"), Link: 2, Gateway: netip.MustParseAddr("2001:db8:2::99")})
			t.SetRoute(fastpath.Route{Prefix: mp("2001:db8:dead::/48"), Type: fastpath.RouteProhibit})
			t.SetRoute(fastpath.Route{Prefix: mp("2001:db8:77::/48"), Link: 77})
			t.SetNeighbour(1, addrA, macA)
			t.SetNeighbour(2, addrB, macB)
			t.SetLocal(routerA, true)
			t.SetLocal(routerB, true)
			t.SetAddress(1, routerA, true)
			t.SetAddress(1, netip.MustParseAddr("fe80::1"), true)
			t.SetAddress(2, routerB, true)
		},
	}
	e, err := fastpath.New(config.Fastpath{Enabled: true, Interfaces: []string{"in", "out"}}, nil, append([]fastpath.Option{fastpath.WithSystem(sys)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	te := &testEngine{e: e, in: in, out: out, sys: sys, cancel: cancel, done: make(chan error, 1)}
	go func() { te.done <- e.Run(ctx) }()
	t.Cleanup(func() { te.stop(t) })
	return te
}

func (te *testEngine) stop(t *testing.T) {
	if te.stopOnce {
		return
	}
	te.stopOnce = true
	te.cancel()
	select {
	case err := <-te.done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func recv(t *testing.T, c <-chan []byte) []byte {
	t.Helper()
	select {
	case f := <-c:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
		return nil
	}
}

// checkICMPError checks that f is an ICMPv6 error of type typ, code code,
// from the router (routerA, macIn) to host A, with a correct checksum, and
// returns the message.
func checkICMPError(t *testing.T, f []byte, typ ipv6.ICMPType, code int) *icmp.Message {
	t.Helper()
	if [6]byte(f[0:6]) != [6]byte(macA) || [6]byte(f[6:12]) != [6]byte(macIn) {
		t.Errorf("error frame MACs %x → %x", f[6:12], f[0:6])
	}
	hdr, err := ipv6.ParseHeader(f[14:])
	if err != nil {
		t.Fatal(err)
	}
	if netip.MustParseAddr(hdr.Src.String()) != routerA || netip.MustParseAddr(hdr.Dst.String()) != addrA {
		t.Errorf("error from %s to %s, want %s to %s", hdr.Src, hdr.Dst, routerA, addrA)
	}
	body := f[14+40:]
	if !checksumOK(hdr.Src, hdr.Dst, body) {
		t.Errorf("bad ICMPv6 checksum")
	}
	m, err := icmp.ParseMessage(58, body)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != typ || m.Code != code {
		t.Errorf("got ICMPv6 %v code %d, want %v code %d", m.Type, m.Code, typ, code)
	}
	return m
}

func expectNone(t *testing.T, c <-chan []byte) {
	t.Helper()
	select {
	case f := <-c:
		t.Fatalf("unexpected frame %x", f)
	case <-time.After(50 * time.Millisecond):
	}
}

// waitStats polls until the engine has received n frames.
func waitStats(t *testing.T, e *fastpath.Engine, n uint64) fastpath.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := e.Stats()
		if s.Received >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine received %d frames, want %d", s.Received, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEngineForwards(t *testing.T) {
	te := startEngine(t)
	payload := []byte("hello, fast path")
	f := fastpathtest.UDPFrame(macIn, macA, addrA, addrB, 64, payload)
	te.in.Inbound <- f

	got := recv(t, te.out.Outbound)
	want := bytes.Clone(f)
	copy(want[0:6], macB)
	copy(want[6:12], macOut)
	want[14+7] = 63
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("forwarded frame (-want +got):\n%s", diff)
	}

	// And back (other worker, other port).
	back := fastpathtest.UDPFrame(macOut, macB, addrB, addrA, 2, payload)
	te.out.Inbound <- back
	got = recv(t, te.in.Outbound)
	if [6]byte(got[0:6]) != [6]byte(macA) || got[14+7] != 1 {
		t.Errorf("return frame: dst %x hop %d", got[0:6], got[14+7])
	}
	s := waitStats(t, te.e, 2)
	if s.Forwarded != 2 {
		t.Errorf("Forwarded = %d, want 2", s.Forwarded)
	}
}

func TestEngineSlowPathAndErrors(t *testing.T) {
	te := startEngine(t)
	small := []byte("x")
	big := make([]byte, 1400) // 1448-byte packet > MTU 1400 of "out"
	mc := netip.MustParseAddr("ff02::1")
	frames := []struct {
		name  string
		frame []byte
	}{
		{"hop limit 1", fastpathtest.UDPFrame(macIn, macA, addrA, addrB, 1, small)},
		{"local", fastpathtest.UDPFrame(macIn, macA, addrA, routerA, 64, small)},
		{"local on other link", fastpathtest.UDPFrame(macIn, macA, addrA, routerB, 64, small)},
		{"multicast", fastpathtest.UDPFrame(macIn, macA, addrA, mc, 64, small)},
		{"truncated", fastpathtest.UDPFrame(macIn, macA, addrA, addrB, 64, small)[:30]},
		{"no neighbour", fastpathtest.UDPFrame(macIn, macA, addrA, netip.MustParseAddr("2001:db8:99::1"), 64, small)},
		{"not owned", fastpathtest.UDPFrame(macIn, macA, addrA, netip.MustParseAddr("2001:db8:77::1"), 64, small)},
		{"too big", fastpathtest.UDPFrame(macIn, macA, addrA, addrB, 64, big)},
		{"no route", fastpathtest.UDPFrame(macIn, macA, addrA, netip.MustParseAddr("3fff::1"), 64, small)},
		{"prohibited", fastpathtest.UDPFrame(macIn, macA, addrA, netip.MustParseAddr("2001:db8:dead::1"), 64, small)},
	}
	for _, f := range frames {
		te.in.Inbound <- f.frame
	}
	s := waitStats(t, te.e, uint64(len(frames)))

	var want fastpath.Stats
	want.Received = uint64(len(frames))
	want.ToKernel[fastpath.KernelHopLimit] = 1
	want.ToKernel[fastpath.KernelLocal] = 2
	want.ToKernel[fastpath.KernelMulticast] = 1
	want.ToKernel[fastpath.KernelTruncated] = 1
	want.Queued, want.Pending = 1, 1 // held while the kernel resolves 2001:db8:2::99
	want.Dropped[fastpath.DropNotOwned] = 1
	want.Dropped[fastpath.DropTooBig] = 1
	want.Dropped[fastpath.DropNoRoute] = 1
	want.Dropped[fastpath.DropReject] = 1
	want.PacketTooBig = 1
	want.Unreachable = 2
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}

	// Nothing forwarded; three ICMPv6 errors back to host A, in order.
	expectNone(t, te.out.Outbound)
	for _, w := range []struct {
		typ   ipv6.ICMPType
		code  int
		check func(icmp.MessageBody)
	}{
		{ipv6.ICMPTypePacketTooBig, 0, func(b icmp.MessageBody) {
			if ptb := b.(*icmp.PacketTooBig); ptb.MTU != 1400 {
				t.Errorf("PTB MTU = %d, want 1400", ptb.MTU)
			}
		}},
		{ipv6.ICMPTypeDestinationUnreachable, 0, nil},
		{ipv6.ICMPTypeDestinationUnreachable, 1, nil},
	} {
		m := checkICMPError(t, recv(t, te.in.Outbound), w.typ, w.code)
		if w.check != nil {
			w.check(m.Body)
		}
	}

	select {
	case r := <-te.sys.Resolve:
		if r.Link != 2 || r.Addr != netip.MustParseAddr("2001:db8:2::99") {
			t.Errorf("resolve %+v, want link 2 2001:db8:2::99", r)
		}
	case <-time.After(5 * time.Second):
		t.Error("no neighbour resolution requested")
	}
}

func checksumOK(src, dst net.IP, msg []byte) bool {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src.To16())
	add(dst.To16())
	sum += uint32(len(msg)) + 58
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

func TestEngineICMPRateLimit(t *testing.T) {
	// A frozen clock: no tokens come back during the test, however slowly
	// a loaded machine runs it.
	t0 := time.Unix(1_700_000_000, 0)
	te := startEngine(t, fastpath.WithClock(func() time.Time { return t0 }))
	// 200 no-route packets: the default burst of 50 errors, no more.
	for range 200 {
		te.in.Inbound <- fastpathtest.UDPFrame(macIn, macA, addrA, netip.MustParseAddr("3fff::1"), 64, nil)
	}
	s := waitStats(t, te.e, 200)
	if s.Unreachable != 50 || s.ICMPRateLimited != 150 {
		t.Errorf("Unreachable %d, rate limited %d; want 50 sent and 150 limited", s.Unreachable, s.ICMPRateLimited)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	sys := &fastpathtest.System{}
	for _, cfg := range []config.Fastpath{
		{Enabled: true},
		{Enabled: true, Interfaces: []string{"eth0", "eth0"}},
		{Enabled: true, Interfaces: []string{"a-name-that-is-too-long"}},
		{Enabled: true, Interfaces: []string{"eth0"}, CPUs: []int{-1}},
	} {
		if _, err := fastpath.New(cfg, nil, fastpath.WithSystem(sys)); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestRunFailsOnMissingInterface(t *testing.T) {
	checkGoroutineLeaks(t)
	sys := &fastpathtest.System{Interfaces: map[string]fastpathtest.Interface{}}
	e, err := fastpath.New(config.Fastpath{Interfaces: []string{"nope"}}, nil, fastpath.WithSystem(sys))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background()); err == nil {
		t.Error("Run succeeded without the interface")
	}
}

// checkGoroutineLeaks fails the test when goroutines started during it are
// still running at its end (after a bounded grace period).
func checkGoroutineLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// runInOut runs an engine until the test ends on the ports in (index 1,
// 2001:db8:1::/64, neighbour addrA) and out (index 2, 2001:db8:2::/64,
// neighbour addrB).
func runInOut(t *testing.T, in, out fastpath.Port) {
	t.Helper()
	sys := &fastpathtest.System{
		Interfaces: map[string]fastpathtest.Interface{
			"in":  {Link: fastpath.Link{Index: 1, Name: "in", MAC: macIn, MTU: 1500}, Port: in},
			"out": {Link: fastpath.Link{Index: 2, Name: "out", MAC: macOut, MTU: 1500}, Port: out},
		},
		Resolve: make(chan fastpath.NeighbourRef, 8),
		Setup: func(t *fastpath.Tables) {
			t.SetRoute(fastpath.Route{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), Link: 1})
			t.SetRoute(fastpath.Route{Prefix: netip.MustParsePrefix("2001:db8:2::/64"), Link: 2})
			t.SetNeighbour(1, addrA, macA)
			t.SetNeighbour(2, addrB, macB)
		},
	}
	e, err := fastpath.New(config.Fastpath{Enabled: true, Interfaces: []string{"in", "out"}}, nil, fastpath.WithSystem(sys))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestEngineMultiQueue: with ports of several receive queues the engine
// reads each queue with a worker of its own, which sends on its own queue
// of the egress port (modulo the egress port's queues).
func TestEngineMultiQueue(t *testing.T) {
	checkGoroutineLeaks(t)
	in, out := fastpathtest.NewMultiQueuePort(3, 16), fastpathtest.NewMultiQueuePort(2, 16)
	runInOut(t, in, out)
	for q, wantQ := range []int{0, 1, 0} { // 3 ingress queues onto 2 egress queues
		payload := []byte{byte(q)}
		in.Q[q].Inbound <- fastpathtest.UDPFrame(macIn, macA, addrA, addrB, 64, payload)
		got := recv(t, out.Q[wantQ].Outbound)
		if p := got[len(got)-1]; int(p) != q {
			t.Errorf("egress queue %d got the frame of ingress queue %d, want that of queue %d", wantQ, p, q)
		}
	}
	// And back: egress queue 1 sends on ingress queue 1.
	out.Q[1].Inbound <- fastpathtest.UDPFrame(macOut, macB, addrB, addrA, 64, []byte{9})
	if got := recv(t, in.Q[1].Outbound); got[len(got)-1] != 9 {
		t.Errorf("return frame %x", got)
	}
	for q, p := range append(in.Q, out.Q...) {
		if len(p.Outbound) != 0 {
			t.Errorf("queue %d has %d more frames", q, len(p.Outbound))
		}
	}
}

// TestEngineReceiveOnlyQueues: an egress port whose last queues only
// receive (TxQueues 2 of 4, as the AF_XDP port of a virtio-net whose XDP
// queue pairs receive too) gets the frames of the workers of every ingress
// queue on its first two queues, modulo 2; a worker of a receive-only
// queue answers on a queue of its own port that sends.
func TestEngineReceiveOnlyQueues(t *testing.T) {
	checkGoroutineLeaks(t)
	in, out := fastpathtest.NewMultiQueuePort(4, 16), fastpathtest.NewMultiQueuePort(4, 16)
	in.TX, out.TX = 2, 2
	runInOut(t, in, out)
	for q, wantQ := range []int{0, 1, 0, 1} {
		in.Q[q].Inbound <- fastpathtest.UDPFrame(macIn, macA, addrA, addrB, 64, []byte{byte(q)})
		got := recv(t, out.Q[wantQ].Outbound)
		if p := got[len(got)-1]; int(p) != q {
			t.Errorf("egress queue %d got the frame of ingress queue %d, want that of queue %d", wantQ, p, q)
		}
	}
	// Back from receive-only queue 3: sent on queue 1 of the ingress port.
	out.Q[3].Inbound <- fastpathtest.UDPFrame(macOut, macB, addrB, addrA, 64, []byte{9})
	if got := recv(t, in.Q[1].Outbound); got[len(got)-1] != 9 {
		t.Errorf("return frame %x", got)
	}
	for q, p := range append(in.Q, out.Q...) {
		if len(p.Outbound) != 0 {
			t.Errorf("queue %d has %d more frames", q, len(p.Outbound))
		}
	}
}
