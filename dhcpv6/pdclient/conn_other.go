//go:build !linux

package pdclient

import "errors"

// Listen opens the DHCPv6 client socket on iface; only on Linux.
func Listen(iface string) (Conn, error) {
	return nil, errors.New("dhcpv6 client socket: only supported on linux")
}
