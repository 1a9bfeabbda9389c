package router_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/router"
	"github.com/vrouter/vrouter/router/routertest"
)

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reconciler log:\n%s", buf)
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func ptr[T any](v T) *T { return &v }

// reference is the reference scenario of DESIGN §1 as a config struct.
func reference() *config.Config {
	return &config.Config{
		Source: "<test>",
		Interfaces: []config.Interface{
			{Name: "eth0", Role: config.RoleUpstream},
			{Name: "eth1", Role: config.RoleDownstream, Addresses: []netip.Prefix{pfx("2001:db8:0:2::1/64")}},
		},
		Forwarding: ptr(true),
	}
}

// grep returns the lines that contain any of subs.
func grep(lines []string, subs ...string) []string {
	var out []string
	for _, l := range lines {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// slaacHost is the upstream VM of the reference scenario: eth0 up with its
// link-local and SLAAC address and an RA-learned default route (accept_ra=1,
// forwarding off: a fresh boot), eth1 down, and eth2 that no config names.
func slaacHost(t *testing.T) *routertest.OS {
	t.Helper()
	f := routertest.New(t)
	f.AddLink("eth0", net.HardwareAddr{0xfa, 0x16, 0x3e, 0x11, 0x11, 0x11})
	f.AddLink("eth1", net.HardwareAddr{0xfa, 0x16, 0x3e, 0x22, 0x22, 0x22})
	f.AddLink("eth2", nil)
	if err := f.SetLinkUp("eth0"); err != nil { // adds the link-local address
		t.Fatal(err)
	}
	f.ResetCalls()
	f.AddKernelAddr("eth0", pfx("2001:db8:0:1:f816:3eff:fe11:1111/64"))
	f.AddKernelAddr("eth2", pfx("2001:db8:9::9/64"))
	f.LearnDefaultRoute("eth0")
	return f
}

func TestApplyReferenceScenario(t *testing.T) {
	f := slaacHost(t)
	before := grep(f.Render(), "eth2")
	log, _ := newLogger(t)
	r := router.New(f, log)
	if err := r.Apply(context.Background(), reference()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := []string{
		"addr eth0 2001:db8:0:1:f816:3eff:fe11:1111/64",
		"addr eth0 fe80::f816:3eff:fe11:1111/64",
		"addr eth1 2001:db8:0:2::1/64",
		"addr eth1 fe80::f816:3eff:fe22:2222/64", // the kernel's, at link-up
		"link eth0 up mtu 1500",
		"link eth1 up mtu 1500",
		// Survived forwarding=1 because accept_ra=2 came first.
		"route default dev eth0 proto ra",
		"sysctl net.ipv6.conf.all.forwarding=1",
		"sysctl net.ipv6.conf.default.forwarding=1",
		"sysctl net.ipv6.conf.eth0.accept_ra=2",
		"sysctl net.ipv6.conf.eth0.autoconf=1",
		"sysctl net.ipv6.conf.eth0.disable_ipv6=0",
		"sysctl net.ipv6.conf.eth0.forwarding=1",
		"sysctl net.ipv6.conf.eth1.accept_ra=0",
		"sysctl net.ipv6.conf.eth1.autoconf=0",
		"sysctl net.ipv6.conf.eth1.disable_ipv6=0",
		"sysctl net.ipv6.conf.eth1.forwarding=1",
	}
	got := grep(f.Render(), "eth0", "eth1", ".all.forwarding", ".default.forwarding")
	got = slices.DeleteFunc(got, func(l string) bool { return strings.Contains(l, "keep_addr_on_down") })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	// eth2 is not named: untouched except for forwarding, which
	// all.forwarding copies to every link in the kernel too.
	after := grep(f.Render(), "eth2")
	if diff := cmp.Diff(before, after, cmp.Transformer("noFwd", func(s []string) []string {
		return slices.DeleteFunc(slices.Clone(s), func(l string) bool { return strings.Contains(l, "eth2.forwarding") })
	})); diff != "" {
		t.Errorf("eth2 changed (-before +after):\n%s", diff)
	}
	for _, n := range []string{"eth0", "eth1"} {
		if !r.Configured(n) {
			t.Errorf("Configured(%s) = false, want true", n)
		}
	}
	if r.Configured("eth2") {
		t.Errorf("Configured(eth2) = true for an interface the config does not name")
	}
}

// TestSysctlOrder checks the order the kernel demands: the upstream's
// accept_ra=2 before all.forwarding=1, and sysctls before link-up.
func TestSysctlOrder(t *testing.T) {
	f := slaacHost(t)
	log, _ := newLogger(t)
	if err := router.New(f, log).Apply(context.Background(), reference()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	calls := f.Calls()
	idx := func(call string) int {
		i := slices.Index(calls, call)
		if i < 0 {
			t.Fatalf("no call %q in %q", call, calls)
		}
		return i
	}
	acceptRA := idx("SetSysctl net.ipv6.conf.eth0.accept_ra 2")
	fwd := idx("SetSysctl net.ipv6.conf.all.forwarding 1")
	if acceptRA > fwd {
		t.Errorf("accept_ra=2 on eth0 (call %d) after all.forwarding=1 (call %d)", acceptRA, fwd)
	}
	if idx("SetSysctl net.ipv6.conf.eth1.accept_ra 0") > idx("SetLinkUp eth1") {
		t.Errorf("a link came up before its sysctls were set: %q", calls)
	}
}

// TestForwardingHeldBackWhenUpstreamFails: if the upstream's accept_ra
// cannot be set, forwarding stays off so its default route survives.
func TestForwardingHeldBackWhenUpstreamFails(t *testing.T) {
	f := slaacHost(t)
	f.Fail("SetSysctl net.ipv6.conf.eth0.accept_ra", errors.New("injected"))
	log, _ := newLogger(t)
	r := router.New(f, log)
	err := r.Apply(context.Background(), reference())
	if err == nil || !strings.Contains(err.Error(), "router: eth0: set sysctl net.ipv6.conf.eth0.accept_ra=2: injected") ||
		!strings.Contains(err.Error(), "router: forwarding: not turned on") {
		t.Fatalf("Apply error = %v, want eth0 and forwarding errors", err)
	}
	if got := grep(f.Render(), "route default", "all.forwarding"); !slices.Equal(got, []string{
		"route default dev eth0 proto ra", "sysctl net.ipv6.conf.all.forwarding=0",
	}) {
		t.Errorf("got %q, want route kept and forwarding off", got)
	}
	if r.Configured("eth0") || !r.Configured("eth1") {
		t.Errorf("Configured eth0=%v eth1=%v, want false true", r.Configured("eth0"), r.Configured("eth1"))
	}
	// The fault clears: the next pass finishes the job.
	f.Fail("SetSysctl net.ipv6.conf.eth0.accept_ra", nil)
	if err := r.Apply(context.Background(), reference()); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if got := grep(f.Render(), "route default", "all.forwarding"); !slices.Equal(got, []string{
		"route default dev eth0 proto ra", "sysctl net.ipv6.conf.all.forwarding=1",
	}) {
		t.Errorf("got %q, want route kept and forwarding on", got)
	}
}

func TestIdempotent(t *testing.T) {
	f := slaacHost(t)
	log, _ := newLogger(t)
	r := router.New(f, log)
	cfg := reference()
	cfg.Interfaces[1].MTU = 9000
	cfg.Interfaces[1].Addresses = append(cfg.Interfaces[1].Addresses, pfx("2001:db8:0:3::1/64"), pfx("fe80::1/64"))
	if err := r.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	first := f.Render()
	if f.Mutations() == 0 {
		t.Fatal("first Apply made no changes")
	}
	f.ResetCalls()
	for i := range 3 {
		if err := r.Apply(context.Background(), cfg); err != nil {
			t.Fatalf("Apply %d: %v", i+2, err)
		}
	}
	if n := f.Mutations(); n != 0 {
		t.Errorf("repeated Apply made %d mutating calls, want 0: %q", n, f.Calls())
	}
	if diff := cmp.Diff(first, f.Render()); diff != "" {
		t.Errorf("state changed on re-apply (-first +now):\n%s", diff)
	}
}

func TestLateInterface(t *testing.T) {
	f := routertest.New(t)
	f.AddLink("eth0", nil)
	log, logs := newLogger(t)
	r := router.New(f, log)
	cfg := reference()
	ctx := context.Background()
	for range 3 {
		if err := r.Apply(ctx, cfg); err != nil {
			t.Fatalf("Apply with eth1 missing: %v (a missing interface is not an error)", err)
		}
	}
	if r.Configured("eth1") || !r.Configured("eth0") {
		t.Fatalf("Configured eth0=%v eth1=%v, want true false", r.Configured("eth0"), r.Configured("eth1"))
	}
	if n := strings.Count(logs.String(), `msg="waiting for interface" iface=eth1`); n != 1 {
		t.Errorf("logged waiting for eth1 %d times, want once:\n%s", n, logs)
	}

	// Hot-plugged under another name, then renamed into place.
	f.AddLink("ens4", nil)
	f.RenameLink("ens4", "eth1")
	if err := r.Apply(ctx, cfg); err != nil {
		t.Fatalf("Apply after eth1 appeared: %v", err)
	}
	if !r.Configured("eth1") {
		t.Errorf("Configured(eth1) = false after it appeared")
	}
	want := []string{
		"addr eth1 2001:db8:0:2::1/64",
		"link eth1 up mtu 1500",
		"sysctl net.ipv6.conf.eth1.accept_ra=0",
		"sysctl net.ipv6.conf.eth1.autoconf=0",
	}
	if got := grep(f.Render(), "addr eth1 2001", "link eth1", "eth1.accept_ra", "eth1.autoconf"); !cmp.Equal(want, got) {
		t.Errorf("eth1 (-want +got):\n%s", cmp.Diff(want, got))
	}

	// Gone again, and back: waiting is logged once more, then configured.
	f.RemoveLink("eth1")
	if err := r.Apply(ctx, cfg); err != nil {
		t.Fatalf("Apply after eth1 vanished: %v", err)
	}
	if r.Configured("eth1") {
		t.Errorf("Configured(eth1) = true after it vanished")
	}
	if n := strings.Count(logs.String(), `msg="waiting for interface" iface=eth1`); n != 2 {
		t.Errorf("logged waiting for eth1 %d times, want twice", n)
	}
	f.AddLink("eth1", nil)
	if err := r.Apply(ctx, cfg); err != nil || !r.Configured("eth1") {
		t.Fatalf("Apply after eth1 returned: err=%v configured=%v", err, r.Configured("eth1"))
	}
}

func TestReloadRemovesOnlyOurAddresses(t *testing.T) {
	f := slaacHost(t)
	log, _ := newLogger(t)
	r := router.New(f, log)
	ctx := context.Background()
	v1 := reference()
	v1.Interfaces[0].Addresses = []netip.Prefix{pfx("2001:db8:0:1::ffff/64")}
	v1.Interfaces[1].Addresses = []netip.Prefix{pfx("2001:db8:0:2::1/64"), pfx("2001:db8:0:3::1/64")}
	v1.Interfaces = append(v1.Interfaces, config.Interface{Name: "eth2", Addresses: []netip.Prefix{pfx("2001:db8:7::1/64")}})
	if err := r.Apply(ctx, v1); err != nil {
		t.Fatalf("Apply v1: %v", err)
	}
	// An operator adds one by hand; it is not ours.
	f.AddKernelAddr("eth1", pfx("2001:db8:0:4::1/64"))

	v2 := reference() // eth0: none, eth1: only ::1 of :2::, eth2 not named
	if err := r.Apply(ctx, v2); err != nil {
		t.Fatalf("Apply v2: %v", err)
	}
	want := []string{
		"addr eth0 2001:db8:0:1:f816:3eff:fe11:1111/64", // SLAAC stays
		"addr eth0 fe80::f816:3eff:fe11:1111/64",        // link-local stays
		"addr eth1 2001:db8:0:2::1/64",
		"addr eth1 2001:db8:0:4::1/64", // the operator's stays
		"addr eth1 fe80::f816:3eff:fe22:2222/64",
		"addr eth2 2001:db8:9::9/64", // there before; never ours
		"addr eth2 fe80::ff:fe00:4/64",
	}
	if diff := cmp.Diff(want, grep(f.Render(), "addr ")); diff != "" {
		t.Errorf("addresses after reload (-want +got):\n%s", diff)
	}
	// Nothing left to remove: a third pass changes nothing.
	f.ResetCalls()
	if err := r.Apply(ctx, v2); err != nil || f.Mutations() != 0 {
		t.Errorf("Apply v2 again: err=%v, %d mutations %q", err, f.Mutations(), f.Calls())
	}
}

// TestLinkDownFlush: the kernel drops IPv6 addresses on link down
// (keep_addr_on_down=0); the next pass brings the link up and them back.
// With keep_addr_on_down=1 they stay and only the link is brought up.
func TestLinkDownFlush(t *testing.T) {
	for _, keep := range []string{"0", "1"} {
		t.Run("keep_addr_on_down="+keep, func(t *testing.T) {
			f := slaacHost(t)
			f.SetValue("net.ipv6.conf.eth1.keep_addr_on_down", keep)
			log, _ := newLogger(t)
			r := router.New(f, log)
			if err := r.Apply(context.Background(), reference()); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := f.Render()
			f.SetLinkDown("eth1")
			f.ResetCalls()
			if err := r.Apply(context.Background(), reference()); err != nil {
				t.Fatalf("Apply after link down: %v", err)
			}
			if diff := cmp.Diff(want, f.Render()); diff != "" {
				t.Errorf("state not restored (-want +got):\n%s", diff)
			}
			wantCalls := []string{"SetLinkUp eth1", "ReplaceAddr eth1 2001:db8:0:2::1/64"}
			if keep == "1" {
				wantCalls = wantCalls[:1]
			}
			var got []string
			for _, c := range f.Calls() {
				if strings.HasPrefix(c, "Set") || strings.HasPrefix(c, "Replace") || strings.HasPrefix(c, "Delete") {
					got = append(got, c)
				}
			}
			if diff := cmp.Diff(wantCalls, got); diff != "" {
				t.Errorf("mutating calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *routertest.OS)
		cfg   func(c *config.Config)
		want  []string // substrings of the error
		// configured after the pass
		eth0, eth1 bool
	}{
		{
			name: "mtu below IPv6 minimum",
			cfg:  func(c *config.Config) { c.Interfaces[1].MTU = 1000 },
			want: []string{"router: eth1: mtu 1000 is below the IPv6 minimum 1280"},
			eth0: true,
		},
		{
			name:  "address add fails",
			setup: func(f *routertest.OS) { f.Fail("ReplaceAddr eth1", errors.New("file exists")) },
			want:  []string{"router: eth1: add address 2001:db8:0:2::1/64: file exists"},
			eth0:  true,
		},
		{
			name:  "link lookup fails",
			setup: func(f *routertest.OS) { f.Fail("Link eth0", errors.New("no buffer space available")) },
			want:  []string{"router: eth0: no buffer space available"},
			eth1:  true,
		},
		{
			name: "sysctl unreadable",
			setup: func(f *routertest.OS) {
				f.Fail("Sysctl net.ipv6.conf.eth1.disable_ipv6", errors.New("permission denied"))
			},
			want: []string{"router: eth1: read sysctl net.ipv6.conf.eth1.disable_ipv6: permission denied"},
			eth0: true,
		},
		{
			name: "forwarding fails",
			setup: func(f *routertest.OS) {
				f.Fail("SetSysctl net.ipv6.conf.all.forwarding", errors.New("read-only file system"))
			},
			want: []string{"router: forwarding: set sysctl net.ipv6.conf.all.forwarding=1: read-only file system"},
			eth0: true,
			eth1: true,
		},
		{
			name: "unknown role",
			cfg:  func(c *config.Config) { c.Interfaces[1].Role = "sideways" },
			want: []string{`router: eth1: unknown role "sideways"`},
			eth0: true,
		},
		{
			name: "IPv4 address",
			cfg: func(c *config.Config) {
				c.Interfaces[1].Addresses = append(c.Interfaces[1].Addresses, pfx("192.0.2.1/24"))
			},
			want: []string{"router: eth1: address 192.0.2.1/24: not an IPv6 interface address"},
			eth0: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := slaacHost(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			cfg := reference()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			log, _ := newLogger(t)
			r := router.New(f, log)
			err := r.Apply(context.Background(), cfg)
			if err == nil {
				t.Fatalf("Apply succeeded, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Apply error:\n%v\nwant it to contain %q", err, w)
				}
			}
			if r.Configured("eth0") != tt.eth0 || r.Configured("eth1") != tt.eth1 {
				t.Errorf("Configured eth0=%v eth1=%v, want %v %v", r.Configured("eth0"), r.Configured("eth1"), tt.eth0, tt.eth1)
			}
		})
	}
	t.Run("nil config", func(t *testing.T) {
		if err := router.New(routertest.New(t), nil).Apply(context.Background(), nil); err == nil {
			t.Error("Apply(nil) succeeded")
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		f := slaacHost(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := router.New(f, nil).Apply(ctx, reference()); !errors.Is(err, context.Canceled) {
			t.Errorf("Apply with canceled ctx = %v, want context.Canceled", err)
		}
		if f.Mutations() != 0 {
			t.Errorf("canceled Apply made %d changes", f.Mutations())
		}
	})
}

var statesSeed = flag.Uint64("states.seed", 1, "seed of TestRouterStates' random order; 0 = from the clock")

// states are configs that all name eth0..eth2 and set forwarding and every
// MTU, so the state they lead to does not depend on what came before.
func states() map[string]*config.Config {
	iface := func(name string, role config.Role, mtu int, addrs ...string) config.Interface {
		ifc := config.Interface{Name: name, Role: role, MTU: mtu}
		for _, a := range addrs {
			ifc.Addresses = append(ifc.Addresses, pfx(a))
		}
		return ifc
	}
	return map[string]*config.Config{
		"reference": {
			Interfaces: []config.Interface{
				iface("eth0", config.RoleUpstream, 1500),
				iface("eth1", config.RoleDownstream, 1500, "2001:db8:0:2::1/64"),
				iface("eth2", config.RoleDownstream, 1500),
			},
			Forwarding: ptr(true),
		},
		"two-tenants": {
			Interfaces: []config.Interface{
				iface("eth0", config.RoleUpstream, 9000, "2001:db8:0:1::fffe/64"),
				iface("eth1", config.RoleDownstream, 9000, "2001:db8:0:2::1/64", "2001:db8:0:20::1/64"),
				iface("eth2", config.RoleDownstream, 1400, "2001:db8:0:3::1/64"),
			},
			Forwarding: ptr(true),
		},
		"swapped-roles": {
			Interfaces: []config.Interface{
				iface("eth2", config.RoleUpstream, 1500),
				iface("eth0", config.RoleDownstream, 1500, "2001:db8:0:5::1/64", "fe80::1/64"),
				iface("eth1", config.RoleUpstream, 1280),
			},
			Forwarding: ptr(true),
		},
		"host-only": {
			Interfaces: []config.Interface{
				iface("eth0", config.RoleUpstream, 1500),
				iface("eth1", config.RoleUpstream, 1500),
				iface("eth2", config.RoleDownstream, 1500, "2001:db8:0:3::1/64", "2001:db8:0:2::1/64"),
			},
			Forwarding: ptr(false),
		},
	}
}

// TestRouterStates applies the configs in random order and checks that
// every step ends where applying that config to a fresh machine ends:
// nothing of an earlier config lingers, nothing the kernel owns is lost.
func TestRouterStates(t *testing.T) {
	seed := *statesSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -states.seed=%d)", seed, seed)
	rnd := rand.New(rand.NewPCG(seed, seed))

	all := states()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)

	fresh := func(name string) []string {
		f := slaacHost(t)
		if err := router.New(f, slog.New(slog.DiscardHandler)).Apply(context.Background(), all[name]); err != nil {
			t.Fatalf("fresh Apply %s: %v", name, err)
		}
		return f.Render()
	}
	want := make(map[string][]string)
	for _, n := range names {
		want[n] = fresh(n)
	}

	f := slaacHost(t)
	log, _ := newLogger(t)
	r := router.New(f, log)
	for step := range 40 {
		n := names[rnd.IntN(len(names))]
		if err := r.Apply(context.Background(), all[n]); err != nil {
			t.Fatalf("step %d (%s): Apply: %v", step, n, err)
		}
		// The RA-learned route is the one thing history decides (a
		// downstream eth0 loses it for good): compare the rest.
		got := slices.DeleteFunc(f.Render(), func(l string) bool { return strings.HasPrefix(l, "route ") })
		w := slices.DeleteFunc(slices.Clone(want[n]), func(l string) bool { return strings.HasPrefix(l, "route ") })
		if diff := cmp.Diff(w, got); diff != "" {
			t.Fatalf("step %d (%s, seed %d): state differs from a fresh apply (-want +got):\n%s", step, n, seed, diff)
		}
		f.ResetCalls()
		if err := r.Apply(context.Background(), all[n]); err != nil || f.Mutations() != 0 {
			t.Fatalf("step %d (%s): re-apply: err=%v, %d mutations %q", step, n, err, f.Mutations(), f.Calls())
		}
	}
}

// TestSolicitsOnUpstream: turning accept_ra on for an upstream link that is
// already up sends one Router Solicitation (the kernel sends its own only
// when the link comes up), and only once; downstream links never solicit.
func TestSolicitsOnUpstream(t *testing.T) {
	f := slaacHost(t) // eth0 up, accept_ra=1; eth1 down
	log, buf := newLogger(t)
	r := router.New(f, log)
	for i := range 3 {
		if err := r.Apply(context.Background(), reference()); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
	}
	if n := f.Solicitations("eth0"); n != 1 {
		t.Errorf("eth0 solicitations = %d, want 1", n)
	}
	if n := f.Solicitations("eth1"); n != 0 {
		t.Errorf("downstream eth1 solicitations = %d, want 0", n)
	}
	if !strings.Contains(buf.String(), "sent router solicitation") {
		t.Errorf("log lacks 'sent router solicitation':\n%s", buf)
	}

	// A late upstream link that we bring up ourselves: the kernel solicits
	// after DAD, so we do not.
	f.AddLink("eth3", nil)
	cfg := reference()
	cfg.Interfaces = append(cfg.Interfaces, config.Interface{Name: "eth3", Role: config.RoleUpstream})
	if err := r.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if n := f.Solicitations("eth3"); n != 0 {
		t.Errorf("eth3 (brought up by us) solicitations = %d, want 0", n)
	}

	// A failing solicitation is logged, not an error.
	f.SetValue("net.ipv6.conf.eth0.accept_ra", "0")
	f.Fail("SolicitRouters eth0", errors.New("no usable link-local address"))
	if err := r.Apply(context.Background(), cfg); err != nil {
		t.Errorf("Apply with failing solicitation: %v", err)
	}
	if !strings.Contains(buf.String(), "router solicitation not sent") {
		t.Errorf("log lacks 'router solicitation not sent':\n%s", buf)
	}
}
