package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"
)

// vethNS creates a namespace with a veth pair ga–gb, both up, switches
// the calling goroutine's thread into it for the rest of the test, and
// returns gb's MAC and a function that reads gb's rx_packets.
func vethNS(t *testing.T) (string, func() uint64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (network namespace, AF_PACKET)")
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	ns := "v6gen-" + hex.EncodeToString(rnd[:])
	ip := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ip("-n", ns, "link", "add", "ga", "type", "veth", "peer", "name", "gb")
	ip("-n", ns, "link", "set", "ga", "up")
	ip("-n", ns, "link", "set", "gb", "up")

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		if err := netns.Set(orig); err != nil {
			t.Errorf("back to the original namespace: %v", err)
		} else {
			runtime.UnlockOSThread()
		}
		orig.Close()
	})
	mac := strings.Fields(ip("-n", ns, "-br", "link", "show", "gb"))[2]
	return mac, func() uint64 {
		// ip netns exec mounts the namespace's sysfs.
		out := ip("netns", "exec", ns, "cat", "/sys/class/net/gb/statistics/rx_packets")
		n, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// TestSendOnVeth sends at a fixed rate from the TX ring on one end of a
// veth pair in a namespace of its own and checks the other end's receive
// counter against what v6gen reports.
func TestSendOnVeth(t *testing.T) {
	mac, rx := vethNS(t)
	spec, err := parseSpec("ga", mac, "", "2001:db8:a::2", "2001:db8:b::2", 100, 8, 64)
	if err != nil {
		t.Fatal(err)
	}
	before := rx()
	const pps, dur = 20000, 300 * time.Millisecond
	res, err := sendRing(context.Background(), spec, pps, dur)
	if err != nil {
		t.Fatal(err)
	}
	got := rx() - before
	want := uint64(pps * dur.Seconds())
	// The pacing must never exceed the rate; on a loaded shared machine the
	// sender may fall behind it, so the lower bound only proves it sends.
	if res.Sent < want/5 || res.Sent > want*11/10 {
		t.Errorf("sent %d frames at %d pps for %v, want at most about %d (and at least %d)", res.Sent, pps, dur, want, want/5)
	}
	// The peer may also count an IPv6 router solicitation or two.
	if got < res.Sent || got > res.Sent+5 {
		t.Errorf("peer received %d frames, v6gen sent %d", got, res.Sent)
	}
	t.Logf("%+v, peer received %d", res, got)
}

// TestSendLiveOnVeth sends XDP live frames at a fixed rate, then flat out,
// into a veth whose peer has an XDP program (without one the peer takes no
// XDP frames), and checks the peer's receive counter against what v6gen
// reports, and that the frames arrive as built even after the peer's
// program rewrote them in place.
func TestSendLiveOnVeth(t *testing.T) {
	mac, rx := vethNS(t)
	// The peer's program rewrites the destination MAC, as a router
	// forwarding in XDP does, and drops the frame; a frame that arrives
	// rewritten already is counted.
	rewritten, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Skipf("no BPF: %v", err)
	}
	defer rewritten.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL", Instructions: asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "drop"),
		asm.LoadMem(asm.R4, asm.R2, 0, asm.Word),
		asm.StoreImm(asm.R2, 0, 0x0a0a0a0a, asm.Word),
		asm.JNE.Imm(asm.R4, 0x0a0a0a0a, "drop"),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, rewritten.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("drop"), // XDP_DROP
		asm.Return(),
	}})
	if err != nil {
		t.Skipf("no XDP: %v", err)
	}
	defer prog.Close()
	gb, err := net.InterfaceByName("gb")
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: gb.Index, Flags: link.XDPDriverMode})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec, err := parseSpec("ga", mac, "", "2001:db8:a::2", "2001:db8:b::2", 78, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	before := rx()
	const pps, dur = 50000, 300 * time.Millisecond
	res, err := sendLive(context.Background(), spec, pps, dur)
	if err != nil {
		t.Fatal(err)
	}
	got := rx() - before
	want := uint64(pps * dur.Seconds())
	// As in TestSendOnVeth: the pacing must never exceed the rate; a
	// loaded machine (race detector, other tests) may hold it far below
	// (2068 of 15000 once), so the lower bound only proves it sends.
	if res.Sent < want/20 || res.Sent > want*11/10 {
		t.Errorf("sent %d live frames at %d pps for %v, want at most about %d (and at least %d)", res.Sent, pps, dur, want, want/20)
	}
	if got < res.Sent || got > res.Sent+5 {
		t.Errorf("peer received %d frames, v6gen sent %d", got, res.Sent)
	}
	before = rx()
	flat, err := sendLive(context.Background(), spec, 0, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got := rx() - before; got < flat.Sent || got > flat.Sent+5 {
		t.Errorf("flat out: peer received %d frames, v6gen sent %d", got, flat.Sent)
	}
	// Flat out is unpaced and the peer takes every frame; its rate is
	// the benchmark's business (under -race on a loaded machine it was
	// once below the 50 kpps pacing above).
	if flat.Sent == 0 {
		t.Errorf("flat out sent nothing: %+v", flat)
	}
	n, _ := ebpf.PossibleCPU()
	per := make([]uint64, n)
	if err := rewritten.Lookup(uint32(0), per); err != nil {
		t.Fatal(err)
	}
	var bad uint64
	for _, v := range per {
		bad += v
	}
	if bad != 0 {
		t.Errorf("%d frames arrived as the peer had rewritten them (a recycled page sent again unrestored)", bad)
	}
	t.Logf("fixed rate %+v, peer received %d; flat out %.0f pps", res, got, flat.PPS)
}
