package netwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrLinkNotFound is wrapped by the errors of every component's OS boundary
// when a named link does not exist (yet). Components treat it as "not there
// yet", wait for a link event and do not count it as a failure.
var ErrLinkNotFound = errors.New("link not found")

// Kind is the kind of an Event.
type Kind uint8

// Kinds of events.
const (
	// KindResync: events may have been lost; re-read every state kept.
	KindResync  Kind = iota
	KindLink         // a link appeared, changed or was removed
	KindAddr         // an IPv6 address was added, changed or removed
	KindNeigh        // an IPv6 neighbour entry changed
	KindRoute        // an IPv6 route changed
	KindNetconf      // an IPv6 per-interface setting (forwarding...) changed
	numKinds
)

var kindNames = [numKinds]string{"resync", "link", "addr", "neigh", "route", "netconf"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Kinds is a set of event kinds a subscriber wants. KindResync is always
// delivered.
type Kinds uint8

// Sets of kinds.
const (
	Links    Kinds = 1 << KindLink
	Addrs    Kinds = 1 << KindAddr
	Neighs   Kinds = 1 << KindNeigh
	Routes   Kinds = 1 << KindRoute
	Netconfs Kinds = 1 << KindNetconf
	All            = Links | Addrs | Neighs | Routes | Netconfs
)

// Has reports whether k holds kind.
func (k Kinds) Has(kind Kind) bool { return kind == KindResync || k&(1<<kind) != 0 }

// Event is one change of kernel state.
type Event struct {
	Kind Kind
	// Index is the interface index the event is about; 0 when unknown or
	// for KindResync.
	Index int
	// Deleted is true when the object was removed.
	Deleted bool
	// Msg is the decoded message of Source Netlink: a netlink.LinkUpdate,
	// netlink.AddrUpdate, netlink.NeighUpdate or netlink.RouteUpdate (of
	// github.com/vishvananda/netlink); nil for KindResync and
	// KindNetconf, and whatever a fake sets.
	Msg any
}

// A Source opens subscriptions to kernel change notifications.
type Source interface {
	// Open starts one subscription. It calls deliver for every event,
	// from one goroutine, until stop is closed or the subscription fails.
	// The returned channel receives the error that ended it (nil after
	// stop) once deliver will not be called again.
	Open(stop <-chan struct{}, deliver func(Event)) (done <-chan error, err error)
}

// Back-off between resubscribe attempts.
const (
	ResubscribeMin = 100 * time.Millisecond
	ResubscribeMax = 10 * time.Second
)

// Status is the watcher's part of `vrouter status`.
type Status struct {
	// Subscribed is true while a kernel subscription is open.
	Subscribed bool `json:"subscribed"`
	// Resyncs counts the subscriptions that ended in error and were
	// reopened, each followed by a resync of every subscriber.
	Resyncs uint64 `json:"resyncs"`
	// Overflows counts subscriber queues that overflowed (each followed
	// by a resync of that subscriber).
	Overflows uint64 `json:"overflows"`
	// LastError is the error that ended the last subscription.
	LastError string `json:"last_error,omitempty"`
	// Subscribers is the number of open subscriptions.
	Subscribers int `json:"subscribers"`
}

// Watcher fans the events of one Source out to subscribers.
type Watcher struct {
	src Source
	log *slog.Logger

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	status Status
}

// New returns a Watcher reading src; it subscribes when Run is called. A nil
// log discards logs.
func New(src Source, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{src: src, log: log, subs: make(map[*Subscription]struct{})}
}

// Start opens the first subscription and returns once it is open (or with
// the error that kept it from opening); a goroutine then keeps it open
// until ctx is done. Subscribe before reading the state a subscriber keeps,
// so no change in between is missed.
func (w *Watcher) Start(ctx context.Context) error {
	stop := make(chan struct{})
	done, err := w.src.Open(stop, w.deliver)
	if err != nil {
		return fmt.Errorf("netlink subscribe: %w", err)
	}
	w.setSubscribed(true, nil)
	go w.keep(ctx, stop, done)
	return nil
}

// keep reopens the subscription whenever it ends, until ctx is done.
func (w *Watcher) keep(ctx context.Context, stop chan struct{}, done <-chan error) {
	for {
		var err error
		select {
		case <-ctx.Done():
			close(stop)
			<-done
			w.setSubscribed(false, nil)
			return
		case err = <-done:
		}
		close(stop)
		if err == nil {
			err = errors.New("subscription ended")
		}
		w.setSubscribed(false, err)
		w.log.Warn("netlink subscription ended; resubscribing", "err", err)
		backoff := ResubscribeMin
		for {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			stop = make(chan struct{})
			done, err = w.src.Open(stop, w.deliver)
			if err == nil {
				break
			}
			w.log.Warn("netlink resubscribe failed", "err", err, "retry_in", backoff)
			backoff = min(2*backoff, ResubscribeMax)
		}
		w.mu.Lock()
		w.status.Resyncs++
		w.status.Subscribed = true
		w.mu.Unlock()
		w.log.Info("netlink subscription restored; resyncing every subscriber")
		w.resyncAll()
	}
}

func (w *Watcher) setSubscribed(on bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.status.Subscribed = on
	if err != nil {
		w.status.LastError = err.Error()
	}
}

// Status returns the watcher's counters.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.status
	st.Subscribers = len(w.subs)
	return st
}

func (w *Watcher) deliver(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for s := range w.subs {
		if s.push(ev) {
			w.status.Overflows++
		}
	}
}

func (w *Watcher) resyncAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for s := range w.subs {
		s.resync()
	}
}

// Subscribe returns a subscription to the events of the given kinds. queue
// bounds how many events it holds until read with Events; with 0 it holds
// none and only wakes its channel. Close it when done.
func (w *Watcher) Subscribe(kinds Kinds, queue int) *Subscription {
	s := &Subscription{w: w, kinds: kinds, max: max(queue, 0), c: make(chan struct{}, 1)}
	w.mu.Lock()
	w.subs[s] = struct{}{}
	w.mu.Unlock()
	return s
}

// Subscription is one subscriber's view of the watcher.
type Subscription struct {
	w     *Watcher
	kinds Kinds
	max   int
	c     chan struct{}

	mu     sync.Mutex
	q      []Event
	lost   bool // events were dropped: Events returns KindResync first
	closed bool
}

// C returns the channel that receives a value when events are pending;
// values coalesce (one pending value stands for any number of events).
func (s *Subscription) C() <-chan struct{} { return s.c }

// Events takes the pending events, oldest first. When events were lost
// since the last call it returns a single KindResync event instead: read
// the whole state again.
func (s *Subscription) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost {
		s.lost = false
		s.q = s.q[:0]
		return []Event{{Kind: KindResync}}
	}
	out := s.q
	s.q = nil
	return out
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.w.mu.Lock()
	delete(s.w.subs, s)
	s.w.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.q = nil
	s.mu.Unlock()
}

// push queues ev if wanted; it reports whether the queue overflowed.
func (s *Subscription) push(ev Event) (overflow bool) {
	if !s.kinds.Has(ev.Kind) {
		return false
	}
	s.mu.Lock()
	switch {
	case s.closed || s.lost:
	case s.max == 0:
	case len(s.q) >= s.max:
		s.lost, s.q, overflow = true, nil, true
	default:
		s.q = append(s.q, ev)
	}
	s.mu.Unlock()
	s.wake()
	return overflow
}

func (s *Subscription) resync() {
	s.mu.Lock()
	if s.max > 0 {
		s.lost, s.q = true, nil
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Subscription) wake() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}
