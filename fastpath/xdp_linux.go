//go:build linux

package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// The XDP claim of the AF_XDP datapath: per fast-path interface an XDP
// program that makes the decision of IngressProgram and classify (which
// frames the fast path takes) before the kernel allocates an skb, and
// redirects the frames it takes to the AF_XDP socket of their receive queue.
// It is assembled here with the asm package: no C, no object files.

// XDP return codes (linux/bpf.h, enum xdp_action).
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpRedirect = 4
)

// Offsets in struct xdp_md (linux/bpf.h).
const (
	xdpMDData         = 0
	xdpMDDataEnd      = 4
	xdpMDRxQueueIndex = 16
)

// Map and program names as the kernel shows them (at most 15 bytes).
const (
	xdpLocalsName = "vrouter_locals"
	xdpXSKsName   = "vrouter_xsks"
	xdpKernelName = "vrouter_kernel"
	xdpProgName   = "vrouter_xdp"
)

// xdpEtherTypeIP6 is the EtherType field of an IPv6 frame as a half-word
// load from the packet sees it: packet memory is in network byte order, the
// load in host byte order.
var xdpEtherTypeIP6 = int32(binary.NativeEndian.Uint16([]byte{etherTypeIP6 >> 8, etherTypeIP6 & 0xff}))

// newXDPLocals creates the map of this host's IPv6 addresses (key: the
// 16-byte address, value: the byte 1) that the XDP programs of all
// fast-path interfaces share, for at most max addresses.
func newXDPLocals(max int) (*ebpf.Map, error) {
	if max < 1 {
		return nil, fmt.Errorf("xdp locals: max %d < 1", max)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       xdpLocalsName,
		Type:       ebpf.Hash,
		KeySize:    16,
		ValueSize:  1,
		MaxEntries: uint32(max),
	})
	if err != nil {
		return nil, fmt.Errorf("xdp locals map: %w", err)
	}
	return m, nil
}

// setXDPLocals makes the contents of m exactly locals: it deletes the
// addresses no longer there, then adds the new ones. Addresses that are not
// IPv6, or are IPv4-mapped, are ignored, as IngressProgram ignores them.
func setXDPLocals(m *ebpf.Map, locals []netip.Addr) error {
	want := make(map[[16]byte]bool, len(locals))
	for _, a := range locals {
		if a.Is6() && !a.Is4In6() {
			want[a.As16()] = true
		}
	}
	var (
		key  [16]byte
		val  uint8
		have [][16]byte
	)
	it := m.Iterate()
	for it.Next(&key, &val) {
		have = append(have, key)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("xdp locals: iterate: %w", err)
	}
	for _, k := range have {
		if want[k] {
			delete(want, k) // already there
			continue
		}
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("xdp locals: delete %s: %w", netip.AddrFrom16(k), err)
		}
	}
	for k := range want {
		if err := m.Put(k, uint8(1)); err != nil {
			return fmt.Errorf("xdp locals: add %s: %w", netip.AddrFrom16(k), err)
		}
	}
	return nil
}

// xdpInstructions returns the XDP program: it runs take for every frame
// the fast path takes (as classify decides it: plain Ethernet with
// EtherType IPv6, at least a full IPv6 header, version 6, destination
// neither multicast nor link-local, source not link-local, next header
// TCP, UDP or ICMPv6, destination not in the map referenced as
// xdpLocalsName, hop limit at least 2) and returns XDP_PASS for the rest,
// after adding 1 to the entry of the per-CPU array referenced as
// xdpKernelName at the KernelReason classify gives the frame. The checks
// are made in the order of classify, so that the first one that fails is
// the reason. When take runs, R6 holds the context (struct xdp_md *); take
// must end the program.
//
// The path of a frame that is taken has no instruction for the counting:
// each failed check jumps to a stub behind take that sets the reason, and
// the stubs share the counting. Frames shorter than the fixed IPv6 header
// are sorted into not-IPv6 and truncated off that path too.
func xdpInstructions(take asm.Instructions) asm.Instructions {
	return xdpCheckInstructions(take, true)
}

// xdpCheckInstructions is xdpInstructions, with the check of the
// destination against the locals map only if locals is set (the XDP tier
// leaves it to the kernel's FIB, which knows this host's addresses, and
// looks at the map only to name the reason).
func xdpCheckInstructions(take asm.Instructions, locals bool) asm.Instructions {
	const (
		ctx    = asm.R6
		reason = asm.R7 // the KernelReason, for count (callee-saved)
		hop    = asm.R8 // the hop limit, across the locals lookup (callee-saved)
		data   = asm.R2
		end    = asm.R3
		x      = asm.R4
		y      = asm.R5
		count  = "count"
	)
	// Labels of the stubs that set the reason.
	label := func(r KernelReason) string { return "kernel_" + r.String() }
	insns := asm.Instructions{
		asm.Mov.Reg(ctx, asm.R1),
		asm.LoadMem(data, ctx, xdpMDData, asm.Word),
		asm.LoadMem(end, ctx, xdpMDDataEnd, asm.Word),
		// At least Ethernet and the fixed IPv6 header, so that every load
		// below is in bounds (shorter: "short" finds the reason).
		asm.Mov.Reg(x, data),
		asm.Add.Imm(x, minFrame),
		asm.JGT.Reg(x, end, "short"),
		// Only an untagged IPv6 frame.
		asm.LoadMem(x, data, offEthType, asm.Half),
		asm.JNE.Imm(x, xdpEtherTypeIP6, label(KernelNotIPv6)),
		// Version 6.
		asm.LoadMem(x, data, offIP, asm.Byte),
		asm.And.Imm(x, 0xf0),
		asm.JNE.Imm(x, 0x60, label(KernelBadVersion)),
		// Destination not ff00::/8, not fe80::/10.
		asm.LoadMem(x, data, offDst, asm.Byte),
		asm.JEq.Imm(x, 0xff, label(KernelMulticast)),
		asm.JNE.Imm(x, 0xfe, "src"),
		asm.LoadMem(y, data, offDst+1, asm.Byte),
		asm.And.Imm(y, 0xc0),
		asm.JEq.Imm(y, 0x80, label(KernelLinkLocal)),
		// Source not fe80::/10.
		asm.LoadMem(x, data, offSrc, asm.Byte).WithSymbol("src"),
		asm.JNE.Imm(x, 0xfe, "next"),
		asm.LoadMem(y, data, offSrc+1, asm.Byte),
		asm.And.Imm(y, 0xc0),
		asm.JEq.Imm(y, 0x80, label(KernelLinkLocal)),
		// Next header TCP, UDP or ICMPv6.
		asm.LoadMem(x, data, offNextHdr, asm.Byte).WithSymbol("next"),
		asm.JEq.Imm(x, protoTCP, "local"),
		asm.JEq.Imm(x, protoUDP, "local"),
		asm.JNE.Imm(x, protoICMPv6, "nexthdr"),
		// The hop limit is checked after the destination, as classify
		// does; the lookup call clobbers R1-R5.
		asm.LoadMem(hop, data, offHopLimit, asm.Byte).WithSymbol("local"),
	}
	if locals {
		insns = append(insns,
			// Destination not local: copy it to the stack for the lookup.
			// (offDst+NET_IP_ALIGN is a multiple of 8 where alignment matters.)
			asm.LoadMem(x, data, offDst, asm.DWord),
			asm.StoreMem(asm.RFP, -16, x, asm.DWord),
			asm.LoadMem(x, data, offDst+8, asm.DWord),
			asm.StoreMem(asm.RFP, -8, x, asm.DWord),
			asm.LoadMapPtr(asm.R1, 0).WithReference(xdpLocalsName),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -16),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, label(KernelLocal)),
		)
	}
	insns = append(insns,
		// Hop limit at least 2.
		asm.JLT.Imm(hop, 2, label(KernelHopLimit)),
	)
	insns = append(insns, take...)
	insns = append(insns,
		// Shorter than Ethernet and the fixed IPv6 header: not IPv6 unless
		// it has an IPv6 EtherType, as in classify.
		asm.Mov.Imm(reason, int32(KernelNotIPv6)).WithSymbol("short"),
		asm.Mov.Reg(x, data),
		asm.Add.Imm(x, offEthType+2),
		asm.JGT.Reg(x, end, count),
		asm.LoadMem(x, data, offEthType, asm.Half),
		asm.JNE.Imm(x, xdpEtherTypeIP6, count),
		asm.Mov.Imm(reason, int32(KernelTruncated)),
		asm.Ja.Label(count),
		// Next header neither TCP, UDP nor ICMPv6 (x holds it).
		asm.Mov.Imm(reason, int32(KernelExtHeader)).WithSymbol("nexthdr"),
		asm.JNE.Imm(x, protoFragment, count),
		asm.Mov.Imm(reason, int32(KernelFragment)),
		asm.Ja.Label(count),
	)
	stubs := []KernelReason{KernelNotIPv6, KernelBadVersion, KernelMulticast, KernelLinkLocal, KernelLocal, KernelHopLimit}
	for i, r := range stubs {
		insns = append(insns, asm.Mov.Imm(reason, int32(r)).WithSymbol(label(r)))
		if i < len(stubs)-1 {
			insns = append(insns, asm.Ja.Label(count)) // the last falls through
		}
	}
	// counter[reason]++ in this CPU's copy, without an atomic: no other CPU
	// writes it, and XDP runs with migration disabled. Then XDP_PASS.
	return append(insns,
		asm.StoreMem(asm.RFP, -4, reason, asm.Word).WithSymbol(count),
		asm.LoadMapPtr(asm.R1, 0).WithReference(xdpKernelName),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.LoadMem(x, asm.R0, 0, asm.DWord),
		asm.Add.Imm(x, 1),
		asm.StoreMem(asm.R0, 0, x, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	)
}

// xdpRedirectTake is the take action of the real program:
// bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS), which hands the
// frame to the kernel when no socket is in the queue's slot.
func xdpRedirectTake() asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference(xdpXSKsName),
		asm.LoadMem(asm.R2, asm.R6, xdpMDRxQueueIndex, asm.Word),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	}
}

// newXDPKernelMap creates the per-CPU array of xdpInstructions' counters
// of frames passed to the kernel, indexed by KernelReason.
func newXDPKernelMap() (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       xdpKernelName,
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: uint32(NumKernelReasons),
	})
	if err != nil {
		return nil, fmt.Errorf("xdp kernel counter map: %w", err)
	}
	return m, nil
}

// addXDPKernelCounts adds the counters of kernel, a map made by
// newXDPKernelMap, summed over the CPUs, to into.
func addXDPKernelCounts(kernel *ebpf.Map, into *[NumKernelReasons]uint64) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("xdp kernel counters: %w", err)
	}
	var sums [NumKernelReasons]uint64
	perCPU := make([]uint64, n)
	for r := range sums {
		if err := kernel.Lookup(uint32(r), perCPU); err != nil {
			return fmt.Errorf("xdp kernel counters: %s: %w", KernelReason(r), err)
		}
		for _, v := range perCPU {
			sums[r] += v
		}
	}
	for r, v := range sums {
		into[r] += v
	}
	return nil
}

// newXDPProgramWith loads xdpInstructions(take) with the locals and kernel
// counter maps and, when take references it, xsks.
func newXDPProgramWith(take asm.Instructions, locals, kernel, xsks *ebpf.Map) (*ebpf.Program, error) {
	insns := xdpInstructions(take)
	if err := insns.AssociateMap(xdpLocalsName, locals); err != nil {
		return nil, err
	}
	if err := insns.AssociateMap(xdpKernelName, kernel); err != nil {
		return nil, err
	}
	if xsks != nil {
		if err := insns.AssociateMap(xdpXSKsName, xsks); err != nil {
			return nil, err
		}
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         xdpProgName,
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: insns,
	})
	if err != nil {
		return nil, fmt.Errorf("load xdp program: %w", err)
	}
	return prog, nil
}

// xdpProgram is one interface's XDP program, its XSKMAP, whose entry at
// key q is the AF_XDP socket of receive queue q, and its counters of the
// frames it passed to the kernel (per CPU, by KernelReason).
type xdpProgram struct {
	Prog   *ebpf.Program
	XSKs   *ebpf.Map
	Kernel *ebpf.Map
}

// loadXDPProgram creates an XSKMAP for queues receive queues and a kernel
// counter map, and loads the program that redirects the frames the fast
// path takes to the XSKMAP, with the shared locals map.
func loadXDPProgram(locals *ebpf.Map, queues int) (*xdpProgram, error) {
	if queues < 1 {
		return nil, fmt.Errorf("xdp program: %d queues", queues)
	}
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       xdpXSKsName,
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(queues),
	})
	if err != nil {
		return nil, fmt.Errorf("xdp socket map: %w", err)
	}
	kernel, err := newXDPKernelMap()
	if err != nil {
		xsks.Close()
		return nil, err
	}
	prog, err := newXDPProgramWith(xdpRedirectTake(), locals, kernel, xsks)
	if err != nil {
		xsks.Close()
		kernel.Close()
		return nil, err
	}
	return &xdpProgram{Prog: prog, XSKs: xsks, Kernel: kernel}, nil
}

// Close releases the program and its maps (an attached program stays
// until its link is closed; it holds its own references to the maps).
func (p *xdpProgram) Close() error {
	return errors.Join(p.Prog.Close(), p.XSKs.Close(), p.Kernel.Close())
}

// kernelCounts adds the frames the program passed to the kernel, by reason
// and summed over the CPUs, to into. Frames it takes are not counted, nor
// those the redirect hands to the kernel for want of a socket in their
// queue's slot. After Close it fails and adds nothing.
func (p *xdpProgram) kernelCounts(into *[NumKernelReasons]uint64) error {
	return addXDPKernelCounts(p.Kernel, into)
}

// setSocket puts the AF_XDP socket fd in the XSKMAP at queue q.
func (p *xdpProgram) setSocket(q int, fd int) error {
	if q < 0 || fd < 0 {
		return fmt.Errorf("xdp socket map: queue %d, fd %d", q, fd)
	}
	if err := p.XSKs.Put(uint32(q), uint32(fd)); err != nil {
		return fmt.Errorf("xdp socket map: queue %d: %w", q, err)
	}
	return nil
}

// attach attaches the program to the interface ifindex (see attachXDP).
func (p *xdpProgram) attach(ifindex int) (link.Link, string, error) {
	return attachXDP(p.Prog, ifindex)
}
