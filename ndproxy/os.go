package ndproxy

import (
	"context"
	"io"
	"net/netip"

	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
)

// MAC is an Ethernet address.
type MAC = ndwire.MAC

// ErrLinkNotFound is returned (wrapped) by System.Link for an interface that
// does not exist (yet). The proxy waits for it to appear. It is
// netwatch.ErrLinkNotFound, the one sentinel of every component.
var ErrLinkNotFound = netwatch.ErrLinkNotFound

// Link is what the proxy needs to know about one interface.
type Link struct {
	Index int
	Name  string
	MAC   MAC
	// LinkLocal is a usable (not tentative) link-local address, or the zero
	// Addr.
	LinkLocal netip.Addr
	// Addrs are all IPv6 addresses on the link; the kernel answers for
	// these itself.
	Addrs []netip.Addr
	// Up: the link is operationally up (administratively up and with
	// carrier), so what is sent on it reaches the neighbours.
	Up bool
}

// Route is a route the proxy installed: Dst out of the link Ifindex.
type Route struct {
	Ifindex int
	Dst     netip.Prefix
}

// Port sends and receives IPv6 packets at the link layer on one interface.
// Packets start at the IPv6 header. Methods are safe for concurrent use.
type Port interface {
	// ReadFrom reads one packet addressed to this host (its MAC, multicast
	// or broadcast) into b and returns its length and the sender's MAC.
	// After Close it returns an error matching net.ErrClosed.
	ReadFrom(b []byte) (int, MAC, error)
	// WriteTo sends the IPv6 packet b to the Ethernet address dst.
	WriteTo(b []byte, dst MAC) error
	Close() error
}

// System is the operating system as the proxy uses it. The Linux
// implementation is the default; ndproxytest.System is a fake.
type System interface {
	// Link describes the interface called name, or returns an error
	// wrapping ErrLinkNotFound.
	Link(name string) (Link, error)
	// OpenPort opens a Port on ifindex that receives ICMPv6 messages of
	// the given types.
	OpenPort(ifindex int, icmpTypes ...uint8) (Port, error)
	// JoinGroups joins the multicast groups on ifindex (so MLD reports go
	// out) or, with allMulti, turns on ALLMULTI; Close undoes it.
	JoinGroups(ifindex int, groups []netip.Addr, allMulti bool) (io.Closer, error)
	// Neighbors lists the addresses of usable kernel neighbour entries on
	// ifindex (reachable, stale, delay, probe or permanent).
	Neighbors(ifindex int) ([]netip.Addr, error)
	// AddRoute makes sure dst is routed out of ifindex, installing a route
	// unless the kernel already sends dst there; it reports whether it
	// installed one (which DelRoute then removes).
	AddRoute(ifindex int, dst netip.Prefix) (bool, error)
	DelRoute(ifindex int, dst netip.Prefix) error
	// OwnedRoutes lists the routes AddRoute installed that exist now,
	// whichever process installed them (on Linux: proto 199 in the main
	// table), so a proxy started after a restart adopts those of its
	// predecessor and removes those no rule wants.
	OwnedRoutes() ([]Route, error)
	// Watch calls notify (which must not block) whenever links, addresses
	// or neighbours change, until ctx is done.
	Watch(ctx context.Context, notify func()) error
}
