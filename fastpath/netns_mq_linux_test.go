package fastpath_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"golang.org/x/sys/unix"
)

// queueSink is an XDP program on the sink's veth that counts the test's
// UDP frames (destination port 2000) by the receive queue they arrive on —
// for a veth, the transmit queue the router sent them on — and drops them.
type queueSink struct {
	counts *ebpf.Map // per-CPU u64 by queue
	prog   *ebpf.Program
	link   link.Link
}

const sinkQueues = 8

func attachQueueSink(t *testing.T, ns, dev string) *queueSink {
	t.Helper()
	q := &queueSink{}
	var err error
	q.counts, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: sinkQueues})
	if err != nil {
		t.Skipf("no BPF: %v", err)
	}
	t.Cleanup(func() { q.counts.Close() })
	be16 := func(v uint16) int32 { return int32(binary.NativeEndian.Uint16([]byte{byte(v >> 8), byte(v)})) }
	q.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: asm.Instructions{
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
		asm.JNE.Imm(asm.R4, be16(2000), "pass"),
		asm.LoadMem(asm.R4, asm.R6, 16, asm.Word), // rx_queue_index
		asm.StoreMem(asm.RFP, -4, asm.R4, asm.Word),
		asm.LoadMapPtr(asm.R1, q.counts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("drop"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"),
		asm.Return(),
	}})
	if err != nil {
		t.Skipf("no XDP: %v", err)
	}
	t.Cleanup(func() { q.prog.Close() })
	inNS(t, ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		q.link, err = link.AttachXDP(link.XDPOptions{Program: q.prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
		return err
	})
	t.Cleanup(func() { q.link.Close() })
	return q
}

// byQueue returns the frames counted on each queue, summed over CPUs.
func (q *queueSink) byQueue(t *testing.T) [sinkQueues]uint64 {
	t.Helper()
	n, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	var out [sinkQueues]uint64
	per := make([]uint64, n)
	for i := range out {
		if err := q.counts.Lookup(uint32(i), per); err != nil {
			t.Fatal(err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out
}

// TestNamespaceMultiQueue runs the router on veths with two queues each and
// two CPUs: every frame of 64 flows arrives once, and with AF_XDP (a worker
// per receive queue, each sending on its own queue) the frames leave
// through both transmit queues of the egress, where before everything left
// through queue 0. The XDP tier is per-CPU by nature: its redirects leave
// on the queue of the CPU that ran them.
func TestNamespaceMultiQueue(t *testing.T) {
	for _, io := range []string{config.FastpathIOAFXDP, config.FastpathIOXDP, config.FastpathIOPacket} {
		t.Run(io, func(t *testing.T) {
			tp := newTopoQueues(t, 2)
			tp.io, tp.cpu = io, "0,1"
			for _, l := range []string{tp.rA, tp.rB} {
				if out := run(t, "ip", "netns", "exec", tp.r, "ls", "/sys/class/net/"+l+"/queues"); out != "rx-0\nrx-1\ntx-0\ntx-1\n" {
					t.Fatalf("%s queues: %q", l, out)
				}
			}
			sink := attachQueueSink(t, tp.s, tp.sB)
			stop := tp.startRouter()
			// Resolve S first (the first frames of the XDP tier go through
			// the kernel).
			run(t, "ip", "netns", "exec", tp.g, "ping", "-6", "-c", "1", "-W", "2", tp.sAddr.String())
			// Frames sent from CPU c with PACKET_QDISC_BYPASS leave gA on
			// its transmit queue c, and arrive on rA's receive queue c.
			const flows, perFlow = 64, 8
			sendFromCPUs(t, tp.g, tp.gA, 2, func(cpu int, send func([]byte)) {
				for i := cpu; i < flows*perFlow; i += 2 {
					f := fastpathtest.UDPFrame(tp.macRA, tp.macGA, tp.gAddr, tp.sAddr, 64, []byte(fmt.Sprintf("frame %05d", i)))
					binary.BigEndian.PutUint16(f[14+40:], uint16(3000+i%flows)) // source port: the flow
					binary.BigEndian.PutUint16(f[14+40+6:], 0)                  // no UDP checksum needed for the count
					send(f)
				}
			})
			var got [sinkQueues]uint64
			deadline := time.Now().Add(5 * time.Second)
			for {
				got = sink.byQueue(t)
				var sum uint64
				for _, n := range got {
					sum += n
				}
				if sum >= flows*perFlow || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // any duplicate arrives meanwhile
			got = sink.byQueue(t)
			s := stop()
			var sum uint64
			for _, n := range got {
				sum += n
			}
			if sum != flows*perFlow {
				t.Errorf("sink counted %d frames (by queue %v), want %d exactly once each (stats %+v)", sum, got[:2], flows*perFlow, s)
			}
			if io == config.FastpathIOAFXDP && (got[0] == 0 || got[1] == 0) {
				t.Errorf("frames left rB by queue %v: want both queues used (a worker per queue, each sending on its own)", got[:2])
			}
			t.Logf("frames by rB transmit queue %v; stats %+v", got[:2], s)
		})
	}
}

// sendFromCPUs runs gen on cpus goroutines, the c-th on a thread pinned to
// CPU c in namespace ns with its own AF_PACKET socket on dev with
// PACKET_QDISC_BYPASS (so the frames leave on transmit queue c): gen calls
// send for each frame, which retries while the device pushes back.
func sendFromCPUs(t *testing.T, ns, dev string, cpus int, gen func(cpu int, send func([]byte))) {
	t.Helper()
	errc := make(chan error, cpus)
	for c := range cpus {
		go func() {
			var err error
			defer func() { errc <- err }()
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("cpu %d: %v", c, r)
				}
			}()
			inNS(t, ns, func() error {
				var set unix.CPUSet
				set.Set(c)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					return err
				}
				ifi, err := net.InterfaceByName(dev)
				if err != nil {
					return err
				}
				fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
					return err
				}
				if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
					return err
				}
				var sendErr error
				gen(c, func(f []byte) {
					for try := 0; sendErr == nil; try++ {
						_, err := unix.Write(fd, f)
						if err == nil {
							return
						}
						if err != unix.ENOBUFS || try == 100 {
							sendErr = err
						}
						time.Sleep(time.Millisecond) // the router's ring is full: veth pushes back
					}
				})
				return sendErr
			})
		}()
	}
	for range cpus {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
