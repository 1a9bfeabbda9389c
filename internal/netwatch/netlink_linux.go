package netwatch

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// DefaultReceiveBuffer is the receive buffer asked for each subscription
// socket (capped by net.core.rmem_max unless forced as root), so that bursts
// (a link flap with many addresses and routes) do not overrun it.
const DefaultReceiveBuffer = 1 << 20

// Netlink is the Source of the running kernel, in the network namespace of
// the calling process: rtnetlink link, IPv6 address, neighbour and route
// notifications, and IPv6 netconf notifications (forwarding changes).
type Netlink struct {
	// ReceiveBuffer is the receive buffer of each socket; 0 means
	// DefaultReceiveBuffer. A small one makes overruns (ENOBUFS) likely,
	// which tests use.
	ReceiveBuffer int
}

// Open implements Source.
func (n Netlink) Open(stop <-chan struct{}, deliver func(Event)) (<-chan error, error) {
	rcv := n.ReceiveBuffer
	if rcv == 0 {
		rcv = DefaultReceiveBuffer
	}
	// quit closes every socket: on stop, or when any of them dies.
	quit := make(chan struct{})
	var quitOnce sync.Once
	closeQuit := func() { quitOnce.Do(func() { close(quit) }) }
	var errMu sync.Mutex
	var firstErr error
	onErr := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	force := unix.Geteuid() == 0

	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	neighs := make(chan netlink.NeighUpdate, 256)
	routes := make(chan netlink.RouteUpdate, 256)
	fail := func(what string, err error) (<-chan error, error) {
		closeQuit()
		return nil, fmt.Errorf("subscribe to %s: %w", what, err)
	}
	if err := netlink.LinkSubscribeWithOptions(links, quit, netlink.LinkSubscribeOptions{
		ErrorCallback: onErr, ReceiveBufferSize: rcv, ReceiveBufferForceSize: force}); err != nil {
		return fail("links", err)
	}
	go drainOnQuit(quit, links)
	if err := netlink.AddrSubscribeWithOptions(addrs, quit, netlink.AddrSubscribeOptions{
		ErrorCallback: onErr, ReceiveBufferSize: rcv, ReceiveBufferForceSize: force}); err != nil {
		return fail("addresses", err)
	}
	go drainOnQuit(quit, addrs)
	if err := netlink.NeighSubscribeWithOptions(neighs, quit, netlink.NeighSubscribeOptions{
		ErrorCallback: onErr, ReceiveBufferSize: rcv, ReceiveBufferForceSize: force}); err != nil {
		return fail("neighbours", err)
	}
	go drainOnQuit(quit, neighs)
	if err := netlink.RouteSubscribeWithOptions(routes, quit, netlink.RouteSubscribeOptions{
		ErrorCallback: onErr, ReceiveBufferSize: rcv, ReceiveBufferForceSize: force}); err != nil {
		return fail("routes", err)
	}
	go drainOnQuit(quit, routes)
	netconf, err := subscribeNetconf(quit, rcv, force, onErr)
	if err != nil {
		return fail("ipv6 netconf", err)
	}

	done := make(chan error, 1)
	go func() {
		var end error
		defer func() {
			closeQuit()
			errMu.Lock()
			if end != nil && firstErr != nil {
				end = fmt.Errorf("%w (%v)", end, firstErr)
			}
			errMu.Unlock()
			done <- end
		}()
		closed := func(what string) error { return fmt.Errorf("%s subscription closed", what) }
		for {
			select {
			case <-stop:
				return
			case u, ok := <-links:
				if !ok {
					end = closed("link")
					return
				}
				deliver(Event{Kind: KindLink, Index: int(u.Index), Deleted: u.Header.Type == unix.RTM_DELLINK, Msg: u})
			case u, ok := <-addrs:
				if !ok {
					end = closed("address")
					return
				}
				if u.LinkAddress.IP.To4() != nil {
					continue
				}
				deliver(Event{Kind: KindAddr, Index: u.LinkIndex, Deleted: !u.NewAddr, Msg: u})
			case u, ok := <-neighs:
				if !ok {
					end = closed("neighbour")
					return
				}
				if u.Family != netlink.FAMILY_V6 {
					continue
				}
				deliver(Event{Kind: KindNeigh, Index: u.LinkIndex, Deleted: u.Type == unix.RTM_DELNEIGH, Msg: u})
			case u, ok := <-routes:
				if !ok {
					end = closed("route")
					return
				}
				if u.Family != 0 && u.Family != netlink.FAMILY_V6 {
					continue
				}
				deliver(Event{Kind: KindRoute, Index: u.LinkIndex, Deleted: u.Type == unix.RTM_DELROUTE, Msg: u})
			case idx, ok := <-netconf:
				if !ok {
					end = closed("netconf")
					return
				}
				deliver(Event{Kind: KindNetconf, Index: idx})
			}
		}
	}()
	return done, nil
}

// drainOnQuit empties ch after quit until the library closes it, so its
// receive goroutine, blocked on a send, sees the closed socket and returns.
func drainOnQuit[T any](quit <-chan struct{}, ch <-chan T) {
	<-quit
	for range ch {
	}
}

// subscribeNetconf subscribes to RTNLGRP_IPV6_NETCONF and sends the
// interface index of each notification (-1 for "all", -2 for "default").
// The channel is closed when the socket fails or quit is closed.
func subscribeNetconf(quit <-chan struct{}, rcv int, force bool, onErr func(error)) (<-chan int, error) {
	s, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_IPV6_NETCONF)
	if err != nil {
		return nil, err
	}
	if err := s.SetReceiveBufferSize(rcv, force); err != nil {
		s.Close()
		return nil, err
	}
	out := make(chan int, 16)
	go func() {
		<-quit
		s.Close()
	}()
	go func() {
		defer close(out)
		for {
			msgs, from, err := s.Receive()
			if err != nil {
				select {
				case <-quit:
				default:
					onErr(fmt.Errorf("netconf receive: %w", err))
				}
				return
			}
			if from.Pid != nl.PidKernel {
				continue
			}
			for _, m := range msgs {
				if m.Header.Type != unix.RTM_NEWNETCONF {
					continue
				}
				select {
				case out <- netconfIndex(m.Data):
				case <-quit:
					return
				}
			}
		}
	}()
	return out, nil
}

// netconfaIfindex is NETCONFA_IFINDEX (linux/netconf.h).
const netconfaIfindex = 1

// netconfIndex returns NETCONFA_IFINDEX of a netconfmsg (struct netconfmsg
// is one byte of family, padded to 4), or 0.
func netconfIndex(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	attrs, err := nl.ParseRouteAttr(b[4:])
	if err != nil {
		return 0
	}
	for _, a := range attrs {
		if a.Attr.Type == netconfaIfindex && len(a.Value) >= 4 {
			return int(int32(binary.NativeEndian.Uint32(a.Value)))
		}
	}
	return 0
}
