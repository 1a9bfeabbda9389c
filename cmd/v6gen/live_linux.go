package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// xdpMD is struct xdp_md, the context of a BPF_PROG_RUN of an XDP program.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// liveInstructions returns the live-frames program: it writes the
// Ethernet header and the hop limit of frame into the frame and returns
// XDP_TX. The kernel sets a page's data up once and recycles the page
// after transmission without setting it up again, while a receiver that
// forwards in XDP rewrites the frame in place (veth hands it over without
// a copy): the next run would send what the receiver forwarded.
func liveInstructions(frame []byte) asm.Instructions {
	word := func(off int) int32 { return int32(binary.NativeEndian.Uint32(frame[off:])) }
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 22),
		asm.JGT.Reg(asm.R4, asm.R3, "tx"),
		asm.StoreImm(asm.R2, 0, int64(word(0)), asm.Word),
		asm.StoreImm(asm.R2, 4, int64(word(4)), asm.Word),
		asm.StoreImm(asm.R2, 8, int64(word(8)), asm.Word),
		asm.StoreImm(asm.R2, 21, int64(frame[21]), asm.Byte),
		asm.Mov.Imm(asm.R0, 3).WithSymbol("tx"), // XDP_TX
		asm.Return(),
	}
}

// liveBatch is how many frames one BPF_PROG_RUN call sends at most at a
// fixed rate, liveFlatBatch flat out. Each run has a fixed cost: the
// kernel sets up a page pool per run and, before the call returns, waits
// for an RCU grace period. That wait is the kernel's configuration's, not
// the frames': 0.45 ms on one machine of this class (1.5 ms while the
// other CPU forwards at full load), 24 ms on another (Linux 6.18, HZ=250;
// 13 µs for a single frame, which takes no pool), 0.2–0.4 ms there with
// /sys/kernel/rcu_expedited set to 1, which `make bench` does for its
// live-frames trials. Within a run frames leave as fast as the kernel
// makes them (7–20 Mpps into an XDP_DROP peer), so a veth peer takes at
// most its 256-frame ring of each run's burst. Flat out with runs of 1024
// frames, that capped v6gen at 0.4–0.5 Mpps offered in `make bench` and
// the receiver at one ring per run: 256 frames per 1.5 ms is the 143–178
// kpps the XDP tier "peaked" at. Runs of 65536 frames offer 19.6 Mpps
// (2.1 with 1024) on a quiet machine, and the receiver is busy for most
// of each run instead of idle between bursts. sendLive says so on stderr
// when a run of at most liveBatch frames takes longer than slowRun.
const (
	liveBatch     = 1024
	liveFlatBatch = 1 << 16
	slowRun       = 10 * time.Millisecond
)

// sendLive sends the frames as XDP live frames: an XDP program that returns
// XDP_TX runs on them as if received on the interface, and the kernel
// transmits them there (ndo_xdp_xmit; a veth hands them to its peer's XDP
// program, which must exist). Each call runs one flow's frame up to
// liveBatch times (liveFlatBatch flat out).
func sendLive(ctx context.Context, spec sendSpec, pps float64, dur time.Duration) (result, error) {
	frames, err := buildFrames(spec.frameSpec)
	if err != nil {
		return result{}, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "v6gen_tx",
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: liveInstructions(frames[0]),
	})
	if err != nil {
		return result{}, fmt.Errorf("live frames: load XDP program: %w", err)
	}
	defer prog.Close()
	var res result
	start := time.Now()
	p := pacer{pps: pps, start: start, now: time.Now, sleep: time.Sleep}
	end := start.Add(dur)
	warned := false
	batch := liveBatch
	if pps <= 0 {
		batch = liveFlatBatch
	}
	for next := 0; ctx.Err() == nil && time.Now().Before(end); {
		k := p.due(res.Sent, batch)
		if k == 0 {
			p.wait()
			continue
		}
		f := frames[next]
		began := time.Now()
		err := runLive(prog, &ebpf.RunOptions{
			Data:      f,
			Repeat:    uint32(k),
			Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			BatchSize: 64,
			Context:   xdpMD{DataEnd: uint32(len(f)), IngressIfindex: uint32(spec.Ifindex)},
		})
		if err != nil {
			if errors.Is(err, unix.EINVAL) {
				err = fmt.Errorf("%w (live frames need Linux ≥ 5.18)", err)
			}
			return res, fmt.Errorf("live frames: %w", err)
		}
		if took := time.Since(began); k <= liveBatch && took > slowRun && !warned {
			warned = true
			fmt.Fprintf(os.Stderr, "v6gen: a live-frames run of %d frames took %v: the kernel waits for an RCU grace period after each run, and this rate may be out of reach (echo 1 > /sys/kernel/rcu_expedited makes that wait short)\n",
				k, took.Round(100*time.Microsecond))
		}
		res.Sent += uint64(k)
		if next++; next == len(frames) {
			next = 0
		}
	}
	res.finish(start)
	return res, nil
}

// errRerun: a live-frames run was interrupted and would be run again.
var errRerun = errors.New("live frames: run interrupted by a signal; its frames would be sent twice")

// runLive runs prog once for opts.Repeat live frames with every signal
// blocked on the calling thread. The kernel stops a run with a pending
// signal (EINTR) after it has sent part of the frames, it cannot say how
// many, and cilium/ebpf then runs the whole repeat count again: under the
// Go runtime's preemption signals (SIGURG) that sent frames v6gen never
// counted (65 of 11267 once, seen as a peer receiving more than v6gen
// said it offered). Blocked, a thread-directed signal waits for the run to
// end, and a process-directed one goes to another thread. Should a rerun
// still happen, runLive fails rather than undercount what it offered.
func runLive(prog *ebpf.Program, opts *ebpf.RunOptions) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, &old); err != nil {
		return fmt.Errorf("block signals: %w", err)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	rerun := false
	// Reset is deprecated for benchmarks, but it is the one hook that
	// tells a rerun after EINTR happened.
	//lint:ignore SA1019 the only way to learn that cilium/ebpf reran the program
	opts.Reset = func() { rerun = true }
	_, err := prog.Run(opts)
	if err == nil && rerun {
		err = errRerun
	}
	return err
}
