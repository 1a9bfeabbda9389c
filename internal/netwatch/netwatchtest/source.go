package netwatchtest

import (
	"errors"
	"sync"

	"github.com/vrouter/vrouter/internal/netwatch"
)

// Source is a netwatch.Source whose subscriptions the test controls.
type Source struct {
	mu      sync.Mutex
	deliver func(netwatch.Event)
	done    chan error
	stop    <-chan struct{}
	opened  int
	failN   int
	openedC chan struct{}
}

// New returns a Source with no subscription open yet.
func New() *Source { return &Source{openedC: make(chan struct{}, 1)} }

// Open implements netwatch.Source.
func (s *Source) Open(stop <-chan struct{}, deliver func(netwatch.Event)) (<-chan error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return nil, errors.New("netwatchtest: injected subscribe failure")
	}
	s.opened++
	done := make(chan error, 1)
	s.deliver, s.done, s.stop = deliver, done, stop
	go func() {
		<-stop
		s.mu.Lock()
		if s.done == done {
			s.deliver, s.done = nil, nil
			done <- nil
		}
		s.mu.Unlock()
	}()
	select {
	case s.openedC <- struct{}{}:
	default:
	}
	return done, nil
}

// Send delivers ev on the open subscription; without one it is lost, as
// the kernel's notifications are while nobody listens.
func (s *Source) Send(ev netwatch.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deliver != nil {
		s.deliver(ev)
	}
}

// Kill ends the open subscription with err, as a socket error or a
// receive-buffer overrun (ENOBUFS) does.
func (s *Source) Kill(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		s.done <- err
		s.deliver, s.done = nil, nil
	}
}

// FailNext makes the next n calls of Open fail.
func (s *Source) FailNext(n int) {
	s.mu.Lock()
	s.failN = n
	s.mu.Unlock()
}

// Opened returns how many subscriptions were opened.
func (s *Source) Opened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// Stopped reports whether the last subscription was stopped by the
// watcher (its stop channel closed).
func (s *Source) Stopped() bool {
	s.mu.Lock()
	stop := s.stop
	s.mu.Unlock()
	if stop == nil {
		return false
	}
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
