package config

import (
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
	// DecrementLifetimes makes the advertised lifetimes count down in real
	// time from when the prefix is first advertised (RFC 4861 §6.2.1
	// AdvValidLifetime/AdvPreferredLifetime "decrement in real time"),
	// instead of advertising the same values every time.
	DecrementLifetimes bool
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
	// IO is the packet I/O: FastpathIOAuto (default, empty), FastpathIOXDP
	// or FastpathIOPacket.
	IO string
}

// Fast-path packet I/O (fastpath.io).
const (
	FastpathIOAuto   = "auto"      // AF_XDP where the kernel and interface allow it, else AF_PACKET
	FastpathIOXDP    = "af_xdp"    // AF_XDP sockets fed by an XDP program; fail if not possible
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
