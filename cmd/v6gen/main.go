// Command v6gen sends IPv6/UDP frames from an AF_PACKET TX ring with
// PACKET_QDISC_BYPASS at a target rate, for `make bench`.
//
//	v6gen -dev gA -dst-mac 02:.. -src 2001:db8:a::2 -dst 2001:db8:b::2 -pps 300000 -size 78 -flows 16 -duration 5s
//
// It prints one JSON line: {"sent":N,"seconds":S,"pps":R}. Frames are built
// once per flow (UDP source port 1024+flow, valid checksums) and cycled.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
)

func main() {
	dev := flag.String("dev", "", "interface to send on")
	dstMAC := flag.String("dst-mac", "", "destination MAC (the router's)")
	src := flag.String("src", "", "IPv6 source")
	dst := flag.String("dst", "", "IPv6 destination")
	pps := flag.Float64("pps", 100000, "target rate, frames per second (0 = as fast as possible)")
	size := flag.Int("size", 78, "frame size in bytes without FCS (≥ 62)")
	flows := flag.Int("flows", 16, "number of flows (UDP source ports)")
	dur := flag.Duration("duration", 5*time.Second, "how long to send")
	flag.Parse()
	if err := run(*dev, *dstMAC, *src, *dst, *pps, *size, *flows, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "v6gen:", err)
		os.Exit(1)
	}
}

func run(dev, dstMAC, src, dst string, pps float64, size, flows int, dur time.Duration) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	dmac, err := net.ParseMAC(dstMAC)
	if err != nil {
		return fmt.Errorf("-dst-mac: %w", err)
	}
	s, err := netip.ParseAddr(src)
	if err != nil {
		return fmt.Errorf("-src: %w", err)
	}
	d, err := netip.ParseAddr(dst)
	if err != nil {
		return fmt.Errorf("-dst: %w", err)
	}
	if size < 62 || size > ifi.MTU+14 {
		return fmt.Errorf("-size %d outside 62..%d", size, ifi.MTU+14)
	}
	if flows < 1 || flows > 60000 {
		return fmt.Errorf("-flows %d outside 1..60000", flows)
	}
	frames := make([][]byte, flows)
	for i := range frames {
		f := fastpathtest.UDPFrame(dmac, ifi.HardwareAddr, s, d, 64, make([]byte, size-62))
		// Per-flow source port, checksum adjusted (RFC 1624).
		port := uint16(1024 + i)
		old := uint16(f[54])<<8 | uint16(f[55])
		f[54], f[55] = byte(port>>8), byte(port)
		sum := ^(uint16(f[60])<<8 | uint16(f[61]))
		acc := uint32(sum) + uint32(^old) + uint32(port)
		for acc>>16 != 0 {
			acc = acc&0xffff + acc>>16
		}
		c := ^uint16(acc)
		if c == 0 {
			c = 0xffff
		}
		f[60], f[61] = byte(c>>8), byte(c)
		frames[i] = f
	}
	cfg := fastpath.DefaultRingConfig
	cfg.BlockNr, cfg.TxFrames = 2, 4096
	p, err := fastpath.OpenRingPort(ifi.Index, cfg)
	if err != nil {
		return err
	}
	defer p.Close()

	const batch = 64
	bufs := make([][]byte, batch)
	var sent uint64
	next := 0
	start := time.Now()
	end := start.Add(dur)
	for {
		now := time.Now()
		if now.After(end) {
			break
		}
		n := batch
		if pps > 0 {
			due := int64(now.Sub(start).Seconds()*pps) - int64(sent)
			if due <= 0 {
				time.Sleep(20 * time.Microsecond)
				continue
			}
			n = int(min(due, batch))
		}
		for i := range n {
			bufs[i] = frames[next]
			next = (next + 1) % len(frames)
		}
		w, _ := p.Write(bufs[:n]) // a full ring: retry at the next turn
		sent += uint64(w)
	}
	secs := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"sent": sent, "seconds": secs, "pps": float64(sent) / secs})
}
