package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrLinkNotReady reports that an HA interface does not exist, is down, or
// has no usable link-local address yet. The Group keeps its instance down
// and tries again on the next link change. A missing interface's error
// also wraps netwatch.ErrLinkNotFound, the sentinel of every component.
var ErrLinkNotReady = errors.New("link not ready")

// System is the part of the operating system a Group uses. NewLinuxSystem
// returns the real one; package hatest has an in-memory fake.
type System interface {
	// Link reports the state of interface name; a missing interface is an
	// error wrapping ErrLinkNotReady.
	Link(name string) (Link, error)
	// Changes returns a channel that receives a value whenever links or
	// addresses may have changed (values coalesce); it is closed when ctx
	// is done.
	Changes(ctx context.Context) (<-chan struct{}, error)
	// Open prepares one HA interface: its VRRP socket and its virtual
	// link, created down and without addresses (a Backup holds nothing).
	Open(spec PortSpec) (Port, error)
}

// Link is a snapshot of an HA interface.
type Link struct {
	Index int
	// Up: administratively up with carrier.
	Up bool
	// LinkLocal is a link-local address of the interface that is neither
	// tentative nor DAD-failed, the source of our advertisements; the zero
	// Addr when there is none.
	LinkLocal netip.Addr
}

// Usable reports whether VRRP can run on the link.
func (l Link) Usable() bool { return l.Up && l.LinkLocal.IsValid() }

// PortSpec describes one HA interface and its virtual link.
type PortSpec struct {
	// Interface and Index name the HA interface (the parent).
	Interface string
	Index     int
	VRID      uint8
	// VirtualLink is the name of the virtual link (VirtualLinkName) and
	// VirtualMAC its address (VirtualMAC).
	VirtualLink string
	VirtualMAC  net.HardwareAddr
	// Addresses are put on the virtual link when it is activated; the
	// first is link-local.
	Addresses []netip.Prefix
	// Interval is the router's advertisement interval; right after a
	// takeover the virtual link's neighbour resolution retransmits at this
	// pace (at least 10 ms, at most 20 ms) instead of once a second.
	Interval time.Duration
}

// Port is the operating-system side of one HA interface: a VRRP socket on
// the interface and a virtual link (a macvlan with the virtual MAC on
// Linux) that holds the virtual addresses while the router is Active.
//
// A Port may also be a [Refresher]; the Group then calls Refresh whenever
// its links may have changed.
type Port interface {
	// ReadPacket reads the next VRRP packet that arrived on the interface
	// into b (the IPv6 payload) and returns it with its hop limit and
	// addresses; packets this port sent itself are not returned. After
	// Close it returns an error wrapping net.ErrClosed.
	ReadPacket(b []byte) (Packet, error)
	// Activate brings the virtual link up with the addresses of the spec.
	Activate() error
	// Deactivate takes the virtual link down and removes its addresses;
	// afterwards nothing is sent from the virtual MAC.
	Deactivate() error
	// SendAdvert sends the VRRP packet b, checksummed for src → ff02::12,
	// from src (the interface's link-local address) with hop limit 255
	// through the virtual link, so its source MAC is the virtual MAC
	// (RFC 9568 §7.2). It fails while the virtual link is down.
	SendAdvert(b []byte, src netip.Addr) error
	// SendNA sends the ICMPv6 message b (checksum left to the kernel)
	// from the virtual link-local address to ff02::1 with hop limit 255
	// through the virtual link.
	SendNA(b []byte) error
	// Close closes the socket and removes the virtual link.
	Close() error
}

// A Refresher is a Port that keeps the virtual link in step with its
// interface: Refresh copies what must follow the interface (on Linux the
// IPv6 forwarding setting, which decides the R flag of the virtual link's
// Neighbor Advertisements and whether the RA advertiser on it announces a
// default router). The Group calls it on every change notification and
// link poll while the port is open.
type Refresher interface {
	Refresh() error
}

// VirtualMAC is the virtual router MAC address of an IPv6 virtual router,
// 00:00:5e:00:02:VRID (RFC 9568 §7.3).
func VirtualMAC(vrid uint8) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x02, vrid}
}

// VirtualLinkName is the name of the virtual link of virtual router vrid
// on the interface with index parent: "vrrp<VRID>.<index>", or
// "vr<VRID hex>.<index hex>" when that is longer than the 15 characters
// Linux allows.
func VirtualLinkName(vrid uint8, parent int) string {
	if n := fmt.Sprintf("vrrp%d.%d", vrid, parent); len(n) <= 15 {
		return n
	}
	return fmt.Sprintf("vr%x.%x", vrid, uint32(parent))
}
