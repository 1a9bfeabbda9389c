package router

import (
	"context"
	"time"
)

// Run keeps the kernel at the desired state set by the last Apply until ctx
// is done, then returns nil. It makes one pass when it starts, one after
// every burst of events (coalesced over 50ms), one every 30s as a safety net
// for missed events, and after a failed pass retries with backoff from 1s
// up to 30s. A closed events channel leaves only the periodic passes.
//
// Start the watcher (Watch) before the first Apply so no change in between
// is missed.
func (r *Reconciler) Run(ctx context.Context, events <-chan struct{}) error {
	tick := time.NewTicker(resync)
	defer tick.Stop()
	var (
		settle  <-chan time.Time // pending debounce
		retry   <-chan time.Time // pending retry after a failure
		backoff time.Duration
		lastErr string
	)
	pass := func() {
		err := r.reapply(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if lastErr != "" {
				r.log.Info("reconcile recovered")
			}
			lastErr, backoff, retry = "", 0, nil
			return
		}
		// Log a failure once, not on every retry.
		if msg := err.Error(); msg != lastErr {
			r.log.Warn("reconcile failed", "err", err)
			lastErr = msg
		}
		backoff = min(max(2*backoff, retryMin), resync)
		retry = time.After(backoff)
	}

	pass()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				r.log.Warn("event channel closed; relying on periodic resync")
				events = nil
				continue
			}
			if settle == nil {
				settle = time.After(debounce)
			}
		case <-settle:
			settle = nil
			pass()
		case <-retry:
			retry = nil
			pass()
		case <-tick.C:
			pass()
		}
	}
}
