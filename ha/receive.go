package ha

import (
	"errors"
	"net/netip"
)

// DropReason is why a received VRRP packet was discarded (RFC 9568 §7.1).
type DropReason uint8

// Drop reasons, in the order the checks run.
const (
	// DropHopLimit: the IPv6 hop limit was not 255 (§5.1.2.3).
	DropHopLimit DropReason = iota
	// DropTruncated: shorter than the fixed header or than its addresses.
	DropTruncated
	// DropVersion: not VRRP version 3.
	DropVersion
	// DropType: not an ADVERTISEMENT (type 1).
	DropType
	// DropAddressCount: the address count is 0 (erratum 8299) or does not
	// match the packet length.
	DropAddressCount
	// DropChecksum: the checksum over the IPv6 pseudo-header is wrong.
	DropChecksum
	// DropOtherVRID: a VRID not configured on this interface.
	DropOtherVRID
	// DropZeroInterval: a Max Advertise Interval of 0 (erratum 8301).
	DropZeroInterval
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	"hop_limit", "truncated", "version", "type", "address_count", "checksum", "other_vrid", "zero_interval",
}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// DropReasons lists every drop reason, for metrics and tests.
func DropReasons() []DropReason {
	rs := make([]DropReason, numDropReasons)
	for i := range rs {
		rs[i] = DropReason(i)
	}
	return rs
}

// Packet is a VRRP packet as it arrived: the IPv6 payload, the hop limit
// of its IPv6 header, and its addresses.
type Packet struct {
	Data     []byte
	HopLimit int
	Src, Dst netip.Addr
}

// receive validates p for the virtual router vrid (RFC 9568 §7.1) and
// returns the advertisement, or why it is dropped.
func receive(p Packet, vrid uint8) (Advert, DropReason, bool) {
	if p.HopLimit != HopLimit {
		return Advert{}, DropHopLimit, false
	}
	a, err := ParseAdvert(p.Data, p.Src.WithZone(""), p.Dst.WithZone(""))
	switch {
	case err == nil:
	case errors.Is(err, errTruncated):
		return Advert{}, DropTruncated, false
	case errors.Is(err, errVersion):
		return Advert{}, DropVersion, false
	case errors.Is(err, errType):
		return Advert{}, DropType, false
	case errors.Is(err, errAddressCount):
		return Advert{}, DropAddressCount, false
	default:
		return Advert{}, DropChecksum, false
	}
	if a.VRID != vrid {
		return Advert{}, DropOtherVRID, false
	}
	if a.Interval == 0 {
		return Advert{}, DropZeroInterval, false
	}
	return a, 0, true
}
