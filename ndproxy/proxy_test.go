package ndproxy_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
	"github.com/vrouter/vrouter/ndproxy/ndproxytest"
)

var (
	upMAC    = ndproxy.MAC{0x02, 0, 0, 0, 0xc0, 0x01}
	downMAC  = ndproxy.MAC{0x02, 0, 0, 0, 0xd0, 0x01}
	peerMAC  = ndproxy.MAC{0x02, 0, 0, 0, 0, 0x01}
	routerLL = netip.MustParseAddr("fe80::1")
	c009     = netip.MustParseAddr("2001:db8::c009")
	pfx      = netip.MustParsePrefix("2001:db8::c008/125")
)

func eth0(index int) ndproxy.Link {
	return ndproxy.Link{Index: index, Name: "eth0", MAC: upMAC, LinkLocal: netip.MustParseAddr("fe80::c001"), Up: true}
}

func docker0(index int) ndproxy.Link {
	return ndproxy.Link{Index: index, Name: "docker0", MAC: downMAC, Up: true}
}

func recv(t *testing.T, ch <-chan *ndproxytest.Port) *ndproxytest.Port {
	t.Helper()
	synctest.Wait()
	select {
	case p := <-ch:
		return p
	default:
		t.Fatal("no port opened")
		return nil
	}
}

// exchange sends a NUD NS for target into port p and reports whether an NA
// came back.
func exchange(t *testing.T, p *ndproxytest.Port, target netip.Addr) bool {
	t.Helper()
	p.In <- ndproxytest.Frame{Data: ndwire.AppendNS(nil, routerLL, target, target, ndwire.NSOptions{}), MAC: peerMAC}
	synctest.Wait()
	select {
	case f := <-p.Out:
		na, why := ndwire.ParseNA(f.Data)
		return why == ndwire.OK && na.Target == target && f.MAC == peerMAC
	default:
		return false
	}
}

// run starts p.Run; the returned cancel stops it and done yields its result.
// A failing test still stops it, so the bubble ends cleanly.
func run(t *testing.T, p *ndproxy.Proxy) (context.CancelFunc, chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		synctest.Wait()
	})
	return cancel, done
}

func TestRunLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sys := ndproxytest.New()
		cfg := []config.NDProxy{{Upstream: "eth0", Downstream: "docker0", Prefix: pfx, Mode: config.NDProxyStatic}}
		p, err := ndproxy.New(cfg, slog.New(slog.DiscardHandler), ndproxy.WithSystem(sys))
		if err != nil {
			t.Fatal(err)
		}
		cancel, done := run(t, p)

		// Interfaces appear late.
		synctest.Wait()
		if st := p.Status(); st.Rules[0].Active {
			t.Fatal("active without interfaces")
		}
		sys.SetLink(eth0(2))
		sys.SetLink(docker0(3))
		up := recv(t, sys.Opened())
		if up.Ifindex != 2 {
			t.Fatalf("opened port on %d, want 2", up.Ifindex)
		}
		var want []string
		for i := 8; i < 16; i++ {
			want = append(want, "group ff02::1:ff00:c0"+string("0123456789abcdef"[i/16])+string("0123456789abcdef"[i%16])+" dev 2")
		}
		want = append(want, "route 2001:db8::c008/125 dev 3")
		if diff := cmp.Diff(want, sys.State()); diff != "" {
			t.Fatalf("installed (-want +got):\n%s", diff)
		}
		if !exchange(t, up, c009) {
			t.Fatal("no answer")
		}

		// docker0 re-created with a new index: session restarts.
		sys.DelLink("docker0")
		synctest.Wait()
		if st := p.Status(); st.Rules[0].Active || !up.Closed() {
			t.Fatal("still active with docker0 gone")
		}
		sys.SetLink(docker0(7))
		up = recv(t, sys.Opened())
		if !exchange(t, up, c009) {
			t.Fatal("no answer after docker0 came back")
		}
		if diff := cmp.Diff("route 2001:db8::c008/125 dev 7", sys.State()[8]); diff != "" {
			t.Fatalf("route (-want +got):\n%s", diff)
		}

		// Hot reload to another prefix.
		other := netip.MustParsePrefix("2001:db8::d000/127")
		p.Update([]config.NDProxy{{Upstream: "eth0", Downstream: "docker0", Prefix: other, Mode: config.NDProxyStatic}})
		up2 := recv(t, sys.Opened())
		if !up.Closed() {
			t.Fatal("old port still open after reload")
		}
		if exchange(t, up2, c009) {
			t.Fatal("answered for the old prefix")
		}
		if !exchange(t, up2, netip.MustParseAddr("2001:db8::d001")) {
			t.Fatal("no answer for the new prefix")
		}

		// Shutdown removes everything.
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if s := sys.State(); len(s) != 0 {
			t.Fatalf("left behind: %v", s)
		}
		if !up2.Closed() {
			t.Fatal("port left open")
		}
	})
}

func TestRunAuto(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sys := ndproxytest.New()
		sys.SetLink(eth0(2))
		sys.SetLink(docker0(3))
		sys.SetKernelRoute(pfx, 3)
		cfg := []config.NDProxy{{Upstream: "eth0", Downstream: "docker0", Prefix: pfx, Mode: config.NDProxyAuto}}
		p, err := ndproxy.New(cfg, nil, ndproxy.WithSystem(sys))
		if err != nil {
			t.Fatal(err)
		}
		cancel, done := run(t, p)
		up, down := recv(t, sys.Opened()), recv(t, sys.Opened())
		if up.Ifindex != 2 || down.Ifindex != 3 {
			t.Fatalf("ports on %d and %d", up.Ifindex, down.Ifindex)
		}
		// Nothing downstream yet: probe, no answer, negative.
		if exchange(t, up, c009) {
			t.Fatal("answered for a target nobody has")
		}
		if f := <-down.Out; f.MAC != ndwire.MulticastMAC(ndwire.SolicitedNode(c009)) {
			t.Fatalf("probe to %x", f.MAC)
		}
		time.Sleep(600 * time.Millisecond) // the probe times out (fake clock)
		// The container appears in the kernel table: learned within a
		// poll, announced upstream, answered.
		start := time.Now()
		sys.SetNeighbors(3, c009)
		synctest.Wait()
		f := <-up.Out
		if na, why := ndwire.ParseNA(f.Data); why != ndwire.OK || na.Solicited || na.Dst != netip.MustParseAddr("ff02::1") {
			t.Fatalf("unsolicited NA: %+v %v", na, why)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("learned after %v", time.Since(start))
		}
		if !exchange(t, up, c009) {
			t.Fatal("learned target not answered")
		}
		if got := p.Status().Rules[0].Targets; len(got) != 1 || got[0] != c009 {
			t.Fatalf("targets %v", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := sys.State(); len(s) != 0 {
			t.Fatalf("left behind: %v", s)
		}
	})
}

func TestNewRejects(t *testing.T) {
	for _, c := range []config.NDProxy{
		{Upstream: "eth0", Prefix: pfx},
		{Upstream: "eth0", Downstream: "eth0", Prefix: pfx},
		{Upstream: "eth0", Downstream: "docker0", Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		{Upstream: "eth0", Downstream: "docker0", Prefix: pfx, Mode: "sometimes"},
	} {
		if _, err := ndproxy.New([]config.NDProxy{c}, nil, ndproxy.WithSystem(ndproxytest.New())); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}
