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
	// The final RA keeps the prefixes (a restarting router must not make
	// hosts drop their addresses) and zeroes what hosts would keep using.
	finalOptions := append([]ndp.Option(nil), fullOptions[:5]...)
	finalOptions = append(finalOptions,
		&ndp.RouteInformation{PrefixLength: 48, Preference: ndp.Low, Prefix: netip.MustParseAddr("2001:db8:ff::")},
		&ndp.RecursiveDNSServer{Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}},
		&ndp.DNSSearchList{DomainNames: []string{"example.org", "corp.example.org"}},
	)
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
				Options: finalOptions,
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
		{"dnssl space", func(c *config.Advertise) { c.DNSSL[0].Domains = []string{" "} }, `dnssl: domain " ": idna: disallowed rune U+0020`},
		{"captive portal NUL", func(c *config.Advertise) { c.CaptivePortal = "\x00" }, `captive portal: uri "\x00": invalid character '\x00'`},
		{"pref64 length", func(c *config.Advertise) {
			c.PREF64 = []config.PREF64{{Prefix: netip.MustParsePrefix("64:ff9b::/80"), Lifetime: time.Minute}}
		}, "pref64 64:ff9b::/80: prefix length must be"},
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

func TestClassify(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1").WithZone("eth1")
	hl := &ipv6.ControlMessage{HopLimit: 255}
	slla := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: testMAC}
	marshal := func(m ndp.Message) []byte {
		b, err := ndp.MarshalMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rsSLLA := marshal(&ndp.RouterSolicitation{Options: []ndp.Option{slla}})
	withCode := append([]byte(nil), rsSLLA...)
	withCode[1] = 1
	zeroLen := append(marshal(&ndp.RouterSolicitation{}), 1, 0, 0, 0, 0, 0, 0, 0)
	overrun := append(marshal(&ndp.RouterSolicitation{}), 1, 2, 0, 0, 0, 0, 0, 0)
	ra := marshal(&ndp.RouterAdvertisement{CurrentHopLimit: 64})
	tests := []struct {
		name       string
		b          []byte
		cm         *ipv6.ControlMessage
		src        netip.Addr
		wantKind   inKind
		wantSrc    netip.Addr
		wantReason DropReason
	}{
		{"link-local", rsSLLA, hl, ll, inRS, netip.MustParseAddr("fe80::1"), 0},
		{"unspecified", marshal(&ndp.RouterSolicitation{}), hl, netip.IPv6Unspecified().WithZone("eth1"), inRS, netip.IPv6Unspecified(), 0},
		{"unspecified with SLLA", rsSLLA, hl, netip.IPv6Unspecified(), inBadRS, netip.IPv6Unspecified(), DropUnspecifiedWithSLLA},
		{"hop limit 254", rsSLLA, &ipv6.ControlMessage{HopLimit: 254}, ll, inBadRS, netip.MustParseAddr("fe80::1"), DropHopLimit},
		{"no control message", rsSLLA, nil, ll, inBadRS, netip.MustParseAddr("fe80::1"), DropHopLimit},
		{"code 1", withCode, hl, ll, inBadRS, netip.MustParseAddr("fe80::1"), DropCode},
		{"zero-length option", zeroLen, hl, ll, inBadRS, netip.MustParseAddr("fe80::1"), DropZeroLengthOption},
		{"option overruns", overrun, hl, ll, inBadRS, netip.MustParseAddr("fe80::1"), DropMalformed},
		{"short", []byte{133, 0, 0, 0}, hl, ll, inBadRS, netip.MustParseAddr("fe80::1"), DropMalformed},
		{"multicast source", rsSLLA, hl, netip.MustParseAddr("ff02::1"), inBadRS, netip.MustParseAddr("ff02::1"), DropSource},
		{"RA of another router", ra, hl, ll, inOtherRA, netip.MustParseAddr("fe80::1"), 0},
		{"our own RA", ra, hl, testLL, inIgnore, netip.Addr{}, 0},
		{"RA from a global address", ra, hl, netip.MustParseAddr("2001:db8::1"), inIgnore, netip.Addr{}, 0},
		{"RA with hop limit 64", ra, &ipv6.ControlMessage{HopLimit: 64}, ll, inIgnore, netip.Addr{}, 0},
		{"neighbor solicitation", []byte{135, 0, 0, 0, 0, 0, 0, 0}, hl, ll, inIgnore, netip.Addr{}, 0},
		{"empty", nil, hl, ll, inIgnore, netip.Addr{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, src, reason := classify(tt.b, tt.cm, tt.src, testLL)
			if kind != tt.wantKind || src != tt.wantSrc || reason != tt.wantReason {
				t.Fatalf("classify = %v, %v, %v; want %v, %v, %v", kind, src, reason, tt.wantKind, tt.wantSrc, tt.wantReason)
			}
		})
	}
}
