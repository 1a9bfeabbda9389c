package scenario

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Node is one machine of the reference topology, that is one namespace.
type Node string

// The nodes of the reference topology. The string is the suffix of the
// namespace name after the per-run prefix.
const (
	Upstream Node = "up"  // the Neutron-style ipv6-router running radvd
	VRouter  Node = "vr"  // the service VM running `vrouter run`
	Switch   Node = "sw"  // the tenant L2 segment: a Linux bridge, no IPv6
	VM1      Node = "vm1" // a tenant VM doing SLAAC
	VM2      Node = "vm2" // a tenant VM doing SLAAC
	// parking holds the vRouter's links until AttachVRouterLinks moves them
	// (Options.LateVRouterLinks).
	parking Node = "lt"
)

// Nodes lists the nodes in the order they are built and shown.
var Nodes = []Node{Upstream, VRouter, Switch, VM1, VM2}

// Title is the name a person knows the node by.
func (n Node) Title() string {
	switch n {
	case Upstream:
		return "ipv6-router"
	case VRouter:
		return "vRouter"
	case Switch:
		return "switch"
	case VM1:
		return "VM1"
	case VM2:
		return "VM2"
	case parking:
		return "parking"
	}
	return string(n)
}

// Interface names. Every host's interface is eth0 except the vRouter's tenant
// side; the switch holds the bridge and one port per host.
const (
	IfEth0   = "eth0"
	IfEth1   = "eth1"
	IfBridge = "br0"
	// With Options.SecondTenantNetwork: the vRouter's eth2 and each VM's
	// eth1 are on a second tenant segment, bridge br1 of the switch.
	IfEth2    = "eth2"
	IfBridge2 = "br1"
)

// MAC addresses (OpenStack's fa:16:3e OUI), and so the EUI-64 interface
// identifiers, of the reference scenario.
var (
	MACUpstream    = mustMAC("fa:16:3e:00:00:01")
	MACVRouterEth0 = mustMAC("fa:16:3e:11:11:11")
	MACVRouterEth1 = mustMAC("fa:16:3e:22:22:22")
	MACVM1         = mustMAC("fa:16:3e:33:33:33")
	MACVM2         = mustMAC("fa:16:3e:44:44:44")
	// The second tenant network (Options.SecondTenantNetwork): the
	// vRouter's eth2 and the VMs' eth1.
	MACVRouterEth2 = mustMAC("fa:16:3e:55:55:55")
	MACVM1Net2     = mustMAC("fa:16:3e:66:66:66")
	MACVM2Net2     = mustMAC("fa:16:3e:77:77:77")
)

// Prefixes and addresses of the reference scenario (DESIGN §1).
var (
	UpstreamPrefix = netip.MustParsePrefix("2001:db8:0:1::/64")
	TenantPrefix   = netip.MustParsePrefix("2001:db8:0:2::/64")

	// UpstreamAddr is the ipv6-router's static address; VMs ping it.
	UpstreamAddr = netip.MustParsePrefix("2001:db8:0:1::1/64")
	// UpstreamLL is the ipv6-router's link-local address, the vRouter's
	// default gateway.
	UpstreamLL = LinkLocal(MACUpstream)
	// VRouterEth0Addr is what the vRouter's eth0 learns by SLAAC.
	VRouterEth0Addr = SLAAC(UpstreamPrefix, MACVRouterEth0)
	// VRouterEth1Addr is the vRouter's static tenant address.
	VRouterEth1Addr = netip.MustParsePrefix("2001:db8:0:2::1/64")
	// VRouterEth1LL is the vRouter's tenant link-local address, the VMs'
	// default gateway.
	VRouterEth1LL = LinkLocal(MACVRouterEth1)
	VM1Addr       = SLAAC(TenantPrefix, MACVM1)
	VM2Addr       = SLAAC(TenantPrefix, MACVM2)
)

// DefaultRadvdMaxInterval is the ipv6-router's MaxRtrAdvInterval. radvd's
// default (600s) is what Neutron runs with, but the vRouter's eth0 link is
// already up when vrouter turns accept_ra on, so the kernel sends no Router
// Solicitation and SLAAC on eth0 waits for radvd's next unsolicited RA. 10s
// keeps that wait, and the tests, short while staying a legal RFC 4861 value
// (MaxRtrAdvInterval >= 4s).
const DefaultRadvdMaxInterval = 10 * time.Second

// LinkLocal returns the modified EUI-64 link-local address (RFC 4291 §2.5.1,
// appendix A) of a 48-bit MAC address.
func LinkLocal(mac net.HardwareAddr) netip.Addr {
	return eui64(netip.MustParsePrefix("fe80::/64"), mac).Addr()
}

// SLAAC returns the address a host with the given MAC forms in the /64
// prefix p by stateless autoconfiguration with EUI-64 identifiers
// (addr_gen_mode=0), as a /64.
func SLAAC(p netip.Prefix, mac net.HardwareAddr) netip.Prefix {
	return eui64(p, mac)
}

func eui64(p netip.Prefix, mac net.HardwareAddr) netip.Prefix {
	a := p.Masked().Addr().As16()
	if len(mac) != 6 || p.Bits() != 64 || !p.Addr().Is6() {
		return netip.Prefix{}
	}
	a[8] = mac[0] ^ 0x02
	a[9] = mac[1]
	a[10] = mac[2]
	a[11] = 0xff
	a[12] = 0xfe
	a[13] = mac[3]
	a[14] = mac[4]
	a[15] = mac[5]
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err) // only called on the literals above
	}
	return m
}

// RadvdConfig is the part of a radvd.conf(5) the scenario uses: one
// interface advertising one SLAAC prefix.
type RadvdConfig struct {
	Interface string
	Prefix    netip.Prefix
	// MinInterval and MaxInterval are MinRtrAdvInterval and
	// MaxRtrAdvInterval; radvd accepts whole seconds, 3s..1350s and 4s..1800s.
	MinInterval time.Duration
	MaxInterval time.Duration
	// DefaultLifetime is AdvDefaultLifetime, 0 = not a default router.
	DefaultLifetime time.Duration
}

// Validate reports a config radvd would refuse, so that the error is ours and
// clear instead of a line of radvd's log.
func (c RadvdConfig) Validate() error {
	switch {
	case c.Interface == "":
		return fmt.Errorf("radvd config: no interface")
	case !c.Prefix.IsValid() || !c.Prefix.Addr().Is6() || c.Prefix.Bits() != 64:
		return fmt.Errorf("radvd config: prefix %v: want an IPv6 /64", c.Prefix)
	case c.MaxInterval < 4*time.Second || c.MaxInterval > 1800*time.Second:
		return fmt.Errorf("radvd config: max interval %v: want 4s..1800s", c.MaxInterval)
	case c.MinInterval < 3*time.Second || c.MinInterval > c.MaxInterval*3/4:
		return fmt.Errorf("radvd config: min interval %v: want 3s..0.75*max (%v)", c.MinInterval, c.MaxInterval*3/4)
	case c.DefaultLifetime != 0 && (c.DefaultLifetime < c.MaxInterval || c.DefaultLifetime > 9000*time.Second):
		return fmt.Errorf("radvd config: default lifetime %v: want 0 or max interval..9000s", c.DefaultLifetime)
	}
	return nil
}

// Render returns the radvd.conf text.
func (c RadvdConfig) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by the vrouter scenario harness\n")
	fmt.Fprintf(&b, "interface %s {\n", c.Interface)
	fmt.Fprintf(&b, "\tAdvSendAdvert on;\n")
	fmt.Fprintf(&b, "\tMinRtrAdvInterval %d;\n", int(c.MinInterval/time.Second))
	fmt.Fprintf(&b, "\tMaxRtrAdvInterval %d;\n", int(c.MaxInterval/time.Second))
	fmt.Fprintf(&b, "\tAdvDefaultLifetime %d;\n", int(c.DefaultLifetime/time.Second))
	fmt.Fprintf(&b, "\tprefix %s {\n", c.Prefix.Masked())
	fmt.Fprintf(&b, "\t\tAdvOnLink on;\n")
	fmt.Fprintf(&b, "\t\tAdvAutonomous on;\n")
	fmt.Fprintf(&b, "\t};\n")
	fmt.Fprintf(&b, "};\n")
	return b.String()
}

// radvdConfig is the ipv6-router's radvd config with MaxRtrAdvInterval
// maxInterval (truncated to whole seconds).
func radvdConfig(maxInterval time.Duration) RadvdConfig {
	maxI := maxInterval.Truncate(time.Second)
	return RadvdConfig{
		Interface:       IfEth0,
		Prefix:          UpstreamPrefix,
		MinInterval:     max(3*time.Second, (maxI * 3 / 4).Truncate(time.Second)),
		MaxInterval:     maxI,
		DefaultLifetime: 1800 * time.Second,
	}
}
