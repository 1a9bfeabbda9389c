package scenario

import (
	"context"
	"fmt"
	"time"
)

// poll calls check every interval until it reports done, timeout passes or
// ctx ends, so every wait is bounded both in time and in the number of
// checks. On timeout the error carries check's last description of what it
// saw, which is what a failing test wants to print.
func poll(ctx context.Context, timeout, interval time.Duration, check func() (done bool, state string)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last string
	for n := 1; ; n++ {
		done, state := check()
		if done {
			return nil
		}
		last = state
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %d checks; last: %s", ctx.Err(), n, last)
		case <-deadline.C:
			// One last look: the state may have changed while waiting.
			if done, state := check(); done {
				return nil
			} else {
				last = state
			}
			return fmt.Errorf("timed out after %v (%d checks); last: %s", timeout, n+1, last)
		case <-tick.C:
		}
	}
}
