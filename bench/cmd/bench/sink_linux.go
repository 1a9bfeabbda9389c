package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// sink is the XDP program on the sink's interface: it counts the test
// traffic (IPv6/UDP to port 9) in a per-CPU counter and drops it, and
// passes everything else (Neighbor Discovery, pings). An XDP program gives
// the veth NAPI, so that it takes frames the XDP tier redirects, and frames
// of every datapath are received the same way.
type sink struct {
	prog    *ebpf.Program
	counter *ebpf.Map
	link    link.Link
}

// sinkInstructions returns the sink's program.
func sinkInstructions() asm.Instructions {
	be16 := func(v uint16) int32 { return int32(binary.NativeEndian.Uint16([]byte{byte(v >> 8), byte(v)})) }
	return asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+40+4),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R4, be16(0x86dd), "pass"),
		asm.LoadMem(asm.R4, asm.R2, 20, asm.Byte),
		asm.JNE.Imm(asm.R4, 17, "pass"),
		asm.LoadMem(asm.R4, asm.R2, 56, asm.Half),
		asm.JNE.Imm(asm.R4, be16(9), "pass"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("sink_count"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("drop"), // XDP_DROP
		asm.Return(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), // XDP_PASS
		asm.Return(),
	}
}

// attachSink attaches the sink's program to dev in the named network
// namespace ns (native XDP, with a BPF link this process holds).
func attachSink(ns, dev string) (*sink, error) {
	s := &sink{}
	var err error
	s.counter, err = ebpf.NewMap(&ebpf.MapSpec{Name: "sink_count", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("sink counter: %w", err)
	}
	insns := sinkInstructions()
	if err := insns.AssociateMap("sink_count", s.counter); err != nil {
		s.Close()
		return nil, err
	}
	if s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_sink", Type: ebpf.XDP, License: "GPL", Instructions: insns}); err != nil {
		s.Close()
		return nil, fmt.Errorf("sink program: %w", err)
	}
	err = inNamespace(ns, func() error {
		l, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		s.link, err = link.AttachXDP(link.XDPOptions{Program: s.prog, Interface: l.Attrs().Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("attach the sink to %s: %w", dev, err)
	}
	return s, nil
}

// count returns the test frames the sink has counted, summed over CPUs.
func (s *sink) count() uint64 {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		fatal(err)
	}
	per := make([]uint64, n)
	if err := s.counter.Lookup(uint32(0), per); err != nil {
		fatal(fmt.Errorf("sink counter: %w", err))
	}
	var sum uint64
	for _, v := range per {
		sum += v
	}
	return sum
}

// Close detaches the program and releases it.
func (s *sink) Close() {
	if s.link != nil {
		_ = s.link.Close()
	}
	if s.prog != nil {
		_ = s.prog.Close()
	}
	if s.counter != nil {
		_ = s.counter.Close()
	}
}

// inNamespace runs f on a locked thread in the named network namespace.
func inNamespace(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread is discarded
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// pinNAPI pins the NAPI threads of dev (comm "napi/DEV-ID", cut to 15
// characters) to cpu and gives them a real-time priority (SCHED_FIFO 50),
// so that the sink drains its ring as soon as frames arrive, ahead of the
// generator on the same CPU: a measuring device must not drop (its veth
// ring holds 256 frames, under 1 ms at 300 kpps).
func pinNAPI(dev string, cpu int) error {
	prefix := "napi/" + dev + "-"
	if len(prefix) > 15 {
		prefix = prefix[:15]
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(cpu)
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), prefix) {
			continue
		}
		if err := unix.SchedSetaffinity(pid, &set); err != nil {
			return fmt.Errorf("pin NAPI thread %d of %s: %w", pid, dev, err)
		}
		if err := unix.SchedSetAttr(pid, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 50}, 0); err != nil {
			return fmt.Errorf("real-time priority for NAPI thread %d of %s: %w", pid, dev, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no NAPI thread of %s", dev)
	}
	return nil
}
