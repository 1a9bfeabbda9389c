// Command v6gen is vrouter's packet generator for `make bench`: it sends
// IPv6/UDP frames, built with gopacket's layers, at a target rate or as
// fast as it can:
//
//	v6gen -dev gA -dst-mac 02:.. -src 2001:db8:a::2 -dst 2001:db8:b::2 -pps 300000 -size 78 -flows 16 -duration 5s
//
// in one of two modes (-mode):
//
//   - ring (default): from a TPACKET_V2 TX ring with PACKET_QDISC_BYPASS,
//     as skbs through the interface's driver — what any datapath, the
//     kernel's forwarding included, receives;
//   - live: BPF_PROG_RUN of an XDP program returning XDP_TX with
//     BPF_F_TEST_XDP_LIVE_FRAMES (Linux ≥ 5.18) on the interface, which
//     hands the frames to a veth peer as XDP frames. Several times faster,
//     but only an XDP program on the peer sees them as a NIC's frames (the
//     kernel's stack gets few of them): for the XDP-based datapaths' peaks.
//
// It prints one JSON line: {"mode":M,"sent":N,"seconds":S,"pps":R,"waits":W},
// where sent counts the frames handed to the kernel (ring: taken from the
// ring; live: run through the program) and waits the times a full ring made
// it wait for the kernel (the link or the peer is slower than the target
// rate). The frames are built once per flow (UDP source port 1024+flow,
// flow label = flow, valid UDP checksums) and sent round-robin, so
// consecutive frames belong to different flows. Counting what arrives is up
// to the receiver. -write-frames FILE writes the frames (each as a 2-byte
// big-endian length and the frame) for another generator and exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	dev := flag.String("dev", "", "interface to send on")
	dstMAC := flag.String("dst-mac", "", "destination MAC (the router's)")
	srcMAC := flag.String("src-mac", "", "source MAC (default: the interface's)")
	src := flag.String("src", "", "IPv6 source address")
	dst := flag.String("dst", "", "IPv6 destination address")
	pps := flag.Float64("pps", 100000, "target rate in frames per second (0 = as fast as it goes)")
	size := flag.Int("size", 78, fmt.Sprintf("frame size in bytes without FCS (%d..%d)", minFrameSize, maxFrameSize))
	flows := flag.Int("flows", 16, "number of flows (UDP source ports)")
	hop := flag.Uint("hop-limit", 64, "IPv6 hop limit (1..255)")
	dur := flag.Duration("duration", 5*time.Second, "how long to send")
	mode := flag.String("mode", "ring", "ring (TX ring, skbs) or live (XDP live frames)")
	writeFrames := flag.String("write-frames", "", "write the frames to this file and exit")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "v6gen: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	spec, err := parseSpec(*dev, *dstMAC, *srcMAC, *src, *dst, *size, *flows, *hop)
	if err == nil && (*pps < 0 || *dur <= 0 || *dur > 24*time.Hour) {
		err = fmt.Errorf("-pps %v must be ≥ 0 and -duration %v within (0, 24h]", *pps, *dur)
	}
	if err == nil && *mode != "ring" && *mode != "live" {
		err = fmt.Errorf("-mode %q: want ring or live", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "v6gen:", err)
		os.Exit(2)
	}
	if *writeFrames != "" {
		if err := writeFrameFile(*writeFrames, spec.frameSpec); err != nil {
			fmt.Fprintln(os.Stderr, "v6gen:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	send := sendRing
	if *mode == "live" {
		send = sendLive
	}
	res, err := send(ctx, spec, *pps, *dur)
	if err != nil {
		fmt.Fprintln(os.Stderr, "v6gen:", err)
		os.Exit(1)
	}
	res.Mode = *mode
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

// sendSpec is a frameSpec plus the interface to send on.
type sendSpec struct {
	frameSpec
	Ifindex int
}

func parseSpec(dev, dstMAC, srcMAC, src, dst string, size, flows int, hop uint) (sendSpec, error) {
	var s sendSpec
	if dev == "" {
		return s, errors.New("-dev is required")
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return s, fmt.Errorf("-dev: %w", err)
	}
	s.Ifindex = ifi.Index
	if s.DstMAC, err = net.ParseMAC(dstMAC); err != nil {
		return s, fmt.Errorf("-dst-mac: %w", err)
	}
	s.SrcMAC = ifi.HardwareAddr
	if srcMAC != "" {
		if s.SrcMAC, err = net.ParseMAC(srcMAC); err != nil {
			return s, fmt.Errorf("-src-mac: %w", err)
		}
	}
	if s.Src, err = netip.ParseAddr(src); err != nil {
		return s, fmt.Errorf("-src: %w", err)
	}
	if s.Dst, err = netip.ParseAddr(dst); err != nil {
		return s, fmt.Errorf("-dst: %w", err)
	}
	if hop < 1 || hop > 255 {
		return s, fmt.Errorf("-hop-limit %d outside 1..255", hop)
	}
	if size > ifi.MTU+14 {
		return s, fmt.Errorf("-size %d exceeds the MTU of %s (%d) plus 14", size, dev, ifi.MTU)
	}
	s.HopLimit, s.Size, s.Flows = uint8(hop), size, flows
	return s, s.validate()
}

// result is what v6gen prints.
type result struct {
	Mode    string  `json:"mode"`
	Sent    uint64  `json:"sent"`
	Seconds float64 `json:"seconds"`
	PPS     float64 `json:"pps"`
	Waits   uint64  `json:"waits"`
}

func (r *result) finish(start time.Time) {
	r.Seconds = time.Since(start).Seconds()
	if r.Seconds > 0 {
		r.PPS = float64(r.Sent) / r.Seconds
	}
}

// pacer says how many frames are due at a target rate (pps 0: a full
// batch, always). When none is due, wait sleeps for about one frame's time.
type pacer struct {
	pps   float64
	start time.Time
	now   func() time.Time
	sleep func(time.Duration)
}

func (p *pacer) due(sent uint64, batch int) int {
	if p.pps <= 0 {
		return batch
	}
	d := int64(p.now().Sub(p.start).Seconds()*p.pps) - int64(sent)
	return int(max(0, min(d, int64(batch))))
}

// wait sleeps half a frame's time, at most 50 µs (timer slack makes a
// sleep longer than asked, and a burst of that many frames is what the
// rings downstream take).
func (p *pacer) wait() {
	p.sleep(min(time.Duration(float64(time.Second)/p.pps)/2, 50*time.Microsecond))
}

// writeFrameFile writes the frames of spec, each as a 2-byte big-endian
// length and the frame.
func writeFrameFile(path string, spec frameSpec) error {
	frames, err := buildFrames(spec)
	if err != nil {
		return err
	}
	var b []byte
	for _, f := range frames {
		b = append(b, byte(len(f)>>8), byte(len(f)))
		b = append(b, f...)
	}
	return os.WriteFile(path, b, 0o644)
}
