// Package ndwire parses and builds Neighbor Solicitation and Neighbor
// Advertisement packets at the IPv6 layer, validating them as RFC 4861 §7.1.1
// and §7.1.2 require, without allocating.
//
// Packets start at the IPv6 header. Only packets whose IPv6 next header is
// ICMPv6 are handled; NDP behind extension headers is reported as
// ReasonNextHeader.
package ndwire

import (
	"encoding/binary"
	"net/netip"

	"github.com/vrouter/vrouter/internal/csum"
)

// ICMPv6 types handled here.
const (
	TypeNS = 135
	TypeNA = 136
)

const (
	ipv6HeaderLen = 40
	protoICMPv6   = 58
	nsLen         = 24 // ICMPv6 header (4) + reserved (4) + target (16)
	optSLLA       = 1
	optTLLA       = 2
)

// MAC is an Ethernet address.
type MAC [6]byte

// Reason says why a packet was dropped. The zero Reason means accepted.
type Reason uint8

// Drop reasons, stable for metrics.
const (
	OK                       Reason = iota
	ReasonTruncated                 // shorter than its headers say
	ReasonNextHeader                // not IPv6 + ICMPv6 directly
	ReasonType                      // not the expected ICMPv6 type
	ReasonHopLimit                  // hop limit != 255 (§7.1.1)
	ReasonChecksum                  // bad ICMPv6 checksum (§7.1.1)
	ReasonCode                      // ICMP code != 0 (§7.1.1)
	ReasonLength                    // ICMP length < 24 (§7.1.1)
	ReasonTargetMulticast           // target is a multicast address (§7.1.1)
	ReasonOptionLength              // an option with length 0 or running past the end (§7.1.1)
	ReasonDADDestination            // source :: but destination not the target's solicited-node group (§7.1.1)
	ReasonDADSourceLLA              // source :: with a source link-layer address option (§7.1.1)
	ReasonSourceMulticast           // multicast source address (RFC 4291 §2.7)
	ReasonSolicitedMulticast        // NA with S=1 sent to a multicast destination (§7.1.2)
	numReasons
)

// NumReasons is the number of Reason values, OK included.
const NumReasons = int(numReasons)

var reasonNames = [...]string{
	OK:                       "ok",
	ReasonTruncated:          "truncated",
	ReasonNextHeader:         "next_header",
	ReasonType:               "type",
	ReasonHopLimit:           "hop_limit",
	ReasonChecksum:           "checksum",
	ReasonCode:               "code",
	ReasonLength:             "length",
	ReasonTargetMulticast:    "target_multicast",
	ReasonOptionLength:       "option_length",
	ReasonDADDestination:     "dad_destination",
	ReasonDADSourceLLA:       "dad_source_lla",
	ReasonSourceMulticast:    "source_multicast",
	ReasonSolicitedMulticast: "solicited_multicast",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// NS is a validated Neighbor Solicitation.
type NS struct {
	Src, Dst, Target netip.Addr
	HopLimit         uint8
	// SLLA is the source link-layer address option, when HasSLLA.
	SLLA    MAC
	HasSLLA bool
}

// NA is a validated Neighbor Advertisement.
type NA struct {
	Src, Dst, Target            netip.Addr
	Router, Solicited, Override bool
	// TLLA is the target link-layer address option, when HasTLLA.
	TLLA    MAC
	HasTLLA bool
}

// header checks the IPv6 header and ICMPv6 framing common to NS and NA and
// returns the ICMPv6 message (trimmed to the IPv6 payload length).
func header(p []byte, typ uint8) (src, dst netip.Addr, icmp []byte, r Reason) {
	if len(p) < ipv6HeaderLen+4 {
		return src, dst, nil, ReasonTruncated
	}
	if p[0]>>4 != 6 {
		return src, dst, nil, ReasonNextHeader
	}
	plen := int(binary.BigEndian.Uint16(p[4:6]))
	if plen > len(p)-ipv6HeaderLen || plen < 4 {
		return src, dst, nil, ReasonTruncated
	}
	if p[6] != protoICMPv6 {
		return src, dst, nil, ReasonNextHeader
	}
	icmp = p[ipv6HeaderLen : ipv6HeaderLen+plen]
	if icmp[0] != typ {
		return src, dst, nil, ReasonType
	}
	src = netip.AddrFrom16([16]byte(p[8:24]))
	dst = netip.AddrFrom16([16]byte(p[24:40]))
	if p[7] != 255 {
		return src, dst, nil, ReasonHopLimit
	}
	if Checksum(src, dst, icmp) != 0 {
		return src, dst, nil, ReasonChecksum
	}
	if icmp[1] != 0 {
		return src, dst, nil, ReasonCode
	}
	if len(icmp) < nsLen { // NA has the same fixed length as NS
		return src, dst, nil, ReasonLength
	}
	if src.IsMulticast() {
		return src, dst, nil, ReasonSourceMulticast
	}
	return src, dst, icmp, OK
}

// options walks NDP options, returning the first link-layer address option
// of kind want.
func options(opts []byte, want uint8) (mac MAC, ok bool, r Reason) {
	for len(opts) > 0 {
		if len(opts) < 2 {
			return mac, false, ReasonOptionLength
		}
		n := int(opts[1]) * 8
		if n == 0 || n > len(opts) {
			return mac, false, ReasonOptionLength
		}
		if opts[0] == want && !ok && n >= 8 {
			copy(mac[:], opts[2:8])
			ok = true
		}
		opts = opts[n:]
	}
	return mac, ok, OK
}

// ParseNS validates a Neighbor Solicitation as RFC 4861 §7.1.1 requires.
func ParseNS(p []byte) (NS, Reason) {
	var ns NS
	src, dst, icmp, r := header(p, TypeNS)
	ns.Src, ns.Dst = src, dst
	if len(p) > 7 {
		ns.HopLimit = p[7]
	}
	if r != OK {
		return ns, r
	}
	ns.Target = netip.AddrFrom16([16]byte(icmp[8:24]))
	if ns.Target.IsMulticast() {
		return ns, ReasonTargetMulticast
	}
	ns.SLLA, ns.HasSLLA, r = options(icmp[nsLen:], optSLLA)
	if r != OK {
		return ns, r
	}
	if src.IsUnspecified() {
		if dst != SolicitedNode(ns.Target) {
			return ns, ReasonDADDestination
		}
		if ns.HasSLLA {
			return ns, ReasonDADSourceLLA
		}
	}
	return ns, OK
}

// ParseNA validates a Neighbor Advertisement as RFC 4861 §7.1.2 requires.
func ParseNA(p []byte) (NA, Reason) {
	var na NA
	src, dst, icmp, r := header(p, TypeNA)
	na.Src, na.Dst = src, dst
	if r != OK {
		return na, r
	}
	na.Router = icmp[4]&0x80 != 0
	na.Solicited = icmp[4]&0x40 != 0
	na.Override = icmp[4]&0x20 != 0
	na.Target = netip.AddrFrom16([16]byte(icmp[8:24]))
	if na.Target.IsMulticast() {
		return na, ReasonTargetMulticast
	}
	if na.Solicited && dst.IsMulticast() {
		return na, ReasonSolicitedMulticast
	}
	na.TLLA, na.HasTLLA, r = options(icmp[nsLen:], optTLLA)
	return na, r
}

// SolicitedNode returns the solicited-node multicast group of a (RFC 4291
// §2.7.1).
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	g := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]}
	return netip.AddrFrom16(g)
}

// MulticastMAC returns the Ethernet address of IPv6 multicast group g (RFC
// 2464 §7).
func MulticastMAC(g netip.Addr) MAC {
	b := g.As16()
	return MAC{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// LinkLocalEUI64 returns the modified EUI-64 link-local address of mac (RFC
// 4291 appendix A).
func LinkLocalEUI64(mac MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80,
		8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}

// Checksum returns the ICMPv6 checksum over the pseudo header and msg. It is
// 0 for a message whose checksum field is correct.
func Checksum(src, dst netip.Addr, msg []byte) uint16 {
	return csum.IPv6(src, dst, csum.ProtoICMPv6, msg)
}

// Flags of a Neighbor Advertisement.
const (
	FlagRouter    = 0x80
	FlagSolicited = 0x40
	FlagOverride  = 0x20
)

func appendIPv6(b []byte, src, dst netip.Addr, hopLimit uint8, plen int) []byte {
	b = append(b, 0x60, 0, 0, 0, byte(plen>>8), byte(plen), protoICMPv6, hopLimit)
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	return append(b, d[:]...)
}

// AppendNA appends a complete IPv6 Neighbor Advertisement (hop limit 255,
// checksum set) with a target link-layer address option to b.
func AppendNA(b []byte, src, dst, target netip.Addr, flags uint8, tlla MAC) []byte {
	start := len(b)
	b = appendIPv6(b, src, dst, 255, nsLen+8)
	t := target.As16()
	b = append(b, TypeNA, 0, 0, 0, flags, 0, 0, 0)
	b = append(b, t[:]...)
	b = append(b, optTLLA, 1)
	b = append(b, tlla[:]...)
	fill(b[start:])
	return b
}

// NSOptions shapes a Neighbor Solicitation built by AppendNS. The zero value
// is a valid solicitation without a source link-layer address option.
type NSOptions struct {
	HopLimit uint8 // 0 means 255
	Code     uint8
	SLLA     *MAC
	// ZeroLengthOption appends an option whose length field is 0 (invalid).
	ZeroLengthOption bool
	// BadChecksum corrupts the checksum.
	BadChecksum bool
}

// AppendNS appends a complete IPv6 Neighbor Solicitation to b.
func AppendNS(b []byte, src, dst, target netip.Addr, o NSOptions) []byte {
	start := len(b)
	plen := nsLen
	if o.SLLA != nil {
		plen += 8
	}
	if o.ZeroLengthOption {
		plen += 8
	}
	hl := o.HopLimit
	if hl == 0 {
		hl = 255
	}
	b = appendIPv6(b, src, dst, hl, plen)
	t := target.As16()
	b = append(b, TypeNS, o.Code, 0, 0, 0, 0, 0, 0)
	b = append(b, t[:]...)
	if o.SLLA != nil {
		b = append(b, optSLLA, 1)
		b = append(b, o.SLLA[:]...)
	}
	if o.ZeroLengthOption {
		b = append(b, 14, 0, 0, 0, 0, 0, 0, 0) // nonce-type option with length 0
	}
	fill(b[start:])
	if o.BadChecksum {
		b[start+ipv6HeaderLen+2] ^= 0xff
	}
	return b
}

// fill sets the ICMPv6 checksum of the IPv6 packet p.
func fill(p []byte) {
	src := netip.AddrFrom16([16]byte(p[8:24]))
	dst := netip.AddrFrom16([16]byte(p[24:40]))
	icmp := p[ipv6HeaderLen:]
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:4], Checksum(src, dst, icmp))
}
