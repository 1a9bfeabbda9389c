package pdclient

import (
	"errors"
	"net/netip"
)

// ErrInterfaceGone is wrapped by a Conn's WriteTo when the interface the
// socket was bound to no longer exists; Run then returns, so that the next
// Run (the daemon's supervisor restarts it) opens a socket on the interface
// of that name, if it came back.
var ErrInterfaceGone = errors.New("the interface is gone")

// DHCPv6 ports and the All_DHCP_Relay_Agents_and_Servers group (RFC 8415
// §7.1–7.2).
const (
	ClientPort = 546
	ServerPort = 547
)

// AllServers is All_DHCP_Relay_Agents_and_Servers, where the client sends
// every message unless the server gave a unicast address.
var AllServers = netip.MustParseAddr("ff02::1:2")

// A Conn sends and receives the client's DHCPv6 datagrams on its upstream
// link: UDP port 546, sending to port 547. The real one is opened by Listen;
// package pdtest has an in-memory one.
type Conn interface {
	// ReadFrom reads one datagram into b (truncating a longer one, as a
	// UDP socket does) and returns its length and source. After Close it
	// returns an error wrapping net.ErrClosed.
	ReadFrom(b []byte) (int, netip.AddrPort, error)
	// WriteTo sends one datagram to dst: AllServers (link scope: the
	// Conn's own link) or a server's unicast address, port ServerPort. An
	// error wrapping ErrInterfaceGone ends Run.
	WriteTo(b []byte, dst netip.AddrPort) error
	// Close wakes a blocked ReadFrom.
	Close() error
}
