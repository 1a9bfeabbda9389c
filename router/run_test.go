package router_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vrouter/vrouter/router"
	"github.com/vrouter/vrouter/router/routertest"
)

// passes counts reconciliation passes in the recorded calls: every pass
// starts by looking up the first configured interface.
func passes(f *routertest.OS) int {
	n := 0
	for _, c := range f.Calls() {
		if c == "Link eth0" {
			n++
		}
	}
	return n
}

// startRun applies the reference config and starts Run in the bubble. It
// returns the events channel and a stop function that cancels Run and
// checks that it returned nil.
func startRun(t *testing.T, f *routertest.OS, r *router.Reconciler) (chan struct{}, func()) {
	t.Helper()
	if err := r.Apply(context.Background(), reference()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx, events) }()
	synctest.Wait()
	f.ResetCalls() // forget Apply and Run's first pass
	stop := func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	}
	return events, stop
}

func TestRunDebounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := slaacHost(t)
		log, _ := newLogger(t)
		r := router.New(f, log)
		events, stop := startRun(t, f, r)
		defer stop()

		// A burst of 20 events over 19ms costs one pass, 50ms after
		// the first.
		start := time.Now()
		for i := range 20 {
			if i > 0 {
				time.Sleep(time.Millisecond)
			}
			events <- struct{}{}
		}
		synctest.Wait()
		if n := passes(f); n != 0 {
			t.Fatalf("%d passes during the burst, want 0", n)
		}
		time.Sleep(50*time.Millisecond - time.Since(start))
		synctest.Wait()
		if n := passes(f); n != 1 {
			t.Fatalf("%d passes after the burst settled, want 1", n)
		}
		if n := f.Mutations(); n != 0 {
			t.Errorf("event pass on a converged system made %d changes: %q", n, f.Calls())
		}
	})
}

func TestRunRestoresOnEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := slaacHost(t)
		log, _ := newLogger(t)
		r := router.New(f, log)
		events, stop := startRun(t, f, r)
		defer stop()
		want := f.Render()

		f.SetLinkDown("eth1") // the kernel drops eth1's addresses
		events <- struct{}{}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if got := f.Render(); !slices.Equal(want, got) {
			t.Errorf("not restored 50ms after the event:\nwant %q\ngot  %q", want, got)
		}

		// An interface that appears while running is configured.
		f.RemoveLink("eth1")
		events <- struct{}{}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if r.Configured("eth1") {
			t.Fatal("Configured(eth1) after it was removed")
		}
		f.AddLink("eth1", nil)
		events <- struct{}{}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if !r.Configured("eth1") {
			t.Errorf("Configured(eth1) = false 50ms after it appeared")
		}
	})
}

func TestRunPeriodic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := slaacHost(t)
		log, _ := newLogger(t)
		r := router.New(f, log)
		_, stop := startRun(t, f, r)
		defer stop()
		want := f.Render()

		// A change nobody told us about is repaired by the 30s resync.
		f.RemoveKernelAddr("eth1", pfx("2001:db8:0:2::1/64"))
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if passes(f) != 0 {
			t.Fatalf("pass before the resync period: %q", f.Calls())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := f.Render(); !slices.Equal(want, got) {
			t.Errorf("not restored by the periodic pass:\nwant %q\ngot  %q", want, got)
		}
		if n := passes(f); n != 1 {
			t.Errorf("%d passes in 30s, want 1", n)
		}
	})
}

func TestRunRetriesAndLogsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := slaacHost(t)
		log, logs := newLogger(t)
		r := router.New(f, log)
		events, stop := startRun(t, f, r)
		defer stop()
		want := f.Render()

		f.Fail("ReplaceAddr eth1", errors.New("injected"))
		f.RemoveKernelAddr("eth1", pfx("2001:db8:0:2::1/64"))
		events <- struct{}{}
		// Fails at 50ms, then retries at +1s, +2s, +4s.
		time.Sleep(50*time.Millisecond + 7*time.Second)
		synctest.Wait()
		if n := passes(f); n != 4 {
			t.Errorf("%d passes in the first 7s of failure, want 4 (1s, 2s, 4s backoff)", n)
		}
		if n := strings.Count(logs.String(), `msg="reconcile failed"`); n != 1 {
			t.Errorf("logged the failure %d times, want once", n)
		}
		f.Fail("ReplaceAddr eth1", nil)
		time.Sleep(8 * time.Second) // next retry at +8s
		synctest.Wait()
		if got := f.Render(); !slices.Equal(want, got) {
			t.Errorf("not restored after the fault cleared:\nwant %q\ngot  %q", want, got)
		}
		if !strings.Contains(logs.String(), `msg="reconcile recovered"`) {
			t.Errorf("recovery not logged")
		}
	})
}

func TestRunClosedEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := slaacHost(t)
		log, _ := newLogger(t)
		r := router.New(f, log)
		events, stop := startRun(t, f, r)
		close(events)
		synctest.Wait()
		f.FlushAddrs("eth1")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if !slices.Contains(f.Calls(), "ReplaceAddr eth1 2001:db8:0:2::1/64") {
			t.Errorf("periodic pass did not run after the events channel closed: %q", f.Calls())
		}
		stop()
	})
}

func TestRunWithoutApply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := slaacHost(t)
		r := router.New(f, nil)
		ctx, cancel := context.WithCancel(context.Background())
		events := make(chan struct{})
		errc := make(chan error, 1)
		go func() { errc <- r.Run(ctx, events) }()
		events <- struct{}{}
		time.Sleep(time.Minute)
		synctest.Wait()
		if calls := f.Calls(); len(calls) != 0 {
			t.Errorf("Run without a desired state made calls: %q", calls)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}
