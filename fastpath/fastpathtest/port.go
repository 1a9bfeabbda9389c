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
