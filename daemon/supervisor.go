package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Back-off of the supervisor between restarts of a failed component.
const (
	RestartMin = time.Second
	RestartMax = 30 * time.Second
	// Healthy is how long a component must run before a failure counts
	// as new: the back-off starts again from RestartMin.
	Healthy = time.Minute
)

// ComponentState is what a supervised component is doing.
type ComponentState string

// States of a supervised component.
const (
	StateStarting ComponentState = "starting" // Run called, not ready yet
	StateReady    ComponentState = "ready"    // Run called ready
	StateBackoff  ComponentState = "backoff"  // failed, waiting to restart
	StateStopped  ComponentState = "stopped"  // not running (shut down)
)

// ComponentStatus is a component's part of `vrouter status` as its
// supervisor sees it.
type ComponentStatus struct {
	Name  string         `json:"name"`
	State ComponentState `json:"state"`
	// Restarts counts the failures after which Run was called again.
	Restarts uint64 `json:"restarts"`
	// LastError is the error of the last failure, and LastErrorAt when
	// it happened.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Since is when the component entered State.
	Since time.Time `json:"since"`
}

// Supervisor runs one component: it calls Run, and after a failure logs it
// (once per distinct error), waits with back-off and calls Run again.
type Supervisor struct {
	name string
	comp Component
	log  *slog.Logger

	mu     sync.Mutex
	status ComponentStatus
	ready  chan struct{} // closed at the first ready
	once   sync.Once
}

// NewSupervisor returns a supervisor of comp called name; a nil log
// discards logs.
func NewSupervisor(name string, comp Component, log *slog.Logger) *Supervisor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{name: name, comp: comp, log: log, ready: make(chan struct{}),
		status: ComponentStatus{Name: name, State: StateStopped, Since: time.Now()}}
}

// Ready returns a channel closed the first time the component is ready.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Status returns the supervisor's view of the component.
func (s *Supervisor) Status() ComponentStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Supervisor) set(st ComponentState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status.State != st {
		s.status.State, s.status.Since = st, time.Now()
	}
}

// Run supervises the component until ctx is done and its Run has returned.
func (s *Supervisor) Run(ctx context.Context) {
	backoff := RestartMin
	var logged string
	for {
		s.set(StateStarting)
		start := time.Now()
		err := s.comp.Run(ctx, func() {
			s.set(StateReady)
			s.once.Do(func() { close(s.ready) })
		})
		if ctx.Err() != nil {
			s.set(StateStopped)
			if err != nil {
				s.log.Warn("stopped with an error", "err", err)
			}
			return
		}
		if err == nil {
			err = errors.New("returned before shutdown")
		}
		if time.Since(start) >= Healthy {
			backoff, logged = RestartMin, ""
		}
		now := time.Now()
		s.mu.Lock()
		s.status.Restarts++
		s.status.LastError, s.status.LastErrorAt = err.Error(), now
		s.status.State, s.status.Since = StateBackoff, now
		s.mu.Unlock()
		if msg := err.Error(); msg != logged {
			s.log.Error("failed; restarting with back-off", "err", err, "retry_in", backoff)
			logged = msg
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			s.set(StateStopped)
			return
		case <-t.C:
		}
		backoff = min(2*backoff, RestartMax)
	}
}
