package fastpath_test

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// Hosts on link 2 ("out") that have no neighbour entry when the engine
// starts.
var (
	addrC = netip.MustParseAddr("2001:db8:2::30")
	addrD = netip.MustParseAddr("2001:db8:2::40")
	macC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xc0}
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// waitFor polls the engine's counters until cond holds (5 s at most).
func waitFor(t *testing.T, e *fastpath.Engine, what string, cond func(fastpath.Stats) bool) fastpath.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := e.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats %+v", what, s)
		}
		time.Sleep(time.Millisecond)
	}
}

// numbered returns a frame from host A to dst whose payload is i.
func numbered(dst netip.Addr, i int) []byte {
	return fastpathtest.UDPFrame(macIn, macA, addrA, dst, 64, []byte{byte(i), 'p', 'e', 'n', 'd'})
}

// TestPendingHoldsUntilResolved: the first frames to a next hop the kernel
// has not resolved are held, not lost, and leave in order, rewritten, once
// the neighbour appears in the tables; later frames go straight through.
func TestPendingHoldsUntilResolved(t *testing.T) {
	te := startEngine(t)
	const n = 5
	for i := range n {
		te.in.Inbound <- numbered(addrC, i)
	}
	// Pending is the queue's length now; Queued is published with the
	// rest of a worker's counters when its batch ends, a moment later.
	s := waitFor(t, te.e, "5 frames held and counted", func(s fastpath.Stats) bool { return s.Pending == n && s.Queued == n })
	if s.Forwarded != 0 {
		t.Errorf("before resolution: forwarded %d; want 0", s.Forwarded)
	}
	expectNone(t, te.out.Outbound)
	select {
	case r := <-te.sys.Resolve:
		if r != (fastpath.NeighbourRef{Link: 2, Addr: addrC}) {
			t.Errorf("resolution request %+v, want link 2 %v", r, addrC)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no resolution requested")
	}

	// The kernel resolves the neighbour; no further frame arrives.
	tab := te.e.Tables()
	tab.SetNeighbour(2, addrC, macC)
	tab.Commit()
	for i := range n {
		got := recv(t, te.out.Outbound)
		want := numbered(addrC, i)
		copy(want[0:6], macC)
		copy(want[6:12], macOut)
		want[14+7]--
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("held frame %d (-want +got):\n%s", i, diff)
		}
	}
	te.in.Inbound <- numbered(addrC, n)
	if got := recv(t, te.out.Outbound); got[len(got)-5] != n {
		t.Errorf("frame after resolution carries %d, want %d", got[len(got)-5], n)
	}
	s = waitFor(t, te.e, "all forwarded", func(s fastpath.Stats) bool { return s.Forwarded == n+1 })
	var want fastpath.Stats
	want.Received, want.Forwarded, want.Queued = n+1, n+1, n
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// TestPendingHeldFramesLeaveFirst: a new frame to a neighbour that arrives
// as the neighbour is resolved leaves after the held ones. Whichever gets
// there first — the worker reading the new frame with the new tables, or
// the pending loop woken by the commit — the order holds; 20 rounds
// exercise both interleavings.
func TestPendingHeldFramesLeaveFirst(t *testing.T) {
	for round := range 20 {
		te := startEngine(t)
		for i := range 3 {
			te.in.Inbound <- numbered(addrC, i)
		}
		waitFor(t, te.e, "3 held", func(s fastpath.Stats) bool { return s.Pending == 3 })
		tab := te.e.Tables()
		tab.SetNeighbour(2, addrC, macC)
		tab.Commit()
		te.in.Inbound <- numbered(addrC, 3)
		for i := range 4 {
			if got := recv(t, te.out.Outbound); got[len(got)-5] != byte(i) {
				t.Fatalf("round %d: frame %d out carries %d: reordered", round, i, got[len(got)-5])
			}
		}
		te.stop(t)
	}
}

// TestPendingBounds: per neighbour and in total, frames beyond the bounds
// are dropped and counted as pending-full.
func TestPendingBounds(t *testing.T) {
	te := startEngine(t, fastpath.WithPendingQueue(2, 3, time.Hour))
	for i := range 3 {
		te.in.Inbound <- numbered(addrC, i) // 2 held, 1 over the per-neighbour bound
	}
	for i := range 2 {
		te.in.Inbound <- numbered(addrD, i) // 1 held, 1 over the total
	}
	s := waitFor(t, te.e, "5 received", func(s fastpath.Stats) bool { return s.Received == 5 })
	var want fastpath.Stats
	want.Received, want.Queued, want.Pending = 5, 3, 3
	want.Dropped[fastpath.DropPendingFull] = 2
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	// D resolves: its one frame leaves, C's stay.
	tab := te.e.Tables()
	tab.SetNeighbour(2, addrD, macB)
	tab.Commit()
	if got := recv(t, te.out.Outbound); !bytes.Equal(got[14+24:14+40], addrD.AsSlice()) || got[len(got)-5] != 0 {
		t.Errorf("flushed frame to %x carrying %d, want D's first", got[14+24:14+40], got[len(got)-5])
	}
	expectNone(t, te.out.Outbound)
	waitFor(t, te.e, "C's 2 frames still held", func(s fastpath.Stats) bool { return s.Pending == 2 && s.Forwarded == 1 })
}

// TestPendingExpires: frames whose neighbour is not resolved within the
// timeout are dropped as pending-expired and not sent when the neighbour
// shows up later; frames held at shutdown count as expired too.
func TestPendingExpires(t *testing.T) {
	clk := newFakeClock()
	te := startEngine(t, fastpath.WithClock(clk.Now), fastpath.WithPendingQueue(4, 8, time.Second))
	te.in.Inbound <- numbered(addrC, 0)
	te.in.Inbound <- numbered(addrC, 1)
	waitFor(t, te.e, "2 held", func(s fastpath.Stats) bool { return s.Pending == 2 })
	clk.Advance(999 * time.Millisecond)
	te.in.Inbound <- numbered(addrD, 0)
	waitFor(t, te.e, "3 held", func(s fastpath.Stats) bool { return s.Pending == 3 })
	clk.Advance(time.Millisecond) // C's frames are 1 s old, D's 1 ms
	s := waitFor(t, te.e, "C's frames expired", func(s fastpath.Stats) bool { return s.Dropped[fastpath.DropPendingExpired] == 2 })
	if s.Pending != 1 {
		t.Errorf("Pending = %d, want D's 1", s.Pending)
	}
	// Each expired frame: Address Unreachable back to its sender, quoting it
	// (RFC 4443 §3.1 code 3), as the kernel's neighbour queue does.
	for i := range 2 {
		m := checkICMPError(t, recv(t, te.in.Outbound), ipv6.ICMPTypeDestinationUnreachable, 3)
		if quoted := m.Body.(*icmp.DstUnreach).Data; !bytes.Equal(quoted, numbered(addrC, i)[14:]) {
			t.Errorf("quoted packet %x, want frame %d's", quoted, i)
		}
	}
	tab := te.e.Tables()
	tab.SetNeighbour(2, addrC, macC)
	tab.Commit()
	expectNone(t, te.out.Outbound)

	te.stop(t)
	s = te.e.Stats()
	var want fastpath.Stats
	want.Received, want.Queued = 3, 3
	want.Dropped[fastpath.DropPendingExpired] = 3
	want.Unreachable = 2 // not for D's frame, dropped because the engine stopped
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Stats after stop (-want +got):\n%s", diff)
	}
}

// TestPendingDisabled: without a queue the frame is dropped as before.
func TestPendingDisabled(t *testing.T) {
	te := startEngine(t, fastpath.WithPendingQueue(0, 0, 0))
	te.in.Inbound <- numbered(addrC, 0)
	s := waitFor(t, te.e, "1 received", func(s fastpath.Stats) bool { return s.Received == 1 })
	if s.Dropped[fastpath.DropNoNeighbour] != 1 || s.Queued != 0 {
		t.Errorf("Stats %+v, want 1 no-neighbour drop", s)
	}
}

func TestWithPendingQueueRejectsBadValues(t *testing.T) {
	sys := &fastpathtest.System{}
	for _, o := range [][3]int{{-1, 4, 1}, {4, -1, 1}, {0, 4, 1}, {4, 4, 0}} {
		_, err := fastpath.New(config.Fastpath{Enabled: true, Interfaces: []string{"in"}}, nil, fastpath.WithSystem(sys), fastpath.WithPendingQueue(o[0], o[1], time.Duration(o[2])*time.Second))
		if err == nil {
			t.Errorf("WithPendingQueue(%d, %d, %ds) accepted", o[0], o[1], o[2])
		}
	}
}
