package router_test

import (
	"testing"
	"time"
)

// waitFor polls cond every 10ms until it holds or timeout passes, and
// returns how long it took; on timeout it fails with cond's last report.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, report := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, report)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
