package router

import (
	"context"
	"log/slog"

	"github.com/vrouter/vrouter/internal/netwatch"
)

// Watch subscribes to link and address changes in the calling process's
// network namespace with its own netwatch.Watcher and returns a channel
// that receives a value when links or addresses may have changed (values
// coalesce: one pending value stands for any number of changes; a lost
// subscription is reopened and followed by a value). The channel is closed
// when ctx is done. Pass it to Reconciler.Run. The daemon passes a
// subscription of its shared watcher instead.
func Watch(ctx context.Context, log *slog.Logger) (<-chan struct{}, error) {
	w := netwatch.New(netwatch.Netlink{}, log)
	if err := w.Start(ctx); err != nil {
		return nil, err
	}
	sub := w.Subscribe(netwatch.Links|netwatch.Addrs, 0)
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.C():
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}
