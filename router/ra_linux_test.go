package router_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netns/netnstest"
	"github.com/vrouter/vrouter/router"
)

// raPair creates a veth pair: host (IPv6 defaults, up) and router (up, no
// DAD so its link-local address is usable at once). It returns their names.
func raPair(t *testing.T, suffix string) (host, rtr string) {
	t.Helper()
	host, rtr = netnstest.RandName(t, "vrt", suffix+"h"), netnstest.RandName(t, "vrt", suffix+"r")
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: rtr}); err != nil {
		t.Fatalf("create veth: %v", err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(host); err == nil {
			netlink.LinkDel(l)
		}
	})
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+rtr+"/accept_dad", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{rtr, host} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	return host, rtr
}

// raDefaultRoute reports whether link has a default route learned from an RA.
func raDefaultRoute(t *testing.T, link string) bool {
	t.Helper()
	l, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := netlink.RouteList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if ones, _ := maskOf(r.Dst); ones == 0 && r.Protocol == unix.RTPROT_RA {
			return true
		}
	}
	return false
}

func maskOf(n *net.IPNet) (int, int) {
	if n == nil {
		return 0, 128
	}
	return n.Mask.Size()
}

// learnDefaultRoute sends Router Advertisements from rtr until host has
// installed a default route from them.
func learnDefaultRoute(t *testing.T, host, rtr string) {
	t.Helper()
	ifi, err := net.InterfaceByName(rtr)
	if err != nil {
		t.Fatal(err)
	}
	var c *ndp.Conn
	waitFor(t, 3*time.Second, "router link-local address", func() (bool, string) {
		c, _, err = ndp.Listen(ifi, ndp.LinkLocal)
		return err == nil, fmt.Sprint(err)
	})
	defer c.Close()
	ra := &ndp.RouterAdvertisement{
		CurrentHopLimit: 64,
		RouterLifetime:  1800 * time.Second,
		Options:         []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}},
	}
	waitFor(t, 5*time.Second, "RA-learned default route on "+host, func() (bool, string) {
		if err := c.WriteTo(ra, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
			return false, err.Error()
		}
		time.Sleep(50 * time.Millisecond) // pacing between RAs, not synchronisation
		return raDefaultRoute(t, host), "no default route with proto ra"
	})
}

// TestLinuxUpstreamKeepsDefaultRoute checks on the real kernel the ordering
// the reconciler relies on: turning forwarding on purges RA-learned default
// routes of interfaces with accept_ra=1 (the control), but not of the
// upstream, because Apply sets its accept_ra=2 first.
func TestLinuxUpstreamKeepsDefaultRoute(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		fwd := func(v string) {
			t.Helper()
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte(v), 0); err != nil {
				t.Fatal(err)
			}
		}
		// Control: the kernel behaviour this test depends on.
		ch, cr := raPair(t, "c")
		learnDefaultRoute(t, ch, cr)
		fwd("1")
		if raDefaultRoute(t, ch) {
			t.Fatalf("control: the kernel kept the RA default route of %s (accept_ra=1) when forwarding went on; this test cannot tell orderings apart", ch)
		}
		fwd("0")

		up, ur := raPair(t, "u")
		learnDefaultRoute(t, up, ur)
		log, _ := newLogger(t)
		r := router.New(router.LinuxOS(), log)
		cfg := &config.Config{
			Interfaces: []config.Interface{{Name: up, Role: config.RoleUpstream}},
			Forwarding: ptr(true),
		}
		if err := r.Apply(t.Context(), cfg); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if v := readSysctl(t, "all/forwarding"); v != "1" {
			t.Fatalf("all.forwarding = %s, want 1", v)
		}
		if !raDefaultRoute(t, up) {
			t.Errorf("upstream %s lost its RA-learned default route when forwarding went on", up)
		}
	})
}
