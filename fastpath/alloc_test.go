package fastpath

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// sinkPort is a Port that accepts every write without copying; it counts
// frames so the test can check they went somewhere.
type sinkPort struct{ written int }

func (p *sinkPort) Read([][]byte, []int) (int, error) { return 0, net.ErrClosed }
func (p *sinkPort) Write(b [][]byte) (int, error)     { p.written += len(b); return len(b), nil }
func (p *sinkPort) Close() error                      { return nil }

func testWorker(tb testing.TB) (*worker, *sinkPort, *sinkPort) {
	e := &Engine{batch: 64, now: time.Now, icmpRate: 1 << 30, icmpBurst: 1 << 30, tables: NewTables()}
	t := e.tables
	t.SetLink(Link{Index: 1, Name: "in", MAC: net.HardwareAddr(macRouterIn[:]), MTU: 1500})
	t.SetLink(Link{Index: 2, Name: "out", MAC: net.HardwareAddr(macRouterOut[:]), MTU: 1400})
	t.SetAddress(1, netip.MustParseAddr("2001:db8:1::1"), true)
	t.SetRoute(Route{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), Link: 1})
	t.SetRoute(Route{Prefix: netip.MustParsePrefix("2001:db8:2::/64"), Link: 2})
	t.SetRoute(Route{Prefix: netip.MustParsePrefix("::/0"), Link: 2, Gateway: netip.MustParseAddr("2001:db8:2::fe")})
	for i := range 10 {
		t.SetRoute(Route{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x10, byte(i)}), 40+i), Link: 2})
	}
	t.SetNeighbour(2, netip.MustParseAddr("2001:db8:2::20"), net.HardwareAddr(macHostB[:]))
	t.SetNeighbour(2, netip.MustParseAddr("2001:db8:2::fe"), net.HardwareAddr(macHostB[:]))
	t.SetLocal(netip.MustParseAddr("2001:db8:1::1"), true)
	t.Commit()
	e.pending = newPendingQueue(DefaultPendingPerNeighbour, DefaultPendingTotal, ethLen+1500, time.Hour, e.now, newRateLimiter(e.now, 1000, 50))
	in, out := &sinkPort{}, &sinkPort{}
	ports := []*portRef{
		newPortRef(in, Link{Index: 1, Name: "in"}),
		newPortRef(out, Link{Index: 2, Name: "out"}),
	}
	return newWorker(e, 0, 0, ports, make(chan NeighbourRef, 1)), in, out
}

// TestZeroAllocsPerPacket: a batch with forwarded frames, frames for the
// kernel, drops and ICMPv6 errors allocates nothing.
func TestZeroAllocsPerPacket(t *testing.T) {
	w, in, out := testWorker(t)
	frames := [][]byte{
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, payload: 18}.bytes(),                        // forward
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, dst: "2001:db8:77::1", payload: 18}.bytes(), // default route via gateway
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, hop: 1}.bytes(),                             // kernel
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, dst: "2001:db8:1::1"}.bytes(),               // local
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, payload: 1400}.bytes(),                      // Packet Too Big
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, dst: "2001:db8:2::99", payload: 10}.bytes(), // no neighbour
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, next: protoFragment}.bytes(),                // fragment
		pkt{dstMAC: macRouterIn, srcMAC: macHostA, payload: 18, payLenDelta: 100}.bytes(),      // bad length
	}
	fill := func() int {
		for i := range 64 {
			f := frames[i%len(frames)]
			w.sizes[i] = len(f)
			copy(w.bufs[i], f)
		}
		return 64
	}
	w.batch(fill()) // warm up
	allocs := testing.AllocsPerRun(200, func() { w.batch(fill()) })
	if allocs != 0 {
		t.Errorf("%v allocations per batch of 64, want 0", allocs)
	}
	if out.written == 0 || in.written == 0 {
		t.Errorf("written: out %d, in (ICMP) %d; want both > 0", out.written, in.written)
	}
	s := w.shared
	if s.forwarded == 0 || s.ptb == 0 || s.toKernel[KernelHopLimit] == 0 || s.queued == 0 || s.dropped[DropPendingFull] == 0 {
		t.Errorf("counters %+v do not cover every path", s)
	}
}

// TestZeroAllocsPending: holding frames for an unresolved neighbour,
// flushing them when it resolves, and expiring them allocate nothing.
func TestZeroAllocsPending(t *testing.T) {
	w, _, out := testWorker(t)
	q := w.e.pending
	unresolved := pkt{dstMAC: macRouterIn, srcMAC: macHostA, dst: "2001:db8:2::99", payload: 10}.bytes()
	key := neighKey{2, netip.MustParseAddr("2001:db8:2::99").As16()}
	resolved := NewTables()
	resolved.SetLink(Link{Index: 2, Name: "out", MAC: net.HardwareAddr(macRouterOut[:]), MTU: 1400})
	resolved.SetNeighbour(2, netip.MustParseAddr("2001:db8:2::99"), net.HardwareAddr(macHostB[:]))
	resolved.Commit()
	rs := resolved.cur.Load()
	nb := rs.neigh[key]
	clk := time.Unix(0, 0)
	q.now = func() time.Time { return clk }
	round := func() {
		for i := range 8 {
			w.sizes[i] = len(unresolved)
			copy(w.bufs[i], unresolved)
		}
		w.batch(8) // held
		q.flush(rs, key, nb, w.ports)
		w.batch(8) // held again
		clk = clk.Add(2 * time.Hour)
		if n := q.service(w.e.tables.cur.Load(), w.ports); n != 0 {
			t.Fatalf("%d frames still held after the timeout", n)
		}
	}
	round()
	before := out.written
	allocs := testing.AllocsPerRun(100, round)
	if allocs != 0 {
		t.Errorf("%v allocations per round, want 0", allocs)
	}
	if out.written-before != 101*8 {
		t.Errorf("flushed %d frames, want %d", out.written-before, 101*8)
	}
	if got := q.c.dropped[DropPendingExpired]; got != 102*8 {
		t.Errorf("expired %d frames, want %d", got, 102*8)
	}
}

// BenchmarkForward is the userspace cost per forwarded packet (classify,
// LPM, neighbour, rewrite, counters), batches of 64, I/O excluded.
func BenchmarkForward(b *testing.B) {
	w, _, _ := testWorker(b)
	f := pkt{dstMAC: macRouterIn, srcMAC: macHostA, payload: 18}.bytes()
	b.ReportAllocs()
	for b.Loop() {
		for i := range 64 {
			w.sizes[i] = len(f)
			copy(w.bufs[i], f)
		}
		w.batch(64)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/pkt")
}
