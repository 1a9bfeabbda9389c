package ha_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/ha"
	"github.com/vrouter/vrouter/internal/netns/netnstest"
)

// TestLinuxPortFollowsForwarding: the virtual link takes the interface's
// forwarding setting at open and again on every Refresh, in both
// directions, so its NAs' R flag and the RA advertiser on it follow the
// router reconciler.
func TestLinuxPortFollowsForwarding(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		parent := vethParent(t)
		sysctl := func(iface, v string) {
			t.Helper()
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+iface+"/forwarding", []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		forwarding := func(iface string) string {
			t.Helper()
			b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + iface + "/forwarding")
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
		sysctl(parent, "0")
		p, spec := openLinuxPort(t, parent, 51, 0)
		r, ok := p.(ha.Refresher)
		if !ok {
			t.Fatal("the Linux port is no Refresher")
		}
		if got := forwarding(spec.VirtualLink); got != "0" {
			t.Fatalf("virtual link forwarding %s at open, parent 0", got)
		}
		for _, v := range []string{"1", "0", "1"} {
			sysctl(parent, v)
			if err := r.Refresh(); err != nil {
				t.Fatal(err)
			}
			if got := forwarding(spec.VirtualLink); got != v {
				t.Fatalf("virtual link forwarding %s after Refresh, parent %s", got, v)
			}
		}
	})
}

// TestLinuxPortTakeoverRetrans: right after Activate the virtual link
// retransmits Neighbor Solicitations at the advertisement interval, ten
// times (a first answer lost to a bridge that still points the virtual MAC
// at the previous Active costs that, not a second), and after the takeover
// window it is back at the parent's settings; Deactivate returns at once.
func TestLinuxPortTakeoverRetrans(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		parent := vethParent(t)
		neigh := func(iface, key string) string {
			t.Helper()
			b, err := os.ReadFile("/proc/sys/net/ipv6/neigh/" + iface + "/" + key)
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
		retrans := func(iface string) string {
			return neigh(iface, "retrans_time_ms") + "/" + neigh(iface, "mcast_solicit")
		}
		for key, v := range map[string]string{"retrans_time_ms": "1500", "mcast_solicit": "4"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/neigh/"+parent+"/"+key, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p, spec := openLinuxPort(t, parent, 52, 100*time.Millisecond) // clamped to 20 ms
		if err := p.Activate(); err != nil {
			t.Fatal(err)
		}
		if got := retrans(spec.VirtualLink); got != "20/10" {
			t.Fatalf("virtual link RetransTimer/mcast_solicit %s right after Activate, want 20 ms (the 100 ms interval, clamped) / 10 solicitations", got)
		}
		deadline := time.Now().Add(10 * time.Second)
		for retrans(spec.VirtualLink) != "1500/4" {
			if time.Now().After(deadline) {
				t.Fatalf("virtual link RetransTimer still %s ms 10 s after Activate, parent 1500/4", retrans(spec.VirtualLink))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := p.Activate(); err != nil {
			t.Fatal(err)
		}
		if got := retrans(spec.VirtualLink); got != "20/10" {
			t.Fatalf("RetransTimer/mcast_solicit %s after a second Activate", got)
		}
		if err := p.Deactivate(); err != nil {
			t.Fatal(err)
		}
		if got := retrans(spec.VirtualLink); got != "1500/4" {
			t.Fatalf("virtual link RetransTimer/mcast_solicit %s after Deactivate, parent 1500/4", got)
		}
	})
}

// vethParent adds an up veth pair in the test's namespace and returns the
// name of the end an HA port is opened on.
func vethParent(t *testing.T) string {
	t.Helper()
	parent := netnstest.RandName(t, "ha", "")
	run(t, "ip", "link", "add", parent, "type", "veth", "peer", "name", parent+"p")
	run(t, "ip", "link", "set", parent+"p", "up")
	run(t, "ip", "link", "set", parent, "up")
	return parent
}

// openLinuxPort opens the Linux HA port of VRID vrid on parent with the
// virtual address fe80::1 and the advertisement interval ivl, closed when
// the test ends.
func openLinuxPort(t *testing.T, parent string, vrid uint8, ivl time.Duration) (ha.Port, ha.PortSpec) {
	t.Helper()
	sys := ha.NewLinuxSystem(nil)
	l, err := sys.Link(parent)
	if err != nil {
		t.Fatal(err)
	}
	spec := ha.PortSpec{
		Interface: parent, Index: l.Index, VRID: vrid,
		VirtualLink: ha.VirtualLinkName(vrid, l.Index), VirtualMAC: ha.VirtualMAC(vrid),
		Addresses: []netip.Prefix{netip.MustParsePrefix("fe80::1/64")},
		Interval:  ivl,
	}
	p, err := sys.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, spec
}
