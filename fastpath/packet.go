package fastpath

import (
	"encoding/binary"

	"github.com/vrouter/vrouter/internal/csum"
)

// Frame layout (Ethernet II, no VLAN tag, then the fixed IPv6 header of
// RFC 8200 §3).
const (
	ethLen       = 14
	ipv6HdrLen   = 40
	minFrame     = ethLen + ipv6HdrLen
	offEthDst    = 0
	offEthSrc    = 6
	offEthType   = 12
	offIP        = ethLen
	offPayLen    = offIP + 4
	offNextHdr   = offIP + 6
	offHopLimit  = offIP + 7
	offSrc       = offIP + 8
	offDst       = offIP + 24
	etherTypeIP6 = 0x86dd
)

// IPv6 next-header values (IANA protocol numbers).
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoFragment = 44
	protoICMPv6   = 58
)

// Action is what the datapath does with a frame.
type Action uint8

const (
	// ActionKernel leaves the frame to the kernel (the fast path ignores it).
	ActionKernel Action = iota
	// ActionDrop means the fast path took the frame and does not forward it.
	ActionDrop
	// ActionForward means the frame passed the header checks; the forwarder
	// still looks up route and neighbour.
	ActionForward
)

// Class is the result of classifying one frame.
type Class struct {
	Action Action
	Kernel KernelReason // when Action == ActionKernel
	Drop   DropReason   // when Action == ActionDrop
	// IPLen is the IPv6 packet length (header + payload) for ActionForward
	// and DropBadLength.
	IPLen int
}

// localSet reports whether an address is one of this host's.
type localSet interface {
	isLocal(a *[16]byte) bool
}

// classify checks the headers of frame, whose first len(frame) bytes were
// captured of a frame of wireLen bytes on the wire, received on an interface
// with hardware address mac. It never reads outside frame.
//
// The order of the checks that lead to ActionKernel matches the ingress
// filters (see package doc): every frame classify passes to the kernel is let
// through by them, every frame it takes is dropped by them.
func classify(frame []byte, wireLen int, mac *[6]byte, local localSet) Class {
	if len(frame) < offEthType+2 || binary.BigEndian.Uint16(frame[offEthType:]) != etherTypeIP6 {
		return Class{Action: ActionKernel, Kernel: KernelNotIPv6}
	}
	if len(frame) < minFrame {
		return Class{Action: ActionKernel, Kernel: KernelTruncated}
	}
	if frame[offIP]>>4 != 6 {
		return Class{Action: ActionKernel, Kernel: KernelBadVersion}
	}
	if frame[offDst] == 0xff {
		return Class{Action: ActionKernel, Kernel: KernelMulticast}
	}
	if isLinkLocal(frame[offDst:]) || isLinkLocal(frame[offSrc:]) {
		return Class{Action: ActionKernel, Kernel: KernelLinkLocal}
	}
	switch frame[offNextHdr] {
	case protoTCP, protoUDP, protoICMPv6:
	case protoFragment:
		return Class{Action: ActionKernel, Kernel: KernelFragment}
	default:
		return Class{Action: ActionKernel, Kernel: KernelExtHeader}
	}
	if local != nil && local.isLocal((*[16]byte)(frame[offDst:offDst+16])) {
		return Class{Action: ActionKernel, Kernel: KernelLocal}
	}
	if frame[offHopLimit] <= 1 {
		return Class{Action: ActionKernel, Kernel: KernelHopLimit}
	}
	// From here on the ingress filter drops the frame: the fast path owns it.
	ipLen := ipv6HdrLen + int(binary.BigEndian.Uint16(frame[offPayLen:]))
	if ethLen+ipLen > wireLen {
		return Class{Action: ActionDrop, Drop: DropBadLength, IPLen: ipLen}
	}
	if badSource(frame[offSrc:offSrc+16]) || badDestination(frame[offDst:offDst+16]) {
		return Class{Action: ActionDrop, Drop: DropBadAddress}
	}
	if [6]byte(frame[offEthDst:offEthDst+6]) != *mac {
		return Class{Action: ActionDrop, Drop: DropOtherHost}
	}
	if ethLen+ipLen > len(frame) {
		return Class{Action: ActionDrop, Drop: DropCaptureShort, IPLen: ipLen}
	}
	return Class{Action: ActionForward, IPLen: ipLen}
}

// isLinkLocal reports whether the address at a[:16] is in fe80::/10.
func isLinkLocal(a []byte) bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

func isZeroUpTo15(a []byte) bool {
	var x byte
	for _, b := range a[:15] {
		x |= b
	}
	return x == 0
}

// badSource: unspecified, loopback or multicast (RFC 4291 §2.5.2, §2.5.3, §2.7).
func badSource(a []byte) bool {
	return a[0] == 0xff || (isZeroUpTo15(a) && a[15] <= 1)
}

// badDestination: unspecified or loopback (multicast went to the kernel).
func badDestination(a []byte) bool { return isZeroUpTo15(a) && a[15] <= 1 }

// rewrite turns a classified frame into the forwarded one in place: new
// Ethernet addresses, hop limit minus one. It returns the frame trimmed to
// the IPv6 packet (Ethernet padding removed).
func rewrite(frame []byte, ipLen int, dst, src *[6]byte) []byte {
	copy(frame[offEthDst:], dst[:])
	copy(frame[offEthSrc:], src[:])
	frame[offHopLimit]--
	return frame[:ethLen+ipLen]
}

// completeChecksum finishes the TCP or UDP checksum of a frame that the
// kernel handed over with its checksum left to offload (TP_STATUS_CSUMNOTREADY,
// CHECKSUM_PARTIAL): the sender's stack expected a NIC to compute it, and
// the frame never crossed one — from a veth peer, or from a virtio guest
// with checksum offload. The checksum field then holds the folded sum of
// the pseudo-header (RFC 8200 §8.1), and the checksum is the complement of
// the sum over the transport header and payload including that field
// (RFC 1071). The kernel's own forwarding keeps the skb's offload state and
// lets the egress device finish it; a frame from userspace has none, so it
// must leave complete. Only frames the fast path may forward are touched:
// IPv6 with TCP or UDP right after the fixed header, complete in frame.
func completeChecksum(frame []byte) {
	l4, field, ok := transportSegment(frame)
	if !ok {
		return
	}
	c := ^csum.Fold(csum.Add(0, l4))
	if c == 0 && frame[offNextHdr] == protoUDP {
		c = 0xffff // RFC 8200 §8.1: a computed zero UDP checksum is sent as all ones
	}
	binary.BigEndian.PutUint16(l4[field:], c)
}

// completePartialChecksum completes a TCP or UDP checksum that was left to
// offload, for ports that do not say so (AF_XDP: an XDP program sees the
// frame's bytes, not the skb's CHECKSUM_PARTIAL state, which a veth peer
// with checksum offload sends; virtio-net turns guest checksum offload off
// while an XDP program is attached). Such a field holds exactly the folded
// pseudo-header sum (RFC 8200 §8.1), which a complete checksum holds only
// by chance, so the frame is completed when the field equals that sum and
// the checksum over the whole segment does not verify. A damaged frame
// whose field happens to equal the pseudo-header sum is forwarded with its
// checksum repaired: 1 in 65536 of damaged TCP/UDP frames, where a router
// does not look at transport checksums at all. It reports whether it
// changed the frame. Only IPv6 with TCP or UDP right after the fixed
// header, complete in frame, is looked at.
func completePartialChecksum(frame []byte) bool {
	l4, field, ok := transportSegment(frame)
	if !ok {
		return false
	}
	ps := csum.Pseudo(frame[offSrc:offSrc+16], frame[offSrc+16:offSrc+32], len(l4), frame[offNextHdr])
	if binary.BigEndian.Uint16(l4[field:]) != csum.Fold(ps) {
		return false
	}
	if csum.Fold(csum.Add(ps, l4)) == 0xffff {
		return false // a complete checksum that equals the pseudo-header sum
	}
	completeChecksum(frame)
	return true
}

// transportSegment returns the TCP or UDP segment of an IPv6 frame with TCP
// or UDP right after the fixed header, complete in frame, and the offset of
// its checksum field; ok is false for any other frame.
func transportSegment(frame []byte) (l4 []byte, field int, ok bool) {
	if len(frame) < minFrame || binary.BigEndian.Uint16(frame[offEthType:]) != etherTypeIP6 || frame[offIP]>>4 != 6 {
		return nil, 0, false
	}
	switch frame[offNextHdr] {
	case protoTCP:
		field = 16
	case protoUDP:
		field = 6
	default:
		return nil, 0, false
	}
	plen := int(binary.BigEndian.Uint16(frame[offPayLen:]))
	l4 = frame[minFrame:]
	if plen > len(l4) || plen < field+2 {
		return nil, 0, false
	}
	return l4[:plen], field, true
}
