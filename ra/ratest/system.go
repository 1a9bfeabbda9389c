package ratest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vrouter/vrouter/ra"
)

// System is a fake ra.System. Links are set by the test; every successful
// Listen creates a new Conn, which the test receives from Conns.
type System struct {
	mu        sync.Mutex
	links     map[string]ra.LinkState
	listenErr error
	listens   int
	conns     chan *Conn
	noForward map[string]bool
}

// NewSystem returns a System without links.
func NewSystem() *System {
	return &System{links: make(map[string]ra.LinkState), conns: make(chan *Conn, 16)}
}

// SetLink creates or replaces link name.
func (s *System) SetLink(name string, st ra.LinkState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.links[name] = st
}

// UpdateLink changes link name in place; it panics if the link does not exist,
// which is a broken test.
func (s *System) UpdateLink(name string, f func(*ra.LinkState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.links[name]
	if !ok {
		panic(fmt.Sprintf("ratest: UpdateLink of unknown link %q", name))
	}
	f(&st)
	s.links[name] = st
}

// RemoveLink deletes link name.
func (s *System) RemoveLink(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.links, name)
}

// SetForwarding sets whether link name forwards IPv6 (default: on).
func (s *System) SetForwarding(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noForward == nil {
		s.noForward = make(map[string]bool)
	}
	s.noForward[name] = !on
}

// Forwarding implements ra.System.
func (s *System) Forwarding(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.noForward[name], nil
}

// SetListenErr makes Listen fail with err (nil: succeed again).
func (s *System) SetListenErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listenErr = err
}

// Listens counts the successful Listen calls.
func (s *System) Listens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listens
}

// Conns delivers each Conn that Listen opened (buffered; at most 16 may wait).
func (s *System) Conns() <-chan *Conn { return s.conns }

// LinkState implements ra.System.
func (s *System) LinkState(name string) (ra.LinkState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.links[name]
	if !ok {
		return ra.LinkState{}, fmt.Errorf("interface %q does not exist: %w", name, ra.ErrLinkNotReady)
	}
	st.MAC = append(st.MAC[:0:0], st.MAC...)
	st.Global = append(st.Global[:0:0], st.Global...)
	return st, nil
}

// Listen implements ra.System. Like the kernel, it fails with an error
// wrapping ra.ErrLinkNotReady when the link is not ready.
func (s *System) Listen(name string) (ra.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listenErr != nil {
		return nil, s.listenErr
	}
	st, ok := s.links[name]
	if !ok || !st.Ready() {
		return nil, fmt.Errorf("listen on %q: %w", name, ra.ErrLinkNotReady)
	}
	c := NewConn(st.LinkLocal)
	select {
	case s.conns <- c:
	default:
		return nil, errors.New("ratest: more than 16 unconsumed conns")
	}
	s.listens++
	return c, nil
}
