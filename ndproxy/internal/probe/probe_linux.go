// Package probe sends crafted Neighbor Solicitations at the link layer and
// decodes the Neighbor Advertisements that come back with mdlayher/ndp (an
// decoder independent of the proxy's own). It backs the ndprobe tool, the
// namespace tests and the benchmark.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/vrouter/vrouter/ndproxy/internal/afpacket"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
)

// Prober sends NS and receives NA on one interface.
type Prober struct {
	c     *afpacket.Conn
	Iface *net.Interface
	MAC   ndwire.MAC
	buf   []byte
	rbuf  []byte
}

// Open opens a Prober on the named interface (in the current namespace).
func Open(ifname string) (*Prober, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("probe: %s is not Ethernet", ifname)
	}
	c, err := afpacket.Listen(ifi.Index, ndwire.TypeNA)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	p := &Prober{c: c, Iface: ifi, buf: make([]byte, 0, 128), rbuf: make([]byte, 2048)}
	copy(p.MAC[:], ifi.HardwareAddr)
	return p, nil
}

// Close closes the socket.
func (p *Prober) Close() error { return p.c.Close() }

// NS describes a solicitation to send.
type NS struct {
	Src, Dst, Target netip.Addr
	// DstMAC defaults to the multicast MAC of Dst; set it for unicast.
	DstMAC  ndwire.MAC
	Options ndwire.NSOptions
	// WithSLLA adds our MAC as source link-layer address option.
	WithSLLA bool
}

// Multicast returns an NS from src for target to its solicited-node group.
func Multicast(src, target netip.Addr) NS {
	return NS{Src: src, Dst: ndwire.SolicitedNode(target), Target: target, WithSLLA: !src.IsUnspecified()}
}

// Send writes ns.
func (p *Prober) Send(ns NS) error {
	o := ns.Options
	if ns.WithSLLA {
		o.SLLA = &p.MAC
	}
	dmac := ns.DstMAC
	if ns.Dst.IsMulticast() && dmac == (ndwire.MAC{}) {
		dmac = ndwire.MulticastMAC(ns.Dst)
	}
	p.buf = ndwire.AppendNS(p.buf[:0], ns.Src, ns.Dst, ns.Target, o)
	return p.c.WriteTo(p.buf, dmac)
}

// NA is an advertisement decoded by mdlayher/ndp.
type NA struct {
	Src, Dst, Target netip.Addr
	HopLimit         uint8
	Router           bool
	Solicited        bool
	Override         bool
	TLLA             net.HardwareAddr
	From             ndwire.MAC
	At               time.Time
}

func (n NA) String() string {
	return fmt.Sprintf("NA %s -> %s target %s R=%d S=%d O=%d tlla %s hlim %d",
		n.Src, n.Dst, n.Target, b2i(n.Router), b2i(n.Solicited), b2i(n.Override), n.TLLA, n.HopLimit)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Read waits until deadline for the next NA with a valid checksum.
func (p *Prober) Read(deadline time.Time) (NA, error) {
	if err := p.c.SetReadDeadline(deadline); err != nil {
		return NA{}, err
	}
	for {
		n, from, err := p.c.ReadFrom(p.rbuf)
		if err != nil {
			return NA{}, err
		}
		at := time.Now()
		b := p.rbuf[:n]
		if len(b) < 44 || b[6] != 58 {
			continue
		}
		src := netip.AddrFrom16([16]byte(b[8:24]))
		dst := netip.AddrFrom16([16]byte(b[24:40]))
		if ndwire.Checksum(src, dst, b[40:]) != 0 {
			continue
		}
		m, err := ndp.ParseMessage(b[40:])
		if err != nil {
			continue
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok {
			continue
		}
		out := NA{Src: src, Dst: dst, Target: na.TargetAddress, HopLimit: b[7], Router: na.Router,
			Solicited: na.Solicited, Override: na.Override, From: from, At: at}
		for _, o := range na.Options {
			if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Target {
				out.TLLA = l.Addr
			}
		}
		return out, nil
	}
}

// ErrNoAnswer is returned by Solicit when no NA for the target arrived.
var ErrNoAnswer = errors.New("no neighbor advertisement")

// Solicit sends ns and waits up to timeout for an NA for ns.Target; it
// returns the NA and the round-trip time.
func (p *Prober) Solicit(ctx context.Context, ns NS, timeout time.Duration) (NA, time.Duration, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	start := time.Now()
	if err := p.Send(ns); err != nil {
		return NA{}, 0, err
	}
	for {
		na, err := p.Read(deadline)
		if errors.Is(err, errTimeout) || isTimeout(err) {
			return NA{}, 0, ErrNoAnswer
		}
		if err != nil {
			return NA{}, 0, err
		}
		if na.Target == ns.Target {
			return na, na.At.Sub(start), nil
		}
	}
}

var errTimeout = errors.New("timeout")

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
