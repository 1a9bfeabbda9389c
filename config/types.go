package config

import (
	"net"
	"net/netip"
	"time"
)

// Role says how vrouter treats an interface.
type Role string

const (
	// RoleUpstream learns its address and default route by SLAAC
	// (accept_ra=2, because forwarding is on).
	RoleUpstream Role = "upstream"
	// RoleDownstream holds static addresses and does no SLAAC on itself.
	RoleDownstream Role = "downstream"
)

// Preference is an RFC 4191 router or route preference.
type Preference string

const (
	PreferenceLow    Preference = "low"
	PreferenceMedium Preference = "medium"
	PreferenceHigh   Preference = "high"
)

// Config is a validated vrouter configuration.
type Config struct {
	// Source is the file name the config was read from (or "<default>").
	Source string
	// Interfaces in the order the file names them.
	Interfaces []Interface
	// Forwarding sets net.ipv6.conf.all.forwarding; nil leaves it as is.
	Forwarding *bool
	NDProxy    []NDProxy
	Fastpath   Fastpath
	Metrics    Metrics
	// HA is nil unless the router is one of an HA pair (DESIGN §4.3).
	HA *HA

	// Positions says where each field was written; it is not part of
	// what the config means (see Positions.Equal).
	Positions Positions
}

// Interface is the desired state of one network interface.
type Interface struct {
	Name      string
	Role      Role
	Addresses []netip.Prefix
	// MTU of the link; 0 leaves it as it is.
	MTU int
	// Advertise is nil when no Router Advertisements are sent here.
	Advertise *Advertise
	// DHCPv6 is nil when no DHCPv6 server listens here (DESIGN §4.1).
	DHCPv6 *DHCPv6
	// PrefixDelegation is nil unless this upstream interface asks for a
	// delegated prefix (DESIGN §4.2).
	PrefixDelegation *PrefixDelegation
	// Delegated is nil unless this downstream interface takes its /64 from
	// a prefix delegated on another interface (DESIGN §4.2).
	Delegated *Delegated
}

// Advertise configures Router Advertisements on one interface.
type Advertise struct {
	MinInterval    time.Duration
	MaxInterval    time.Duration
	RouterLifetime time.Duration // 0 = not a default router
	Preference     Preference
	Managed        bool
	OtherConfig    bool
	HopLimit       uint8
	ReachableTime  time.Duration // 0 = unspecified
	RetransTimer   time.Duration // 0 = unspecified
	LinkMTU        int           // 0 = no MTU option
	Prefixes       []Prefix
	Routes         []Route
	RDNSS          []RDNSS
	DNSSL          []DNSSL
	PREF64         []PREF64
	// CaptivePortal is the RFC 8910 captive portal API URI; empty = no
	// option.
	CaptivePortal string
}

// Prefix is a Prefix Information option (RFC 4861 §4.6.2). A prefix of
// "::/64" stands for every global /64 on the interface.
type Prefix struct {
	Prefix            netip.Prefix
	OnLink            bool
	Autonomous        bool
	ValidLifetime     time.Duration
	PreferredLifetime time.Duration
	// AutonomousSet is true when the config wrote autonomous explicitly
	// (a stateful DHCPv6 interface turns the A flag off otherwise).
	AutonomousSet bool
	// DecrementLifetimes makes the advertised lifetimes count down in real
	// time from when the prefix is first advertised (RFC 4861 §6.2.1
	// AdvValidLifetime/AdvPreferredLifetime "decrement in real time"),
	// instead of advertising the same values every time.
	DecrementLifetimes bool
	// PreferredUntil and ValidUntil, when not zero, cap the advertised
	// lifetimes to what remains until then, counting down in real time
	// (RFC 9096 §3: a prefix delegated with a lease is not advertised for
	// longer than the lease). Only run-time prefixes carry them (a
	// delegated /64, daemon Facts.Prefixes); the config file never does.
	PreferredUntil, ValidUntil time.Time
}

// Auto reports whether p stands for every global /64 on the interface.
func (p Prefix) Auto() bool { return p.Prefix.Addr().IsUnspecified() }

// Route is a Route Information option (RFC 4191 §2.3).
type Route struct {
	Prefix     netip.Prefix
	Preference Preference
	Lifetime   time.Duration
}

// RDNSS is a Recursive DNS Server option (RFC 8106 §5.1).
type RDNSS struct {
	Servers  []netip.Addr
	Lifetime time.Duration
}

// DNSSL is a DNS Search List option (RFC 8106 §5.2).
type DNSSL struct {
	Domains  []string
	Lifetime time.Duration
}

// PREF64 is a NAT64 prefix option (RFC 8781 §4).
type PREF64 struct {
	Prefix   netip.Prefix // length 32, 40, 48, 56, 64 or 96
	Lifetime time.Duration
}

// NDProxyMode selects which addresses of a proxied prefix are answered for.
type NDProxyMode string

const (
	// NDProxyStatic answers for every address of the prefix.
	NDProxyStatic NDProxyMode = "static"
	// NDProxyAuto answers only for neighbours that exist downstream.
	NDProxyAuto NDProxyMode = "auto"
)

// NDProxy proxies Neighbor Discovery for Prefix from Upstream to Downstream.
type NDProxy struct {
	Upstream   string
	Downstream string
	Prefix     netip.Prefix
	Mode       NDProxyMode
	// Router sets the R flag in proxied advertisements.
	Router bool
	// AnswerFromTarget sends proxied advertisements from the target
	// address instead of our link-local one (some providers require it).
	AnswerFromTarget bool
}

// Fastpath configures userspace forwarding.
type Fastpath struct {
	Enabled    bool
	Interfaces []string
	CPUs       []int
	// IO is the packet I/O: FastpathIOAuto (default, empty), FastpathIOXDP,
	// FastpathIOAFXDP or FastpathIOPacket.
	IO string
}

// Fast-path packet I/O (fastpath.io).
const (
	FastpathIOAuto   = "auto"      // the fastest that works, per interface: XDP tier, AF_XDP, AF_PACKET
	FastpathIOXDP    = "xdp"       // forwarding inside XDP (bpf_fib_lookup + devmap redirect); fail if not possible
	FastpathIOAFXDP  = "af_xdp"    // AF_XDP sockets fed by an XDP program; fail if not possible
	FastpathIOPacket = "af_packet" // AF_PACKET rings and a tc ingress filter
)

// Metrics configures the Prometheus listener.
type Metrics struct {
	Listen string // empty = off
}

// ForwardingOn reports whether the config turns IPv6 forwarding on.
func (c *Config) ForwardingOn() bool { return c.Forwarding != nil && *c.Forwarding }

// Interface returns the interface named name, or nil.
func (c *Config) Interface(name string) *Interface {
	for i := range c.Interfaces {
		if c.Interfaces[i].Name == name {
			return &c.Interfaces[i]
		}
	}
	return nil
}

// DHCPv6Mode is the OpenStack address mode a DHCPv6 server serves
// (DESIGN §4.1): stateless (ipv6_address_mode dhcpv6-stateless) or stateful
// (dhcpv6-stateful). "slaac" is the absence of a dhcpv6 section.
type DHCPv6Mode string

const (
	DHCPv6Stateless DHCPv6Mode = "stateless"
	DHCPv6Stateful  DHCPv6Mode = "stateful"
)

// DHCPv6 configures the DHCPv6 server of one downstream interface
// (RFC 8415). Defaults are resolved by the decoder: DNSServers and Domains
// come from the interface's RDNSS/DNSSL (in order, without duplicates) when
// the keys are not written (written as [], they stay empty: no option);
// T1/T2 are 0.5/0.8 of PreferredLifetime when not given. The decoder also
// sets the interface's RA flags for the mode (stateless: O; stateful: M, O
// and A=0 on prefixes whose autonomous was not written), so ra/ reads them
// as usual. Any time may be Infinity.
type DHCPv6 struct {
	Mode        DHCPv6Mode
	DNSServers  []netip.Addr
	Domains     []string
	RapidCommit bool
	// Stateful only (zero when stateless): T1 <= T2 <= PreferredLifetime
	// <= ValidLifetime (RFC 8415 §21.4), defaults 1800s, 2880s, 3600s, 7200s.
	PreferredLifetime time.Duration
	ValidLifetime     time.Duration
	T1, T2            time.Duration
	// InformationRefreshTime is sent in replies to Information-Request
	// (RFC 8415 §21.23): at least 600s, default 86400s.
	InformationRefreshTime time.Duration
	Pools                  []DHCPv6Pool // stateful only
	Hosts                  []DHCPv6Host // stateful only
}

// DHCPv6Pool is an inclusive range of addresses handed out by a stateful
// server. On a Delegated interface Start and End are interface-identifier
// suffixes (upper 64 bits zero, "::1000"), applied at run time to the /64
// the interface takes from the delegated prefix; elsewhere they are full
// addresses inside a /64 (or shorter) prefix of the interface's Addresses.
type DHCPv6Pool struct {
	Start, End netip.Addr
}

// DHCPv6Host is a reservation: the client with this DUID (else this MAC)
// always gets Address. Exactly one of MAC and DUID is set. Address is an
// interface-identifier suffix on a Delegated interface, as in DHCPv6Pool.
type DHCPv6Host struct {
	MAC      net.HardwareAddr
	DUID     []byte
	Address  netip.Addr
	Hostname string
}

// PrefixDelegation configures the DHCPv6-PD client of an upstream
// interface (RFC 8415 §6.3).
type PrefixDelegation struct {
	// Length is the prefix length asked for as a hint (the delegating
	// router decides); 0 asks without a hint. Default 56.
	Length int
	// ReleaseOnStop sends a Release when vrouter stops; by default the
	// delegation is kept so a restart gets the same prefix back.
	ReleaseOnStop bool
}

// Delegated takes a downstream interface's /64 from a delegated prefix:
// the subnet SubnetID of the prefix delegated on interface From (an
// upstream interface with PrefixDelegation), with ::1 of it added to the
// interface. SubnetID < 2^(64-Length) when From's Length is not 0; no two
// interfaces take the same subnet. The interface's DHCPv6 pools and hosts
// are then written as suffixes (see DHCPv6Pool).
type Delegated struct {
	From     string
	SubnetID uint64
}

// HA makes the router one of a VRRPv3 pair (RFC 9568, DESIGN §4.3).
type HA struct {
	VRID           uint8         // 1..255
	Priority       uint8         // 1..255, default 100 (255: owns the virtual addresses)
	AdvertInterval time.Duration // 10ms..40.95s in centiseconds, default 1s
	Preempt        bool          // default true
	// Interfaces in the order the file names them (at least one, each an
	// interface of Config.Interfaces); one VRRP instance each, all changing
	// state together.
	Interfaces []HAInterface
}

// HAInterface is one VRRP instance. VirtualAddresses[0] is link-local;
// an address written without a length is /64 when link-local and /128
// otherwise. No address is listed twice; a global one is on one HA
// interface only (the same link-local, such as fe80::1, may serve several).
// With Priority 255 every global virtual address is one of the interface's
// Addresses; below 255 none is.
type HAInterface struct {
	Name             string
	VirtualAddresses []netip.Prefix
}

// HAInterface returns the HA instance on interface name, or nil.
func (h *HA) Interface(name string) *HAInterface {
	if h == nil {
		return nil
	}
	for i := range h.Interfaces {
		if h.Interfaces[i].Name == name {
			return &h.Interfaces[i]
		}
	}
	return nil
}
