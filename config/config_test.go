package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDefaultIsReferenceScenario(t *testing.T) {
	on := true
	want := &Config{
		Source:     "<default>",
		Forwarding: &on,
		Interfaces: []Interface{
			{
				Name: "eth0",
				Role: RoleUpstream,
				Advertise: &Advertise{
					MinInterval:    198 * time.Second,
					MaxInterval:    600 * time.Second,
					RouterLifetime: 0,
					Preference:     PreferenceMedium,
					HopLimit:       64,
					Routes: []Route{{
						Prefix:     netip.MustParsePrefix("2001:db8:0:2::/64"),
						Preference: PreferenceMedium,
						Lifetime:   1800 * time.Second,
					}},
				},
			},
			{
				Name:      "eth1",
				Role:      RoleDownstream,
				Addresses: []netip.Prefix{netip.MustParsePrefix("2001:db8:0:2::1/64")},
				Advertise: &Advertise{
					MinInterval:    198 * time.Second,
					MaxInterval:    600 * time.Second,
					RouterLifetime: 1800 * time.Second,
					Preference:     PreferenceMedium,
					HopLimit:       64,
					Prefixes: []Prefix{{
						Prefix:            netip.MustParsePrefix("2001:db8:0:2::/64"),
						OnLink:            true,
						Autonomous:        true,
						AutonomousSet:     true,
						ValidLifetime:     86400 * time.Second,
						PreferredLifetime: 14400 * time.Second,
					}},
				},
			},
		},
	}
	got := Default()
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if !got.ForwardingOn() {
		t.Error("default config must turn forwarding on")
	}
}

func TestDefaultsFilledIn(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
interfaces:
  eth1:
    role: downstream
    advertise:
      max_interval: 8s
      prefixes:
        - prefix: ::/64
      routes:
        - prefix: 2001:db8:ff::/48
      rdnss:
        - servers: [2001:db8::53]
      dnssl:
        - domains: [example.org]
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Interfaces[0].Advertise
	if a.MinInterval != 6*time.Second {
		t.Errorf("min_interval default for max 8s = %s, want 6s (0.75*max below 9s)", a.MinInterval)
	}
	if a.RouterLifetime != 24*time.Second {
		t.Errorf("router_lifetime default = %s, want 24s (3*max)", a.RouterLifetime)
	}
	if !a.Prefixes[0].Auto() || !a.Prefixes[0].OnLink || !a.Prefixes[0].Autonomous {
		t.Errorf("prefix defaults wrong: %+v", a.Prefixes[0])
	}
	for name, got := range map[string]time.Duration{"route": a.Routes[0].Lifetime, "rdnss": a.RDNSS[0].Lifetime, "dnssl": a.DNSSL[0].Lifetime} {
		if got != 24*time.Second {
			t.Errorf("%s lifetime default = %s, want 24s", name, got)
		}
	}
	if c.Forwarding != nil {
		t.Error("forwarding omitted must stay nil (leave as is)")
	}
}

func TestSectionsOptional(t *testing.T) {
	for _, src := range []string{"", "ndproxy:\n  - {upstream: eth0, downstream: docker0, prefix: 2001:db8::c008/125}\n", "fastpath:\n  enabled: true\n  interfaces: [eth0, eth1]\n", "metrics: {listen: \"[::1]:9430\"}\n", "infinity:\n"} {
		c, err := Parse("t.yaml", []byte(src))
		if src == "infinity:\n" {
			if err == nil {
				t.Errorf("Parse(%q): want error for unknown key", src)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		if len(c.Interfaces) != 0 || c.Forwarding != nil {
			t.Errorf("Parse(%q): a config without interfaces/forwarding must touch neither: %+v", src, c)
		}
	}
}

func TestInfinityAndNDProxy(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
interfaces:
  eth1:
    role: downstream
    advertise:
      prefixes:
        - {prefix: 2001:db8:0:2::/64, valid_lifetime: infinity, preferred_lifetime: infinity}
ndproxy:
  - upstream: eth0
    downstream: docker0
    prefix: 2001:db8::c008/125
    mode: auto
    router: true
    answer_from_target: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Interfaces[0].Advertise.Prefixes[0].ValidLifetime; got != Infinity {
		t.Errorf("valid_lifetime infinity = %s", got)
	}
	want := []NDProxy{{Upstream: "eth0", Downstream: "docker0", Prefix: netip.MustParsePrefix("2001:db8::c008/125"), Mode: NDProxyAuto, Router: true, AnswerFromTarget: true}}
	if diff := cmp.Diff(want, c.NDProxy, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("ndproxy (-want +got):\n%s", diff)
	}
}

// TestErrors asserts the exact messages, with positions, that operators see.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown key",
			src:  "interfaces:\n  eth1:\n    role: downstream\n    adresses: [2001:db8::1/64]\n",
			want: []string{"f.yaml:4:5: interfaces.eth1.adresses: unknown field (allowed: addresses, advertise, delegated, dhcpv6, mtu, prefix_delegation, role)"},
		},
		{
			name: "fastpath io",
			src:  "fastpath:\n  enabled: true\n  io: ebpf\n",
			want: []string{`f.yaml:3:7: fastpath.io: must be "auto", "xdp", "af_xdp" or "af_packet", got "ebpf"`},
		},
		{
			name: "unknown top-level key",
			src:  "forwading: true\n",
			want: []string{"f.yaml:1:1: forwading: unknown field (allowed: fastpath, forwarding, ha, interfaces, metrics, ndproxy)"},
		},
		{
			name: "wrong types",
			src:  "forwarding: 1\ninterfaces:\n  eth1:\n    role: downstream\n    mtu: big\n    addresses: 2001:db8::1/64\n",
			want: []string{
				"f.yaml:1:13: forwarding: must be true or false, got int 1",
				`f.yaml:5:10: interfaces.eth1.mtu: must be an integer, got string "big"`,
				`f.yaml:6:16: interfaces.eth1.addresses: must be a list, got string "2001:db8::1/64"`,
			},
		},
		{
			name: "invalid prefixes",
			src: `interfaces:
  eth1:
    role: downstream
    advertise:
      prefixes:
        - prefix: 2001:db8:0:2::1/64
        - prefix: 10.0.0.0/8
        - prefix: 2001:db8:zz::/64
        - prefix: ::/48
        - on_link: true
      routes:
        - prefix: 2001:db8:ff::/200
`,
			want: []string{
				"f.yaml:6:19: interfaces.eth1.advertise.prefixes[0].prefix: 2001:db8:0:2::1/64 has host bits set (did you mean 2001:db8:0:2::/64?)",
				"f.yaml:7:19: interfaces.eth1.advertise.prefixes[1].prefix: 10.0.0.0/8 is not an IPv6 prefix",
				`f.yaml:8:19: interfaces.eth1.advertise.prefixes[2].prefix: invalid IPv6 prefix "2001:db8:zz::/64"`,
				"f.yaml:9:19: interfaces.eth1.advertise.prefixes[3].prefix: only ::/64 may stand for the interface's prefixes, got ::/48",
				"f.yaml:10:11: interfaces.eth1.advertise.prefixes[4].prefix: missing",
				`f.yaml:12:19: interfaces.eth1.advertise.routes[0].prefix: invalid IPv6 prefix "2001:db8:ff::/200"`,
			},
		},
		{
			name: "intervals out of RFC range",
			src: `interfaces:
  eth1:
    role: downstream
    advertise:
      max_interval: 2s
  eth2:
    role: downstream
    advertise:
      max_interval: 100s
      min_interval: 90s
      router_lifetime: 50s
  eth3:
    role: downstream
    advertise:
      max_interval: 1h
      hop_limit: 300
      link_mtu: 1000
      reachable_time: 2h
`,
			want: []string{
				"f.yaml:5:21: interfaces.eth1.advertise.max_interval: must be between 4s and 1800s (RFC 4861 §6.2.1), got 2s",
				"f.yaml:10:21: interfaces.eth2.advertise.min_interval: must be between 3s and 0.75 * max_interval (1m15s) (RFC 4861 §6.2.1), got 90s",
				"f.yaml:11:24: interfaces.eth2.advertise.router_lifetime: must be 0 or between max_interval (1m40s) and 9000s (RFC 4861 §6.2.1), got 50s",
				"f.yaml:15:21: interfaces.eth3.advertise.max_interval: must be between 4s and 1800s (RFC 4861 §6.2.1), got 1h",
				"f.yaml:16:18: interfaces.eth3.advertise.hop_limit: must be between 0 and 255, got 300",
				"f.yaml:17:17: interfaces.eth3.advertise.link_mtu: must be 0 (no MTU option) or between 1280 and 65535, got 1000",
				"f.yaml:18:23: interfaces.eth3.advertise.reachable_time: must be at most 3600s (RFC 4861 §6.2.1), got 2h",
			},
		},
		{
			name: "address on two interfaces",
			src:  "interfaces:\n  eth1:\n    role: downstream\n    addresses: [2001:db8:0:2::1/64]\n  eth2:\n    role: downstream\n    addresses: [2001:db8:0:3::1/64, 2001:db8:0:2::1/56]\n",
			want: []string{"f.yaml:7:37: interfaces.eth2.addresses[1]: address 2001:db8:0:2::1 is already configured at interfaces.eth1.addresses[0]"},
		},
		{
			name: "lifetimes",
			src: `interfaces:
  eth1:
    role: downstream
    advertise:
      prefixes:
        - prefix: 2001:db8:0:2::/64
          valid_lifetime: 60s
          preferred_lifetime: 120s
        - prefix: 2001:db8:0:3::/64
          valid_lifetime: 600
        - prefix: 2001:db8:0:4::/64
          valid_lifetime: -5s
        - prefix: 2001:db8:0:2::/64
`,
			want: []string{
				"f.yaml:8:31: interfaces.eth1.advertise.prefixes[0].preferred_lifetime: must not exceed valid_lifetime (1m0s), got 2m0s",
				"f.yaml:10:27: interfaces.eth1.advertise.prefixes[1].valid_lifetime: must be a duration with a unit, e.g. 600s",
				"f.yaml:12:27: interfaces.eth1.advertise.prefixes[2].valid_lifetime: must not be negative, got -5s",
				"f.yaml:13:19: interfaces.eth1.advertise.prefixes[3].prefix: 2001:db8:0:2::/64 is already advertised at interfaces.eth1.advertise.prefixes[0].prefix",
			},
		},
		{
			name: "role and names",
			src:  "interfaces:\n  eth0:\n    addresses: [2001:db8::1/64]\n  eth1:\n    role: router\n  this-name-is-too-long:\n    role: upstream\n",
			want: []string{
				"f.yaml:2:3: interfaces.eth0.role: missing (upstream or downstream)",
				`f.yaml:5:11: interfaces.eth1.role: must be upstream or downstream, got "router"`,
				`f.yaml:6:3: interfaces.this-name-is-too-long: invalid interface name "this-name-is-too-long" (1-15 characters, no '/', ':' or spaces)`,
			},
		},
		{
			name: "dns options",
			src: `interfaces:
  eth1:
    role: downstream
    advertise:
      rdnss:
        - servers: [ff02::1, 2001:db8::53]
        - lifetime: 10s
      dnssl:
        - domains: [exa mple.org]
      preference: highest
`,
			want: []string{
				"f.yaml:6:21: interfaces.eth1.advertise.rdnss[0].servers[0]: ff02::1 is not a unicast address",
				"f.yaml:7:11: interfaces.eth1.advertise.rdnss[1].servers: at least one server is required",
				`f.yaml:9:21: interfaces.eth1.advertise.dnssl[0].domains[0]: invalid domain name "exa mple.org"`,
				`f.yaml:10:19: interfaces.eth1.advertise.preference: must be low, medium or high, got "highest"`,
			},
		},
		{
			name: "ndproxy and metrics",
			src:  "ndproxy:\n  - upstream: eth0\n    downstream: eth0\n    prefix: 2001:db8::c008/125\n    mode: magic\n  - upstream: eth0\nmetrics:\n  listen: localhost\n",
			want: []string{
				"f.yaml:3:17: ndproxy[0].downstream: must differ from upstream (eth0)",
				`f.yaml:5:11: ndproxy[0].mode: must be static or auto, got "magic"`,
				"f.yaml:6:5: ndproxy[1].downstream: missing",
				"f.yaml:6:5: ndproxy[1].prefix: missing",
				`f.yaml:8:11: metrics.listen: must be host:port such as "[::1]:9430", got "localhost"`,
			},
		},
		{
			name: "pref64, captive portal, decrementing lifetimes",
			src: `interfaces:
  eth1:
    role: downstream
    advertise:
      pref64:
        - prefix: 64:ff9b::/97
        - prefix: 64:ff9b::/96
          lifetime: 70000s
        - lifetime: 600s
      captive_portal: http://portal.example/api
      prefixes:
        - prefix: 2001:db8:0:2::/64
          valid_lifetime: infinity
          decrement_lifetimes: true
  eth2:
    role: downstream
    advertise:
      captive_portal: https://[2001:db8::1]/api
`,
			want: []string{
				"f.yaml:6:19: interfaces.eth1.advertise.pref64[0].prefix: prefix length must be 32, 40, 48, 56, 64 or 96 (RFC 8781 §4), got /97",
				"f.yaml:8:21: interfaces.eth1.advertise.pref64[1].lifetime: must be at most 65528s (RFC 8781 §4), got 70000s",
				"f.yaml:9:11: interfaces.eth1.advertise.pref64[2].prefix: missing",
				`f.yaml:10:23: interfaces.eth1.advertise.captive_portal: must be an https:// URI or "urn:ietf:params:capport:unrestricted", got "http://portal.example/api"`,
				"f.yaml:12:11: interfaces.eth1.advertise.prefixes[0].decrement_lifetimes: needs finite valid_lifetime and preferred_lifetime",
				`f.yaml:18:23: interfaces.eth2.advertise.captive_portal: must name a host, not an IP address (RFC 8910 §2), got "https://[2001:db8::1]/api"`,
			},
		},
		{
			name: "duplicate key",
			src:  "forwarding: true\nforwarding: false\n",
			want: []string{"f.yaml:2:1: forwarding: duplicate key"},
		},
		{
			name: "yaml syntax",
			src:  "forwarding: true\ninterfaces: 2\n  eth1: 3\n",
			want: []string{"f.yaml:3:1: invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name: "not a mapping",
			src:  "- eth0\n",
			want: []string{"f.yaml:1:1: must be a mapping, got a list"},
		},
	}
	runErrorTests(t, tests)
}

// runErrorTests parses each src as "f.yaml" and compares every error line.
func runErrorTests(t *testing.T, tests []struct {
	name string
	src  string
	want []string
}) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.src))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v (%T), want config.Errors", err, err)
			}
			got := strings.Split(errs.Error(), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return c
}

// cmpConfig compares decoded values (netip types and empty slices).
var cmpConfig = []cmp.Option{cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}), cmpopts.EquateEmpty()}

func TestAdvertiseNewOptions(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
interfaces:
  eth1:
    role: downstream
    advertise:
      max_interval: 600s
      pref64:
        - prefix: 64:ff9b::/96
        - {prefix: 2001:db8:64::/64, lifetime: 600s}
      captive_portal: https://portal.example.org/api
      prefixes:
        - {prefix: 2001:db8:0:2::/64, decrement_lifetimes: true}
  eth2:
    role: downstream
    advertise:
      captive_portal: urn:ietf:params:capport:unrestricted
`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Interfaces[0].Advertise
	want := []PREF64{
		{Prefix: netip.MustParsePrefix("64:ff9b::/96"), Lifetime: 1800 * time.Second},
		{Prefix: netip.MustParsePrefix("2001:db8:64::/64"), Lifetime: 600 * time.Second},
	}
	if diff := cmp.Diff(want, a.PREF64, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("pref64 (-want +got):\n%s", diff)
	}
	if a.CaptivePortal != "https://portal.example.org/api" {
		t.Errorf("captive_portal = %q", a.CaptivePortal)
	}
	if !a.Prefixes[0].DecrementLifetimes {
		t.Error("decrement_lifetimes not set")
	}
	if got := c.Interfaces[1].Advertise.CaptivePortal; got != "urn:ietf:params:capport:unrestricted" {
		t.Errorf("captive_portal URN = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("interfaces:\n  eth1:\n    role: downstream\n    advertise: {prefixes: [{prefix: ::/64}], rdnss: [{servers: [2001:db8::53]}]}\n"))
	f.Add([]byte("ndproxy: [{upstream: a, downstream: b, prefix: 2001:db8::/64}]\nfastpath: {enabled: true, cpus: [1]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("fastpath: {enabled: true, interfaces: [eth0], io: xdp}\n"))
	f.Add([]byte(`interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    advertise: {prefixes: [{prefix: 2001:db8:0:2::/64}], rdnss: [{servers: [2001:db8::53]}], dnssl: [{domains: [example.org]}]}
    dhcpv6:
      mode: stateful
      rapid_commit: true
      preferred_lifetime: 1000s
      t1: 400s
      pools: [{start: "2001:db8:0:2::1000", end: "2001:db8:0:2::1fff"}]
      hosts:
        - {mac: "fa:16:3e:33:33:33", address: "2001:db8:0:2::33", hostname: vm1}
        - {duid: "00:03:00:01:fa:16:3e:44:44:44", address: "2001:db8:0:2::44"}
`))
	f.Add([]byte("interfaces:\n  eth1:\n    role: downstream\n    advertise: {other_config: true}\n    dhcpv6: {mode: stateless, information_refresh_time: 600s}\n"))
	f.Add([]byte(`interfaces:
  eth0: {role: upstream, prefix_delegation: {length: 60, release_on_stop: true}}
  eth1:
    role: downstream
    delegated: {from: eth0, subnet_id: 2}
    dhcpv6: {mode: stateful, pools: [{start: "::1000", end: "::1fff"}], hosts: [{mac: "fa:16:3e:33:33:33", address: "::33"}]}
`))
	f.Add([]byte(`interfaces:
  eth0: {role: upstream, addresses: [2001:db8:0:1::fe/64]}
  eth1: {role: downstream, addresses: [2001:db8:0:2::2/64]}
ha:
  vrid: 51
  priority: 200
  advert_interval: 100ms
  interfaces:
    eth1: {virtual_addresses: ["fe80::1", "2001:db8:0:2::1/64"]}
    eth0: {virtual_addresses: ["fe80::1", "2001:db8:0:1::1"]}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty config.Errors: %v", err)
			}
			for _, e := range errs {
				if e.Line < 1 || e.Col < 1 {
					t.Fatalf("error without position: %v", e)
				}
			}
			return
		}
		for _, ifc := range c.Interfaces {
			checkDHCPv6Invariants(t, &ifc)
			if dl := ifc.Delegated; dl != nil {
				if up := c.Interface(dl.From); up == nil || up.Role != RoleUpstream || up.PrefixDelegation == nil {
					t.Fatalf("accepted delegated from %q, not an upstream with prefix_delegation", dl.From)
				}
			}
			if a := ifc.Advertise; a != nil {
				if a.MinInterval > a.MaxInterval || a.MaxInterval < 4*time.Second || a.MaxInterval > 1800*time.Second {
					t.Fatalf("accepted out-of-range intervals: %+v", a)
				}
				for _, p := range a.Prefixes {
					if p.PreferredLifetime > p.ValidLifetime {
						t.Fatalf("accepted preferred > valid: %+v", p)
					}
				}
			}
		}
		if h := c.HA; h != nil {
			if h.VRID == 0 || h.Priority == 0 || h.AdvertInterval < 10*time.Millisecond || h.AdvertInterval > 40950*time.Millisecond || h.AdvertInterval%(10*time.Millisecond) != 0 || len(h.Interfaces) == 0 {
				t.Fatalf("accepted ha %+v", h)
			}
			for _, hi := range h.Interfaces {
				if c.Interface(hi.Name) == nil || len(hi.VirtualAddresses) == 0 || !hi.VirtualAddresses[0].Addr().IsLinkLocalUnicast() {
					t.Fatalf("accepted ha interface %+v", hi)
				}
			}
		}
	})
}

// checkDHCPv6Invariants fails when an accepted config breaks a rule of
// DESIGN §4.1 that the decoder must enforce.
func checkDHCPv6Invariants(t *testing.T, ifc *Interface) {
	t.Helper()
	dh := ifc.DHCPv6
	if dh == nil {
		return
	}
	if ifc.Role != RoleDownstream {
		t.Fatalf("accepted dhcpv6 on role %q", ifc.Role)
	}
	if dh.InformationRefreshTime < minIRT {
		t.Fatalf("accepted information_refresh_time %s", dh.InformationRefreshTime)
	}
	a := ifc.Advertise
	switch dh.Mode {
	case DHCPv6Stateless:
		if a != nil && !a.OtherConfig {
			t.Fatal("stateless dhcpv6 with O=0")
		}
		if len(dh.Pools)+len(dh.Hosts) != 0 || dh.PreferredLifetime != 0 {
			t.Fatalf("stateless dhcpv6 with stateful fields: %+v", dh)
		}
	case DHCPv6Stateful:
		if a != nil && (!a.Managed || !a.OtherConfig) {
			t.Fatal("stateful dhcpv6 without M=1 O=1")
		}
		if !(0 < dh.T1 && dh.T1 <= dh.T2 && dh.T2 <= dh.PreferredLifetime && dh.PreferredLifetime <= dh.ValidLifetime) {
			t.Fatalf("accepted times T1 %s T2 %s preferred %s valid %s", dh.T1, dh.T2, dh.PreferredLifetime, dh.ValidLifetime)
		}
		if len(dh.Pools)+len(dh.Hosts) == 0 {
			t.Fatal("stateful dhcpv6 without pools or hosts")
		}
		for _, p := range dh.Pools {
			if p.End.Less(p.Start) || isSuffix(p.Start) != (ifc.Delegated != nil) {
				t.Fatalf("accepted pool %s-%s (delegated %v)", p.Start, p.End, ifc.Delegated != nil)
			}
		}
		for _, h := range dh.Hosts {
			if (h.MAC == nil) == (h.DUID == nil) || isSuffix(h.Address) != (ifc.Delegated != nil) {
				t.Fatalf("accepted host %+v (delegated %v)", h, ifc.Delegated != nil)
			}
		}
	default:
		t.Fatalf("accepted dhcpv6 mode %q", dh.Mode)
	}
}

func TestFastpathIO(t *testing.T) {
	for _, io := range []string{FastpathIOAuto, FastpathIOXDP, FastpathIOAFXDP, FastpathIOPacket} {
		c, err := Parse("t.yaml", []byte("fastpath:\n  enabled: true\n  interfaces: [eth0, eth1]\n  io: "+io+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Fastpath.IO != io {
			t.Errorf("io %q parsed as %q", io, c.Fastpath.IO)
		}
	}
}

// defaultExamples returns the commented examples at the end of default.yaml,
// uncommented: one config per block of "# " lines, the "##" notes left out.
func defaultExamples(t *testing.T) []string {
	t.Helper()
	_, tail, ok := strings.Cut(string(DefaultYAML()), "# Examples, commented out.")
	if !ok {
		t.Fatal("default.yaml has no examples section")
	}
	_, tail, _ = strings.Cut(tail, "\n") // the rest of the heading line
	var blocks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			blocks = append(blocks, cur.String())
			cur.Reset()
		}
	}
	for _, line := range strings.Split(tail, "\n") {
		switch {
		case strings.HasPrefix(line, "##"):
			flush()
		case strings.HasPrefix(line, "# "):
			cur.WriteString(line[2:] + "\n")
		case line != "" && line != "#":
			t.Fatalf("line %q in the examples is neither an example (\"# \") nor a note (\"##\")", line)
		}
	}
	flush()
	return blocks[1:] // the first block is the section's introduction
}

func TestDefaultExamples(t *testing.T) {
	ex := defaultExamples(t)
	if len(ex) != 4 {
		t.Fatalf("got %d examples, want 4 (dhcpv6 stateless, stateful, prefix delegation, ha):\n%s", len(ex), strings.Join(ex, "\n---\n"))
	}
	var cs []*Config
	for i, src := range ex {
		c, err := Parse("example", []byte(src))
		if err != nil {
			t.Fatalf("example %d does not parse:\n%s\n%v", i, src, err)
		}
		cs = append(cs, c)
	}
	if a := cs[0].Interface("eth1").Advertise; cs[0].Interface("eth1").DHCPv6.Mode != DHCPv6Stateless || !a.OtherConfig || a.Managed {
		t.Errorf("stateless example: %+v", cs[0].Interface("eth1"))
	}
	if eth1 := cs[1].Interface("eth1"); eth1.DHCPv6.Mode != DHCPv6Stateful || eth1.Advertise.Prefixes[0].Autonomous || len(eth1.DHCPv6.Hosts) != 2 {
		t.Errorf("stateful example: %+v", eth1)
	}
	if eth1 := cs[2].Interface("eth1"); eth1.Delegated == nil || cs[2].Interface("eth0").PrefixDelegation == nil {
		t.Errorf("prefix delegation example: %+v", eth1)
	}
	if h := cs[3].HA; h == nil || h.Priority != 200 || len(h.Interfaces) != 2 {
		t.Errorf("ha example: %+v", h)
	}
}
