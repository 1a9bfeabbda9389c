// Command fprouter runs only the fast-path engine (no RA, no reconciler) on
// the given interfaces, for `make bench`. SIGTERM stops it; it then prints
// its counters as one JSON line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath"
)

func main() {
	ifaces := flag.String("interfaces", "", "comma-separated interfaces")
	cpus := flag.String("cpus", "", "comma-separated CPUs for the workers")
	cpuprofile := flag.String("cpuprofile", "", "write a pprof CPU profile of the run to this file")
	napi := flag.String("threaded-napi", "default", "run the interfaces' receive processing in NAPI threads pinned to -cpus: default (the engine's choice), true, false")
	napiNice := flag.Int("napi-nice", fastpath.DefaultNAPINice, "nice value of the NAPI threads when threaded NAPI is on")
	tierNice := flag.Int("tier-napi-nice", fastpath.DefaultTierNAPINice, "nice value of the XDP tier's NAPI threads when threaded NAPI is on")
	batch := flag.Int("batch", fastpath.DefaultBatchSize, "frames per worker read")
	sendmmsg := flag.Bool("sendmmsg", fastpath.DefaultRingConfig.SendMmsg, "send with sendmmsg(2) instead of a TX ring")
	io := flag.String("io", "", "fastpath.io: auto (default), xdp, af_xdp or af_packet")
	xdpMmsg := flag.Bool("xdp-sendmmsg", fastpath.DefaultXDPConfig.SendMmsg, "AF_XDP ports send with sendmmsg(2) on AF_PACKET instead of their TX ring")
	xdpFrames := flag.Int("xdp-frames", fastpath.DefaultXDPConfig.Frames, "UMEM chunks per AF_XDP socket (at most 1024 send, the rest receive)")
	flag.Parse()
	cfg := config.Fastpath{Enabled: true, Interfaces: strings.Split(*ifaces, ","), IO: *io}
	for _, c := range strings.Split(*cpus, ",") {
		if c == "" {
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fprouter: -cpus:", err)
			os.Exit(2)
		}
		cfg.CPUs = append(cfg.CPUs, n)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := []fastpath.Option{fastpath.WithReady(func() { fmt.Println("READY") }),
		fastpath.WithNAPINice(*napiNice), fastpath.WithTierNAPINice(*tierNice), fastpath.WithBatchSize(*batch)}
	ring := fastpath.DefaultRingConfig
	ring.SendMmsg = *sendmmsg
	opts = append(opts, fastpath.WithRingConfig(ring))
	xdp := fastpath.DefaultXDPConfig
	xdp.SendMmsg = *xdpMmsg
	xdp.Frames = *xdpFrames
	opts = append(opts, fastpath.WithXDPConfig(xdp))
	switch *napi {
	case "default":
	case "true", "false":
		opts = append(opts, fastpath.WithThreadedNAPI(*napi == "true"))
	default:
		fmt.Fprintf(os.Stderr, "fprouter: -threaded-napi %q: want default, true or false\n", *napi)
		os.Exit(2)
	}
	e, err := fastpath.New(cfg, log, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fprouter:", err)
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fprouter:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "fprouter:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if err := e.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fprouter:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(e.Stats())
}
