package fastpathtest

import (
	"context"
	"fmt"

	"github.com/vrouter/vrouter/fastpath"
)

// Interface is one interface of a System.
type Interface struct {
	Link fastpath.Link
	Port fastpath.Port
}

// System is a fastpath.System with fixed interfaces and tables.
type System struct {
	Interfaces map[string]Interface
	// Setup fills the tables once when the engine starts.
	Setup func(t *fastpath.Tables)
	// Resolve receives the engine's neighbour resolution requests; when it
	// is full, requests are dropped.
	Resolve chan fastpath.NeighbourRef
	// Claimed receives the links the engine claimed, once Run is ready.
	Claimed chan []fastpath.Link
}

var _ fastpath.System = (*System)(nil)

// OpenPort implements fastpath.System.
func (s *System) OpenPort(name string) (fastpath.Port, fastpath.Link, error) {
	i, ok := s.Interfaces[name]
	if !ok {
		return nil, fastpath.Link{}, fmt.Errorf("no interface %q", name)
	}
	return i.Port, i.Link, nil
}

// Run implements fastpath.System.
func (s *System) Run(ctx context.Context, links []fastpath.Link, t *fastpath.Tables, resolve <-chan fastpath.NeighbourRef, ready func()) error {
	if s.Setup != nil {
		s.Setup(t)
	}
	t.Commit()
	if s.Claimed != nil {
		s.Claimed <- links
	}
	ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-resolve:
			select {
			case s.Resolve <- r:
			default:
			}
		}
	}
}
