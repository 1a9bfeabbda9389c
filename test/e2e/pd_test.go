//go:build linux

package e2e

// Prefix delegation through `vrouter run`, on the reference topology with
// kea-dhcp6 as the delegating router in the ipv6-router's namespace:
//
//	[ipv6-router] eth0 ---- eth0 [vRouter] eth1 ---- br0 ---- eth0 [VM1]
//	 radvd 2001:db8:0:1::/64     prefix_delegation    delegated: {from: eth0, subnet_id: 2}
//	 kea-dhcp6 pd-pool /48→/56   (DHCPv6-PD client)   ::1 of <delegated /56>:2::/64, RA "::/64"
//	 route <delegated /56> via the vRouter's eth0 link-local, added by the test when the
//	 lease appears (a real delegating router installs it itself)
//
// The test starts vrouter with kea not running (status "waiting for a
// delegation"), then kea: VM1 gets an address in the delegated /64 by
// SLAAC and pings the ipv6-router through the vRouter. kea is restarted
// with another pool and no lease file: at the next Renew the vRouter gets
// a new prefix, VM1's old address is deprecated, a new one appears within
// an RA interval and becomes the source of new connections, and VM1's
// default route never disappears. Then vrouter is restarted for a restart
// (SIGUSR2) — the delegated ::1 never leaves eth1 — and stopped with
// SIGTERM and started again: the same prefix comes back both times.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/daemon"
	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/scenario"
)

const pdVRouterConfig = `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {length: 56}
  eth1:
    role: downstream
    delegated: {from: eth0, subnet_id: 2}
    advertise:
      max_interval: 4s
      prefixes: [{prefix: "::/64"}]
forwarding: true
`

var (
	pdPool1 = netip.MustParsePrefix("2001:db8:100::/48")
	pdPool2 = netip.MustParsePrefix("2001:db8:200::/48")
)

// pdKea is kea-dhcp6 in the ipv6-router's namespace.
type pdKea struct {
	proc   *scenario.Proc
	dir    string
	leases string
}

// startPDKea runs kea-dhcp6 delegating /56s of pool, with short timers so
// that a renumbering is seen at the next Renew (T1 5s). fresh removes the
// lease file first (a delegating router that forgot its bindings).
func startPDKea(t *testing.T, e *env, pool netip.Prefix, fresh bool) *pdKea {
	t.Helper()
	dir := filepath.Join(e.s.Dir(), "kea")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	k := &pdKea{dir: dir, leases: filepath.Join(dir, "leases6.csv")}
	if fresh {
		os.Remove(k.leases)
	}
	cfg := map[string]any{"Dhcp6": map[string]any{
		// Retry the sockets: the link-local address may still be in DAD.
		"interfaces-config": map[string]any{"interfaces": []string{scenario.IfEth0},
			"service-sockets-max-retries": 50, "service-sockets-retry-wait-time": 200},
		"lease-database":     map[string]any{"type": "memfile", "persist": true, "name": k.leases, "lfc-interval": 0},
		"control-socket":     map[string]any{"socket-type": "unix", "socket-name": filepath.Join(dir, "kea.sock")},
		"server-id":          map[string]any{"type": "EN", "enterprise-id": 2495, "identifier": "7672747374", "persist": false},
		"preferred-lifetime": 30, "valid-lifetime": 60, "renew-timer": 5, "rebind-timer": 8,
		"subnet6": []any{map[string]any{
			"id": 1, "subnet": scenario.UpstreamPrefix.String(), "interface": scenario.IfEth0,
			"pd-pools": []any{map[string]any{"prefix": pool.Addr().String(), "prefix-len": pool.Bits(), "delegated-len": 56}},
		}},
		"loggers": []any{map[string]any{"name": "kea-dhcp6", "severity": "INFO",
			"output_options": []any{map[string]any{"output": "stdout"}}}},
	}}
	b, jerr := json.MarshalIndent(cfg, "", "  ")
	if jerr != nil {
		t.Fatal(jerr)
	}
	conf := filepath.Join(dir, "kea.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitAddr(t.Context(), scenario.Upstream, scenario.IfEth0, netip.PrefixFrom(scenario.UpstreamLL, 64), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var err error
	k.proc, err = e.s.Start(t.Context(), scenario.Upstream, "kea-dhcp6",
		"env", "KEA_PIDFILE_DIR="+dir, "KEA_LOCKFILE_DIR="+dir, "kea-dhcp6", "-c", conf)
	if err != nil {
		t.Fatal(err)
	}
	pdWait(t, 15*time.Second, "kea-dhcp6 to serve", func() (bool, string) {
		if k.proc.Exited() {
			t.Fatalf("kea-dhcp6 exited: %s\n%s", k.proc.Status(), k.proc.Output())
		}
		out := k.proc.Output()
		return strings.Contains(out, "DHCP6_STARTED"), out
	})
	return k
}

func (k *pdKea) stop(t *testing.T) {
	t.Helper()
	if _, err := k.proc.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// pdWait polls cond every 50ms until it holds or timeout passes.
func pdWait(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state:\n%s", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pdStatus(t *testing.T, e *env) (up, down *daemon.InterfaceStatus) {
	t.Helper()
	st, err := daemon.QueryStatus(e.s.VRouterSocket())
	if err != nil {
		return nil, nil
	}
	for i := range st.Interfaces {
		switch st.Interfaces[i].Name {
		case scenario.IfEth0:
			up = &st.Interfaces[i]
		case scenario.IfEth1:
			down = &st.Interfaces[i]
		}
	}
	return up, down
}

// waitDelegation waits until vrouter holds a delegation other than not,
// and routes it from the ipv6-router to the vRouter, as the delegating
// router would.
func waitDelegation(t *testing.T, e *env, not netip.Prefix, timeout time.Duration) (netip.Prefix, time.Time) {
	t.Helper()
	var p netip.Prefix
	var obtained time.Time
	pdWait(t, timeout, "a delegation", func() (bool, string) {
		up, _ := pdStatus(t, e)
		if up == nil || up.PrefixDelegation == nil {
			return false, "no status"
		}
		p, obtained = up.PrefixDelegation.Prefix, up.PrefixDelegation.Obtained
		return p.IsValid() && p != not, fmt.Sprintf("%+v", *up.PrefixDelegation)
	})
	if out, err := e.s.Exec(t.Context(), scenario.Upstream, "ip", "-6", "route", "replace", p.String(),
		"via", scenario.LinkLocal(scenario.MACVRouterEth0).String(), "dev", scenario.IfEth0); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return p, obtained
}

// vm1Source returns the source address VM1 picks for a new connection to
// the ipv6-router.
func vm1Source(t *testing.T, e *env) netip.Addr {
	out, err := e.s.Exec(t.Context(), scenario.VM1, "ip", "-6", "route", "get", scenario.UpstreamAddr.Addr().String())
	if err != nil {
		return netip.Addr{}
	}
	f := strings.Fields(out)
	for i := range f[:max(len(f)-1, 0)] {
		if f[i] == "src" {
			a, _ := netip.ParseAddr(f[i+1])
			return a
		}
	}
	return netip.Addr{}
}

// watchDefaultRoute polls VM1's default routes every 50ms until stop is
// closed, and returns a func reporting the gaps (instants with none).
func watchDefaultRoute(t *testing.T, e *env) (stop func() []string) {
	done := make(chan struct{})
	var mu sync.Mutex
	var gaps []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			rs, err := e.s.DefaultRoutes(scenario.VM1)
			if err == nil && len(rs) == 0 {
				mu.Lock()
				gaps = append(gaps, time.Now().Format("15:04:05.000"))
				mu.Unlock()
			}
		}
	})
	return func() []string {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return gaps
	}
}

func TestPrefixDelegation(t *testing.T) {
	if _, err := exec.LookPath("kea-dhcp6"); err != nil && os.Geteuid() == 0 {
		t.Fatalf("%v (.ci/run installs kea-dhcp6-server)", err)
	}
	e := newEnv(t, scenario.Options{VRouterConfig: []byte(pdVRouterConfig)})
	ctx := t.Context()
	var err error
	if e.radvd, err = e.s.StartRadvd(ctx); err != nil {
		t.Fatal(err)
	}
	if e.vr, err = e.s.StartVRouter(ctx); err != nil {
		t.Fatal(err)
	}

	// 1. No delegating router yet: vrouter waits and says so.
	pdWait(t, 10*time.Second, `status "waiting for a delegation"`, func() (bool, string) {
		up, down := pdStatus(t, e)
		if up == nil || up.PrefixDelegation == nil || down == nil || down.Delegated == nil {
			return false, "no status yet"
		}
		return up.PrefixDelegation.State == pdclient.StateWaiting && up.PrefixDelegation.Sent["solicit"] >= 2 &&
			!down.Delegated.Prefix.IsValid(), fmt.Sprintf("%+v %+v", *up.PrefixDelegation, *down.Delegated)
	})

	// 2. kea starts: the delegation arrives, VM1 gets an address in it and
	// pings the ipv6-router through the vRouter.
	kea := startPDKea(t, e, pdPool1, true)
	keaUp := time.Now()
	p1, _ := waitDelegation(t, e, netip.Prefix{}, 90*time.Second)
	if !pdPool1.Contains(p1.Addr()) || p1.Bits() != 56 {
		t.Fatalf("delegated %v, want a /56 of %v", p1, pdPool1)
	}
	sub1, _ := pdclient.Subnet(p1, 2)
	vm1a := scenario.SLAAC(sub1, scenario.MACVM1)
	if err := e.s.WaitAddr(ctx, scenario.VM1, scenario.IfEth0, vm1a, tenantSLAACTimeout); err != nil {
		t.Fatal(err)
	}
	t.Logf("measure: kea started → VM1 has %v: %v", vm1a, time.Since(keaUp).Round(time.Millisecond))
	if err := e.s.WaitAddr(ctx, scenario.VRouter, scenario.IfEth1, netip.PrefixFrom(sub1.Addr().Next(), 64), shortTimeout); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitDefaultRoute(ctx, scenario.VM1, scenario.IfEth0, scenario.VRouterEth1LL, tenantSLAACTimeout); err != nil {
		t.Fatal(err)
	}
	e.ping(t, scenario.VM1, scenario.UpstreamAddr.Addr())
	// The rest of the delegated prefix is unreachable, not routed back
	// upstream (RFC 7084 WPD-5).
	if out, err := e.s.Exec(ctx, scenario.VRouter, "ip", "-6", "route", "show", "type", "unreachable"); err != nil ||
		!strings.Contains(out, p1.String()+" ") || !strings.Contains(out, "proto 198") {
		t.Errorf("no unreachable route for %v on the vRouter: %v\n%s", p1, err, out)
	}
	if _, down := pdStatus(t, e); down == nil || down.Delegated == nil || down.Delegated.Prefix != sub1 {
		t.Errorf("eth1 delegated status %+v, want prefix %v", down, sub1)
	}

	// 3. Renumbering: kea forgets its bindings and delegates from another
	// pool; at the next Renew the vRouter takes the new prefix.
	gaps := watchDefaultRoute(t, e)
	kea.stop(t)
	kea = startPDKea(t, e, pdPool2, true)
	p2, obtained := waitDelegation(t, e, p1, 60*time.Second)
	if !pdPool2.Contains(p2.Addr()) {
		t.Fatalf("renumbered to %v, want a /56 of %v", p2, pdPool2)
	}
	sub2, _ := pdclient.Subnet(p2, 2)
	vm1b := scenario.SLAAC(sub2, scenario.MACVM1)
	// A new address within one RA interval (4s max_interval, + DAD).
	if err := e.s.WaitAddr(ctx, scenario.VM1, scenario.IfEth0, vm1b, 4*time.Second+3*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("measure: new delegation → VM1 has %v: %v", vm1b, time.Since(obtained).Round(time.Millisecond))
	pdWait(t, 10*time.Second, "VM1 to use the new address for new connections", func() (bool, string) {
		src := vm1Source(t, e)
		return src == vm1b.Addr(), src.String()
	})
	t.Logf("measure: new delegation → VM1's source for new connections is %v: %v", vm1b.Addr(), time.Since(obtained).Round(time.Millisecond))
	pdWait(t, 10*time.Second, "VM1's old address deprecated or gone", func() (bool, string) {
		addrs, err := e.s.GlobalAddrs(scenario.VM1, scenario.IfEth0)
		for _, a := range addrs {
			if a.Prefix == vm1a && !a.Deprecated {
				return false, fmt.Sprint(addrs, err)
			}
		}
		return true, ""
	})
	e.ping(t, scenario.VM1, scenario.UpstreamAddr.Addr())
	if g := gaps(); len(g) > 0 {
		t.Errorf("VM1 had no default route at %v during the renumbering", g)
	}
	if _, down := pdStatus(t, e); down == nil || down.Delegated == nil || down.Delegated.Prefix != sub2 {
		t.Errorf("eth1 delegated status after renumbering %+v, want prefix %v", down, sub2)
	}

	// 4. A restart (SIGUSR2, then a new start): the delegated ::1 never
	// leaves eth1, VM1 keeps its default route, the same prefix is used.
	gw2 := netip.PrefixFrom(sub2.Addr().Next(), 64)
	gaps = watchDefaultRoute(t, e)
	var lost []string
	var lostMu sync.Mutex
	watchDone := make(chan struct{})
	var watchWG sync.WaitGroup
	watchWG.Go(func() {
		for {
			select {
			case <-watchDone:
				return
			case <-time.After(20 * time.Millisecond):
			}
			addrs, err := e.s.Addrs(scenario.VRouter, scenario.IfEth1)
			found := false
			for _, a := range addrs {
				found = found || a.Prefix == gw2
			}
			if err == nil && !found {
				lostMu.Lock()
				lost = append(lost, time.Now().Format("15:04:05.000"))
				lostMu.Unlock()
			}
		}
	})
	if _, err := e.vr.Stop(syscall.SIGUSR2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if e.vr, err = e.s.StartVRouter(ctx); err != nil {
		t.Fatal(err)
	}
	p, _ := waitDelegation(t, e, netip.Prefix{}, 20*time.Second)
	if p != p2 {
		t.Errorf("after a SIGUSR2 restart: delegation %v, want %v back", p, p2)
	}
	time.Sleep(2 * time.Second) // a few reconcile passes of the new process
	close(watchDone)
	watchWG.Wait()
	if len(lost) > 0 {
		t.Errorf("%v missing from the vRouter's eth1 at %v across the restart", gw2, lost)
	}
	if g := gaps(); len(g) > 0 {
		t.Errorf("VM1 had no default route at %v across the restart", g)
	}

	// 5. SIGTERM and a new start: the same prefix (hint + kea's lease).
	if _, err := e.vr.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if e.vr, err = e.s.StartVRouter(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := waitDelegation(t, e, netip.Prefix{}, 30*time.Second); p != p2 {
		t.Errorf("after SIGTERM and a start: delegation %v, want %v back", p, p2)
	}
	if err := e.s.WaitDefaultRoute(ctx, scenario.VM1, scenario.IfEth0, scenario.VRouterEth1LL, tenantSLAACTimeout); err != nil {
		t.Fatal(err)
	}
	e.ping(t, scenario.VM1, scenario.UpstreamAddr.Addr())
	if e.vr.Exited() {
		t.Errorf("vrouter exited: %s", e.vr.Status())
	}
	kea.stop(t)
}
