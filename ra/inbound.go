package ra

import (
	"net/netip"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// DropReason says why a Router Solicitation got no reply of its own.
type DropReason uint8

// Reasons for dropping a Router Solicitation (RFC 4861 §6.1.1), and for
// answering it by multicast instead of unicast.
const (
	// DropHopLimit: the IPv6 hop limit is not 255 (the RS may come from
	// off-link).
	DropHopLimit DropReason = iota
	// DropCode: the ICMPv6 code is not 0.
	DropCode
	// DropMalformed: shorter than an RS, or an option runs past the end.
	DropMalformed
	// DropZeroLengthOption: an option has length 0.
	DropZeroLengthOption
	// DropUnspecifiedWithSLLA: the source is "::" and a source link-layer
	// address option is present.
	DropUnspecifiedWithSLLA
	// DropSource: the source is multicast, loopback or not IPv6.
	DropSource
	// DropRateLimited: a valid RS whose unicast reply was suppressed by the
	// reply rate limit (an RS storm); it is answered by the next multicast
	// RA, which MIN_DELAY_BETWEEN_RAS spaces.
	DropRateLimited
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	"bad_hop_limit", "bad_code", "malformed", "zero_length_option",
	"unspecified_source_with_slla", "bad_source", "rate_limited",
}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// ICMPv6 types of the messages the Advertiser reads.
const (
	icmpRouterSolicitation  = 133
	icmpRouterAdvertisement = 134
	optSourceLLA            = 1
)

// inKind classifies a message read from the socket.
type inKind uint8

const (
	inIgnore  inKind = iota // not for us, or not worth counting
	inRS                    // a valid Router Solicitation
	inBadRS                 // an invalid Router Solicitation (reason set)
	inOtherRA               // a valid RA from another router
)

// classify validates a message read from the socket without allocating for
// Router Solicitations: RS per RFC 4861 §6.1.1 (the checksum was checked by
// the kernel), RAs of other routers per §6.1.2. self is our link-local
// address; the returned source has no zone.
func classify(b []byte, cm *ipv6.ControlMessage, src, self netip.Addr) (inKind, netip.Addr, DropReason) {
	if len(b) < 4 {
		return inIgnore, netip.Addr{}, 0
	}
	src = src.WithZone("")
	switch b[0] {
	case icmpRouterSolicitation:
	case icmpRouterAdvertisement:
		if src == self || !src.IsLinkLocalUnicast() || b[1] != 0 || cm == nil || cm.HopLimit != ndp.HopLimit {
			return inIgnore, netip.Addr{}, 0
		}
		return inOtherRA, src, 0
	default:
		return inIgnore, netip.Addr{}, 0
	}
	if cm == nil || cm.HopLimit != ndp.HopLimit {
		return inBadRS, src, DropHopLimit
	}
	if b[1] != 0 {
		return inBadRS, src, DropCode
	}
	if len(b) < 8 {
		return inBadRS, src, DropMalformed
	}
	slla := false
	for opts := b[8:]; len(opts) > 0; {
		if len(opts) < 2 {
			return inBadRS, src, DropMalformed
		}
		l := int(opts[1]) * 8
		if l == 0 {
			return inBadRS, src, DropZeroLengthOption
		}
		if l > len(opts) {
			return inBadRS, src, DropMalformed
		}
		slla = slla || opts[0] == optSourceLLA
		opts = opts[l:]
	}
	if !src.Is6() || src.Is4In6() || src.IsMulticast() || src.IsLoopback() {
		return inBadRS, src, DropSource
	}
	if src.IsUnspecified() && slla {
		return inBadRS, src, DropUnspecifiedWithSLLA
	}
	return inRS, src, 0
}
