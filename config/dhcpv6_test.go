package config

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func addrs(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

func TestDHCPv6StatelessDefaults(t *testing.T) {
	c := mustParse(t, `
interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    advertise:
      prefixes: [{prefix: 2001:db8:0:2::/64}]
      rdnss:
        - servers: [2001:db8:0:2::53, 2001:db8::53]
        - servers: [2001:db8::53, 2001:db8::54]
      dnssl:
        - domains: [tenant.example, example.org]
        - domains: [Tenant.Example., other.example]
    dhcpv6:
      mode: stateless
`)
	ifc := c.Interfaces[0]
	want := &DHCPv6{
		Mode:                   DHCPv6Stateless,
		DNSServers:             addrs("2001:db8:0:2::53", "2001:db8::53", "2001:db8::54"),
		Domains:                []string{"tenant.example", "example.org", "other.example"},
		InformationRefreshTime: 86400 * time.Second,
	}
	if diff := cmp.Diff(want, ifc.DHCPv6, cmpConfig...); diff != "" {
		t.Errorf("dhcpv6 (-want +got):\n%s", diff)
	}
	a := ifc.Advertise
	if !a.OtherConfig || a.Managed {
		t.Errorf("stateless RA flags M=%v O=%v, want M=false O=true", a.Managed, a.OtherConfig)
	}
	if !a.Prefixes[0].Autonomous {
		t.Error("stateless must keep the prefix's A flag")
	}
}

func TestDHCPv6StatefulDefaults(t *testing.T) {
	c := mustParse(t, `
interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64, 2001:db8:0:3::1/56]
    advertise:
      other_config: true
      prefixes:
        - prefix: 2001:db8:0:2::/64
        - prefix: 2001:db8:0:3::/64
          autonomous: true
        - prefix: 2001:db8:0:4::/64
          autonomous: false
      rdnss: [{servers: [2001:db8::53]}]
    dhcpv6:
      mode: stateful
      rapid_commit: true
      domains: []
      pools:
        - {start: "2001:db8:0:2::1000", end: "2001:db8:0:2::1fff"}
        - {start: "2001:db8:0:3:1::", end: "2001:db8:0:4::ffff"}
      hosts:
        - {mac: "FA:16:3E:33:33:33", address: "2001:db8:0:2::33", hostname: vm1}
        - {duid: "00:03:00:01:fa:16:3e:44:44:44", address: "2001:db8:0:2::1500"}
`)
	ifc := c.Interfaces[0]
	want := &DHCPv6{
		Mode:                   DHCPv6Stateful,
		DNSServers:             addrs("2001:db8::53"),
		RapidCommit:            true,
		PreferredLifetime:      3600 * time.Second,
		ValidLifetime:          7200 * time.Second,
		T1:                     1800 * time.Second,
		T2:                     2880 * time.Second,
		InformationRefreshTime: 86400 * time.Second,
		Pools: []DHCPv6Pool{
			{Start: netip.MustParseAddr("2001:db8:0:2::1000"), End: netip.MustParseAddr("2001:db8:0:2::1fff")},
			{Start: netip.MustParseAddr("2001:db8:0:3:1::"), End: netip.MustParseAddr("2001:db8:0:4::ffff")},
		},
		Hosts: []DHCPv6Host{
			{MAC: net.HardwareAddr{0xfa, 0x16, 0x3e, 0x33, 0x33, 0x33}, Address: netip.MustParseAddr("2001:db8:0:2::33"), Hostname: "vm1"},
			{DUID: []byte{0, 3, 0, 1, 0xfa, 0x16, 0x3e, 0x44, 0x44, 0x44}, Address: netip.MustParseAddr("2001:db8:0:2::1500")},
		},
	}
	if diff := cmp.Diff(want, ifc.DHCPv6, cmpConfig...); diff != "" {
		t.Errorf("dhcpv6 (-want +got):\n%s", diff)
	}
	if ifc.DHCPv6.Domains != nil {
		t.Errorf("domains: [] written must not take the DNSSL default, got %q", ifc.DHCPv6.Domains)
	}
	a := ifc.Advertise
	if !a.Managed || !a.OtherConfig {
		t.Errorf("stateful RA flags M=%v O=%v, want both true", a.Managed, a.OtherConfig)
	}
	var gotA []bool
	for _, p := range a.Prefixes {
		gotA = append(gotA, p.Autonomous)
	}
	if diff := cmp.Diff([]bool{false, true, false}, gotA); diff != "" {
		t.Errorf("A flags of prefixes (not written, true, false) (-want +got):\n%s", diff)
	}
}

func TestDHCPv6Lifetimes(t *testing.T) {
	const head = "interfaces:\n  eth1:\n    role: downstream\n    addresses: [2001:db8:0:2::1/64]\n    dhcpv6:\n      mode: stateful\n      hosts: [{mac: \"fa:16:3e:33:33:33\", address: \"2001:db8:0:2::33\"}]\n"
	for _, tt := range []struct {
		name                string
		src                 string
		pref, valid, t1, t2 time.Duration
		informationRefresh  time.Duration
	}{
		{"defaults", "", 3600 * time.Second, 7200 * time.Second, 1800 * time.Second, 2880 * time.Second, 86400 * time.Second},
		{"preferred given", "      preferred_lifetime: 1001s\n", 1001 * time.Second, 7200 * time.Second, 500 * time.Second, 800 * time.Second, 86400 * time.Second},
		{"t1 t2 given", "      t1: 100s\n      t2: 3600s\n      information_refresh_time: 600s\n", 3600 * time.Second, 7200 * time.Second, 100 * time.Second, 3600 * time.Second, 600 * time.Second},
		{"infinity", "      preferred_lifetime: infinity\n      valid_lifetime: infinity\n      information_refresh_time: infinity\n", Infinity, Infinity, Infinity, Infinity, Infinity},
		{"one second", "      preferred_lifetime: 1s\n", time.Second, 7200 * time.Second, time.Second, time.Second, 86400 * time.Second},
		{"infinite valid", "      valid_lifetime: infinity\n", 3600 * time.Second, Infinity, 1800 * time.Second, 2880 * time.Second, 86400 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, head+tt.src).Interfaces[0].DHCPv6
			want := [5]time.Duration{tt.pref, tt.valid, tt.t1, tt.t2, tt.informationRefresh}
			if g := [5]time.Duration{got.PreferredLifetime, got.ValidLifetime, got.T1, got.T2, got.InformationRefreshTime}; g != want {
				t.Errorf("preferred, valid, t1, t2, irt = %v, want %v", g, want)
			}
		})
	}
}

func TestDHCPv6NoAdvertise(t *testing.T) {
	c := mustParse(t, "interfaces:\n  eth1:\n    role: downstream\n    dhcpv6: {mode: stateless, dns_servers: [2001:db8::53]}\n")
	ifc := c.Interfaces[0]
	if ifc.Advertise != nil {
		t.Errorf("a dhcpv6 section must not create an advertise section: %+v", ifc.Advertise)
	}
	if diff := cmp.Diff(addrs("2001:db8::53"), ifc.DHCPv6.DNSServers, cmpConfig...); diff != "" {
		t.Errorf("dns_servers (-want +got):\n%s", diff)
	}
}

func TestDHCPv6Errors(t *testing.T) {
	runErrorTests(t, []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "mode",
			src: `interfaces:
  eth1:
    role: downstream
    dhcpv6:
      dns_servers: [2001:db8::53]
  eth2:
    role: downstream
    dhcpv6: {mode: slaac}
  eth3:
    role: downstream
    dhcpv6:
`,
			want: []string{
				"f.yaml:4:5: interfaces.eth1.dhcpv6.mode: missing (stateless or stateful)",
				`f.yaml:8:20: interfaces.eth2.dhcpv6.mode: must be stateless or stateful, got "slaac"`,
				"f.yaml:11:5: interfaces.eth3.dhcpv6.mode: missing (stateless or stateful)",
			},
		},
		{
			name: "upstream and unknown field",
			src: `interfaces:
  eth0:
    role: upstream
    dhcpv6: {mode: stateless, lease_time: 60s}
  eth1:
    role: upstream
    dhcpv6: {mode: stateless}
`,
			want: []string{
				"f.yaml:4:5: interfaces.eth0.dhcpv6: only on role downstream (eth0 is upstream)",
				"f.yaml:4:31: interfaces.eth0.dhcpv6.lease_time: unknown field (allowed: dns_servers, domains, hosts, information_refresh_time, mode, pools, preferred_lifetime, rapid_commit, t1, t2, valid_lifetime)",
				"f.yaml:7:5: interfaces.eth1.dhcpv6: only on role downstream (eth1 is upstream)",
			},
		},
		{
			name: "dns servers and domains",
			src: `interfaces:
  eth1:
    role: downstream
    dhcpv6:
      mode: stateless
      dns_servers: [ff02::1, 2001:db8::53, "2001:db8::53", fe80::1%eth0]
      domains: [example.org, "-bad.example", EXAMPLE.org.]
      rapid_commit: yes
`,
			want: []string{
				"f.yaml:6:21: interfaces.eth1.dhcpv6.dns_servers[0]: ff02::1 is not a unicast address",
				"f.yaml:6:44: interfaces.eth1.dhcpv6.dns_servers[2]: 2001:db8::53 is already listed at interfaces.eth1.dhcpv6.dns_servers[1]",
				`f.yaml:6:60: interfaces.eth1.dhcpv6.dns_servers[3]: invalid IPv6 address "fe80::1%eth0"`,
				`f.yaml:7:30: interfaces.eth1.dhcpv6.domains[1]: invalid domain name "-bad.example"`,
				"f.yaml:7:46: interfaces.eth1.dhcpv6.domains[2]: EXAMPLE.org. is already listed at interfaces.eth1.dhcpv6.domains[0]",
				`f.yaml:8:21: interfaces.eth1.dhcpv6.rapid_commit: must be true or false, got string "yes"`,
			},
		},
		{
			name: "stateful fields in stateless mode",
			src: `interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    dhcpv6:
      mode: stateless
      preferred_lifetime: 3600s
      t1: 1000s
      pools: [{start: "2001:db8:0:2::1000", end: "2001:db8:0:2::1fff"}]
      hosts: []
`,
			want: []string{
				"f.yaml:7:7: interfaces.eth1.dhcpv6.preferred_lifetime: only with mode stateful (this server is stateless)",
				"f.yaml:8:7: interfaces.eth1.dhcpv6.t1: only with mode stateful (this server is stateless)",
				"f.yaml:9:7: interfaces.eth1.dhcpv6.pools: only with mode stateful (this server is stateless)",
				"f.yaml:10:7: interfaces.eth1.dhcpv6.hosts: only with mode stateful (this server is stateless)",
			},
		},
		{
			name: "stateful without pools or hosts",
			src:  "interfaces:\n  eth1:\n    role: downstream\n    dhcpv6:\n      mode: stateful\n      pools: []\n",
			want: []string{"f.yaml:4:5: interfaces.eth1.dhcpv6: mode stateful needs at least one of pools or hosts"},
		},
		{
			name: "lifetime order",
			src: `interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    dhcpv6:
      mode: stateful
      pools: [{start: "2001:db8:0:2::1000", end: "2001:db8:0:2::1fff"}]
      preferred_lifetime: 8000s
  eth2:
    role: downstream
    addresses: [2001:db8:0:3::1/64]
    dhcpv6:
      mode: stateful
      pools: [{start: "2001:db8:0:3::1000", end: "2001:db8:0:3::1fff"}]
      valid_lifetime: 1800s
      t2: 4000s
  eth3:
    role: downstream
    addresses: [2001:db8:0:4::1/64]
    dhcpv6:
      mode: stateful
      pools: [{start: "2001:db8:0:4::1000", end: "2001:db8:0:4::1fff"}]
      t1: 3000s
  eth4:
    role: downstream
    addresses: [2001:db8:0:5::1/64]
    dhcpv6:
      mode: stateful
      pools: [{start: "2001:db8:0:5::1000", end: "2001:db8:0:5::1fff"}]
      t2: 1000s
  eth5:
    role: downstream
    addresses: [2001:db8:0:6::1/64]
    dhcpv6:
      mode: stateful
      pools: [{start: "2001:db8:0:6::1000", end: "2001:db8:0:6::1fff"}]
      t1: 0s
      valid_lifetime: 0s
      t2: infinity
      information_refresh_time: 599s
`,
			want: []string{
				"f.yaml:8:27: interfaces.eth1.dhcpv6.preferred_lifetime: must not exceed valid_lifetime (2h0m0s, the default), got 8000s",
				"f.yaml:15:23: interfaces.eth2.dhcpv6.valid_lifetime: must be at least preferred_lifetime (1h0m0s, the default), got 1800s",
				"f.yaml:16:11: interfaces.eth2.dhcpv6.t2: must not exceed preferred_lifetime (1h0m0s, the default) (RFC 8415 §21.4), got 4000s",
				"f.yaml:23:11: interfaces.eth3.dhcpv6.t1: must not exceed t2 (48m0s, the default) (RFC 8415 §21.4), got 3000s",
				"f.yaml:30:11: interfaces.eth4.dhcpv6.t2: must be at least t1 (30m0s, the default) (RFC 8415 §21.4), got 1000s",
				"f.yaml:37:11: interfaces.eth5.dhcpv6.t1: must be more than 0s",
				"f.yaml:38:23: interfaces.eth5.dhcpv6.valid_lifetime: must be more than 0s",
				"f.yaml:39:11: interfaces.eth5.dhcpv6.t2: must not exceed preferred_lifetime (1h0m0s, the default) (RFC 8415 §21.4), got infinity",
				"f.yaml:40:33: interfaces.eth5.dhcpv6.information_refresh_time: must be at least 600s (RFC 8415 §21.23 IRT_MINIMUM), got 599s",
			},
		},
		{
			name: "pools",
			src: `interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64, 2001:db8:0:9::1/80]
    dhcpv6:
      mode: stateful
      pools:
        - {start: "2001:db8:0:2::2000", end: "2001:db8:0:2::1000"}
        - {start: "2001:db8:0:2::1000", end: "2001:db8:0:2::1fff"}
        - {start: "2001:db8:0:2::1800", end: "2001:db8:0:2::2800"}
        - {start: "2001:db8:0:3::1000", end: "2001:db8:0:3::1fff"}
        - {start: "2001:db8:0:2:ffff:ffff:ffff:ff00", end: "2001:db8:0:3::ff"}
        - {start: "2001:db8:0:2::", end: "2001:db8:0:2::ff"}
        - {start: "2001:db8:0:9::1000", end: "2001:db8:0:9::1fff"}
        - {start: "2001:db8:0:2::3000"}
        - {start: "2001:db8:0:2::4000", end: "2001:db8:0:2::4fff", size: 10}
        - "2001:db8:0:2::5000-2001:db8:0:2::5fff"
  eth2:
    role: downstream
    dhcpv6:
      mode: stateful
      pools: [{start: "2001:db8:0:7::1000", end: "2001:db8:0:7::1fff"}]
`,
			want: []string{
				"f.yaml:8:46: interfaces.eth1.dhcpv6.pools[0].end: must not be below start (2001:db8:0:2::2000)",
				"f.yaml:10:11: interfaces.eth1.dhcpv6.pools[2]: overlaps interfaces.eth1.dhcpv6.pools[1] (2001:db8:0:2::1000-2001:db8:0:2::1fff)",
				"f.yaml:11:11: interfaces.eth1.dhcpv6.pools[3]: pool 2001:db8:0:3::1000-2001:db8:0:3::1fff is not on-link: not inside one /64 (or shorter) prefix of interfaces.eth1.addresses",
				"f.yaml:12:11: interfaces.eth1.dhcpv6.pools[4]: pool 2001:db8:0:2:ffff:ffff:ffff:ff00-2001:db8:0:3::ff is not on-link: not inside one /64 (or shorter) prefix of interfaces.eth1.addresses",
				"f.yaml:13:11: interfaces.eth1.dhcpv6.pools[5]: contains the interface's own address 2001:db8:0:2::1",
				"f.yaml:14:11: interfaces.eth1.dhcpv6.pools[6]: pool 2001:db8:0:9::1000-2001:db8:0:9::1fff is not on-link: not inside one /64 (or shorter) prefix of interfaces.eth1.addresses",
				"f.yaml:15:11: interfaces.eth1.dhcpv6.pools[7].end: missing",
				"f.yaml:16:68: interfaces.eth1.dhcpv6.pools[8].size: unknown field (allowed: end, start)",
				`f.yaml:17:11: interfaces.eth1.dhcpv6.pools[9]: must be a mapping, got string "2001:db8:0:2::5000-2001:db8:0:2::5fff"`,
				"f.yaml:22:15: interfaces.eth2.dhcpv6.pools[0]: pool 2001:db8:0:7::1000-2001:db8:0:7::1fff is not on-link: interfaces.eth2 has no addresses",
			},
		},
		{
			name: "hosts",
			src: `interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    dhcpv6:
      mode: stateful
      hosts:
        - {mac: "fa:16:3e:33:33:33", address: "2001:db8:0:2::33", hostname: vm1}
        - {mac: "fa:16:3e:33:33:33", address: "2001:db8:0:2::34"}
        - {duid: "00:03:00:01:fa:16:3e:44:44:44", address: "2001:db8:0:2::33"}
        - {address: "2001:db8:0:2::35"}
        - {mac: "fa:16:3e:55:55:55", duid: "00:03:00:01:fa:16:3e:55:55:55", address: "2001:db8:0:2::36"}
        - {mac: "fa:16:3e:66:66:66"}
        - {mac: "fa:16:3e:66:66", address: "2001:db8:0:2::37"}
        - {mac: "01:00:5e:00:00:01", address: "2001:db8:0:2::38"}
        - {duid: "00:03:00:01:fa163e444444", address: "2001:db8:0:2::39"}
        - {duid: "00", address: "2001:db8:0:2::3a"}
        - {duid: "00:03:00:01:fa:16:3e:44:44:44", address: "2001:db8:0:2::3b", hostname: vm2}
        - {duid: "00:03:00:01:FA:16:3E:44:44:44", address: "2001:db8:0:2::3c"}
        - {mac: "fa:16:3e:77:77:77", address: "2001:db8:0:3::3d"}
        - {mac: "fa:16:3e:88:88:88", address: "2001:db8:0:2::1"}
        - {mac: "fa:16:3e:99:99:99", address: "2001:db8:0:2::3e", hostname: "vm 1"}
`,
			want: []string{
				"f.yaml:9:17: interfaces.eth1.dhcpv6.hosts[1].mac: fa:16:3e:33:33:33 is already reserved at interfaces.eth1.dhcpv6.hosts[0].mac",
				"f.yaml:10:60: interfaces.eth1.dhcpv6.hosts[2].address: 2001:db8:0:2::33 is already reserved at interfaces.eth1.dhcpv6.hosts[0].address",
				"f.yaml:11:11: interfaces.eth1.dhcpv6.hosts[3]: needs mac or duid",
				"f.yaml:12:44: interfaces.eth1.dhcpv6.hosts[4]: takes mac or duid, not both",
				"f.yaml:13:11: interfaces.eth1.dhcpv6.hosts[5].address: missing",
				`f.yaml:14:17: interfaces.eth1.dhcpv6.hosts[6].mac: must be a 48-bit MAC address such as "fa:16:3e:33:33:33", got "fa:16:3e:66:66"`,
				"f.yaml:15:17: interfaces.eth1.dhcpv6.hosts[7].mac: 01:00:5e:00:00:01 is a multicast MAC address, not a client's",
				`f.yaml:16:18: interfaces.eth1.dhcpv6.hosts[8].duid: must be 2 to 130 hex bytes separated by colons such as "00:03:00:01:fa:16:3e:44:44:44" (RFC 8415 §11), got "00:03:00:01:fa163e444444"`,
				`f.yaml:17:18: interfaces.eth1.dhcpv6.hosts[9].duid: must be 2 to 130 hex bytes separated by colons such as "00:03:00:01:fa:16:3e:44:44:44" (RFC 8415 §11), got "00"`,
				"f.yaml:19:18: interfaces.eth1.dhcpv6.hosts[11].duid: 00:03:00:01:FA:16:3E:44:44:44 is already reserved at interfaces.eth1.dhcpv6.hosts[10].duid",
				"f.yaml:20:47: interfaces.eth1.dhcpv6.hosts[12].address: 2001:db8:0:3::3d is not on-link: not inside one /64 (or shorter) prefix of interfaces.eth1.addresses",
				"f.yaml:21:47: interfaces.eth1.dhcpv6.hosts[13].address: 2001:db8:0:2::1 is the interface's own address",
				`f.yaml:22:77: interfaces.eth1.dhcpv6.hosts[14].hostname: invalid host name "vm 1"`,
			},
		},
		{
			name: "flags contradicting the mode",
			src: `interfaces:
  eth1:
    role: downstream
    advertise:
      other_config: false
    dhcpv6: {mode: stateless}
  eth2:
    role: downstream
    addresses: [2001:db8:0:3::1/64]
    advertise:
      managed: false
      other_config: false
    dhcpv6:
      mode: stateful
      pools: [{start: "2001:db8:0:3::1000", end: "2001:db8:0:3::1fff"}]
`,
			want: []string{
				"f.yaml:5:21: interfaces.eth1.advertise.other_config: must be true (or left out) with dhcpv6 mode stateless, got false",
				"f.yaml:11:16: interfaces.eth2.advertise.managed: must be true (or left out) with dhcpv6 mode stateful, got false",
				"f.yaml:12:21: interfaces.eth2.advertise.other_config: must be true (or left out) with dhcpv6 mode stateful, got false",
			},
		},
	})
}
