package fastpathtest

import (
	"fmt"
	"net"
	"sync"

	"github.com/vrouter/vrouter/fastpath"
)

// ChannelPort is a fastpath.Port on channels, like wireguard-go's
// tuntest.ChannelTUN: a test sends frames the port "receives" on Inbound and
// reads the frames the engine wrote from Outbound.
type ChannelPort struct {
	// Inbound carries frames for Read; the port does not modify them.
	Inbound chan []byte
	// Outbound receives a copy of every frame written; Write reports
	// fastpath.ErrQueueFull when it is full.
	Outbound chan []byte

	once   sync.Once
	closed chan struct{}
}

var _ fastpath.Port = (*ChannelPort)(nil)

// NewChannelPort returns a port whose channels hold up to depth frames.
func NewChannelPort(depth int) *ChannelPort {
	return &ChannelPort{
		Inbound:  make(chan []byte, depth),
		Outbound: make(chan []byte, depth),
		closed:   make(chan struct{}),
	}
}

// Read implements fastpath.Port.
func (p *ChannelPort) Read(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	select {
	case <-p.closed:
		return 0, fmt.Errorf("channel port: %w", net.ErrClosed)
	case f := <-p.Inbound:
		sizes[0] = len(f)
		copy(bufs[0], f)
	}
	n := 1
	for n < len(bufs) {
		select {
		case f := <-p.Inbound:
			sizes[n] = len(f)
			copy(bufs[n], f)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Write implements fastpath.Port.
func (p *ChannelPort) Write(bufs [][]byte) (int, error) {
	select {
	case <-p.closed:
		return 0, fmt.Errorf("channel port: %w", net.ErrClosed)
	default:
	}
	for i, b := range bufs {
		select {
		case p.Outbound <- append([]byte(nil), b...):
		default:
			return i, fastpath.ErrQueueFull
		}
	}
	return len(bufs), nil
}

// Close implements fastpath.Port.
func (p *ChannelPort) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// MultiQueuePort is a fastpath.Port with several receive queues, each a
// ChannelPort of its own, which it hands to the engine as separate ports
// (as fastpath.XDPPort.Queues does): the engine runs a worker per queue,
// which sends on the same queue of each egress port. Read and Write of the
// port itself use queue 0.
type MultiQueuePort struct {
	Q []*ChannelPort
	// TX, when not 0, is how many of the queues are sent on (the others
	// only receive, as the AF_XDP sockets of the receive queues a
	// virtio-net adds for XDP).
	TX int
}

// TxQueues returns TX, or all queues when it is 0.
func (p *MultiQueuePort) TxQueues() int {
	if p.TX == 0 {
		return len(p.Q)
	}
	return p.TX
}

// NewMultiQueuePort returns a port with queues queues of depth frames.
func NewMultiQueuePort(queues, depth int) *MultiQueuePort {
	p := &MultiQueuePort{}
	for range queues {
		p.Q = append(p.Q, NewChannelPort(depth))
	}
	return p
}

// Queues returns the queues as ports.
func (p *MultiQueuePort) Queues() []fastpath.Port {
	out := make([]fastpath.Port, len(p.Q))
	for i, q := range p.Q {
		out[i] = q
	}
	return out
}

// Read implements fastpath.Port on queue 0.
func (p *MultiQueuePort) Read(bufs [][]byte, sizes []int) (int, error) {
	return p.Q[0].Read(bufs, sizes)
}

// Write implements fastpath.Port on queue 0.
func (p *MultiQueuePort) Write(bufs [][]byte) (int, error) { return p.Q[0].Write(bufs) }

// Close implements fastpath.Port: it closes every queue.
func (p *MultiQueuePort) Close() error {
	for _, q := range p.Q {
		q.Close()
	}
	return nil
}
