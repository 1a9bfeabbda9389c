package router_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netns/netnstest"
	"github.com/vrouter/vrouter/router"
)

// Namespace integration tests: the real kernel through LinuxOS and Watch,
// each test in a network namespace of its own (see inNetns).

// countingOS counts the mutating calls made through it.
type countingOS struct {
	router.OS
	mu    sync.Mutex
	calls []string
}

func (c *countingOS) note(call string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
}

func (c *countingOS) mutations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func (c *countingOS) SetLinkUp(n string) error { c.note("SetLinkUp " + n); return c.OS.SetLinkUp(n) }
func (c *countingOS) SetMTU(n string, m int) error {
	c.note(fmt.Sprintf("SetMTU %s %d", n, m))
	return c.OS.SetMTU(n, m)
}
func (c *countingOS) ReplaceAddr(n string, p netip.Prefix) error {
	c.note(fmt.Sprintf("ReplaceAddr %s %s", n, p))
	return c.OS.ReplaceAddr(n, p)
}
func (c *countingOS) DeleteAddr(n string, p netip.Prefix) error {
	c.note(fmt.Sprintf("DeleteAddr %s %s", n, p))
	return c.OS.DeleteAddr(n, p)
}
func (c *countingOS) SetSysctl(k, v string) error {
	c.note("SetSysctl " + k + "=" + v)
	return c.OS.SetSysctl(k, v)
}

// addLink creates a veth pair, name (down) and its peer (up, so name has
// carrier once it is brought up), and removes it in t.Cleanup. (veth, not
// dummy: the CI kernel may be built without the dummy and 8021q drivers.)
func addLink(t *testing.T, name string) {
	t.Helper()
	peer := netnstest.RandName(t, "vrt", "p")
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}); err != nil {
		t.Fatalf("create veth %s/%s: %v", name, peer, err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(peer); err == nil {
			netlink.LinkDel(l)
		}
	})
	pl, err := netlink.LinkByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(pl); err != nil {
		t.Fatalf("set %s up: %v", peer, err)
	}
}

// kernelAddrs lists the IPv6 addresses of a link straight from netlink.
func kernelAddrs(t *testing.T, name string) []netip.Prefix {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatalf("addresses of %s: %v", name, err)
	}
	var out []netip.Prefix
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP)
		bits, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, bits))
	}
	return out
}

// count returns how often p is on the link.
func count(addrs []netip.Prefix, p netip.Prefix) int {
	n := 0
	for _, a := range addrs {
		if a == p {
			n++
		}
	}
	return n
}

func readSysctl(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + path)
	if err != nil {
		t.Fatalf("read sysctl: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// linkState reports whether the link is admin up with p on it exactly once.
func linkState(name string, p netip.Prefix) (bool, string) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return false, err.Error()
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return false, err.Error()
	}
	n := 0
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP)
		bits, _ := a.Mask.Size()
		if netip.PrefixFrom(ip, bits) == p {
			n++
		}
	}
	up := l.Attrs().Flags&net.FlagUp != 0
	return up && n == 1, fmt.Sprintf("%s up=%v, %s present %d times", name, up, p, n)
}

func TestLinuxApply(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		up, dn := netnstest.RandName(t, "vrt", "u"), netnstest.RandName(t, "vrt", "d")
		addLink(t, up)
		addLink(t, dn)
		addr := pfx("2001:db8:0:2::1/64")
		cfg := &config.Config{
			Interfaces: []config.Interface{
				{Name: up, Role: config.RoleUpstream},
				{Name: dn, Role: config.RoleDownstream, Addresses: []netip.Prefix{addr}, MTU: 1400},
			},
			Forwarding: ptr(true),
		}
		osys := &countingOS{OS: router.LinuxOS()}
		log, _ := newLogger(t)
		r := router.New(osys, log)
		if err := r.Apply(t.Context(), cfg); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		t.Logf("first Apply: %q", osys.mutations())

		for _, n := range []string{up, dn} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				t.Fatal(err)
			}
			if l.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("%s not up", n)
			}
			if !r.Configured(n) {
				t.Errorf("Configured(%s) = false", n)
			}
		}
		if l, _ := netlink.LinkByName(dn); l.Attrs().MTU != 1400 {
			t.Errorf("%s mtu %d, want 1400", dn, l.Attrs().MTU)
		}
		want := map[string]string{
			up + "/accept_ra": "2", up + "/autoconf": "1", up + "/disable_ipv6": "0",
			dn + "/accept_ra": "0", dn + "/autoconf": "0", dn + "/disable_ipv6": "0",
			"all/forwarding": "1", "default/forwarding": "1", up + "/forwarding": "1",
		}
		for k, v := range want {
			if got := readSysctl(t, k); got != v {
				t.Errorf("net.ipv6.conf.%s = %s, want %s", strings.ReplaceAll(k, "/", "."), got, v)
			}
		}

		for i := range 3 {
			if err := r.Apply(t.Context(), cfg); err != nil {
				t.Fatalf("Apply %d: %v", i+2, err)
			}
		}
		if m := osys.mutations(); len(m) != 0 {
			t.Errorf("repeated Apply changed the kernel: %q", m)
		}
		if n := count(kernelAddrs(t, dn), addr); n != 1 {
			t.Errorf("%s on %s %d times, want once", addr, dn, n)
		}
	})
}

func TestLinuxReload(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		dn := netnstest.RandName(t, "vrt", "d")
		addLink(t, dn)
		mine1, mine2, theirs := pfx("2001:db8:0:2::1/64"), pfx("2001:db8:0:3::1/64"), pfx("2001:db8:0:4::1/64")
		cfg := func(addrs ...netip.Prefix) *config.Config {
			return &config.Config{Interfaces: []config.Interface{{Name: dn, Role: config.RoleDownstream, Addresses: addrs}}}
		}
		log, _ := newLogger(t)
		r := router.New(router.LinuxOS(), log)
		if err := r.Apply(t.Context(), cfg(mine1, mine2)); err != nil {
			t.Fatalf("Apply v1: %v", err)
		}
		l, _ := netlink.LinkByName(dn)
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: theirs.Addr().AsSlice(), Mask: net.CIDRMask(64, 128)}}); err != nil {
			t.Fatal(err)
		}
		// Wait for the kernel's link-local so we can see it survive.
		var ll netip.Prefix
		waitFor(t, 2*time.Second, "link-local address", func() (bool, string) {
			for _, a := range kernelAddrs(t, dn) {
				if a.Addr().IsLinkLocalUnicast() {
					ll = a
					return true, ""
				}
			}
			return false, fmt.Sprint(kernelAddrs(t, dn))
		})

		if err := r.Apply(t.Context(), cfg(mine1)); err != nil {
			t.Fatalf("Apply v2: %v", err)
		}
		got := kernelAddrs(t, dn)
		for p, want := range map[netip.Prefix]int{mine1: 1, mine2: 0, theirs: 1, ll: 1} {
			if n := count(got, p); n != want {
				t.Errorf("%s on %s %d times, want %d (addresses: %v)", p, dn, n, want, got)
			}
		}
	})
}

func TestLinuxRunRestoresAndFollows(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		dn, late, tmp, ren := netnstest.RandName(t, "vrt", "d"), netnstest.RandName(t, "vrt", "l"), netnstest.RandName(t, "vrt", "t"), netnstest.RandName(t, "vrt", "r")
		addLink(t, dn)
		addr := pfx("2001:db8:0:2::1/64")
		cfg := &config.Config{
			Interfaces: []config.Interface{
				{Name: dn, Role: config.RoleDownstream, Addresses: []netip.Prefix{addr}},
				{Name: late, Role: config.RoleDownstream, Addresses: []netip.Prefix{pfx("2001:db8:0:5::1/64")}, MTU: 1300},
				{Name: ren, Role: config.RoleUpstream},
			},
			Forwarding: ptr(true),
		}
		log, logs := newLogger(t)
		r := router.New(router.LinuxOS(), log)

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		events, err := router.Watch(ctx, log)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		if err := r.Apply(ctx, cfg); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		runErr := make(chan error, 1)
		go func() { runErr <- r.Run(ctx, events) }()

		state := func() (bool, string) { return linkState(dn, addr) }
		if ok, s := state(); !ok {
			t.Fatalf("after Apply: %s", s)
		}

		l, _ := netlink.LinkByName(dn)
		keepAddr := func(v string) {
			t.Helper()
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+dn+"/keep_addr_on_down", []byte(v), 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, keep := range []string{"1", "0"} {
			keepAddr(keep)
			if err := netlink.LinkSetDown(l); err != nil {
				t.Fatal(err)
			}
			// Only informative: the reconciler may already be at work.
			t.Logf("keep_addr_on_down=%s: right after link down %s is on it %d times", keep, addr, count(kernelAddrs(t, dn), addr))
			took := waitFor(t, 2*time.Second, "link down (keep_addr_on_down="+keep+") repaired", state)
			t.Logf("link down with keep_addr_on_down=%s: up with %s again after %v", keep, addr, took)
		}

		// Down and straight back up by an operator (keep_addr_on_down=0:
		// the kernel drops the address): it returns.
		if err := netlink.LinkSetDown(l); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		took := waitFor(t, 2*time.Second, "link down/up repaired", state)
		t.Logf("link down/up: %s back after %v", addr, took)

		if err := netlink.AddrDel(l, &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(64, 128)}}); err != nil {
			t.Fatal(err)
		}
		took = waitFor(t, 2*time.Second, "deleted address restored", state)
		t.Logf("address deleted: back after %v", took)

		// An interface created after Run started.
		if r.Configured(late) {
			t.Fatalf("Configured(%s) before it exists", late)
		}
		addLink(t, late)
		took = waitFor(t, 2*time.Second, "late interface configured", func() (bool, string) {
			ok, s := linkState(late, pfx("2001:db8:0:5::1/64"))
			if ll, err := netlink.LinkByName(late); err == nil && ll.Attrs().MTU != 1300 {
				return false, fmt.Sprintf("%s mtu %d", late, ll.Attrs().MTU)
			}
			if v := readSysctl(t, late+"/accept_ra"); v != "0" {
				return false, late + " accept_ra=" + v
			}
			return ok && r.Configured(late), s
		})
		t.Logf("interface created after start: configured after %v", took)

		// An interface renamed into place (its peer is removed in
		// cleanup, and the pair with it).
		addLink(t, tmp)
		tl, _ := netlink.LinkByName(tmp)
		if err := netlink.LinkSetName(tl, ren); err != nil {
			t.Fatal(err)
		}
		took = waitFor(t, 2*time.Second, "renamed interface configured", func() (bool, string) {
			if v := readSysctl(t, ren+"/accept_ra"); v != "2" {
				return false, ren + " accept_ra=" + v
			}
			return r.Configured(ren), fmt.Sprintf("Configured(%s)=%v", ren, r.Configured(ren))
		})
		t.Logf("interface renamed into place: configured after %v", took)

		if n := strings.Count(logs.String(), `msg="waiting for interface" iface=`+late); n != 1 {
			t.Errorf("logged waiting for %s %d times, want once", late, n)
		}

		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run = %v after cancel, want nil", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Run did not return within 2s of cancel")
		}
		waitFor(t, 2*time.Second, "Watch channel closed", func() (bool, string) {
			select {
			case _, ok := <-events:
				return !ok, "still open"
			default:
				return false, "still open"
			}
		})
	})
}

func TestLinuxOSContract(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		osys := router.LinuxOS()
		missing := netnstest.RandName(t, "vrt", "x")
		if _, err := osys.Link(missing); !errors.Is(err, router.ErrLinkNotFound) {
			t.Errorf("Link(missing) = %v, want ErrLinkNotFound", err)
		}
		for name, err := range map[string]error{
			"SetLinkUp":   osys.SetLinkUp(missing),
			"SetMTU":      osys.SetMTU(missing, 1500),
			"ReplaceAddr": osys.ReplaceAddr(missing, pfx("2001:db8::1/64")),
			"DeleteAddr":  osys.DeleteAddr(missing, pfx("2001:db8::1/64")),
		} {
			if !errors.Is(err, router.ErrLinkNotFound) {
				t.Errorf("%s(missing) = %v, want ErrLinkNotFound", name, err)
			}
		}
		if _, err := osys.Addrs(missing); !errors.Is(err, router.ErrLinkNotFound) {
			t.Errorf("Addrs(missing) = %v, want ErrLinkNotFound", err)
		}
		if _, err := osys.Sysctl("net.ipv6.conf." + missing + ".accept_ra"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Sysctl of a missing interface = %v, want not exist", err)
		}
		if err := osys.SetSysctl("net.ipv6.conf."+missing+".accept_ra", "0"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("SetSysctl of a missing interface = %v, want not exist", err)
		}
		if err := osys.SetSysctl("net.ipv6.conf.all.nonsense/../../../../tmp/x", "0"); err == nil {
			t.Errorf("SetSysctl accepted a key escaping /proc/sys")
		}

		// A VLAN-style name with a dot: sysctl keys write it as '/'.
		vlan := netnstest.RandName(t, "vrt", ".7")
		addLink(t, vlan)
		log, _ := newLogger(t)
		r := router.New(osys, log)
		cfg := &config.Config{Interfaces: []config.Interface{{Name: vlan, Role: config.RoleDownstream, Addresses: []netip.Prefix{pfx("2001:db8:7::1/64")}}}}
		if err := r.Apply(t.Context(), cfg); err != nil {
			t.Fatalf("Apply on %s: %v", vlan, err)
		}
		if v := readSysctl(t, vlan+"/accept_ra"); v != "0" {
			t.Errorf("%s accept_ra = %s, want 0", vlan, v)
		}
		l, _ := osys.Link(vlan)
		addrs, _ := osys.Addrs(vlan)
		if !l.Up || !slices.Contains(addrs, pfx("2001:db8:7::1/64")) {
			t.Errorf("%s: up=%v addrs=%v", vlan, l.Up, addrs)
		}
	})
}
