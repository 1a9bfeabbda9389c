package ra

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// ErrLinkNotReady reports that an interface does not exist yet, is down, or
// has no link-local address that completed Duplicate Address Detection. The
// Advertiser retries on it. A missing interface's error also wraps
// netwatch.ErrLinkNotFound, the sentinel every component uses.
var ErrLinkNotReady = errors.New("link not ready")

// Conn is an NDP socket bound to the link-local address of one interface.
// *ndp.Conn implements it; ratest.Conn is an in-memory fake.
type Conn interface {
	// ReadRaw reads the next ICMPv6 message into b and returns its length,
	// its control message (which carries the hop limit) and its source
	// address. The Advertiser parses and validates the bytes itself so it
	// can count what it drops and why; messages it sent itself may show up.
	ReadRaw(b []byte) (int, *ipv6.ControlMessage, netip.Addr, error)
	// WriteTo sends m to dst with hop limit 255; a nil cm uses the defaults.
	WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

var _ Conn = (*ndp.Conn)(nil)

// System is the part of the operating system an Advertiser uses.
type System interface {
	// LinkState reports the current state of interface name. A missing
	// interface is an error wrapping ErrLinkNotReady.
	LinkState(name string) (LinkState, error)
	// Listen opens an NDP socket on interface name that receives Router
	// Solicitations sent to ff02::2 and Router Advertisements of other
	// routers, with their hop limit.
	Listen(name string) (Conn, error)
	// Forwarding reports whether IPv6 forwarding is on for interface name
	// (net.ipv6.conf.NAME.forwarding); RFC 4861 §6.2.5 makes an interface
	// that does not forward advertise router lifetime 0.
	Forwarding(name string) (bool, error)
}

// LinkState is a snapshot of one interface.
type LinkState struct {
	Index int
	MAC   net.HardwareAddr
	// Up is true when the link is administratively up and running
	// (has carrier).
	Up bool
	// LinkLocal is a link-local address that is neither tentative nor
	// DAD-failed; the zero Addr when there is none.
	LinkLocal netip.Addr
	// Global holds the global unicast addresses with their prefix length
	// (used to expand the "::/64" prefix).
	Global []netip.Prefix
	// MTU of the link; 0 when unknown (then RAs are not split).
	MTU int
}

// Ready reports whether RAs can be sent on the link.
func (s LinkState) Ready() bool { return s.Up && s.LinkLocal.IsValid() }
