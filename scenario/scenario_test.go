package scenario

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAddresses(t *testing.T) {
	// The values DESIGN §1 promises, derived from the MACs.
	for _, c := range []struct {
		name string
		got  string
		want string
	}{
		{"upstream link-local", UpstreamLL.String(), "fe80::f816:3eff:fe00:1"},
		{"vRouter eth0 SLAAC", VRouterEth0Addr.String(), "2001:db8:0:1:f816:3eff:fe11:1111/64"},
		{"vRouter eth1 link-local", VRouterEth1LL.String(), "fe80::f816:3eff:fe22:2222"},
		{"VM1 SLAAC", VM1Addr.String(), "2001:db8:0:2:f816:3eff:fe33:3333/64"},
		{"VM2 SLAAC", VM2Addr.String(), "2001:db8:0:2:f816:3eff:fe44:4444/64"},
		{"not a /64", SLAAC(netip.MustParsePrefix("2001:db8::/48"), MACVM1).String(), "invalid Prefix"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestRadvdConfig(t *testing.T) {
	good := radvdConfig(DefaultRadvdMaxInterval)
	if err := good.Validate(); err != nil {
		t.Fatalf("default radvd config: %v", err)
	}
	want := `# written by the vrouter scenario harness
interface eth0 {
	AdvSendAdvert on;
	MinRtrAdvInterval 7;
	MaxRtrAdvInterval 10;
	AdvDefaultLifetime 1800;
	prefix 2001:db8:0:1::/64 {
		AdvOnLink on;
		AdvAutonomous on;
	};
};
`
	if diff := cmp.Diff(want, good.Render()); diff != "" {
		t.Errorf("Render (-want +got):\n%s", diff)
	}
	if got := radvdConfig(4 * time.Second).MinInterval; got != 3*time.Second {
		t.Errorf("min interval for max 4s = %v, want 3s (radvd's floor)", got)
	}
	for _, c := range []struct {
		name string
		mod  func(*RadvdConfig)
		want string
	}{
		{"no interface", func(c *RadvdConfig) { c.Interface = "" }, "no interface"},
		{"prefix /48", func(c *RadvdConfig) { c.Prefix = netip.MustParsePrefix("2001:db8::/48") }, "want an IPv6 /64"},
		{"max too small", func(c *RadvdConfig) { c.MaxInterval = 3 * time.Second }, "want 4s..1800s"},
		{"min above 3/4 max", func(c *RadvdConfig) { c.MinInterval = 9 * time.Second }, "want 3s..0.75*max"},
		{"lifetime below max", func(c *RadvdConfig) { c.DefaultLifetime = 5 * time.Second }, "want 0 or max interval..9000s"},
	} {
		cfg := good
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want error containing %q", c.name, err, c.want)
		}
	}
}

// pingOutput is iputils-ping 20221126 talking to the ipv6-router.
const pingOutput = `PING 2001:db8:0:1::1(2001:db8:0:1::1) 56 data bytes
64 bytes from 2001:db8:0:1::1: icmp_seq=1 ttl=63 time=0.138 ms
64 bytes from 2001:db8:0:1::1: icmp_seq=2 ttl=63 time=0.069 ms
64 bytes from 2001:db8:0:1::1: icmp_seq=3 ttl=63 time=0.070 ms

--- 2001:db8:0:1::1 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 412ms
rtt min/avg/max/mdev = 0.069/0.092/0.138/0.032 ms
`

const pingUnreachable = `PING 2001:db8:0:1::1(2001:db8:0:1::1) 56 data bytes
From 2001:db8:0:2::1 icmp_seq=1 Destination unreachable: No route

--- 2001:db8:0:1::1 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 408ms
`

func TestParsePing(t *testing.T) {
	got := parsePing(pingOutput)
	if got.Transmitted != 3 || got.Received != 3 {
		t.Errorf("parsePing: %d transmitted, %d received; want 3, 3", got.Transmitted, got.Received)
	}
	wantSummary := "3 packets transmitted, 3 received, 0% packet loss, time 412ms; rtt min/avg/max/mdev = 0.069/0.092/0.138/0.032 ms"
	if got.Summary != wantSummary {
		t.Errorf("summary = %q, want %q", got.Summary, wantSummary)
	}
	if got := parsePing(pingUnreachable); got.Transmitted != 3 || got.Received != 0 {
		t.Errorf("unreachable: %d transmitted, %d received; want 3, 0", got.Transmitted, got.Received)
	}
}

const tracerouteOutput = `traceroute to 2001:db8:0:1::1 (2001:db8:0:1::1), 5 hops max, 80 byte packets
 1  2001:db8:0:2::1  0.056 ms
 2  *
 3  2001:db8:0:1::1  0.028 ms
`

func TestParseTraceroute(t *testing.T) {
	want := []netip.Addr{netip.MustParseAddr("2001:db8:0:2::1"), {}, netip.MustParseAddr("2001:db8:0:1::1")}
	if diff := cmp.Diff(want, parseTraceroute(tracerouteOutput), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("parseTraceroute (-want +got):\n%s", diff)
	}
}

const dhclientEvents = `reason=PREINIT6 interface=eth0 
reason=BOUND6 interface=eth0 new_dhcp6_client_id=0:1:0:1 new_dhcp6_domain_search="s1.tenant.example." new_dhcp6_name_servers=2001:db8:a2:1::53,2001:db8:a2:1::54 
reason=RENEW6 interface=eth0 new_ip6_address=2001:db8:0:2::33 new_ip6_prefixlen=128 new_max_life=60
reason=RENEW6 interface=eth0 new_ip6_addr`

func TestParseDHClientEvents(t *testing.T) {
	want := []DHClientEvent{
		{"reason": "PREINIT6", "interface": "eth0"},
		{"reason": "BOUND6", "interface": "eth0", "new_dhcp6_client_id": "0:1:0:1", "new_dhcp6_domain_search": `"s1.tenant.example."`,
			"new_dhcp6_name_servers": "2001:db8:a2:1::53,2001:db8:a2:1::54"},
		{"reason": "RENEW6", "interface": "eth0", "new_ip6_address": "2001:db8:0:2::33", "new_ip6_prefixlen": "128", "new_max_life": "60"},
		// The last line, still being written, is not read.
	}
	if diff := cmp.Diff(want, parseDHClientEvents(dhclientEvents)); diff != "" {
		t.Errorf("parseDHClientEvents (-want +got):\n%s", diff)
	}
}

func FuzzParsers(f *testing.F) {
	f.Add(dhclientEvents)
	f.Add(pingOutput)
	f.Add(pingUnreachable)
	f.Add(tracerouteOutput)
	f.Fuzz(func(t *testing.T, s string) {
		p := parsePing(s)
		if p.Output != s {
			t.Fatal("ping output not kept")
		}
		hops := parseTraceroute(s)
		if n := strings.Count(s, "\n") + 1; len(hops) > n {
			t.Fatalf("%d hops from %d lines", len(hops), n)
		}
		for _, e := range parseDHClientEvents(s) {
			if e["reason"] == "" {
				t.Fatalf("event without reason: %v", e)
			}
		}
		tl := tail(s, 3)
		if !strings.HasSuffix(tl, "\n") {
			t.Fatalf("tail %q does not end in a newline", tl)
		}
	})
}

func TestTail(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 2, "(no output)\n"},
		{"a\nb", 2, "a\nb\n"},
		{"a\nb\nc\n", 2, "(1 earlier lines cut)\nb\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
	} {
		if got := tail(c.in, c.n); got != c.want {
			t.Errorf("tail(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		err := poll(context.Background(), time.Second, 100*time.Millisecond, func() (bool, string) {
			n++
			return n == 4, "not yet"
		})
		if err != nil || n != 4 {
			t.Errorf("poll = %v after %d checks, want success after 4", err, n)
		}

		start := time.Now()
		n = 0
		err = poll(context.Background(), time.Second, 100*time.Millisecond, func() (bool, string) {
			n++
			return false, "state " + string(rune('0'+n%10))
		})
		if err == nil || !strings.Contains(err.Error(), "timed out after 1s") || !strings.Contains(err.Error(), "last: state") {
			t.Errorf("poll = %v, want a timeout naming the last state", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("poll took %v, want exactly the 1s timeout", d)
		}
		if n < 10 || n > 12 {
			t.Errorf("%d checks in 1s at 100ms, want about 11", n)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := poll(ctx, time.Hour, time.Second, func() (bool, string) { return false, "x" }); err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Errorf("poll with cancelled ctx = %v", err)
		}
	})
}
