//go:build linux

package fastpath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Redirect failures of the XDP tier: a frame the program redirected that
// the egress device did not take (its queue full, say) is freed by the
// kernel, which says so only in the xdp:xdp_devmap_xmit tracepoint (drops
// per flush), and a redirect that fails at once (the target stopped taking
// redirected frames) only in xdp:xdp_redirect_err. Two raw tracepoint
// programs count them: the first those to devices of this network
// namespace (the tracepoint fires for every namespace), the second those
// of the tier's devmap. Loading them needs CAP_PERFMON besides CAP_BPF;
// without it the failures are not counted and the daemon says so.

const (
	xmitCountersName = "vrouter_xmiterr"
	xmitDevmapProg   = "vrouter_xmit"
	xmitRedirectProg = "vrouter_rediterr"
)

// redirectFailures counts redirect failures with two attached programs.
type redirectFailures struct {
	counters *ebpf.Map // per-CPU u64[2]: devmap xmit drops, redirect errors
	progs    []*ebpf.Program
	links    []link.Link
}

// newRedirectFailures loads and attaches the counting programs; devmap
// is the tier's devmap (its id selects the redirect errors that count).
func newRedirectFailures(devmap *ebpf.Map) (_ *redirectFailures, err error) {
	r := &redirectFailures{}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	r.counters, err = ebpf.NewMap(&ebpf.MapSpec{Name: xmitCountersName, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		return nil, fmt.Errorf("redirect failure counters: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("own network namespace: %w", err)
	}
	netOff, inumOff, err := netnsInumOffsets()
	if err != nil {
		return nil, err
	}
	info, err := devmap.Info()
	if err != nil {
		return nil, fmt.Errorf("devmap info: %w", err)
	}
	mapID, ok := info.ID()
	if !ok {
		return nil, errors.New("devmap has no id")
	}
	for _, p := range []struct {
		name, tp string
		insns    asm.Instructions
	}{
		{xmitDevmapProg, "xdp_devmap_xmit", devmapXmitInstructions(netOff, inumOff, uint32(st.Ino))},
		{xmitRedirectProg, "xdp_redirect_err", redirectErrInstructions(uint32(mapID))},
	} {
		if err := p.insns.AssociateMap(xmitCountersName, r.counters); err != nil {
			return nil, err
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: p.name, Type: ebpf.RawTracepoint, License: "GPL", Instructions: p.insns})
		if err != nil {
			return nil, fmt.Errorf("load %s counter: %w", p.tp, err)
		}
		r.progs = append(r.progs, prog)
		lk, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.tp, Program: prog})
		if err != nil {
			return nil, fmt.Errorf("attach to %s: %w", p.tp, err)
		}
		r.links = append(r.links, lk)
	}
	return r, nil
}

// count returns the failures counted so far, summed over the CPUs.
func (r *redirectFailures) count() uint64 {
	if r == nil || r.counters == nil {
		return 0
	}
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return 0
	}
	per := make([]uint64, n)
	var sum uint64
	for k := range uint32(2) {
		if r.counters.Lookup(k, per) == nil {
			for _, v := range per {
				sum += v
			}
		}
	}
	return sum
}

// Close detaches and releases the programs.
func (r *redirectFailures) Close() {
	for _, l := range r.links {
		_ = l.Close()
	}
	for _, p := range r.progs {
		_ = p.Close()
	}
	if r.counters != nil {
		_ = r.counters.Close()
	}
	*r = redirectFailures{}
}

// netnsInumOffsets returns, from the kernel's BTF, the offsets of
// net_device.nd_net.net and of net.ns.inum.
func netnsInumOffsets() (netOff, inumOff int32, err error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return 0, 0, fmt.Errorf("kernel BTF: %w", err)
	}
	if netOff, err = memberOffset(spec, "net_device", "nd_net", "net"); err != nil {
		return 0, 0, err
	}
	if inumOff, err = memberOffset(spec, "net", "ns", "inum"); err != nil {
		return 0, 0, err
	}
	return netOff, inumOff, nil
}

// memberOffset returns the byte offset of the member path in struct name.
func memberOffset(spec *btf.Spec, name string, path ...string) (int32, error) {
	var s *btf.Struct
	if err := spec.TypeByName(name, &s); err != nil {
		return 0, fmt.Errorf("kernel BTF: struct %s: %w", name, err)
	}
	var off btf.Bits
	var t btf.Type = s
	for _, m := range path {
		found := false
		var members []btf.Member
		switch c := btf.UnderlyingType(t).(type) {
		case *btf.Struct:
			members = c.Members
		case *btf.Union:
			members = c.Members
		}
		for _, mb := range members {
			if mb.Name == m {
				off += mb.Offset
				t = mb.Type
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("kernel BTF: struct %s has no member %v", name, path)
		}
	}
	if off%8 != 0 {
		return 0, fmt.Errorf("kernel BTF: %s.%v is a bit field", name, path)
	}
	return int32(off / 8), nil
}

// devmapXmitInstructions counts the drops of xdp_devmap_xmit(from_dev,
// to_dev, sent, drops, err) whose to_dev is in the network namespace with
// inode number inum.
func devmapXmitInstructions(netOff, inumOff int32, inum uint32) asm.Instructions {
	return append(asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 8, asm.DWord),  // to_dev
		asm.LoadMem(asm.R8, asm.R6, 24, asm.DWord), // drops (int)
		asm.LSh.Imm(asm.R8, 32),
		asm.ArSh.Imm(asm.R8, 32),
		asm.JSLE.Imm(asm.R8, 0, "out"),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 8),
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.Add.Imm(asm.R3, netOff),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -16),
		asm.Mov.Imm(asm.R2, 4),
		asm.LoadMem(asm.R3, asm.RFP, -8, asm.DWord),
		asm.Add.Imm(asm.R3, inumOff),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R0, asm.RFP, -16, asm.Word),
		asm.JNE.Imm32(asm.R0, int32(inum), "out"),
		asm.StoreImm(asm.RFP, -20, 0, asm.Word),
		asm.Ja.Label("count"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}, countInstructions()...)
}

// redirectErrInstructions counts the frames of xdp_redirect_err(dev, xdp,
// tgt, err, map_type, map_id, index) whose map is the one with id mapID.
func redirectErrInstructions(mapID uint32) asm.Instructions {
	return append(asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 40, asm.DWord), // map_id
		asm.JNE.Imm32(asm.R2, int32(mapID), "out"),
		asm.Mov.Imm(asm.R8, 1),
		asm.StoreImm(asm.RFP, -20, 1, asm.Word),
		asm.Ja.Label("count"),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}, countInstructions()...)
}

// countInstructions adds R8 to counter[*(u32 *)(fp-20)] and returns 0.
func countInstructions() asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference(xmitCountersName).WithSymbol("count"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -20),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "done"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R8),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("done"),
		asm.Return(),
	}
}
