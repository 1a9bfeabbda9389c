package router

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/vishvananda/netlink"
)

// Watch subscribes to rtnetlink link and address notifications in the
// calling process's network namespace and returns a channel that receives a
// value when links or addresses may have changed (values coalesce: one
// pending value stands for any number of changes). A subscription that dies
// is reopened, followed by a notification. The channel is closed when ctx is
// done. Pass it to Reconciler.Run.
func Watch(ctx context.Context, log *slog.Logger) (<-chan struct{}, error) {
	if log == nil {
		log = slog.Default()
	}
	return watch(ctx, log, func(stop <-chan struct{}, notify func()) (<-chan struct{}, error) {
		return netlinkSubscribe(log, stop, notify)
	})
}

// rcvBuf is the receive buffer asked for the subscription sockets (capped by
// net.core.rmem_max), so that bursts (a link flap with many addresses) do
// not overrun it; an overrun ends the subscription and Watch reopens it.
const rcvBuf = 1 << 20

// netlinkSubscribe opens the link and address subscriptions. notify is
// called from one goroutine; dead is closed after that goroutine returns.
func netlinkSubscribe(log *slog.Logger, stop <-chan struct{}, notify func()) (<-chan struct{}, error) {
	// quit closes both netlink sockets; closed on stop or when either
	// subscription dies.
	quit := make(chan struct{})
	var once sync.Once
	closeQuit := func() { once.Do(func() { close(quit) }) }
	onErr := func(err error) {
		select {
		case <-quit:
			// The socket was closed on purpose.
		default:
			log.Warn("netlink subscription error", "err", err)
		}
	}

	linkCh := make(chan netlink.LinkUpdate, 64)
	addrCh := make(chan netlink.AddrUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(linkCh, quit, netlink.LinkSubscribeOptions{
		ErrorCallback:     onErr,
		ReceiveBufferSize: rcvBuf,
	}); err != nil {
		closeQuit()
		return nil, fmt.Errorf("subscribe to link updates: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrCh, quit, netlink.AddrSubscribeOptions{
		ErrorCallback:     onErr,
		ReceiveBufferSize: rcvBuf,
	}); err != nil {
		closeQuit()
		go drain(linkCh)
		return nil, fmt.Errorf("subscribe to address updates: %w", err)
	}

	dead := make(chan struct{})
	go func() {
		defer close(dead)
		defer func() {
			closeQuit()
			// The library goroutines block sending updates; drain
			// until they close the channels.
			go drain(linkCh)
			go drain(addrCh)
		}()
		for {
			select {
			case <-stop:
				return
			case _, ok := <-linkCh:
				if !ok {
					return
				}
				notify()
			case _, ok := <-addrCh:
				if !ok {
					return
				}
				notify()
			}
		}
	}()
	return dead, nil
}

func drain[T any](ch <-chan T) {
	for range ch {
	}
}
