package ratest

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/internal/netns"
	"github.com/vrouter/vrouter/ra"
)

// InNetns returns the real ra.System of the network namespace open at fd,
// for namespace tests that run the advertiser in a namespace of their own:
// netlink through a handle opened there, NDP sockets and the forwarding
// sysctl opened on a thread switched there. Call close when done.
func InNetns(fd int) (sys ra.System, close func(), err error) {
	var h *netlink.Handle
	if err := netns.DoFD(fd, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	}); err != nil {
		return nil, nil, fmt.Errorf("netlink handle in namespace: %w", err)
	}
	return nsSystem{System: ra.NewNetlinkSystem(h), fd: fd}, h.Close, nil
}

type nsSystem struct {
	ra.System
	fd int
}

func (s nsSystem) LinkState(name string) (st ra.LinkState, err error) {
	err = netns.DoFD(s.fd, func() error { st, err = s.System.LinkState(name); return err })
	return st, err
}

func (s nsSystem) Listen(name string) (c ra.Conn, err error) {
	err = netns.DoFD(s.fd, func() error { c, err = s.System.Listen(name); return err })
	return c, err
}

func (s nsSystem) Forwarding(name string) (on bool, err error) {
	err = netns.DoFD(s.fd, func() error { on, err = s.System.Forwarding(name); return err })
	return on, err
}
