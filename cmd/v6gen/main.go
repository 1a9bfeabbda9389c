// Command v6gen is vrouter's packet generator for `make bench`: it sends
// IPv6/UDP frames, built with gopacket's layers, from an AF_PACKET TX ring
// with PACKET_QDISC_BYPASS (fastpath.RingPort) at a target rate.
//
//	v6gen -dev gA -dst-mac 02:.. -src 2001:db8:a::2 -dst 2001:db8:b::2 -pps 300000 -size 78 -flows 16 -duration 5s
//
// It prints one JSON line: {"sent":N,"seconds":S,"pps":R,"ring_full":F},
// where ring_full counts the batches it had to retry because the TX ring
// was full (the link or the peer is slower than the target rate). The
// frames are built once per flow (UDP source port 1024+flow, flow label =
// flow, valid UDP checksums) and sent round-robin, so consecutive frames
// belong to different flows. Counting what arrives is up to the receiver
// (make bench reads the sink's interface statistics).
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

	"github.com/vrouter/vrouter/fastpath"
)

func main() {
	dev := flag.String("dev", "", "interface to send on")
	dstMAC := flag.String("dst-mac", "", "destination MAC (the router's)")
	srcMAC := flag.String("src-mac", "", "source MAC (default: the interface's)")
	src := flag.String("src", "", "IPv6 source address")
	dst := flag.String("dst", "", "IPv6 destination address")
	pps := flag.Float64("pps", 100000, "target rate in frames per second (0 = as fast as the ring goes)")
	size := flag.Int("size", 78, fmt.Sprintf("frame size in bytes without FCS (%d..%d)", minFrameSize, maxFrameSize))
	flows := flag.Int("flows", 16, "number of flows (UDP source ports)")
	hop := flag.Uint("hop-limit", 64, "IPv6 hop limit (1..255)")
	dur := flag.Duration("duration", 5*time.Second, "how long to send")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "v6gen: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	spec, err := parseSpec(*dev, *dstMAC, *srcMAC, *src, *dst, *size, *flows, *hop)
	if err == nil && (*pps < 0 || *dur <= 0 || *dur > 24*time.Hour) {
		err = fmt.Errorf("-pps %v must be ≥ 0 and -duration %v within (0, 24h]", *pps, *dur)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "v6gen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := send(ctx, spec, *pps, *dur)
	if err != nil {
		fmt.Fprintln(os.Stderr, "v6gen:", err)
		os.Exit(1)
	}
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
	Sent     uint64  `json:"sent"`
	Seconds  float64 `json:"seconds"`
	PPS      float64 `json:"pps"`
	RingFull uint64  `json:"ring_full"`
}

const batch = 64

func send(ctx context.Context, spec sendSpec, pps float64, dur time.Duration) (result, error) {
	frames, err := buildFrames(spec.frameSpec)
	if err != nil {
		return result{}, err
	}
	cfg := fastpath.DefaultRingConfig
	// The TX ring (not the router's default sendmmsg): what the issue's
	// measurements used, and what the recorded baselines were taken with.
	cfg.BlockNr, cfg.TxFrames, cfg.SendMmsg = 2, 4096, false
	for cfg.TxFrameSize < spec.Size+32 {
		cfg.TxFrameSize *= 2
	}
	p, err := fastpath.OpenRingPort(spec.Ifindex, cfg)
	if err != nil {
		return result{}, err
	}
	defer p.Close()

	bufs := make([][]byte, batch)
	var res result
	next := 0
	start := time.Now()
	end := start.Add(dur)
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		n := batch
		if pps > 0 {
			due := int64(now.Sub(start).Seconds()*pps) - int64(res.Sent)
			if due <= 0 {
				// The next frame is due in 1/pps; sleep a little less
				// (timer slack makes sleeps longer than asked).
				time.Sleep(min(time.Duration(float64(time.Second)/pps)/2, 50*time.Microsecond))
				continue
			}
			n = int(min(due, batch))
		}
		for i := range n {
			bufs[i] = frames[next]
			next++
			if next == len(frames) {
				next = 0
			}
		}
		w, err := p.Write(bufs[:n])
		res.Sent += uint64(w)
		if w < n {
			next = (next - (n - w) + len(frames)*batch) % len(frames) // resend the rest in order
			if err != nil && !errors.Is(err, fastpath.ErrQueueFull) {
				return res, fmt.Errorf("write: %w", err)
			}
			res.RingFull++
			time.Sleep(10 * time.Microsecond)
		}
	}
	// Frames still in the ring would be lost at Close but are counted as
	// sent: wait until the kernel has taken them.
	if err := p.Drain(100 * time.Millisecond); err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.PPS = float64(res.Sent) / res.Seconds
	}
	return res, nil
}
