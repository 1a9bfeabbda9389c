package router

import (
	"context"
	"log/slog"
	"time"
)

// subscribeFunc opens one subscription to kernel change notifications. It
// calls notify for every notification and returns a channel that is closed
// when the subscription has died (or was stopped by closing stop) and
// notify will not be called again.
type subscribeFunc func(stop <-chan struct{}, notify func()) (dead <-chan struct{}, err error)

const (
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 10 * time.Second
)

// watch turns a subscription into a coalescing notification channel: one
// pending value means "something may have changed". When the subscription
// dies (socket error, receive buffer overrun) it resubscribes with backoff
// and then notifies, because changes may have been missed meanwhile. The
// returned channel is closed once ctx is done and the subscription stopped.
func watch(ctx context.Context, log *slog.Logger, subscribe subscribeFunc) (<-chan struct{}, error) {
	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default: // one pending notification is enough
		}
	}
	stop := make(chan struct{})
	dead, err := subscribe(stop, notify)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				close(stop)
				<-dead
				return
			case <-dead:
			}
			close(stop)
			log.Warn("netlink subscription ended; resubscribing")
			backoff := resubscribeMin
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				stop = make(chan struct{})
				dead, err = subscribe(stop, notify)
				if err == nil {
					break
				}
				log.Warn("netlink resubscribe failed", "err", err, "retry_in", backoff)
				backoff = min(2*backoff, resubscribeMax)
			}
			log.Info("netlink subscription restored")
			notify()
		}
	}()
	return out, nil
}
