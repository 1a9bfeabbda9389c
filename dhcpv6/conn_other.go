//go:build !linux

package dhcpv6

import "errors"

// ListenConn is only implemented on Linux.
func ListenConn(iface string) (Conn, error) {
	return nil, errors.New("dhcpv6 server sockets need Linux")
}
