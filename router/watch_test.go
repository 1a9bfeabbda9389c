package router

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeSub is a subscription the test controls.
type fakeSub struct {
	mu     sync.Mutex
	notify func()
	stop   <-chan struct{}
	kill   chan struct{} // closing it makes the subscription die
	opened int
	failN  int // fail this many subscribe attempts
}

func (s *fakeSub) subscribe(stop <-chan struct{}, notify func()) (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return nil, errors.New("injected subscribe failure")
	}
	s.opened++
	s.notify, s.stop, s.kill = notify, stop, make(chan struct{})
	dead := make(chan struct{})
	kill := s.kill
	go func() {
		defer close(dead)
		select {
		case <-stop:
		case <-kill:
		}
	}()
	return dead, nil
}

func (s *fakeSub) event() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notify()
}

func pending(ch <-chan struct{}) (n int, closed bool) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n, true
			}
			n++
		default:
			return n, false
		}
	}
}

func TestWatchCoalescesAndResubscribes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sub := &fakeSub{}
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := watch(ctx, slog.New(slog.DiscardHandler), sub.subscribe)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			sub.event()
		}
		if n, closed := pending(ch); n != 1 || closed {
			t.Fatalf("after 5 events: %d pending (closed=%v), want 1", n, closed)
		}

		// The subscription dies; the first two resubscribes fail.
		sub.mu.Lock()
		sub.failN = 2
		close(sub.kill)
		sub.mu.Unlock()
		time.Sleep(resubscribeMin + 2*resubscribeMin + 4*resubscribeMin)
		synctest.Wait()
		if sub.opened != 2 {
			t.Fatalf("opened %d subscriptions, want 2", sub.opened)
		}
		// Changes may have been missed: a notification follows.
		if n, _ := pending(ch); n != 1 {
			t.Errorf("%d notifications after resubscribing, want 1", n)
		}
		sub.event()
		if n, _ := pending(ch); n != 1 {
			t.Errorf("new subscription's event: %d pending, want 1", n)
		}

		cancel()
		synctest.Wait()
		if _, closed := pending(ch); !closed {
			t.Error("channel not closed after ctx done")
		}
		select {
		case <-sub.stop:
		default:
			t.Error("subscription not stopped after ctx done")
		}
	})
}

func TestWatchSubscribeError(t *testing.T) {
	sub := &fakeSub{failN: 1}
	if _, err := watch(context.Background(), slog.New(slog.DiscardHandler), sub.subscribe); err == nil {
		t.Fatal("watch succeeded although subscribing failed")
	}
}
