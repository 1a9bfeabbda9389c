package config

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrefixDelegation(t *testing.T) {
	c := mustParse(t, `
interfaces:
  eth0:
    role: upstream
    prefix_delegation: {length: 60, release_on_stop: true}
  eth1:
    role: downstream
    delegated: {from: eth0, subnet_id: 15}
    advertise: {prefixes: [{prefix: "::/64"}]}
    dhcpv6:
      mode: stateful
      pools: [{start: "::1000", end: "::1fff"}]
      hosts: [{mac: "fa:16:3e:33:33:33", address: "::33"}]
  eth2:
    role: downstream
    delegated: {from: eth3, subnet_id: 0}
    addresses: [2001:db8:0:5::1/64]
  eth3:
    role: upstream
    prefix_delegation:
  eth4:
    role: upstream
    prefix_delegation: {length: 0}
  eth5:
    role: downstream
    delegated: {from: eth4, subnet_id: 123456789}
`)
	var gotPD []*PrefixDelegation
	var gotDel []*Delegated
	for _, ifc := range c.Interfaces {
		gotPD = append(gotPD, ifc.PrefixDelegation)
		gotDel = append(gotDel, ifc.Delegated)
	}
	wantPD := []*PrefixDelegation{{Length: 60, ReleaseOnStop: true}, nil, nil, {Length: 56}, {Length: 0}, nil}
	if diff := cmp.Diff(wantPD, gotPD); diff != "" {
		t.Errorf("prefix_delegation (-want +got):\n%s", diff)
	}
	wantDel := []*Delegated{nil, {From: "eth0", SubnetID: 15}, {From: "eth3", SubnetID: 0}, nil, nil, {From: "eth4", SubnetID: 123456789}}
	if diff := cmp.Diff(wantDel, gotDel); diff != "" {
		t.Errorf("delegated (-want +got):\n%s", diff)
	}
	dh := c.Interfaces[1].DHCPv6
	want := []DHCPv6Pool{{Start: netip.MustParseAddr("::1000"), End: netip.MustParseAddr("::1fff")}}
	if diff := cmp.Diff(want, dh.Pools, cmpConfig...); diff != "" {
		t.Errorf("suffix pools (-want +got):\n%s", diff)
	}
	if got := dh.Hosts[0].Address; got != netip.MustParseAddr("::33") {
		t.Errorf("suffix host address = %s, want ::33", got)
	}
}

func TestPrefixDelegationErrors(t *testing.T) {
	runErrorTests(t, []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "roles and fields",
			src: `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {length: 65, release: true}
    delegated: {from: eth1, subnet_id: 1}
  eth1:
    role: downstream
    prefix_delegation: {length: -1}
    delegated: {subnet_id: -2}
  eth2:
    role: downstream
    delegated:
`,
			want: []string{
				"f.yaml:4:33: interfaces.eth0.prefix_delegation.length: must be 0 (ask without a hint) or between 1 and 64, got 65",
				"f.yaml:4:37: interfaces.eth0.prefix_delegation.release: unknown field (allowed: length, release_on_stop)",
				"f.yaml:5:5: interfaces.eth0.delegated: only on role downstream (eth0 is upstream)",
				"f.yaml:8:5: interfaces.eth1.prefix_delegation: only on role upstream (eth1 is downstream)",
				"f.yaml:8:33: interfaces.eth1.prefix_delegation.length: must be 0 (ask without a hint) or between 1 and 64, got -1",
				"f.yaml:9:28: interfaces.eth1.delegated.subnet_id: must be 0 or more, got -2",
				"f.yaml:12:5: interfaces.eth2.delegated.from: missing (an upstream interface with prefix_delegation)",
				"f.yaml:12:5: interfaces.eth2.delegated.subnet_id: missing",
			},
		},
		{
			name: "from and subnets",
			src: `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {length: 62}
  eth1:
    role: upstream
  bad:
    role: router
  eth2:
    role: downstream
    delegated: {from: eth9, subnet_id: 1}
  eth3:
    role: downstream
    delegated: {from: eth1, subnet_id: 1}
  eth4:
    role: downstream
    delegated: {from: eth0, subnet_id: 4}
  eth5:
    role: downstream
    delegated: {from: eth0, subnet_id: 3}
  eth6:
    role: downstream
    delegated: {from: eth0, subnet_id: 3}
  eth7:
    role: downstream
    delegated: {from: bad, subnet_id: 3}
  eth8:
    role: downstream
    delegated: {from: "eth/0", subnet_id: x}
`,
			want: []string{
				`f.yaml:8:11: interfaces.bad.role: must be upstream or downstream, got "router"`,
				"f.yaml:11:23: interfaces.eth2.delegated.from: eth9 is not an interface of this config",
				"f.yaml:14:23: interfaces.eth3.delegated.from: eth1 has no prefix_delegation section",
				"f.yaml:17:40: interfaces.eth4.delegated.subnet_id: must be below 4 (eth0 asks for a /62: 2^(64-62) subnets of /64), got 4",
				"f.yaml:23:40: interfaces.eth6.delegated.subnet_id: subnet 3 of eth0's delegated prefix is already taken by interfaces.eth5.delegated",
				`f.yaml:29:23: interfaces.eth8.delegated.from: invalid interface name "eth/0" (1-15 characters, no '/', ':' or spaces)`,
				`f.yaml:29:43: interfaces.eth8.delegated.subnet_id: must be an integer, got string "x"`,
			},
		},
		{
			name: "suffix form",
			src: `interfaces:
  eth0:
    role: upstream
    prefix_delegation: {}
  eth1:
    role: downstream
    addresses: [2001:db8:0:5::1/64]
    delegated: {from: eth0, subnet_id: 1}
    dhcpv6:
      mode: stateful
      pools:
        - {start: "2001:db8:0:5::1000", end: "2001:db8:0:5::1fff"}
        - {start: "::1", end: "::ff"}
      hosts:
        - {mac: "fa:16:3e:33:33:33", address: "2001:db8:0:5::33"}
        - {mac: "fa:16:3e:44:44:44", address: "::1"}
  eth2:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    dhcpv6:
      mode: stateful
      pools: [{start: "::1000", end: "::1fff"}]
      hosts: [{mac: "fa:16:3e:33:33:33", address: "::33"}]
`,
			want: []string{
				`f.yaml:12:19: interfaces.eth1.dhcpv6.pools[0].start: a delegated interface takes interface identifiers applied to its delegated /64 (upper 64 bits zero, such as "::1000"), got 2001:db8:0:5::1000`,
				`f.yaml:12:46: interfaces.eth1.dhcpv6.pools[0].end: a delegated interface takes interface identifiers applied to its delegated /64 (upper 64 bits zero, such as "::1000"), got 2001:db8:0:5::1fff`,
				"f.yaml:13:11: interfaces.eth1.dhcpv6.pools[1]: contains ::1, the router's own address in the delegated /64",
				`f.yaml:15:47: interfaces.eth1.dhcpv6.hosts[0].address: a delegated interface takes interface identifiers applied to its delegated /64 (upper 64 bits zero, such as "::1000"), got 2001:db8:0:5::33`,
				"f.yaml:16:47: interfaces.eth1.dhcpv6.hosts[1].address: ::1 is the router's own address in the delegated /64",
				"f.yaml:22:23: interfaces.eth2.dhcpv6.pools[0].start: ::1000 is an interface-identifier suffix, which only a delegated interface takes; write a full address of a prefix of interfaces.eth2.addresses",
				"f.yaml:23:51: interfaces.eth2.dhcpv6.hosts[0].address: ::33 is an interface-identifier suffix, which only a delegated interface takes; write a full address of a prefix of interfaces.eth2.addresses",
			},
		},
	})
}
