//go:build !linux

package netwatch

import "errors"

// Netlink is the Source of the running kernel; it exists on Linux only.
type Netlink struct{ ReceiveBuffer int }

// Open implements Source.
func (Netlink) Open(<-chan struct{}, func(Event)) (<-chan error, error) {
	return nil, errors.New("netwatch: netlink needs linux")
}
