//go:build linux

package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/scenario"
)

// TestSIGHUPReload: SIGHUP applies a new config in process — the VMs learn
// the added prefix from fast initial RAs and never lose their default route
// (no final RA) — and a bad new config is reported with its position while
// the running one is kept.
func TestSIGHUPReload(t *testing.T) {
	e := newEnv(t, scenario.Options{})
	e.start()
	e.waitConverged()
	ctx := t.Context()
	cfgPath := filepath.Join(e.s.Dir(), "vrouter.yaml")

	// Watch the VMs' default routes through both reloads.
	lost := make(chan string, 1)
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() { close(stopWatch) })
		<-watchDone
	}
	defer stop() // also when a Fatal ends the test early
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, vm := range []scenario.Node{scenario.VM1, scenario.VM2} {
				routes, err := e.s.DefaultRoutes(vm)
				if err == nil && len(routes) == 0 {
					select {
					case lost <- vm.Title():
					default:
					}
				}
			}
		}
	}()

	// 1. A good config: the default plus a second tenant prefix, with the
	// vRouter's address in it.
	newPrefix := netip.MustParsePrefix("2001:db8:0:3::/64")
	good := strings.Replace(string(config.DefaultYAML()),
		"      prefixes:\n",
		"      prefixes:\n        - prefix: 2001:db8:0:3::/64\n", 1)
	good = strings.Replace(good, "addresses: [2001:db8:0:2::1/64]", "addresses: [2001:db8:0:2::1/64, 2001:db8:0:3::1/64]", 1)
	if _, err := config.Parse("good", []byte(good)); err != nil {
		t.Fatalf("test config does not parse: %v", err)
	}
	if err := os.WriteFile(cfgPath, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	hup := time.Now()
	if err := e.vr.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth1, netip.MustParsePrefix("2001:db8:0:3::1/64"), shortTimeout); err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	vm1New := netip.PrefixFrom(netip.MustParseAddr("2001:db8:0:3:f816:3eff:fe33:3333"), 64)
	if err := e.s.WaitAddr(ctx, scenario.VM1, scenario.IfEth0, vm1New, 10*time.Second); err != nil {
		t.Fatalf("after SIGHUP with %v added: %v", newPrefix, err)
	}
	t.Logf("measure: VM1 has %v %v after SIGHUP", vm1New, time.Since(hup).Round(time.Millisecond))

	// 2. A bad config: kept running on the good one, error with position.
	bad := strings.Replace(good, "router_lifetime: 1800s", "router_lifetime: 5s", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.vr.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	wantMsg := cfgPath + ":25:24: interfaces.eth1.advertise.router_lifetime: must be 0 or between max_interval"
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.vr.Output(), wantMsg) {
		if time.Now().After(deadline) {
			t.Fatalf("vrouter did not report %q after a bad reload; output:\n%s", wantMsg, e.vr.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(e.vr.Output(), "reload rejected: keeping the running config") {
		t.Errorf("vrouter output lacks 'reload rejected: keeping the running config'")
	}
	// Still serving and still forwarding, also for the new prefix (the
	// upstream router needs its route, as a Neutron operator would add).
	if out, err := e.s.Exec(ctx, scenario.Upstream, "ip", "-6", "route", "add", newPrefix.String(), "via", scenario.VRouterEth0Addr.Addr().String()); err != nil {
		t.Fatalf("route for %v on the ipv6-router: %v\n%s", newPrefix, err, out)
	}
	time.Sleep(time.Second)
	if e.vr.Exited() {
		t.Fatalf("vrouter exited on a bad reload: %s", e.vr.Status())
	}
	e.ping(t, scenario.VM1, scenario.UpstreamAddr.Addr())

	stop()
	select {
	case vm := <-lost:
		t.Errorf("%s lost its default route during a reload (a reload must not send a final RA)", vm)
	default:
	}
	if strings.Contains(e.vr.Output(), "sent final router advertisement") {
		t.Errorf("a reload sent a final router advertisement")
	}
}
