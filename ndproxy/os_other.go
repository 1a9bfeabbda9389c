//go:build !linux

package ndproxy

import (
	"context"
	"errors"
	"io"
	"net/netip"
)

var errUnsupported = errors.New("ndproxy: only supported on linux")

func defaultSystem() System { return unsupported{} }

type unsupported struct{}

func (unsupported) Link(string) (Link, error)                { return Link{}, errUnsupported }
func (unsupported) OpenPort(int, ...uint8) (Port, error)     { return nil, errUnsupported }
func (unsupported) Neighbors(int) ([]netip.Addr, error)      { return nil, errUnsupported }
func (unsupported) AddRoute(int, netip.Prefix) (bool, error) { return false, errUnsupported }
func (unsupported) DelRoute(int, netip.Prefix) error         { return errUnsupported }
func (unsupported) Watch(context.Context, func()) error      { return errUnsupported }
func (unsupported) OwnedRoutes() ([]Route, error)            { return nil, errUnsupported }
func (unsupported) JoinGroups(int, []netip.Addr, bool) (io.Closer, error) {
	return nil, errUnsupported
}
