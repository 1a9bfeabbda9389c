package router

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vrouter/vrouter/internal/netwatch"
)

// ErrLinkNotFound is wrapped by OS methods when the named link does not
// exist. The reconciler treats it as "not there yet", not as a failure. It
// is netwatch.ErrLinkNotFound, the one sentinel of every component.
var ErrLinkNotFound = netwatch.ErrLinkNotFound

// ErrTentative is returned by OS.SolicitRouters while the link-local
// address has not finished Duplicate Address Detection.
var ErrTentative = errors.New("link-local address is tentative")

// Link is the state of one network interface as the reconciler needs it.
type Link struct {
	Index        int
	Name         string
	Up           bool // administratively up (IFF_UP)
	MTU          int
	HardwareAddr net.HardwareAddr
}

// OS is the kernel as the reconciler sees it. Methods that take a link name
// return an error wrapping ErrLinkNotFound when the link does not exist.
//
// Sysctl keys use sysctl(8) notation: dot-separated, relative to /proc/sys,
// with a dot inside an interface name written as '/'
// ("net.ipv6.conf.eth0/100.accept_ra" for eth0.100).
type OS interface {
	Link(name string) (Link, error)
	SetLinkUp(name string) error
	SetMTU(name string, mtu int) error
	// Addrs returns every IPv6 address on the link (any scope, tentative
	// ones included) as address/prefix-length.
	Addrs(name string) ([]netip.Prefix, error)
	// ReplaceAddr adds p to the link, or updates it in place if present;
	// it never creates a duplicate.
	ReplaceAddr(name string, p netip.Prefix) error
	DeleteAddr(name string, p netip.Prefix) error
	Sysctl(key string) (string, error)
	SetSysctl(key, value string) error
	// SolicitRouters sends one Router Solicitation (RFC 4861 §6.3.7) from
	// the link's link-local address to ff02::2, without looping it back to
	// local sockets. While that address is tentative it returns an error
	// wrapping ErrTentative: the kernel then solicits itself after DAD.
	SolicitRouters(name string) error
}

// confKey returns the sysctl key of an IPv6 per-interface setting.
func confKey(iface, leaf string) string {
	return "net.ipv6.conf." + strings.ReplaceAll(iface, ".", "/") + "." + leaf
}

// sysctlPath maps a sysctl(8) key to its path under /proc/sys: dots separate
// components and a '/' inside a component stands for a dot. It rejects keys
// that could escape /proc/sys.
func sysctlPath(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty sysctl key")
	}
	parts := strings.Split(key, ".")
	for i, p := range parts {
		p = strings.ReplaceAll(p, "/", ".")
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\x00") {
			return "", fmt.Errorf("invalid sysctl key %q", key)
		}
		parts[i] = p
	}
	return "/proc/sys/" + strings.Join(parts, "/"), nil
}
