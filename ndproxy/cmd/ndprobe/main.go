//go:build linux

// Command ndprobe sends one crafted Neighbor Solicitation (valid or
// deliberately malformed) on an interface and prints the Neighbor
// Advertisements that answer it, decoded by mdlayher/ndp. Unlike ndisc6 it
// accepts answers whose source differs from the target, so it can check an
// NDP proxy.
//
//	ndprobe -i eth0 -src 2001:db8::1 2001:db8::c009            # multicast NS
//	ndprobe -i eth0 -src fe80::1 -unicast 02:00:00:00:c0:01 2001:db8::c009
//	ndprobe -i eth0 -dad 2001:db8::c009                         # DAD probe
//	ndprobe -i eth0 -src fe80::1 -hoplimit 254 2001:db8::c009   # must be dropped
//
// Exit status: 0 answered, 1 no answer, 2 usage or setup error.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
	"github.com/vrouter/vrouter/ndproxy/internal/probe"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		ifname   = flag.String("i", "", "interface")
		src      = flag.String("src", "", "source address (default: the interface's link-local)")
		dad      = flag.Bool("dad", false, "DAD probe: source ::, no SLLA")
		unicast  = flag.String("unicast", "", "send unicast to the target at this MAC (NUD probe)")
		hop      = flag.Uint("hoplimit", 255, "IPv6 hop limit")
		code     = flag.Uint("code", 0, "ICMPv6 code")
		slla     = flag.Bool("slla", true, "include a source link-layer address option")
		zeroOpt  = flag.Bool("zero-option", false, "append an option of length 0 (invalid)")
		badSum   = flag.Bool("bad-checksum", false, "corrupt the checksum")
		timeout  = flag.Duration("timeout", time.Second, "how long to wait for answers")
		count    = flag.Int("count", 1, "solicitations to send (one at a time)")
		interval = flag.Duration("interval", 100*time.Millisecond, "pause between solicitations")
	)
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ndprobe -i IFACE [flags] TARGET")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *ifname == "" || flag.NArg() != 1 {
		flag.Usage()
		return 2
	}
	target, err := netip.ParseAddr(flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ndprobe: target: %v\n", err)
		return 2
	}
	p, err := probe.Open(*ifname)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ndprobe: %v\n", err)
		return 2
	}
	defer p.Close()
	s := ndwire.LinkLocalEUI64(p.MAC)
	if *src != "" {
		if s, err = netip.ParseAddr(*src); err != nil {
			fmt.Fprintf(os.Stderr, "ndprobe: -src: %v\n", err)
			return 2
		}
	}
	if *dad {
		s = netip.IPv6Unspecified()
	}
	ns := probe.Multicast(s, target)
	ns.WithSLLA = *slla && !*dad
	if *unicast != "" {
		hw, err := net.ParseMAC(*unicast)
		if err != nil || len(hw) != 6 {
			fmt.Fprintf(os.Stderr, "ndprobe: -unicast: bad MAC %q\n", *unicast)
			return 2
		}
		ns.Dst, ns.DstMAC = target, ndwire.MAC(hw)
	}
	ns.Options = ndwire.NSOptions{HopLimit: uint8(*hop), Code: uint8(*code), ZeroLengthOption: *zeroOpt, BadChecksum: *badSum}
	answered := 0
	for i := 0; i < *count; i++ {
		if i > 0 {
			time.Sleep(*interval)
		}
		na, rtt, err := p.Solicit(context.Background(), ns, *timeout)
		if err != nil {
			fmt.Printf("%s: %v\n", target, err)
			continue
		}
		answered++
		fmt.Printf("%s rtt %v from %s\n", na, rtt.Round(time.Microsecond), net.HardwareAddr(na.From[:]))
	}
	if answered == 0 {
		return 1
	}
	return 0
}
