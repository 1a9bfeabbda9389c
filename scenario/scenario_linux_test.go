package scenario

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces (CI runs as root)")
	}
	for _, prog := range []string{"ip", "sysctl", "radvd", "ping", "traceroute"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%v: .ci/run installs iproute2, procps, radvd, iputils-ping, traceroute", err)
		}
	}
}

func newTestScenario(t *testing.T, opts Options) *Scenario {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.DumpString())
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		assertGone(t, s)
	})
	return s
}

func assertGone(t *testing.T, s *Scenario) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Errorf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), s.Prefix()) {
		t.Errorf("namespaces of %s left after Close:\n%s", s.Prefix(), out)
	}
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Errorf("working directory %s left after Close (%v)", s.Dir(), err)
	}
}

// TestHarnessWithRadvdStandIn checks the harness without vrouter: a second
// radvd plays the vRouter (the sysctls and the tenant address set by hand),
// and the kernels of the vRouter, VM1 and VM2 must converge on the
// addresses and routes the e2e tests expect, pass traffic, and drop the
// default route when radvd stops (its final RA has router lifetime 0).
func TestHarnessWithRadvdStandIn(t *testing.T) {
	requireRoot(t)
	ctx := t.Context()
	s := newTestScenario(t, Options{})
	if _, err := s.StartRadvd(ctx); err != nil {
		t.Fatal(err)
	}
	// What vrouter does: accept_ra=2 before forwarding=1 (turning
	// forwarding on purges default routes of accept_ra<2 interfaces), the
	// tenant address, RAs on eth1.
	if _, err := s.Exec(ctx, VRouter, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_ra=2",
		"net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Exec(ctx, VRouter, "ip", "addr", "add", VRouterEth1Addr.String(), "dev", IfEth1); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(s.Dir(), "standin.conf")
	rc := RadvdConfig{Interface: IfEth1, Prefix: TenantPrefix, MinInterval: 3 * time.Second, MaxInterval: 4 * time.Second, DefaultLifetime: 1800 * time.Second}
	if err := os.WriteFile(conf, []byte(rc.Render()), 0o644); err != nil {
		t.Fatal(err)
	}
	standIn, err := s.Start(ctx, VRouter, "radvd-standin", "radvd", "--nodaemon", "-C", conf,
		"-p", filepath.Join(s.Dir(), "standin.pid"), "-m", "stderr")
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		n    Node
		addr netip.Prefix
	}{{VM1, VM1Addr}, {VM2, VM2Addr}} {
		if err := s.WaitAddr(ctx, c.n, IfEth0, c.addr, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s has %v %v after the stand-in started", c.n.Title(), c.addr, time.Since(standIn.Started()).Round(time.Millisecond))
		if err := s.WaitDefaultRoute(ctx, c.n, IfEth0, VRouterEth1LL, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		addrs, err := s.GlobalAddrs(c.n, IfEth0)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 1 || addrs[0].Prefix != c.addr {
			t.Errorf("%s global addresses = %v, want exactly %v", c.n.Title(), addrs, c.addr)
		}
	}
	if err := s.WaitAddr(ctx, VRouter, IfEth0, VRouterEth0Addr, 2*DefaultRadvdMaxInterval+5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDefaultRoute(ctx, VRouter, IfEth0, UpstreamLL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := s.Ping(ctx, VM1, UpstreamAddr.Addr(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Transmitted != 3 || res.Received != 3 || res.Summary == "" {
		t.Errorf("ping result = %+v", res)
	}
	hops, out, err := s.Traceroute(ctx, VM1, UpstreamAddr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) < 2 || hops[0] != VRouterEth1Addr.Addr() || hops[len(hops)-1] != UpstreamAddr.Addr() {
		t.Errorf("traceroute hops = %v, want [%v ... %v]:\n%s", hops, VRouterEth1Addr.Addr(), UpstreamAddr.Addr(), out)
	}

	if code, err := standIn.Stop(syscall.SIGTERM, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("stopping the stand-in: code %d, %v", code, err)
	}
	for _, n := range []Node{VM1, VM2} {
		if err := s.WaitNoDefaultRoute(ctx, n, VRouterEth1LL, 3*time.Second); err != nil {
			t.Error(err)
		}
	}
}

// TestLateLinks checks that the vRouter's links are absent until
// AttachVRouterLinks and then come up with their EUI-64 link-locals.
func TestLateLinks(t *testing.T) {
	requireRoot(t)
	ctx := t.Context()
	s := newTestScenario(t, Options{LateVRouterLinks: true})
	if _, err := s.Addrs(VRouter, IfEth0); err == nil {
		t.Fatal("vRouter eth0 exists before AttachVRouterLinks")
	}
	if err := s.AttachVRouterLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachVRouterLinks(ctx); err == nil {
		t.Error("second AttachVRouterLinks succeeded")
	}
	for ifname, ll := range map[string]netip.Addr{IfEth0: LinkLocal(MACVRouterEth0), IfEth1: VRouterEth1LL} {
		if err := s.WaitAddr(ctx, VRouter, ifname, netip.PrefixFrom(ll, 64), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The vRouter namespace's defaults apply to the moved links: accept_ra=0
	// until vrouter changes it.
	out, err := s.Exec(ctx, VRouter, "sysctl", "-n", "net.ipv6.conf.eth0.accept_ra")
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("vRouter eth0 accept_ra = %q, %v; want 0", out, err)
	}
}

// TestCloseKillsAndIsIdempotent checks that Close ends the processes,
// removes the namespaces, and can be called again.
func TestCloseKillsAndIsIdempotent(t *testing.T) {
	requireRoot(t)
	s, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Start(t.Context(), VM1, "sleeper", "sleep", "600")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Error("process still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	assertGone(t, s)
	if err := CloseAll(); err != nil {
		t.Errorf("CloseAll: %v", err)
	}
	liveMu.Lock()
	defer liveMu.Unlock()
	if slices.Contains(mapsKeys(live), s) {
		t.Error("closed scenario still registered")
	}
}

func mapsKeys(m map[*Scenario]struct{}) []*Scenario {
	var k []*Scenario
	for s := range m {
		k = append(k, s)
	}
	return k
}
