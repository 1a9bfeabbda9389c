package dhcpv6

import (
	"net"
	"net/netip"
	"time"
)

// Well-known DHCPv6 ports and the link-scoped All_DHCP_Relay_Agents_and_Servers
// group (RFC 8415 §7.1, §7.2).
const (
	ClientPort = 546
	ServerPort = 547
)

// AllRelayAgentsAndServers is ff02::1:2.
var AllRelayAgentsAndServers = netip.MustParseAddr("ff02::1:2")

// Meta is what a Conn knows about a received datagram besides its payload.
type Meta struct {
	// Src is the IPv6 source address and UDP source port.
	Src netip.AddrPort
	// Dst is the IPv6 destination: ff02::1:2 or a unicast address.
	Dst netip.Addr
	// IfIndex is the interface the frame arrived on.
	IfIndex int
	// SrcMAC is the link-layer source of the frame, nil when unknown. It is
	// the client's MAC only for a message sent directly by an on-link
	// client (link-local source, not a Relay-forward).
	SrcMAC net.HardwareAddr
}

// Conn is a DHCPv6 server socket on one interface. ReadFrom blocks until a
// datagram for UDP port 547 arrives and returns an error wrapping
// net.ErrClosed once Close was called; WriteTo sends a UDP datagram from
// port 547 out of the interface. ListenConn opens the Linux one; package
// dhcpv6test has an in-memory one.
type Conn interface {
	ReadFrom(b []byte) (n int, m Meta, err error)
	WriteTo(b []byte, dst netip.AddrPort) error
	Close() error
}

// Clock tells the time; leases expire by it.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
