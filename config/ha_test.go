package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

const haInterfaces = `interfaces:
  eth0:
    role: upstream
    addresses: [2001:db8:0:1::fe/64]
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::2/64]
`

func TestHA(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want *HA
	}{
		{
			name: "design example",
			src: `ha:
  vrid: 51
  priority: 200
  advert_interval: 100ms
  preempt: true
  interfaces:
    eth1: {virtual_addresses: ["fe80::1", "2001:db8:0:2::1/64"]}
    eth0: {virtual_addresses: ["fe80::1", "2001:db8:0:1::1"]}
`,
			want: &HA{VRID: 51, Priority: 200, AdvertInterval: 100 * time.Millisecond, Preempt: true, Interfaces: []HAInterface{
				{Name: "eth1", VirtualAddresses: prefixes("fe80::1/64", "2001:db8:0:2::1/64")},
				{Name: "eth0", VirtualAddresses: prefixes("fe80::1/64", "2001:db8:0:1::1/128")},
			}},
		},
		{
			name: "defaults",
			src:  "ha:\n  vrid: 1\n  interfaces:\n    eth1:\n      virtual_addresses: [fe80::1:2/10, fe80::2]\n",
			want: &HA{VRID: 1, Priority: 100, AdvertInterval: time.Second, Preempt: true, Interfaces: []HAInterface{
				{Name: "eth1", VirtualAddresses: prefixes("fe80::1:2/10", "fe80::2/64")},
			}},
		},
		{
			name: "address owner",
			src:  "ha:\n  vrid: 255\n  priority: 255\n  preempt: false\n  advert_interval: 40.95s\n  interfaces:\n    eth1: {virtual_addresses: [fe80::1, 2001:db8:0:2::2/64]}\n",
			want: &HA{VRID: 255, Priority: 255, AdvertInterval: 40950 * time.Millisecond, Interfaces: []HAInterface{
				{Name: "eth1", VirtualAddresses: prefixes("fe80::1/64", "2001:db8:0:2::2/64")},
			}},
		},
		{
			name: "shortest interval",
			src:  "ha:\n  vrid: 7\n  advert_interval: 10ms\n  interfaces:\n    eth0: {virtual_addresses: [fe80::7]}\n",
			want: &HA{VRID: 7, Priority: 100, AdvertInterval: 10 * time.Millisecond, Preempt: true, Interfaces: []HAInterface{
				{Name: "eth0", VirtualAddresses: prefixes("fe80::7/64")},
			}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, haInterfaces+tt.src)
			if diff := cmp.Diff(tt.want, c.HA, cmpConfig...); diff != "" {
				t.Errorf("ha (-want +got):\n%s", diff)
			}
			first := tt.want.Interfaces[0].Name
			if got := c.HA.Interface(first); got == nil || got.Name != first {
				t.Errorf("HA.Interface(%q) = %v", first, got)
			}
			if got := c.HA.Interface("eth9"); got != nil {
				t.Errorf("HA.Interface(eth9) = %v, want nil", got)
			}
		})
	}
	if c := mustParse(t, haInterfaces); c.HA != nil || c.HA.Interface("eth1") != nil {
		t.Errorf("no ha section: HA = %+v, want nil", c.HA)
	}
}

func TestHAErrors(t *testing.T) {
	runErrorTests(t, []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "fields",
			src: `ha:
  vrid: 0
  priority: 256
  advert_interval: 5ms
  preempt: maybe
  mode: vrrp
`,
			want: []string{
				"f.yaml:1:1: ha.interfaces: at least one interface is required",
				"f.yaml:2:9: ha.vrid: must be between 1 and 255, got 0",
				"f.yaml:3:13: ha.priority: must be between 1 and 255, got 256",
				"f.yaml:4:20: ha.advert_interval: must be between 10ms and 40.95s (RFC 9568: 12 bits of centiseconds), got 5ms",
				`f.yaml:5:12: ha.preempt: must be true or false, got string "maybe"`,
				"f.yaml:6:3: ha.mode: unknown field (allowed: advert_interval, interfaces, preempt, priority, vrid)",
			},
		},
		{
			name: "missing",
			src:  "ha:\n  priority: 50\n",
			want: []string{
				"f.yaml:1:1: ha.vrid: missing (1..255)",
				"f.yaml:1:1: ha.interfaces: at least one interface is required",
			},
		},
		{
			name: "null",
			src:  "ha:\n",
			want: []string{
				"f.yaml:1:1: ha.vrid: missing (1..255)",
				"f.yaml:1:1: ha.interfaces: at least one interface is required",
			},
		},
		{
			name: "intervals",
			src:  "ha: {vrid: 1, advert_interval: 15ms, interfaces: {}}\n",
			want: []string{
				"f.yaml:1:32: ha.advert_interval: must be a whole number of centiseconds (10ms steps), got 15ms",
				"f.yaml:1:38: ha.interfaces: at least one interface is required",
			},
		},
		{
			name: "interval forms",
			src:  haInterfaces + "ha:\n  vrid: 1\n  advert_interval: 100\n  interfaces: {eth1: {virtual_addresses: [fe80::1]}}\n",
			want: []string{"f.yaml:10:20: ha.advert_interval: must be a duration with a unit, e.g. 100ms"},
		},
		{
			name: "virtual addresses",
			src: haInterfaces + `ha:
  vrid: 1
  advert_interval: 41s
  interfaces:
    eth1:
      virtual_addresses: ["2001:db8:0:2::1/64", fe80::1]
    eth0:
      virtual_addresses: [fe80::1, fe80::1, "2001:db8:0:1::1", "2001:db8:0:1::1/64", ff02::12, "fe80::2%eth0", 10.0.0.1, "::", nonsense]
    eth2:
      virtual_addresses: []
    eth3: {}
    eth4: {virtual_addresses: [fe80::1], priority: 10}
    "eth/5": {virtual_addresses: [fe80::1]}
`,
			want: []string{
				"f.yaml:10:20: ha.advert_interval: must be between 10ms and 40.95s (RFC 9568: 12 bits of centiseconds), got 41s",
				"f.yaml:13:27: ha.interfaces.eth1.virtual_addresses[0]: the first virtual address must be link-local (fe80::/10, RFC 9568), got 2001:db8:0:2::1/64",
				"f.yaml:15:36: ha.interfaces.eth0.virtual_addresses[1]: fe80::1 is already listed at ha.interfaces.eth0.virtual_addresses[0]",
				"f.yaml:15:64: ha.interfaces.eth0.virtual_addresses[3]: 2001:db8:0:1::1 is already listed at ha.interfaces.eth0.virtual_addresses[2]",
				"f.yaml:15:86: ha.interfaces.eth0.virtual_addresses[4]: ff02::12 is not a unicast address",
				"f.yaml:15:96: ha.interfaces.eth0.virtual_addresses[5]: fe80::2%eth0: a virtual address takes no zone (its interface is the key)",
				"f.yaml:15:112: ha.interfaces.eth0.virtual_addresses[6]: 10.0.0.1 is not an IPv6 address",
				"f.yaml:15:122: ha.interfaces.eth0.virtual_addresses[7]: :: is not a unicast address",
				`f.yaml:15:128: ha.interfaces.eth0.virtual_addresses[8]: invalid IPv6 address "nonsense"`,
				"f.yaml:17:7: ha.interfaces.eth2.virtual_addresses: at least one virtual address is required, the first link-local",
				"f.yaml:18:5: ha.interfaces.eth3.virtual_addresses: at least one virtual address is required, the first link-local",
				"f.yaml:19:42: ha.interfaces.eth4.priority: unknown field (allowed: virtual_addresses)",
				`f.yaml:20:5: ha.interfaces.eth/5: invalid interface name "eth/5" (1-15 characters, no '/', ':' or spaces)`,
			},
		},
		{
			name: "across interfaces",
			src: haInterfaces + `  eth2:
    role: downstream
    addresses: [2001:db8:0:3::1/64]
  eth3:
    role: bogus
ha:
  vrid: 1
  interfaces:
    eth1: {virtual_addresses: [fe80::1, "2001:db8:0:2::1/64", "2001:db8:0:3::1"]}
    eth0: {virtual_addresses: [fe80::1, "2001:db8:0:2::1"]}
    eth3: {virtual_addresses: [fe80::1]}
    eth9: {virtual_addresses: [fe80::1]}
`,
			want: []string{
				`f.yaml:12:11: interfaces.eth3.role: must be upstream or downstream, got "bogus"`,
				"f.yaml:16:63: ha.interfaces.eth1.virtual_addresses[2]: 2001:db8:0:3::1 is an address of another interface, at interfaces.eth2.addresses[0]",
				"f.yaml:17:41: ha.interfaces.eth0.virtual_addresses[1]: 2001:db8:0:2::1 is already a virtual address at ha.interfaces.eth1.virtual_addresses[1]",
				"f.yaml:19:5: ha.interfaces.eth9: eth9 is not an interface of this config",
			},
		},
		{
			name: "address owner",
			src: haInterfaces + `ha:
  vrid: 1
  priority: 255
  interfaces:
    eth1: {virtual_addresses: [fe80::1, "2001:db8:0:2::2/64", "2001:db8:0:2::3"]}
    eth0: {virtual_addresses: [fe80::1, "2001:db8:0:1::1"]}
`,
			want: []string{
				"f.yaml:10:13: ha.priority: 255 (address owner) needs every virtual address among its interface's addresses: 2001:db8:0:2::3 is not in interfaces.eth1.addresses",
				"f.yaml:10:13: ha.priority: 255 (address owner) needs every virtual address among its interface's addresses: 2001:db8:0:1::1 is not in interfaces.eth0.addresses",
			},
		},
		{
			name: "not the address owner",
			src: haInterfaces + `ha:
  vrid: 1
  priority: 254
  interfaces:
    eth1: {virtual_addresses: [fe80::1, "2001:db8:0:2::2/64"]}
    eth0: {virtual_addresses: [fe80::1, "2001:db8:0:1::fe"]}
`,
			want: []string{
				"f.yaml:12:41: ha.interfaces.eth1.virtual_addresses[1]: 2001:db8:0:2::2 is also in interfaces.eth1.addresses: only the address owner (priority 255) may have it, else both routers would own it",
				"f.yaml:13:41: ha.interfaces.eth0.virtual_addresses[1]: 2001:db8:0:1::fe is also in interfaces.eth0.addresses: only the address owner (priority 255) may have it, else both routers would own it",
			},
		},
	})
}
