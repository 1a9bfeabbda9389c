//go:build linux

// End-to-end tests of `vrouter run` in the reference scenario (DESIGN §1):
//
//	 netns <p>up                 netns <p>vr                          netns <p>sw            netns <p>vm1, <p>vm2
//	[ipv6-router]               [vRouter: vrouter run]               [switch]               [VM1]  [VM2]
//	 eth0 ====================== eth0                 eth1 ========== p-vr  br0  p-vm1 ===== eth0
//	 fa:16:3e:00:00:01           fa:16:3e:11:11:11    fa:16:3e:22:22:22           p-vm2 ===== eth0 (VM2)
//	 2001:db8:0:1::1/64          SLAAC 2001:db8:0:1:  2001:db8:0:2::1/64                     SLAAC 2001:db8:0:2:
//	 radvd: 2001:db8:0:1::/64      f816:3eff:fe11:1111  RA 2001:db8:0:2::/64                   f816:3eff:fe33:3333
//	 route 2001:db8:0:2::/64     accept_ra=2,         router lifetime 1800s                    (VM2 ...fe44:4444)
//	   via ...fe11:1111          forwarding=1                                                  default via
//	                                                                                           fe80::f816:3eff:fe22:2222
//
// Each test builds its own scenario with a random namespace prefix and
// removes it at the end (on failure too, after printing the diagnostics of
// every namespace and the logs of vrouter and radvd). Acceptance list:
//
//  1. vRouter eth0 gets 2001:db8:0:1:f816:3eff:fe11:1111/64 by SLAAC and a
//     default route via the ipv6-router's link-local; eth1 has
//     2001:db8:0:2::1/64 (TestReferenceScenario).
//  2. VM1 has exactly 2001:db8:0:2:f816:3eff:fe33:3333/64, VM2 ...fe44:4444/64,
//     both a default route via the vRouter's eth1 link-local
//     (TestReferenceScenario).
//  3. VM1 and VM2 ping 2001:db8:0:1::1 and each other; traceroute from VM1
//     shows 2001:db8:0:2::1 as the first hop (TestReferenceScenario).
//  4. vrouter started before its links exist converges once they appear
//     (TestLinksAppearAfterStart).
//  5. SIGTERM: the VMs drop the default route via the vRouter within
//     seconds (final RA with router lifetime 0) and vrouter exits 0
//     (TestSIGTERMWithdrawsDefaultRoute).
//  6. eth1 down and up: 2001:db8:0:2::1/64 comes back, the VMs keep their
//     default route (TestEth1DownUp).

package e2e

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/scenario"
)

var flagVRouter = flag.String("vrouter", "", "vrouter binary to test (default: build github.com/vrouter/vrouter/cmd/vrouter)")

var (
	vrouterBin string
	buildErr   error
)

// Bounds of the waits. The vRouter's eth0 learns its address from radvd's
// next unsolicited RA (vrouter turns accept_ra on while the link is up, so
// the kernel sends no RS): at most scenario.DefaultRadvdMaxInterval plus
// DAD. The VMs depend on vrouter's first RAs, which RFC 4861 §6.2.4 sends
// within MAX_INITIAL_RTR_ADVERT_INTERVAL (16s) of start.
const (
	upstreamSLAACTimeout = scenario.DefaultRadvdMaxInterval + 15*time.Second
	tenantSLAACTimeout   = 30 * time.Second
	shortTimeout         = 5 * time.Second
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Geteuid() != 0 {
		// Every test skips itself with the reason.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "vr-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	// go test's Ctrl-C would otherwise kill the test binary before any
	// t.Cleanup runs and leave the namespaces behind.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "e2e: %v: removing the scenarios\n", s)
		if err := scenario.CloseAll(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
		}
		os.RemoveAll(dir)
		os.Exit(130)
	}()
	vrouterBin, buildErr = buildVRouter(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildVRouter(dir string) (string, error) {
	if *flagVRouter != "" {
		return filepath.Abs(*flagVRouter)
	}
	// `go test` puts its own go first on PATH for the test binary.
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building vrouter: %w", err)
	}
	bin := filepath.Join(dir, "vrouter")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/vrouter/vrouter/cmd/vrouter")
	start := time.Now()
	if out, err := exec.Command(goBin, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s (race=%t) in %v\n", bin, raceEnabled, time.Since(start).Round(time.Millisecond))
	return bin, nil
}

// env is one test's scenario and processes.
type env struct {
	t     *testing.T
	s     *scenario.Scenario
	radvd *scenario.Proc
	vr    *scenario.Proc

	reported map[string]bool // problems checkVRouterOutput reported
}

// newEnv builds a scenario for t and registers its removal. On failure the
// cleanup prints the diagnostics first; in every case it fails the test if
// vrouter's output shows a data race or a panic.
func newEnv(t *testing.T, opts scenario.Options) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: end-to-end tests need root (network namespaces); CI runs them as root")
	}
	for _, prog := range []string{"ip", "sysctl", "radvd", "ping", "traceroute"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%v (.ci/run installs iproute2, procps, radvd, iputils-ping, traceroute)", err)
		}
	}
	if buildErr != nil {
		t.Fatalf("building vrouter: %v", buildErr)
	}
	opts.VRouterBin = vrouterBin
	opts.VRouterArgs = append(opts.VRouterArgs, "--log-level", "debug")
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := scenario.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, reported: map[string]bool{}}
	t.Cleanup(func() {
		e.checkVRouterOutput()
		// Dump while everything still runs: after SIGTERM the VMs have
		// already dropped their default routes.
		if t.Failed() {
			t.Log(s.DumpString())
		}
		if e.vr != nil && !e.vr.Exited() {
			if _, err := e.vr.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
				t.Errorf("stopping vrouter: %v", err)
			}
			if e.checkVRouterOutput() {
				t.Logf("vrouter output:\n%s", e.vr.Output())
			}
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// checkVRouterOutput fails the test if vrouter's output shows a data race
// (the binary is built with -race under go test -race) or a crash, and
// reports whether it did.
func (e *env) checkVRouterOutput() bool {
	if e.vr == nil {
		return false
	}
	out, bad := e.vr.Output(), false
	for _, s := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(out, s) && !e.reported[s] {
			e.t.Errorf("vrouter output contains %q", s)
			e.reported[s], bad = true, true
		}
	}
	return bad
}

// start runs radvd in the ipv6-router and vrouter in the vRouter.
func (e *env) start() {
	e.t.Helper()
	var err error
	if e.radvd, err = e.s.StartRadvd(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	if e.vr, err = e.s.StartVRouter(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

// waitVM1 waits for VM1's SLAAC address and logs how long after the start
// of `vrouter run` it was usable.
func (e *env) waitVM1() {
	e.t.Helper()
	if err := e.s.WaitAddr(e.t.Context(), scenario.VM1, scenario.IfEth0, scenario.VM1Addr, tenantSLAACTimeout); err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("measure: VM1 has %v %v after vrouter run started", scenario.VM1Addr,
		time.Since(e.vr.Started()).Round(time.Millisecond))
	if at := e.vr.ReadyAt(); !at.IsZero() {
		e.t.Logf("measure: vrouter sent READY=1 %v after start", at.Sub(e.vr.Started()).Round(time.Millisecond))
	} else {
		e.t.Logf("note: vrouter has sent no READY=1 on NOTIFY_SOCKET yet")
	}
}

// waitConverged waits until VM1 has its address (see waitVM1), the vRouter
// its upstream address and default route, and both VMs their default route
// via the vRouter: the state items 5 and 6 start from.
func (e *env) waitConverged() {
	e.t.Helper()
	e.waitVM1()
	ctx := e.t.Context()
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth0, scenario.VRouterEth0Addr, upstreamSLAACTimeout); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.WaitDefaultRoute(ctx, scenario.VRouter, scenario.IfEth0, scenario.UpstreamLL, shortTimeout); err != nil {
		e.t.Fatal(err)
	}
	for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
		if err := e.s.WaitDefaultRoute(ctx, vm, scenario.IfEth0, scenario.VRouterEth1LL, tenantSLAACTimeout); err != nil {
			e.t.Fatal(err)
		}
	}
}

// checkVRouter is acceptance item 1.
func (e *env) checkVRouter(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth1, scenario.VRouterEth1Addr, shortTimeout); err != nil {
		t.Error(err)
	}
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth0, scenario.VRouterEth0Addr, upstreamSLAACTimeout); err != nil {
		t.Fatal(err)
	}
	t.Logf("measure: vRouter eth0 has %v %v after vrouter run started", scenario.VRouterEth0Addr,
		time.Since(e.vr.Started()).Round(time.Millisecond))
	if err := e.s.WaitDefaultRoute(ctx, scenario.VRouter, scenario.IfEth0, scenario.UpstreamLL, shortTimeout); err != nil {
		t.Error(err)
	}
}

// checkVMs is acceptance item 2.
func (e *env) checkVMs(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	for _, vm := range []struct {
		node scenario.Node
		addr netip.Prefix
	}{{scenario.VM1, scenario.VM1Addr}, {scenario.VM2, scenario.VM2Addr}} {
		if err := e.s.WaitAddr(ctx, vm.node, scenario.IfEth0, vm.addr, tenantSLAACTimeout); err != nil {
			t.Error(err)
			continue
		}
		addrs, err := e.s.GlobalAddrs(vm.node, scenario.IfEth0)
		if err != nil {
			t.Error(err)
		} else if len(addrs) != 1 || addrs[0].Prefix != vm.addr {
			t.Errorf("%s eth0 global addresses = %v, want exactly %v", vm.node.Title(), addrs, vm.addr)
		}
		if err := e.s.WaitDefaultRoute(ctx, vm.node, scenario.IfEth0, scenario.VRouterEth1LL, shortTimeout); err != nil {
			t.Error(err)
			continue
		}
		routes, err := e.s.DefaultRoutes(vm.node)
		if err != nil {
			t.Error(err)
		} else if len(routes) != 1 {
			t.Errorf("%s default routes = %v, want only the one via %v", vm.node.Title(), routes, scenario.VRouterEth1LL)
		}
	}
}

func (e *env) ping(t *testing.T, from scenario.Node, to netip.Addr) {
	t.Helper()
	res, err := e.s.Ping(t.Context(), from, to, 3)
	if err != nil {
		t.Errorf("%v\n%s", err, res.Output)
		return
	}
	t.Logf("%s -> %v: %s", from.Title(), to, res.Summary)
}

// TestReferenceScenario covers acceptance items 1, 2 and 3 on one
// scenario, and measures the convergence times.
func TestReferenceScenario(t *testing.T) {
	e := newEnv(t, scenario.Options{})
	e.start()
	e.waitVM1()
	t.Run("1_vrouter_addresses_and_default_route", e.checkVRouter)
	t.Run("2_vm_slaac_and_default_route", e.checkVMs)
	t.Run("3_traffic", func(t *testing.T) {
		e.ping(t, scenario.VM1, scenario.UpstreamAddr.Addr())
		e.ping(t, scenario.VM2, scenario.UpstreamAddr.Addr())
		e.ping(t, scenario.VM1, scenario.VM2Addr.Addr())
		e.ping(t, scenario.VM2, scenario.VM1Addr.Addr())
		hops, out, err := e.s.Traceroute(t.Context(), scenario.VM1, scenario.UpstreamAddr.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if len(hops) == 0 || hops[0] != scenario.VRouterEth1Addr.Addr() {
			t.Errorf("traceroute first hop = %v, want %v:\n%s", hops, scenario.VRouterEth1Addr.Addr(), out)
		}
		if len(hops) == 0 || hops[len(hops)-1] != scenario.UpstreamAddr.Addr() {
			t.Errorf("traceroute did not reach %v:\n%s", scenario.UpstreamAddr.Addr(), out)
		}
		t.Logf("traceroute from VM1:\n%s", out)
	})
	if e.vr.Exited() {
		t.Errorf("vrouter exited during the test: %s", e.vr.Status())
	}
}

// TestLinksAppearAfterStart is acceptance item 4: vrouter starts while its
// eth0 and eth1 are still in another namespace; they are then moved in (a
// NIC hot-plug as the vRouter sees it) and set up.
func TestLinksAppearAfterStart(t *testing.T) {
	e := newEnv(t, scenario.Options{LateVRouterLinks: true})
	e.start()
	ctx := t.Context()
	// Give vrouter the chance to be fully up without its links; it may
	// also decide not to report ready before they exist, which is fine.
	if err := e.vr.Ready(ctx, 3*time.Second); err != nil {
		t.Logf("note: before the links exist: %v", err)
	}
	if e.vr.Exited() {
		t.Fatalf("vrouter exited before its links exist: %s\n%s", e.vr.Status(), e.vr.Output())
	}
	attached := time.Now()
	if err := e.s.AttachVRouterLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitAddr(ctx, scenario.VM1, scenario.IfEth0, scenario.VM1Addr, tenantSLAACTimeout); err != nil {
		t.Fatal(err)
	}
	t.Logf("measure: VM1 has %v %v after the links appeared (%v after vrouter run started)", scenario.VM1Addr,
		time.Since(attached).Round(time.Millisecond), time.Since(e.vr.Started()).Round(time.Millisecond))
	t.Run("1_vrouter_addresses_and_default_route", e.checkVRouter)
	t.Run("2_vm_slaac_and_default_route", e.checkVMs)
	t.Run("3_ping", func(t *testing.T) {
		e.ping(t, scenario.VM1, scenario.UpstreamAddr.Addr())
		e.ping(t, scenario.VM2, scenario.UpstreamAddr.Addr())
	})
	if e.vr.Exited() {
		t.Errorf("vrouter exited during the test: %s", e.vr.Status())
	}
}

// TestSIGTERMWithdrawsDefaultRoute is acceptance item 5: the VMs' kernels
// see the final RA (router lifetime 0) and drop the default route at once,
// long before its 1800s lifetime; vrouter exits 0.
func TestSIGTERMWithdrawsDefaultRoute(t *testing.T) {
	e := newEnv(t, scenario.Options{})
	e.start()
	e.waitConverged()
	ctx := t.Context()
	sent := time.Now()
	if err := e.vr.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
		if err := e.s.WaitNoDefaultRoute(ctx, vm, scenario.VRouterEth1LL, shortTimeout); err != nil {
			t.Error(err)
			continue
		}
		t.Logf("measure: %s dropped the default route %v after SIGTERM", vm.Title(), time.Since(sent).Round(time.Millisecond))
	}
	code, err := e.vr.Wait(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Errorf("vrouter exit code after SIGTERM = %d (%s), want 0", code, e.vr.Status())
	}
	t.Logf("measure: vrouter exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
}

// TestEth1DownUp is acceptance item 6: eth1 set down (the kernel flushes
// its static address, keep_addr_on_down=0) and up again; vrouter restores
// 2001:db8:0:2::1/64, the VMs keep or regain their default route within
// 2s of link up, and traffic flows again.
func TestEth1DownUp(t *testing.T) {
	e := newEnv(t, scenario.Options{})
	e.start()
	e.waitConverged()
	ctx := t.Context()
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth1, scenario.VRouterEth1Addr, shortTimeout); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetLink(ctx, scenario.VRouter, scenario.IfEth1, false); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitNoAddr(ctx, scenario.VRouter, scenario.IfEth1, scenario.VRouterEth1Addr, 2*time.Second); err != nil {
		t.Logf("note: the kernel kept the address on link down, so its return is not tested: %v", err)
	}
	if err := e.s.SetLink(ctx, scenario.VRouter, scenario.IfEth1, true); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
		if err := e.s.WaitDefaultRoute(ctx, vm, scenario.IfEth0, scenario.VRouterEth1LL, max(0, 2*time.Second-time.Since(up))); err != nil {
			t.Errorf("within 2s of link up: %v", err)
		}
	}
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth1, scenario.VRouterEth1Addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("measure: vRouter eth1 has %v again %v after link up", scenario.VRouterEth1Addr, time.Since(up).Round(time.Millisecond))
	// Until eth1's link-local address has passed DAD (1s), the kernel sends
	// no Neighbor Solicitation from eth1 and forwarded packets wait in the
	// neighbour queue: pings would take about a second, not fail.
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth1, netip.PrefixFrom(scenario.VRouterEth1LL, 64), shortTimeout); err != nil {
		t.Fatal(err)
	}
	e.ping(t, scenario.VM1, scenario.UpstreamAddr.Addr())
	e.ping(t, scenario.VM2, scenario.VRouterEth1Addr.Addr())
	if e.vr.Exited() {
		t.Errorf("vrouter exited during the test: %s", e.vr.Status())
	}
}
