package netwatch_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/internal/netwatch/netwatchtest"
)

func pending(c <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-c:
			n++
		default:
			return n
		}
	}
}

func TestCoalescesAndResubscribes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := netwatchtest.New()
		w := netwatch.New(src, nil)
		ctx, cancel := context.WithCancel(t.Context())
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		sig := w.Subscribe(netwatch.Links|netwatch.Addrs, 0)
		q := w.Subscribe(netwatch.Links, 16)
		for i := range 5 {
			src.Send(netwatch.Event{Kind: netwatch.KindLink, Index: i + 1})
		}
		src.Send(netwatch.Event{Kind: netwatch.KindRoute, Index: 9})
		if n := pending(sig.C()); n != 1 {
			t.Fatalf("after 5 events: %d pending, want 1", n)
		}
		if got := sig.Events(); got != nil {
			t.Errorf("a subscription without queue holds %v", got)
		}
		want := []netwatch.Event{{Kind: netwatch.KindLink, Index: 1}, {Kind: netwatch.KindLink, Index: 2},
			{Kind: netwatch.KindLink, Index: 3}, {Kind: netwatch.KindLink, Index: 4}, {Kind: netwatch.KindLink, Index: 5}}
		if diff := cmp.Diff(want, q.Events()); diff != "" {
			t.Errorf("queued events (-want +got):\n%s", diff)
		}
		pending(q.C())

		// The subscription dies; the first two resubscribes fail.
		src.FailNext(2)
		src.Kill(errors.New("receive: no buffer space available"))
		synctest.Wait()
		if st := w.Status(); st.Subscribed || st.LastError == "" {
			t.Errorf("status after the kill: %+v", st)
		}
		time.Sleep(netwatch.ResubscribeMin + 2*netwatch.ResubscribeMin + 4*netwatch.ResubscribeMin)
		synctest.Wait()
		if n := src.Opened(); n != 2 {
			t.Fatalf("opened %d subscriptions, want 2", n)
		}
		// Changes may have been missed: every subscriber hears of it.
		if n := pending(sig.C()); n != 1 {
			t.Errorf("%d notifications after resubscribing, want 1", n)
		}
		if n := pending(q.C()); n != 1 {
			t.Errorf("queued subscriber: %d notifications after resubscribing, want 1", n)
		}
		if diff := cmp.Diff([]netwatch.Event{{Kind: netwatch.KindResync}}, q.Events()); diff != "" {
			t.Errorf("after resubscribing (-want +got):\n%s", diff)
		}
		if st := w.Status(); !st.Subscribed || st.Resyncs != 1 || st.Subscribers != 2 {
			t.Errorf("status after resubscribing: %+v", st)
		}
		src.Send(netwatch.Event{Kind: netwatch.KindAddr, Index: 3})
		if n := pending(sig.C()); n != 1 {
			t.Errorf("new subscription's event: %d pending, want 1", n)
		}

		cancel()
		synctest.Wait()
		if !src.Stopped() {
			t.Error("subscription not stopped after ctx done")
		}
	})
}

func TestOverflowResyncs(t *testing.T) {
	src := netwatchtest.New()
	w := netwatch.New(src, nil)
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	q := w.Subscribe(netwatch.Routes, 3)
	for i := range 10 {
		src.Send(netwatch.Event{Kind: netwatch.KindRoute, Index: i})
	}
	if diff := cmp.Diff([]netwatch.Event{{Kind: netwatch.KindResync}}, q.Events()); diff != "" {
		t.Errorf("after an overflow (-want +got):\n%s", diff)
	}
	src.Send(netwatch.Event{Kind: netwatch.KindRoute, Index: 42})
	if diff := cmp.Diff([]netwatch.Event{{Kind: netwatch.KindRoute, Index: 42}}, q.Events()); diff != "" {
		t.Errorf("after the resync was read (-want +got):\n%s", diff)
	}
	if st := w.Status(); st.Overflows != 1 {
		t.Errorf("overflows = %d, want 1", st.Overflows)
	}
	q.Close()
	src.Send(netwatch.Event{Kind: netwatch.KindRoute, Index: 43})
	if got := q.Events(); got != nil {
		t.Errorf("closed subscription got %v", got)
	}
	if st := w.Status(); st.Subscribers != 0 {
		t.Errorf("subscribers = %d after Close", st.Subscribers)
	}
}

func TestStartError(t *testing.T) {
	src := netwatchtest.New()
	src.FailNext(1)
	if err := netwatch.New(src, nil).Start(t.Context()); err == nil {
		t.Fatal("Start succeeded although subscribing failed")
	}
}
