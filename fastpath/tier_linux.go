//go:build linux

package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// The XDP tier (fastpath.io xdp): one XDP program, attached to every
// fast-path interface, forwards inside the driver what it can. After the
// header checks it shares with the AF_XDP claim (xdpInstructions) it asks
// the kernel's own FIB and neighbour table (bpf_fib_lookup), decrements the
// hop limit, rewrites the MACs and redirects the frame through a devmap of
// the fast-path interfaces that take redirected frames. Every frame it does
// not forward goes on to the kernel (XDP_PASS) with its reason counted.

// Map and program names of the tier as the kernel shows them.
const (
	tierProgName     = "vrouter_fwd"
	tierIfInfoName   = "vrouter_ifinfo"
	tierEgressName   = "vrouter_egress"
	tierCountersName = xdpKernelName // the shared prefix counts into it
	tierNextHopsName = "vrouter_nexthop"
)

// Layout of the tier's per-CPU counter array: the KernelReasons first (the
// shared prefix indexes it by reason), then forwarded, then the
// DropReasons.
const (
	tierForwarded   = int(NumKernelReasons)
	tierDropBase    = tierForwarded + 1
	tierNumCounters = tierDropBase + int(NumDropReasons)
)

// tierMaxIfaces bounds the interface and egress maps.
const tierMaxIfaces = 256

// tierNextHopSlots is the size of the per-CPU table of recently used next
// hops (direct-mapped by a hash of the address): the daemon asks the kernel
// to confirm the stale ones, as the kernel does for neighbours its own
// forwarding uses.
const tierNextHopSlots = 256

// tierIfInfo is the value of the interface map: the interface's MAC and
// flags (tierFlag...).
type tierIfInfo struct {
	MAC   [6]byte
	_     [2]byte
	Flags uint32
}

// tierFlagPartialCsum marks an interface whose frames may carry a TCP or
// UDP checksum left to offload (a veth peer's CHECKSUM_PARTIAL, which XDP
// does not see): the tier completes such checksums before it redirects,
// as the AF_XDP ports do in userspace (completePartialChecksum).
const tierFlagPartialCsum = 1

// tierNextHop is one slot of the next-hop table.
type tierNextHop struct {
	Ifindex uint32
	Addr    [16]byte
}

// Offsets in struct xdp_md and struct bpf_fib_lookup (linux/bpf.h), and
// the fib lookup's return codes.
const (
	xdpMDIngressIfindex = 12

	fibFamily   = 0
	fibL4       = 1
	fibSport    = 2
	fibDport    = 4
	fibTotLen   = 6
	fibIfindex  = 8
	fibFlowinfo = 12
	fibSrc      = 16
	fibDst      = 32
	fibSmac     = 52
	fibDmac     = 58
	fibSize     = 64

	fibRetSuccess     = 0
	fibRetBlackhole   = 1
	fibRetUnreachable = 2
	fibRetProhibit    = 3
	fibRetNotFwded    = 4
	fibRetFwdDisabled = 5
	fibRetNoNeigh     = 7
	fibRetFragNeeded  = 8

	afInet6 = 10
)

// Stack frame of the tier's part of the program (below the prefix's, which
// is dead by then).
const (
	stFib     = -64 // struct bpf_fib_lookup
	stIfKey   = -72 // u32: ingress ifindex, the interface map's key
	stSlotKey = -68 // u32: next-hop slot
	stCount   = -76 // u32: counter index
)

// nativeWord returns the 16-bit word that a native-endian half-word load
// sees for the bytes hi, lo in memory.
func nativeWord(hi, lo byte) int32 { return int32(binary.NativeEndian.Uint16([]byte{hi, lo})) }

// nativeDWord is nativeWord for eight bytes.
func nativeDWord(b [8]byte) int64 { return int64(binary.NativeEndian.Uint64(b[:])) }

// tierInstructions returns the tier's program: the shared header checks
// (but for the locals map, which the FIB makes redundant), then tierTake.
func tierInstructions() asm.Instructions { return xdpCheckInstructions(tierTake(), false) }

// tierTake is what the tier does with a frame the shared checks let
// through (R6 = ctx, R8 = hop limit ≥ 2; next header TCP, UDP or ICMPv6;
// destination neither multicast nor link-local): the checks the kernel's
// input path makes that the fast path's classify makes as drops, the FIB
// lookup and the rewrite. Reasons to leave a frame to the kernel set R7 and
// jump to the prefix's "count", which counts and passes. A destination of
// this host is not forwarded by the FIB; only then the locals map tells
// "local" from "no-route".
func tierTake() asm.Instructions {
	const (
		ctx     = asm.R6
		reason  = asm.R7
		hop     = asm.R8
		flags   = asm.R9
		data    = asm.R2
		end     = asm.R3
		x       = asm.R4
		y       = asm.R5
		payLen  = asm.R7 // until a reason is set: the payload length (host order)
		count   = "count"
		short   = "tier_short"
		counted = "tier_counted" // count R7 with action R8
	)
	label := func(r KernelReason) string { return "tier_kernel_" + r.String() }
	reload := func(min int32, sym string) asm.Instructions {
		first := asm.LoadMem(data, ctx, xdpMDData, asm.Word)
		if sym != "" {
			first = first.WithSymbol(sym)
		}
		return asm.Instructions{
			first,
			asm.LoadMem(end, ctx, xdpMDDataEnd, asm.Word),
			asm.Mov.Reg(x, data),
			asm.Add.Imm(x, min),
			asm.JGT.Reg(x, end, short),
		}
	}
	loopback := nativeDWord([8]byte{0, 0, 0, 0, 0, 0, 0, 1})
	flowMask := int32(binary.NativeEndian.Uint32([]byte{0x0f, 0xff, 0xff, 0xff}))

	var in asm.Instructions
	add := func(is ...asm.Instruction) { in = append(in, is...) }
	add(reload(minFrame, "")...)
	// The ingress interface must be one of ours, and the frame for its MAC
	// (the kernel drops other hosts' frames).
	add(
		asm.LoadMem(x, ctx, xdpMDIngressIfindex, asm.Word),
		asm.StoreMem(asm.RFP, stIfKey, x, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(tierIfInfoName),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stIfKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, label(KernelOtherHost)),
		asm.LoadMem(flags, asm.R0, 8, asm.Word),
	)
	add(reload(minFrame, "")...)
	add(
		asm.LoadMem(x, data, offEthDst, asm.Word),
		asm.LoadMem(y, asm.R0, 0, asm.Word),
		asm.JNE.Reg(x, y, label(KernelOtherHost)),
		asm.LoadMem(x, data, offEthDst+4, asm.Half),
		asm.LoadMem(y, asm.R0, 4, asm.Half),
		asm.JNE.Reg(x, y, label(KernelOtherHost)),
	)
	// Addresses the kernel's input drops: multicast, unspecified or
	// loopback source; unspecified or loopback destination.
	add(
		asm.LoadMem(x, data, offSrc, asm.Byte),
		asm.JEq.Imm(x, 0xff, label(KernelBadAddress)),
		asm.LoadMem(x, data, offSrc, asm.DWord),
		asm.JNE.Imm(x, 0, "tier_dst"),
		asm.LoadMem(x, data, offSrc+8, asm.DWord),
		asm.JEq.Imm(x, 0, label(KernelBadAddress)),
		asm.LoadImm(y, loopback, asm.DWord),
		asm.JEq.Reg(x, y, label(KernelBadAddress)),
		asm.LoadMem(x, data, offDst, asm.DWord).WithSymbol("tier_dst"),
		asm.JNE.Imm(x, 0, "tier_len"),
		asm.LoadMem(x, data, offDst+8, asm.DWord),
		asm.JEq.Imm(x, 0, label(KernelBadAddress)),
		asm.LoadImm(y, loopback, asm.DWord),
		asm.JEq.Reg(x, y, label(KernelBadAddress)),
	)
	// The payload length must match the frame: longer is a truncated
	// packet the kernel drops; shorter is Ethernet padding, cut here.
	add(
		asm.LoadMem(payLen, data, offPayLen, asm.Half).WithSymbol("tier_len"),
		asm.HostTo(asm.BE, payLen, asm.Half),
		asm.And.Imm(payLen, 0xffff),
		asm.Mov.Reg(x, data),
		asm.Add.Imm(x, minFrame),
		asm.Add.Reg(x, payLen),
		asm.JGT.Reg(x, end, label(KernelBadLength)),
	)
	// Neighbor Discovery stays with the kernel whatever its addresses.
	add(
		asm.LoadMem(x, data, offNextHdr, asm.Byte).WithSymbol("tier_nd"),
		asm.JNE.Imm(x, protoICMPv6, "tier_fib"),
		asm.Mov.Reg(x, data),
		asm.Add.Imm(x, minFrame+1),
		asm.JGT.Reg(x, end, "tier_fib"),
		asm.LoadMem(x, data, minFrame, asm.Byte),
		asm.JLT.Imm(x, 133, "tier_fib"),
		asm.JLE.Imm(x, 137, label(KernelND)),
	)
	// struct bpf_fib_lookup on the stack.
	add(asm.Mov.Imm(y, 0).WithSymbol("tier_fib"))
	for off := int16(stFib); off < 0; off += 8 {
		add(asm.StoreMem(asm.RFP, off, y, asm.DWord))
	}
	add(
		asm.StoreImm(asm.RFP, stFib+fibFamily, afInet6, asm.Byte),
		asm.LoadMem(x, data, offNextHdr, asm.Byte),
		asm.StoreMem(asm.RFP, stFib+fibL4, x, asm.Byte),
		// Ports for TCP and UDP (policy routing and multipath may use them).
		asm.JEq.Imm(x, protoICMPv6, "tier_totlen"),
		asm.Mov.Reg(y, data),
		asm.Add.Imm(y, minFrame+4),
		asm.JGT.Reg(y, end, "tier_totlen"),
		asm.LoadMem(y, data, minFrame, asm.Half),
		asm.StoreMem(asm.RFP, stFib+fibSport, y, asm.Half),
		asm.LoadMem(y, data, minFrame+2, asm.Half),
		asm.StoreMem(asm.RFP, stFib+fibDport, y, asm.Half),
		// tot_len is the whole IPv6 packet, so that the MTU check sees
		// what leaves (the payload length alone lets packets up to 40
		// bytes over the MTU through).
		asm.Mov.Reg(x, payLen).WithSymbol("tier_totlen"),
		asm.Add.Imm(x, ipv6HdrLen),
		asm.StoreMem(asm.RFP, stFib+fibTotLen, x, asm.Half),
		asm.LoadMem(x, ctx, xdpMDIngressIfindex, asm.Word),
		asm.StoreMem(asm.RFP, stFib+fibIfindex, x, asm.Word),
		asm.LoadMem(x, data, offIP, asm.Word),
		asm.And.Imm32(x, flowMask),
		asm.StoreMem(asm.RFP, stFib+fibFlowinfo, x, asm.Word),
	)
	for i := int16(0); i < 16; i += 8 {
		add(
			asm.LoadMem(x, data, offSrc+i, asm.DWord),
			asm.StoreMem(asm.RFP, stFib+fibSrc+i, x, asm.DWord),
			asm.LoadMem(x, data, offDst+i, asm.DWord),
			asm.StoreMem(asm.RFP, stFib+fibDst+i, x, asm.DWord),
		)
	}
	add(
		asm.Mov.Reg(asm.R1, ctx),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stFib),
		asm.Mov.Imm(asm.R3, fibSize),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnFibLookup.Call(),
		asm.JEq.Imm(asm.R0, fibRetSuccess, "tier_found"),
		asm.JEq.Imm(asm.R0, fibRetNoNeigh, label(KernelNoNeighbour)),
		asm.JEq.Imm(asm.R0, fibRetFragNeeded, label(KernelTooBig)),
		asm.JEq.Imm(asm.R0, fibRetNotFwded, "tier_not_fwded"),
		asm.JEq.Imm(asm.R0, fibRetFwdDisabled, label(KernelForwardingOff)),
		asm.JEq.Imm(asm.R0, fibRetBlackhole, label(KernelRejectRoute)),
		asm.JEq.Imm(asm.R0, fibRetUnreachable, label(KernelRejectRoute)),
		asm.JEq.Imm(asm.R0, fibRetProhibit, label(KernelRejectRoute)),
		asm.Ja.Label(label(KernelUnsupported)),
		// A neighbour entry without an address (Linux 6.1 returns FAILED
		// and INCOMPLETE entries as found, with a zero MAC) is none.
		asm.LoadMem(x, asm.RFP, stFib+fibDmac, asm.Half).WithSymbol("tier_found"),
		asm.LoadMem(y, asm.RFP, stFib+fibDmac+2, asm.Half),
		asm.Or.Reg(x, y),
		asm.LoadMem(y, asm.RFP, stFib+fibDmac+4, asm.Half),
		asm.Or.Reg(x, y),
		asm.JEq.Imm(x, 0, label(KernelNoNeighbour)),
		// The egress interface must take redirected frames: the redirect
		// is set up now (bpf_redirect_map only records the target; it
		// falls back to XDP_PASS for an interface not in the devmap) and
		// happens when the program returns, with the frame as rewritten
		// below.
		asm.LoadMapPtr(asm.R1, 0).WithReference(tierEgressName),
		asm.LoadMem(asm.R2, asm.RFP, stFib+fibIfindex, asm.Word),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.JNE.Imm(asm.R0, xdpRedirect, label(KernelNotRedirect)),
		// Remember the next hop (the FIB lookup left it in ipv6_dst) in
		// its slot, so that the daemon keeps the neighbour confirmed.
		asm.LoadMem(x, asm.RFP, stFib+fibDst+12, asm.Word),
		asm.LoadMem(y, asm.RFP, stFib+fibIfindex, asm.Word),
		asm.Xor.Reg(x, y),
		asm.Mov.Reg(y, x),
		asm.RSh.Imm(y, 8),
		asm.Xor.Reg(x, y),
		asm.And.Imm(x, tierNextHopSlots-1),
		asm.StoreMem(asm.RFP, stSlotKey, x, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(tierNextHopsName),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stSlotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "tier_trim"),
		asm.LoadMem(x, asm.RFP, stFib+fibIfindex, asm.Word),
		asm.StoreMem(asm.R0, 0, x, asm.Word),
	)
	for i := int16(0); i < 16; i += 4 {
		add(
			asm.LoadMem(x, asm.RFP, stFib+fibDst+i, asm.Word),
			asm.StoreMem(asm.R0, 4+i, x, asm.Word),
		)
	}
	// Ethernet padding after the packet is cut off (the kernel trims it
	// too); frames passed to the kernel leave unchanged.
	add(reload(minFrame, "tier_trim")...)
	add(
		asm.Mov.Reg(x, data),
		asm.Add.Imm(x, minFrame),
		asm.Add.Reg(x, payLen),
		asm.JEq.Reg(x, end, "tier_csum"),
		asm.Mov.Reg(asm.R1, ctx),
		asm.FnXdpGetBuffLen.Call(),
		asm.Mov.Reg(asm.R2, payLen),
		asm.Add.Imm(asm.R2, minFrame),
		asm.Sub.Reg(asm.R2, asm.R0),
		asm.Mov.Reg(asm.R1, ctx),
		asm.FnXdpAdjustTail.Call(),
		asm.JNE.Imm(asm.R0, 0, "tier_trim_failed"),
	)
	add(tierChecksum(flags, "tier_csum", "tier_rewrite")...)
	// Rewrite: hop limit, destination and source MAC.
	add(reload(minFrame, "tier_rewrite")...)
	add(
		asm.Mov.Reg(x, hop),
		asm.Sub.Imm(x, 1),
		asm.StoreMem(data, offHopLimit, x, asm.Byte),
	)
	for i := int16(0); i < 6; i += 2 {
		add(
			asm.LoadMem(x, asm.RFP, stFib+fibDmac+i, asm.Half),
			asm.StoreMem(data, offEthDst+i, x, asm.Half),
			asm.LoadMem(x, asm.RFP, stFib+fibSmac+i, asm.Half),
			asm.StoreMem(data, offEthSrc+i, x, asm.Half),
		)
	}
	add(
		asm.Mov.Imm(hop, xdpRedirect),
		asm.Mov.Imm(reason, int32(tierForwarded)),
		asm.Ja.Label(counted),
		// Not forwarded by the FIB: a destination of this host (the
		// local table's local and anycast routes), or no route.
		asm.LoadMem(data, ctx, xdpMDData, asm.Word).WithSymbol("tier_not_fwded"),
		asm.LoadMem(end, ctx, xdpMDDataEnd, asm.Word),
		asm.Mov.Reg(x, data),
		asm.Add.Imm(x, minFrame),
		asm.JGT.Reg(x, end, short),
		asm.LoadMem(x, data, offDst, asm.DWord),
		asm.StoreMem(asm.RFP, -16, x, asm.DWord),
		asm.LoadMem(x, data, offDst+8, asm.DWord),
		asm.StoreMem(asm.RFP, -8, x, asm.DWord),
		asm.LoadMapPtr(asm.R1, 0).WithReference(xdpLocalsName),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "kernel_"+KernelLocal.String()),
		asm.Ja.Label(label(KernelNoRoute)),
		// Cannot happen (the prefix checked the length): for the verifier.
		asm.Mov.Imm(reason, int32(KernelTruncated)).WithSymbol(short),
		asm.Ja.Label(count),
		// Cannot happen either (the frame is longer than the packet);
		// the frame may be cut already.
		asm.Mov.Imm(hop, xdpDrop).WithSymbol("tier_trim_failed"),
		asm.Mov.Imm(reason, int32(tierDropBase+int(DropBadLength))),
		asm.Ja.Label(counted),
	)
	for _, r := range []KernelReason{KernelOtherHost, KernelBadAddress, KernelBadLength, KernelND,
		KernelNoNeighbour, KernelTooBig, KernelNoRoute, KernelForwardingOff, KernelRejectRoute,
		KernelUnsupported, KernelNotRedirect} {
		add(
			asm.Mov.Imm(reason, int32(r)).WithSymbol(label(r)),
			asm.Ja.Label(count),
		)
	}
	// counters[R7]++ on this CPU, then return R8.
	add(
		asm.StoreMem(asm.RFP, stCount, reason, asm.Word).WithSymbol(counted),
		asm.LoadMapPtr(asm.R1, 0).WithReference(tierCountersName),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stCount),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "tier_return"),
		asm.LoadMem(x, asm.R0, 0, asm.DWord),
		asm.Add.Imm(x, 1),
		asm.StoreMem(asm.R0, 0, x, asm.DWord),
		asm.Mov.Reg(asm.R0, hop).WithSymbol("tier_return"),
		asm.Return(),
	)
	return in
}

// tierChecksum completes a TCP or UDP checksum left to offload, on
// interfaces flagged tierFlagPartialCsum: such a checksum field holds the
// folded pseudo-header sum (RFC 8200 §8.1). When the field equals that
// sum, the field is set to the complement of the sum over the segment as it
// is — for a partial checksum the complete one, for a complete checksum
// that happens to equal the pseudo-header sum itself again (one's
// complement arithmetic, RFC 1071), so no frame is damaged. The sums are
// kept in native byte order (bpf_csum_diff's), in which the field is
// compared and written. The code starts at the label start and continues
// at next; the frame was checked to end where its payload does. It uses
// R7 and R9.
func tierChecksum(flags asm.Register, start, next string) asm.Instructions {
	in := asm.Instructions{
		asm.JSet.Imm(flags, tierFlagPartialCsum, "csum_go").WithSymbol(start),
		asm.Ja.Label(next),
		asm.LoadMem(asm.R2, asm.R6, xdpMDData, asm.Word).WithSymbol("csum_go"),
	}
	in = append(in,
		asm.LoadMem(asm.R3, asm.R6, xdpMDDataEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, minFrame),
		asm.JGT.Reg(asm.R4, asm.R3, next),
		asm.LoadMem(asm.R4, asm.R2, offNextHdr, asm.Byte),
		asm.JEq.Imm(asm.R4, protoUDP, "csum_udp"),
		asm.JEq.Imm(asm.R4, protoTCP, "csum_tcp"),
		asm.Ja.Label(next),
	)
	in = append(in, tierChecksumField("csum_udp", protoUDP, 6, next)...)
	in = append(in, tierChecksumField("csum_tcp", protoTCP, 16, next)...)
	return in
}

// tierChecksumField is tierChecksum for one protocol, whose checksum field
// is at offset field of the segment.
func tierChecksumField(lbl string, proto uint8, field int16, next string) asm.Instructions {
	const (
		ctx  = asm.R6
		acc  = asm.R7
		ptr  = asm.R9
		data = asm.R2
		end  = asm.R3
		x    = asm.R4
		y    = asm.R5
	)
	l := func(s string) string { return lbl + "_" + s }
	fieldEnd := int32(minFrame) + int32(field) + 2
	reload := func(sym string) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(data, ctx, xdpMDData, asm.Word).WithSymbol(sym),
			asm.LoadMem(end, ctx, xdpMDDataEnd, asm.Word),
			asm.Mov.Reg(x, data),
			asm.Add.Imm(x, fieldEnd),
			asm.JGT.Reg(x, end, next), // too short to hold the field: leave it
		}
	}
	fold := func() asm.Instructions {
		var is asm.Instructions
		for range 3 {
			is = append(is,
				asm.Mov.Reg(x, acc),
				asm.RSh.Imm(x, 16),
				asm.And.Imm(acc, 0xffff),
				asm.Add.Reg(acc, x),
			)
		}
		return is
	}
	in := reload(lbl)
	// Pseudo-header: addresses, upper-layer length (the payload length
	// field), next header.
	in = append(in,
		asm.Mov.Reg(asm.R3, data),
		asm.Add.Imm(asm.R3, offSrc),
		asm.Mov.Imm(asm.R1, 0),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Imm(asm.R4, 32),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnCsumDiff.Call(),
		asm.Mov.Reg(acc, asm.R0),
	)
	in = append(in, reload(l("ph"))...)
	in = append(in,
		asm.LoadMem(x, data, offPayLen, asm.Half),
		asm.Add.Reg(acc, x),
		asm.Add.Imm(acc, nativeWord(0, proto)),
	)
	in = append(in, fold()...)
	in = append(in,
		asm.LoadMem(y, data, minFrame+field, asm.Half),
		asm.JNE.Reg(y, acc, next),
		// Sum the segment: 512-byte blocks, then 256 .. 4, then the
		// last 2 and 1 bytes. A frame fits a page.
		asm.Mov.Imm(acc, 0),
		asm.Mov.Reg(ptr, data),
		asm.Add.Imm(ptr, minFrame),
	)
	block := func(n int32, sym string) {
		in = append(in,
			asm.LoadMem(end, ctx, xdpMDDataEnd, asm.Word).WithSymbol(sym),
			asm.Mov.Reg(x, ptr),
			asm.Add.Imm(x, n),
			asm.JGT.Reg(x, end, sym+"_skip"),
			asm.Mov.Imm(asm.R1, 0),
			asm.Mov.Imm(asm.R2, 0),
			asm.Mov.Reg(asm.R3, ptr),
			asm.Mov.Imm(asm.R4, n),
			asm.Mov.Reg(asm.R5, acc),
			asm.FnCsumDiff.Call(),
			asm.Mov.Reg(acc, asm.R0),
			asm.Add.Imm(ptr, n),
			asm.Mov.Imm(x, 0).WithSymbol(sym+"_skip"), // the jump target
		)
	}
	for i := range 8 {
		block(512, l(fmt.Sprintf("b512_%d", i)))
	}
	for n := int32(256); n >= 4; n /= 2 {
		block(n, l(fmt.Sprintf("b%d", n)))
	}
	in = append(in,
		asm.LoadMem(end, ctx, xdpMDDataEnd, asm.Word),
		asm.Mov.Reg(x, ptr),
		asm.Add.Imm(x, 4),
		asm.JLE.Reg(x, end, next), // longer than a page: leave it
		asm.Mov.Reg(x, ptr),
		asm.Add.Imm(x, 2),
		asm.JGT.Reg(x, end, l("t1")),
		asm.LoadMem(y, ptr, 0, asm.Half),
		asm.Add.Reg(acc, y),
		asm.Add.Imm(ptr, 2),
		asm.Mov.Reg(x, ptr).WithSymbol(l("t1")),
		asm.Add.Imm(x, 1),
		asm.JGT.Reg(x, end, l("fold")),
		asm.LoadMem(y, ptr, 0, asm.Byte),
	)
	if nativeWord(0, 1) == 1 { // big-endian: the last byte is a word's high half
		in = append(in, asm.LSh.Imm(y, 8))
	}
	in = append(in, asm.Add.Reg(acc, y), asm.Mov.Reg(acc, acc).WithSymbol(l("fold")))
	in = append(in, fold()...)
	in = append(in, asm.Xor.Imm(acc, 0xffff))
	if proto == protoUDP {
		in = append(in,
			asm.JNE.Imm(acc, 0, l("store")),
			asm.Mov.Imm(acc, 0xffff), // RFC 8200 §8.1: a zero UDP checksum is sent as all ones
		)
	}
	in = append(in, reload(l("store"))...)
	return append(in,
		asm.StoreMem(data, minFrame+field, acc, asm.Half),
		asm.Ja.Label(next),
	)
}

// tierMaps are the maps of the tier's program besides the locals map it
// shares with the AF_XDP claim programs.
type tierMaps struct {
	IfInfo   *ebpf.Map // ifindex → tierIfInfo of each fast-path interface
	Egress   *ebpf.Map // devmap: ifindex → ifindex of the interfaces that take redirected frames
	Counters *ebpf.Map // per-CPU u64[tierNumCounters]
	NextHops *ebpf.Map // per-CPU tierNextHop[tierNextHopSlots]
}

func newTierMaps() (_ *tierMaps, err error) {
	m := &tierMaps{}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	specs := []struct {
		dst  **ebpf.Map
		spec ebpf.MapSpec
	}{
		{&m.IfInfo, ebpf.MapSpec{Name: tierIfInfoName, Type: ebpf.Hash, KeySize: 4, ValueSize: 12, MaxEntries: tierMaxIfaces}},
		{&m.Egress, ebpf.MapSpec{Name: tierEgressName, Type: ebpf.DevMapHash, KeySize: 4, ValueSize: 4, MaxEntries: tierMaxIfaces}},
		{&m.Counters, ebpf.MapSpec{Name: tierCountersName, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(tierNumCounters)}},
		{&m.NextHops, ebpf.MapSpec{Name: tierNextHopsName, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 20, MaxEntries: tierNextHopSlots}},
	}
	for _, s := range specs {
		if *s.dst, err = ebpf.NewMap(&s.spec); err != nil {
			return nil, fmt.Errorf("xdp tier: map %s: %w", s.spec.Name, err)
		}
	}
	return m, nil
}

// Close releases the maps (a loaded program keeps its own references).
func (m *tierMaps) Close() error {
	var errs []error
	for _, p := range []*ebpf.Map{m.IfInfo, m.Egress, m.Counters, m.NextHops} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}

// loadTierProgram loads the tier's program with the shared locals map and
// the tier's maps.
func loadTierProgram(locals *ebpf.Map, m *tierMaps) (*ebpf.Program, error) {
	insns := tierInstructions()
	for name, mp := range map[string]*ebpf.Map{
		xdpLocalsName: locals, tierIfInfoName: m.IfInfo, tierEgressName: m.Egress,
		tierCountersName: m.Counters, tierNextHopsName: m.NextHops,
	} {
		if err := insns.AssociateMap(name, mp); err != nil {
			return nil, fmt.Errorf("xdp tier: %s: %w", name, err)
		}
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         tierProgName,
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: insns,
	})
	if err != nil {
		return nil, fmt.Errorf("load xdp tier program: %w", err)
	}
	return prog, nil
}

// setInterface puts (or, with mac nil, removes) an interface in the
// interface map.
func (m *tierMaps) setInterface(ifindex int, mac net.HardwareAddr, flags uint32) error {
	k := uint32(ifindex)
	if mac == nil {
		if err := m.IfInfo.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("xdp tier: interface %d: %w", ifindex, err)
		}
		return nil
	}
	if len(mac) != 6 {
		return fmt.Errorf("xdp tier: interface %d: MAC %v is not 6 bytes", ifindex, mac)
	}
	v := tierIfInfo{MAC: [6]byte(mac), Flags: flags}
	if err := m.IfInfo.Put(k, v); err != nil {
		return fmt.Errorf("xdp tier: interface %d: %w", ifindex, err)
	}
	return nil
}

// setEgress adds the interface to the devmap of redirect targets, or
// removes it.
func (m *tierMaps) setEgress(ifindex int, on bool) error {
	k := uint32(ifindex)
	if !on {
		if err := m.Egress.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("xdp tier: egress %d: %w", ifindex, err)
		}
		return nil
	}
	if err := m.Egress.Put(k, k); err != nil {
		return fmt.Errorf("xdp tier: egress %d: %w", ifindex, err)
	}
	return nil
}

// addCounts adds the tier's counters, summed over the CPUs, to s: every
// frame the program saw as received, the forwarded ones, the ones left to
// the kernel by reason and the dropped ones by reason.
func (m *tierMaps) addCounts(s *Stats) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("xdp tier counters: %w", err)
	}
	perCPU := make([]uint64, n)
	var sums [tierNumCounters]uint64
	for i := range sums {
		if err := m.Counters.Lookup(uint32(i), perCPU); err != nil {
			return fmt.Errorf("xdp tier counters: %d: %w", i, err)
		}
		for _, v := range perCPU {
			sums[i] += v
		}
	}
	for i, v := range sums {
		s.Received += v
		switch {
		case i < tierForwarded:
			s.ToKernel[i] += v
		case i == tierForwarded:
			s.Forwarded += v
		default:
			s.Dropped[i-tierDropBase] += v
		}
	}
	return nil
}

// takeNextHops returns the next hops the program used since the last call
// (on any CPU; a slot holds the last of the next hops that hash to it) and
// empties the table.
func (m *tierMaps) takeNextHops() ([]NeighbourRef, error) {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	perCPU := make([]tierNextHop, n)
	zero := make([]tierNextHop, n)
	seen := map[NeighbourRef]bool{}
	var out []NeighbourRef
	for slot := range uint32(tierNextHopSlots) {
		if err := m.NextHops.Lookup(slot, perCPU); err != nil {
			return out, fmt.Errorf("xdp tier next hops: %w", err)
		}
		used := false
		for _, h := range perCPU {
			if h.Ifindex == 0 {
				continue
			}
			used = true
			r := NeighbourRef{Link: int(h.Ifindex), Addr: netip.AddrFrom16(h.Addr)}
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
		if used {
			if err := m.NextHops.Put(slot, zero); err != nil {
				return out, fmt.Errorf("xdp tier next hops: %w", err)
			}
		}
	}
	return out, nil
}
