package ra

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
	"golang.org/x/net/ipv6"
)

// addrCmp compares netip values, which cmp cannot look into.
var addrCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

var (
	testMAC = net.HardwareAddr{0xfa, 0x16, 0x3e, 0x22, 0x22, 0x22}
	testLL  = netip.MustParseAddr("fe80::f816:3eff:fe22:2222")
)

// fullConfig uses every field of config.Advertise.
func fullConfig() config.Advertise {
	return config.Advertise{
		MinInterval:    200 * time.Second,
		MaxInterval:    600 * time.Second,
		RouterLifetime: 1800 * time.Second,
		Preference:     config.PreferenceHigh,
		Managed:        true,
		OtherConfig:    true,
		HopLimit:       64,
		ReachableTime:  30 * time.Second,
		RetransTimer:   time.Second,
		LinkMTU:        1400,
		Prefixes: []config.Prefix{
			{Prefix: netip.MustParsePrefix("2001:db8:0:2::/64"), OnLink: true, Autonomous: true, ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second},
			{Prefix: netip.MustParsePrefix("::/64"), OnLink: true, Autonomous: false, ValidLifetime: 3600 * time.Second, PreferredLifetime: 1800 * time.Second},
		},
		Routes: []config.Route{
			{Prefix: netip.MustParsePrefix("2001:db8:ff::/48"), Preference: config.PreferenceLow, Lifetime: 1800 * time.Second},
		},
		RDNSS: []config.RDNSS{{Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}, Lifetime: 1800 * time.Second}},
		DNSSL: []config.DNSSL{{Domains: []string{"example.org", "corp.example.org"}, Lifetime: 1200 * time.Second}},
	}
}

func TestBuildRA(t *testing.T) {
	st := LinkState{
		Index: 3, MAC: testMAC, Up: true, LinkLocal: testLL,
		Global: []netip.Prefix{
			netip.MustParsePrefix("2001:db8:0:2::1/64"),  // also configured explicitly: not twice
			netip.MustParsePrefix("2001:db8:0:3::1/64"),  // expands
			netip.MustParsePrefix("2001:db8:0:3::99/64"), // same /64: once
			netip.MustParsePrefix("2001:db8:1::1/48"),    // not a /64
			netip.MustParsePrefix("fd00:1::5/64"),        // ULA: expands
		},
	}
	slla := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: testMAC}
	pio := func(p string, a bool, valid, pref time.Duration) *ndp.PrefixInformation {
		pp := netip.MustParsePrefix(p)
		return &ndp.PrefixInformation{PrefixLength: uint8(pp.Bits()), OnLink: true, AutonomousAddressConfiguration: a,
			ValidLifetime: valid, PreferredLifetime: pref, Prefix: pp.Addr()}
	}
	fullOptions := []ndp.Option{
		slla,
		ndp.NewMTU(1400),
		pio("2001:db8:0:2::/64", true, 86400*time.Second, 14400*time.Second),
		pio("2001:db8:0:3::/64", false, 3600*time.Second, 1800*time.Second),
		pio("fd00:1::/64", false, 3600*time.Second, 1800*time.Second),
		&ndp.RouteInformation{PrefixLength: 48, Preference: ndp.Low, RouteLifetime: 1800 * time.Second, Prefix: netip.MustParseAddr("2001:db8:ff::")},
		&ndp.RecursiveDNSServer{Lifetime: 1800 * time.Second, Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}},
		&ndp.DNSSearchList{Lifetime: 1200 * time.Second, DomainNames: []string{"example.org", "corp.example.org"}},
	}
	tests := []struct {
		name  string
		cfg   func() config.Advertise
		st    LinkState
		final bool
		want  *ndp.RouterAdvertisement
	}{
		{
			name: "full",
			cfg:  fullConfig,
			st:   st,
			want: &ndp.RouterAdvertisement{
				CurrentHopLimit: 64, ManagedConfiguration: true, OtherConfiguration: true,
				RouterSelectionPreference: ndp.High, RouterLifetime: 1800 * time.Second,
				ReachableTime: 30 * time.Second, RetransmitTimer: time.Second,
				Options: fullOptions,
			},
		},
		{
			name:  "final",
			cfg:   fullConfig,
			st:    st,
			final: true,
			want: &ndp.RouterAdvertisement{
				CurrentHopLimit: 64, ManagedConfiguration: true, OtherConfiguration: true,
				RouterSelectionPreference: ndp.Medium, RouterLifetime: 0,
				ReachableTime: 30 * time.Second, RetransmitTimer: time.Second,
				Options: fullOptions,
			},
		},
		{
			name: "not a default router: preference forced to medium",
			cfg: func() config.Advertise {
				return config.Advertise{Preference: config.PreferenceLow, HopLimit: 64}
			},
			st:   LinkState{MAC: testMAC},
			want: &ndp.RouterAdvertisement{CurrentHopLimit: 64, Options: []ndp.Option{slla}},
		},
		{
			name: "auto prefix on a link without globals, no MAC",
			cfg: func() config.Advertise {
				return config.Advertise{RouterLifetime: 600 * time.Second, Prefixes: []config.Prefix{{Prefix: netip.MustParsePrefix("::/64"), OnLink: true}}}
			},
			st:   LinkState{},
			want: &ndp.RouterAdvertisement{RouterLifetime: 600 * time.Second},
		},
		{
			name: "lifetimes clamp to the wire",
			cfg: func() config.Advertise {
				return config.Advertise{
					RouterLifetime: 100000 * time.Second,
					Prefixes: []config.Prefix{{Prefix: netip.MustParsePrefix("2001:db8::/64"),
						ValidLifetime: 1 << 62, PreferredLifetime: 1 << 62}},
				}
			},
			st: LinkState{},
			want: &ndp.RouterAdvertisement{RouterLifetime: 65535 * time.Second, Options: []ndp.Option{
				&ndp.PrefixInformation{PrefixLength: 64, ValidLifetime: infiniteLifetime, PreferredLifetime: infiniteLifetime, Prefix: netip.MustParseAddr("2001:db8::")},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := buildRA(tt.cfg(), tt.st, tt.final)
			if err != nil {
				t.Fatalf("buildRA: %v", err)
			}
			// Compare what a receiver parses, not only what we built.
			b, err := ndp.MarshalMessage(got)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			parsed, err := ndp.ParseMessage(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, parsed, addrCmp); diff != "" {
				t.Errorf("RA mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(fullConfig()); err != nil {
		t.Fatalf("Validate(full config) = %v, want nil", err)
	}
	tests := []struct {
		name   string
		change func(*config.Advertise)
		want   string
	}{
		{"preference", func(c *config.Advertise) { c.Preference = "urgent" }, `preference: "urgent" is not low, medium or high`},
		{"route preference", func(c *config.Advertise) { c.Routes[0].Preference = "x" }, `route 2001:db8:ff::/48: preference`},
		{"router lifetime", func(c *config.Advertise) { c.RouterLifetime = 70000 * time.Second }, "router lifetime 19h26m40s"},
		{"reachable", func(c *config.Advertise) { c.ReachableTime = 2 * time.Hour }, "reachable time 2h0m0s"},
		{"intervals", func(c *config.Advertise) { c.MinInterval = 700 * time.Second }, "intervals: min 11m40s, max 10m0s"},
		{"preferred > valid", func(c *config.Advertise) { c.Prefixes[0].PreferredLifetime = 100000 * time.Second }, "preferred lifetime 27h46m40s exceeds"},
		{"mtu", func(c *config.Advertise) { c.LinkMTU = 1000 }, "link mtu 1000"},
		{"rdnss empty", func(c *config.Advertise) { c.RDNSS[0].Servers = nil }, "rdnss: no servers"},
		{"dnssl empty label", func(c *config.Advertise) { c.DNSSL[0].Domains = []string{"bad..name"} }, `dnssl: domain "bad..name"`},
		{"dnssl long label", func(c *config.Advertise) { c.DNSSL[0].Domains = []string{strings.Repeat("a", 64) + ".org"} }, "labels must have 1 to 63"},
		{"route not v6", func(c *config.Advertise) { c.Routes[0].Prefix = netip.MustParsePrefix("10.0.0.0/8") }, "route 10.0.0.0/8: not an IPv6 prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fullConfig()
			tt.change(&cfg)
			err := Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestSolicitation(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1").WithZone("eth1")
	hl := &ipv6.ControlMessage{HopLimit: 255}
	slla := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: testMAC}
	tests := []struct {
		name   string
		m      ndp.Message
		cm     *ipv6.ControlMessage
		src    netip.Addr
		want   netip.Addr
		wantOK bool
	}{
		{"link-local", &ndp.RouterSolicitation{Options: []ndp.Option{slla}}, hl, ll, netip.MustParseAddr("fe80::1"), true},
		{"unspecified", &ndp.RouterSolicitation{}, hl, netip.IPv6Unspecified().WithZone("eth1"), netip.IPv6Unspecified(), true},
		{"unspecified with SLLA", &ndp.RouterSolicitation{Options: []ndp.Option{slla}}, hl, netip.IPv6Unspecified(), netip.Addr{}, false},
		{"hop limit 254", &ndp.RouterSolicitation{}, &ipv6.ControlMessage{HopLimit: 254}, ll, netip.Addr{}, false},
		{"no control message", &ndp.RouterSolicitation{}, nil, ll, netip.Addr{}, false},
		{"multicast source", &ndp.RouterSolicitation{}, hl, netip.MustParseAddr("ff02::1"), netip.Addr{}, false},
		{"not an RS", &ndp.RouterAdvertisement{}, hl, ll, netip.Addr{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := solicitation(tt.m, tt.cm, tt.src)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("solicitation = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
