package fastpath

// KernelReason says why a frame was left to the kernel.
type KernelReason uint8

// Reasons for leaving a frame to the kernel.
const (
	KernelNotIPv6    KernelReason = iota // EtherType is not IPv6
	KernelTruncated                      // shorter than Ethernet + IPv6 header
	KernelBadVersion                     // IP version field is not 6
	KernelMulticast                      // multicast destination (ff00::/8)
	KernelLinkLocal                      // link-local destination or source
	KernelFragment                       // Fragment header
	KernelExtHeader                      // other extension header or upper layer we do not forward
	KernelLocal                          // destination is an address of this host
	KernelHopLimit                       // hop limit 0 or 1: the kernel sends Time Exceeded
	KernelOversize                       // longer than the ingress MTU: a GRO/TSO-merged frame the kernel segments

	// Reasons of the XDP tier only, which leaves every frame it does not
	// forward to the kernel (see the package doc, "XDP tier").
	KernelOtherHost     // Ethernet destination is not the ingress interface
	KernelBadAddress    // unspecified, loopback or multicast source; unspecified or loopback destination
	KernelBadLength     // payload length does not match the frame (the kernel drops a short one, trims a padded one)
	KernelND            // Neighbor Discovery (ICMPv6 types 133-137)
	KernelNoRoute       // the kernel's FIB has no unicast route (the kernel answers Destination Unreachable)
	KernelRejectRoute   // blackhole, unreachable or prohibit route
	KernelForwardingOff // forwarding is off on the ingress interface
	KernelUnsupported   // a route the tier cannot follow (encapsulation, ...)
	KernelNoNeighbour   // next hop not resolved (the kernel resolves it and holds the packet)
	KernelTooBig        // larger than the egress MTU (the kernel sends Packet Too Big)
	KernelNotRedirect   // the egress interface does not take redirected frames (not a fast-path interface, or not ready)
	NumKernelReasons    // number of KernelReason values
)

var kernelReasonNames = [NumKernelReasons]string{
	"not_ipv6", "truncated", "bad_version", "multicast", "link_local",
	"fragment", "ext_header", "local", "hop_limit", "oversize",
	"other_host", "bad_address", "bad_length", "nd", "no_route",
	"reject_route", "forwarding_off", "unsupported_route", "no_neighbour", "too_big",
	"egress_not_redirect",
}

func (r KernelReason) String() string {
	if r < NumKernelReasons {
		return kernelReasonNames[r]
	}
	return "unknown"
}

// DropReason says why a frame the fast path took was not forwarded.
type DropReason uint8

// Reasons for dropping a frame.
const (
	DropBadLength      DropReason = iota // payload length exceeds the frame
	DropBadAddress                       // unspecified, loopback or multicast source; unspecified or loopback destination
	DropOtherHost                        // Ethernet destination is not the ingress interface
	DropNoRoute                          // no route (Destination Unreachable sent)
	DropReject                           // blackhole, unreachable or prohibit route
	DropNoNeighbour                      // next hop not resolved and no pending queue (resolution requested)
	DropNotOwned                         // route leaves through an interface the fast path does not own
	DropTooBig                           // larger than the egress MTU (Packet Too Big sent)
	DropCaptureShort                     // frame longer than the receive buffer
	DropTxError                          // transmit queue full or write error
	DropPendingFull                      // next hop not resolved and its pending queue (or the whole queue) full
	DropPendingExpired                   // next hop not resolved within the pending timeout (or the engine stopped)
	NumDropReasons                       // number of DropReason values
)

var dropReasonNames = [NumDropReasons]string{
	"bad_length", "bad_address", "other_host", "no_route", "reject_route",
	"no_neighbour", "egress_not_owned", "too_big", "capture_short", "tx_error",
	"pending_full", "pending_expired",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// Stats are the engine's counters since New, summed over all interfaces.
type Stats struct {
	Received  uint64 // frames read from fast-path interfaces
	Forwarded uint64 // frames sent out after rewrite
	// ToKernel counts frames left to the kernel, by reason.
	ToKernel [NumKernelReasons]uint64
	// Dropped counts frames taken but not forwarded, by reason.
	Dropped [NumDropReasons]uint64
	// PacketTooBig counts ICMPv6 Packet Too Big messages sent.
	PacketTooBig uint64
	// Unreachable counts ICMPv6 Destination Unreachable messages sent.
	Unreachable uint64
	// ICMPRateLimited counts ICMPv6 errors not sent because of the rate limit.
	ICMPRateLimited uint64
	// Queued counts frames held while their next hop was being resolved;
	// each is later counted as forwarded or dropped (pending_full excluded:
	// those were never held).
	Queued uint64
	// Pending is how many frames are held now.
	Pending uint64
	// RxRingDropped counts frames the kernel dropped because a fast-path
	// receive ring was full (the workers fell behind); they are in no
	// other counter.
	RxRingDropped uint64
}

// counters are one worker's counters; only that worker writes them.
type counters struct {
	received, forwarded       uint64
	queued                    uint64
	toKernel                  [NumKernelReasons]uint64
	dropped                   [NumDropReasons]uint64
	ptb, unreach, icmpLimited uint64
}

// addStats adds the counters of src to dst.
func addStats(dst, src *Stats) {
	dst.Received += src.Received
	dst.Forwarded += src.Forwarded
	for i := range src.ToKernel {
		dst.ToKernel[i] += src.ToKernel[i]
	}
	for i := range src.Dropped {
		dst.Dropped[i] += src.Dropped[i]
	}
	dst.PacketTooBig += src.PacketTooBig
	dst.Unreachable += src.Unreachable
	dst.ICMPRateLimited += src.ICMPRateLimited
	dst.Queued += src.Queued
	dst.Pending += src.Pending
	dst.RxRingDropped += src.RxRingDropped
}

func (c *counters) addTo(s *Stats) {
	s.Received += c.received
	s.Forwarded += c.forwarded
	s.Queued += c.queued
	for i := range c.toKernel {
		s.ToKernel[i] += c.toKernel[i]
	}
	for i := range c.dropped {
		s.Dropped[i] += c.dropped[i]
	}
	s.PacketTooBig += c.ptb
	s.Unreachable += c.unreach
	s.ICMPRateLimited += c.icmpLimited
}
