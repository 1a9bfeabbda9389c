package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vrouter/vrouter/internal/csum"
)

// Protocol is the IPv6 next header of VRRP (RFC 9568 §5.1.2.4).
const Protocol = 112

// HopLimit is the hop limit every VRRP packet is sent and received with
// (RFC 9568 §5.1.2.3, RFC 5082).
const HopLimit = 255

// Version and TypeAdvertisement are the only version and type this
// package speaks (RFC 9568 §5.2.1–5.2.2).
const (
	Version           = 3
	TypeAdvertisement = 1
)

// headerLen is the fixed part of a VRRP packet (RFC 9568 §5.2).
const headerLen = 8

// MaxInterval is the largest Max Advertise Interval the 12-bit field holds.
const MaxInterval = 4095 * Centisecond

// Centisecond is the unit of the Max Advertise Interval field.
const Centisecond = 10 * time.Millisecond

// AllRouters is ff02::12, the destination of every advertisement
// (RFC 9568 §5.1.2.2).
var AllRouters = netip.MustParseAddr("ff02::12")

// Advert is a VRRPv3 ADVERTISEMENT for IPv6 (RFC 9568 §5.2): version 3 and
// type 1 are implied.
type Advert struct {
	VRID     uint8
	Priority uint8
	// Interval is the Max Advertise Interval in centiseconds (12 bits).
	Interval uint16
	// Addresses are the virtual router's IPv6 addresses; the first is its
	// link-local address (§5.2.9).
	Addresses []netip.Addr
}

// IntervalDuration is the Max Advertise Interval as a duration.
func (a *Advert) IntervalDuration() time.Duration {
	return time.Duration(a.Interval) * Centisecond
}

// errors returned by ParseAdvert; each maps to a DropReason.
var (
	errTruncated    = errors.New("truncated")
	errVersion      = errors.New("not version 3")
	errType         = errors.New("not an advertisement")
	errAddressCount = errors.New("address count does not match the length")
	errChecksum     = errors.New("bad checksum")
)

// ParseAdvert parses a VRRP packet b (the IPv6 payload) received from src
// for dst, and checks its version, type, length and checksum (RFC 9568
// §7.1). The 4 reserved bits are ignored (§5.2.6). b is not retained.
func ParseAdvert(b []byte, src, dst netip.Addr) (Advert, error) {
	if len(b) < headerLen {
		return Advert{}, errTruncated
	}
	if b[0]>>4 != Version {
		return Advert{}, fmt.Errorf("version %d: %w", b[0]>>4, errVersion)
	}
	if b[0]&0xf != TypeAdvertisement {
		return Advert{}, fmt.Errorf("type %d: %w", b[0]&0xf, errType)
	}
	n := int(b[3])
	switch want := headerLen + 16*n; {
	case n == 0: // RFC 9568 erratum 8299: ignored
		return Advert{}, fmt.Errorf("count 0: %w", errAddressCount)
	case len(b) < want:
		return Advert{}, fmt.Errorf("%d bytes for %d addresses: %w", len(b), n, errTruncated)
	case len(b) > want:
		return Advert{}, fmt.Errorf("%d bytes for %d addresses: %w", len(b), n, errAddressCount)
	}
	if checksum(src, dst, b) != 0 {
		return Advert{}, errChecksum
	}
	a := Advert{
		VRID:      b[1],
		Priority:  b[2],
		Interval:  binary.BigEndian.Uint16(b[4:6]) & 0x0fff,
		Addresses: make([]netip.Addr, n),
	}
	for i := range n {
		a.Addresses[i] = netip.AddrFrom16([16]byte(b[headerLen+16*i:]))
	}
	return a, nil
}

// Append appends the packet of a, with its checksum for src → dst, to b.
// It fails when a cannot be encoded: no address or more than 255, an
// address that is not IPv6, an interval beyond 12 bits.
func (a *Advert) Append(b []byte, src, dst netip.Addr) ([]byte, error) {
	if len(a.Addresses) == 0 || len(a.Addresses) > 255 {
		return b, fmt.Errorf("advertisement with %d addresses (1..255)", len(a.Addresses))
	}
	if a.Interval > 0x0fff {
		return b, fmt.Errorf("max advertise interval %d centiseconds beyond 4095", a.Interval)
	}
	start := len(b)
	b = append(b, Version<<4|TypeAdvertisement, a.VRID, a.Priority, byte(len(a.Addresses)))
	b = binary.BigEndian.AppendUint16(b, a.Interval)
	b = append(b, 0, 0) // checksum
	for _, addr := range a.Addresses {
		if !addr.Is6() || addr.Is4In6() {
			return b[:start], fmt.Errorf("address %s is not IPv6", addr)
		}
		a16 := addr.As16()
		b = append(b, a16[:]...)
	}
	binary.BigEndian.PutUint16(b[start+6:], checksum(src, dst, b[start:]))
	return b, nil
}

// checksum is the Internet checksum of msg with the IPv6 pseudo-header for
// next header 112 (RFC 8200 §8.1, RFC 9568 §5.2.8). Over a message that
// carries its checksum it is 0 when the checksum is right; over one with a
// zero checksum field it is the value to put there.
func checksum(src, dst netip.Addr, msg []byte) uint16 {
	return csum.IPv6(src, dst, Protocol, msg)
}
