// Command bench measures IPv6 forwarding of the Linux kernel, of the
// vrouter fast path and, when dpdk-testpmd is installed (Debian: dpdk-dev),
// of DPDK testpmd on its AF_PACKET driver (testpmd.go) side by side
// (`make bench`, root):
//
//	[ns G] gA --veth-- rA [ns R] rB --veth-- sB [ns S]
//	v6gen on CPU0      router on CPU1 (RPS of rA on CPU1)   sink counts rx_packets
//
// For each forwarder and round: zero-loss throughput (RFC 2544 binary search,
// loss < 0.1 %), the delivered rate at 2× that load, and router-core (CPU1)
// CPU ns per delivered packet at a fixed 300 kpps. Medians over rounds,
// ratios against the kernel of the same round. Writes results.md and
// points.csv (offered vs delivered for every trial) into -out.
//
// The sink drops the test traffic at its tc ingress after counting it
// (-sink-drop), so that its stack's ICMPv6 answers do not load the router's
// CPU; TSO is off on gA, so that veth delivers to rA's NAPI when the fast
// path turns it on (as a NIC would).
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	binDir   = flag.String("bin", "bin", "directory with v6gen and fprouter")
	outDir   = flag.String("out", "bench/results", "results directory")
	rounds   = flag.Int("rounds", 3, "rounds")
	trial    = flag.Duration("trial", 2*time.Second, "trial duration (RFC 2544 says 60 s; the issue 5 s)")
	steps    = flag.Int("steps", 7, "binary search steps")
	size     = flag.Int("size", 78, "frame size")
	flows    = flag.Int("flows", 16, "flows")
	fixed    = flag.Float64("fixed", 300000, "rate for the CPU ns/packet measurement")
	maxLoss  = flag.Float64("loss", 0.001, "zero-loss threshold")
	fwList   = flag.String("forwarders", "", "forwarders to measure, in order: kernel, fastpath (the engine's default setup: AF_XDP), fastpath-afpacket (fastpath.io af_packet), fastpath-napi (threaded NAPI forced on), fastpath-softirq (forced off), testpmd (DPDK testpmd on net_af_packet, skipped when -testpmd is not installed); default kernel,fastpath,fastpath-afpacket and testpmd when installed")
	profile  = flag.String("cpuprofile", "", "write a pprof CPU profile of the first fastpath router run (round 1) to this file")
	livelock = flag.Float64("livelock-pps", 0, "livelock mode: measure only the delivered rate at this offered load (0 = off; the generator's maximum is about 2× the fast path's zero-loss rate here)")
	plotCSV  = flag.String("plot", "", "only redraw -out/plot.png from this points.csv")
	tsoOff   = flag.String("tso-off", "", "internal: turn TSO off on this interface (in the current namespace) and exit")
	sinkDrop = flag.Bool("sink-drop", true, "drop the UDP test traffic at the sink's tc ingress (after it is counted) instead of letting the sink's stack answer each datagram with ICMPv6 Port Unreachable on the router's CPU")
	variants = flag.String("variants", "", "extra fast-path forwarders for -forwarders, as NAME=FPROUTER-ARGS;NAME=...; e.g. \"napi0=-threaded-napi=true -napi-nice=0\"; a first argument bin=PATH runs the fprouter at PATH (another build) instead of -bin's")
)

// variantArgs holds the fprouter arguments of the -variants forwarders.
var variantArgs = map[string][]string{}

type topo struct{ g, r, s, gA, rA, rB, sB, macRA, macGA, macSB string }

type result struct {
	ZeroLoss, Overload, NsPerPkt float64
}

type point struct {
	Forwarder          string
	Offered, Delivered float64
}

var points []point

func sh(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func must(args ...string) string {
	out, err := sh(args...)
	if err != nil {
		fatal(err)
	}
	return out
}

var cleanup []func()

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	for i := len(cleanup) - 1; i >= 0; i-- {
		cleanup[i]()
	}
	os.Exit(1)
}

func setup() *topo {
	var rnd [2]byte
	_, _ = rand.Read(rnd[:])
	p := "vb" + hex.EncodeToString(rnd[:])
	t := &topo{g: p + "-g", r: p + "-r", s: p + "-s", gA: p + "gA", rA: p + "rA", rB: p + "rB", sB: p + "sB"}
	for _, ns := range []string{t.g, t.r, t.s} {
		must("ip", "netns", "add", ns)
		cleanup = append(cleanup, func() { _, _ = sh("ip", "netns", "del", ns) })
		must("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		must("ip", "-n", ns, "link", "set", "lo", "up")
	}
	must("ip", "netns", "exec", t.r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	must("ip", "link", "add", t.gA, "netns", t.g, "type", "veth", "peer", "name", t.rA, "netns", t.r)
	must("ip", "link", "add", t.sB, "netns", t.s, "type", "veth", "peer", "name", t.rB, "netns", t.r)
	for _, x := range [][3]string{{t.g, t.gA, "2001:db8:a::2/64"}, {t.r, t.rA, "2001:db8:a::1/64"}, {t.r, t.rB, "2001:db8:b::1/64"}, {t.s, t.sB, "2001:db8:b::2/64"}} {
		must("ip", "-n", x[0], "addr", "add", x[2], "dev", x[1], "nodad")
		must("ip", "-n", x[0], "link", "set", x[1], "up")
	}
	// The generator's link is the router's "wire". veth hands a frame to
	// the receiver's NAPI (as a NIC would) only when the receiver has GRO
	// on and the sender no TSO; with TSO it runs the receive in the
	// sender's softirq. TSO does nothing for 78-byte UDP frames.
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	must("ip", "netns", "exec", t.g, self, "-tso-off", t.gA)
	must("ip", "-n", t.g, "-6", "route", "add", "default", "via", "2001:db8:a::1")
	must("ip", "-n", t.s, "-6", "route", "add", "default", "via", "2001:db8:b::1")
	// The router's receive processing on CPU1 (veth RX runs on the sender's
	// CPU otherwise).
	must("ip", "netns", "exec", t.r, "sh", "-c", "echo 2 > /sys/class/net/"+t.rA+"/queues/rx-0/rps_cpus")
	if *sinkDrop {
		// cls_bpf, direct action: "ldb [20]; jeq #17, drop, pass" (UDP
		// right after the IPv6 header). The veth counts the frame in the
		// sink's rx_packets before tc ingress runs.
		must("tc", "-n", t.s, "qdisc", "add", "dev", t.sB, "ingress")
		must("tc", "-n", t.s, "filter", "add", "dev", t.sB, "ingress", "prio", "1", "protocol", "ipv6",
			"bpf", "bytecode", "4,48 0 0 20,21 0 1 17,6 0 0 2,6 0 0 0", "da")
	}
	must("ip", "netns", "exec", t.g, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "2001:db8:b::2")
	mac := func(ns, dev string) string {
		f := strings.Fields(must("ip", "-n", ns, "-br", "link", "show", dev))
		if len(f) < 3 {
			fatal(fmt.Errorf("no MAC address of %s in %q", dev, f))
		}
		return f[2]
	}
	t.macRA, t.macGA, t.macSB = mac(t.r, t.rA), mac(t.g, t.gA), mac(t.s, t.sB)
	return t
}

func rxPackets(t *topo) uint64 {
	out := must("ip", "netns", "exec", t.s, "cat", "/sys/class/net/"+t.sB+"/statistics/rx_packets")
	n, _ := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	return n
}

// cpuBusy returns CPU1's non-idle time in jiffies (USER_HZ).
func cpuBusy() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 8 && f[0] == "cpu1" {
			var sum uint64
			for i, v := range f[1:] {
				if i == 3 || i == 4 { // idle, iowait
					continue
				}
				n, _ := strconv.ParseUint(v, 10, 64)
				sum += n
			}
			return sum
		}
	}
	fatal(fmt.Errorf("no cpu1 in /proc/stat"))
	return 0
}

// run offers pps (0 = as fast as the generator goes) for d; returns offered
// and delivered rate and CPU1 ns per delivered packet.
func run(t *topo, name string, pps float64, d time.Duration) (offered, delivered, nsPerPkt float64) {
	rx0, c0 := rxPackets(t), cpuBusy()
	out := must("ip", "netns", "exec", t.g, "taskset", "-c", "0", filepath.Join(*binDir, "v6gen"),
		"-dev", t.gA, "-dst-mac", t.macRA, "-src", "2001:db8:a::2", "-dst", "2001:db8:b::2",
		"-pps", strconv.FormatFloat(pps, 'f', 0, 64), "-size", strconv.Itoa(*size), "-flows", strconv.Itoa(*flows),
		"-duration", d.String())
	time.Sleep(300 * time.Millisecond) // let queues drain
	rx1, c1 := rxPackets(t), cpuBusy()
	var g struct {
		Sent    uint64
		Seconds float64
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		fatal(fmt.Errorf("v6gen output %q: %w", out, err))
	}
	rx := float64(rx1 - rx0)
	offered, delivered = float64(g.Sent)/g.Seconds, rx/g.Seconds
	if rx > 0 {
		nsPerPkt = float64(c1-c0) * 1e9 / 100 / rx // USER_HZ = 100
	}
	points = append(points, point{name, offered, delivered})
	return offered, min(delivered, offered), nsPerPkt
}

func measure(t *topo, name string) result {
	if *livelock > 0 {
		// Livelock mode: only the delivered rate at one overload.
		_, del, ns := run(t, name, *livelock, *trial)
		return result{Overload: del, NsPerPkt: ns}
	}
	// The generator's ceiling, from the better of two trials: a single
	// trial is at the mercy of whatever else runs on the machine.
	maxOffered, _, _ := run(t, name, 0, *trial)
	if again, _, _ := run(t, name, 0, *trial); again > maxOffered {
		maxOffered = again
	}
	lo, hi := 0.0, maxOffered
	for range *steps {
		mid := (lo + hi) / 2
		off, del, _ := run(t, name, mid, *trial)
		if off > 0 && 1-del/off < *maxLoss {
			lo = mid
		} else {
			hi = mid
		}
	}
	var r result
	r.ZeroLoss = lo
	_, r.Overload, _ = run(t, name, min(2*lo, maxOffered), *trial)
	if lo == 0 || 2*lo > maxOffered {
		fmt.Fprintf(os.Stderr, "note: %s: 2× load capped at the generator's %.0f pps\n", name, maxOffered)
	}
	_, _, r.NsPerPkt = run(t, name, *fixed, *trial)
	return r
}

func startRouter(t *topo, fw, cpuprofile string) func() string {
	bin, vargs := filepath.Join(*binDir, "fprouter"), variantArgs[fw]
	if len(vargs) > 0 && strings.HasPrefix(vargs[0], "bin=") {
		bin, vargs = strings.TrimPrefix(vargs[0], "bin="), vargs[1:]
	}
	args := []string{"netns", "exec", t.r, "taskset", "-c", "1", bin,
		"-interfaces", t.rA + "," + t.rB, "-cpus", "1"}
	args = append(args, vargs...)
	switch fw {
	case "fastpath-napi":
		args = append(args, "-threaded-napi=true")
	case "fastpath-softirq":
		args = append(args, "-threaded-napi=false")
	case "fastpath-afpacket":
		args = append(args, "-io=af_packet")
	}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile)
	}
	cmd := exec.Command("ip", args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "READY" {
		fatal(fmt.Errorf("fprouter did not start"))
	}
	stop := func() string {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var stats string
		for sc.Scan() {
			stats = sc.Text()
		}
		_ = cmd.Wait()
		return stats
	}
	cleanup = append(cleanup, func() { _ = cmd.Process.Kill() })
	// Resolve the sink's neighbour through the fast path before measuring.
	_, _ = sh("ip", "netns", "exec", t.g, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "2001:db8:b::2")
	return stop
}

// selectForwarders returns the forwarders of -forwarders (list; "" for the
// default: kernel, fastpath and testpmd when installed). A testpmd the
// machine does not have is left out with a note.
func selectForwarders(list string, haveTestpmd bool) ([]string, error) {
	if list == "" {
		list = "kernel,fastpath,fastpath-afpacket,testpmd"
	}
	var fws []string
	for _, fw := range strings.Split(list, ",") {
		switch _, variant := variantArgs[fw]; {
		case fw == "testpmd" && !haveTestpmd:
			fmt.Fprintf(os.Stderr, "note: skipping the testpmd forwarder: %s is not installed (Debian: apt-get install dpdk-dev)\n", *testpmdBin)
			continue
		case fw == "kernel", fw == "fastpath", fw == "fastpath-napi", fw == "fastpath-softirq", fw == "fastpath-afpacket", fw == "testpmd", variant:
		default:
			return nil, fmt.Errorf("unknown forwarder %q", fw)
		}
		fws = append(fws, fw)
	}
	if len(fws) == 0 {
		return nil, errors.New("no forwarder to measure")
	}
	return fws, nil
}

// median returns the median, minimum and maximum of xs (NaN for none).
func median(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med = s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med, s[0], s[len(s)-1]
}

func main() {
	flag.Parse()
	if *plotCSV != "" {
		if err := plotFile(*plotCSV, filepath.Join(*outDir, "plot.png")); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	for _, v := range strings.Split(*variants, ";") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		name, args, ok := strings.Cut(v, "=")
		if !ok || name == "" || name == "kernel" || name == "testpmd" {
			fmt.Fprintf(os.Stderr, "bench: -variants: want NAME=ARGS, got %q\n", v)
			os.Exit(2)
		}
		variantArgs[name] = strings.Fields(args)
	}
	if *tsoOff != "" {
		if err := setTSO(*tsoOff, false); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	tpBin := testpmdPath()
	forwarders, err := selectForwarders(*fwList, tpBin != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -forwarders:", err)
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces)")
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; fatal(fmt.Errorf("interrupted")) }()

	// A panic must not leave the namespaces and the router behind.
	defer func() {
		if r := recover(); r != nil {
			fatal(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	t := setup()
	res := map[string][]result{}
	ratios := map[string][][2]float64{}
	for round := 1; round <= *rounds; round++ {
		var kern result
		for _, fw := range forwarders {
			var stop func() string
			if fw != "kernel" {
				prof := ""
				if round == 1 && *profile != "" && fw != "testpmd" && fw == forwarders[slices.IndexFunc(forwarders, func(f string) bool { return f != "kernel" && f != "testpmd" })] {
					prof = *profile
				}
				if fw == "testpmd" {
					stop = startTestpmd(t, tpBin)
				} else {
					stop = startRouter(t, fw, prof)
				}
			}
			r := measure(t, fw)
			if stop != nil {
				who := "fprouter"
				if fw == "testpmd" {
					who = "testpmd"
				}
				fmt.Fprintf(os.Stderr, "%s stats: %s\n", who, stop())
				cleanup = cleanup[:len(cleanup)-1]
			}
			fmt.Fprintf(os.Stderr, "round %d %-8s zero-loss %8.0f pps  2×-load delivered %8.0f pps  %6.0f ns/pkt @%.0f pps\n",
				round, fw, r.ZeroLoss, r.Overload, r.NsPerPkt, *fixed)
			res[fw] = append(res[fw], r)
			if fw == "kernel" {
				kern = r
			} else if kern.ZeroLoss > 0 {
				ratios[fw] = append(ratios[fw], [2]float64{r.ZeroLoss / kern.ZeroLoss, r.NsPerPkt / kern.NsPerPkt})
			}
		}
	}

	var md strings.Builder
	fmt.Fprintf(&md, "# vrouter bench — %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&md, "%d rounds, %s trials, %d-byte frames, %d flows, loss threshold %.2f %%, generator CPU0, router CPU1. Median (min–max).\n\n",
		*rounds, *trial, *size, *flows, *maxLoss*100)
	md.WriteString("| forwarder | zero-loss pps | ×kernel | delivered at 2× load | ÷own peak | CPU1 ns/pkt @300k | ×kernel |\n|---|---|---|---|---|---|---|\n")
	for _, fw := range forwarders {
		col := func(f func(result) float64) string {
			var xs []float64
			for _, r := range res[fw] {
				xs = append(xs, f(r))
			}
			m, lo, hi := median(xs)
			return fmt.Sprintf("%.0f (%.0f–%.0f)", m, lo, hi)
		}
		rat := func(i int) string {
			if fw == "kernel" {
				return "1"
			}
			var xs []float64
			for _, r := range ratios[fw] {
				xs = append(xs, r[i])
			}
			if len(xs) == 0 {
				return "–" // no kernel run to compare with
			}
			m, lo, hi := median(xs)
			return fmt.Sprintf("%.2f (%.2f–%.2f)", m, lo, hi)
		}
		var xs []float64
		for _, r := range res[fw] {
			if r.ZeroLoss > 0 {
				xs = append(xs, r.Overload/r.ZeroLoss)
			}
		}
		own := "–"
		if len(xs) > 0 {
			m, lo, hi := median(xs)
			own = fmt.Sprintf("%.2f (%.2f–%.2f)", m, lo, hi)
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %s | %s |\n", fw,
			col(func(r result) float64 { return r.ZeroLoss }), rat(0),
			col(func(r result) float64 { return r.Overload }), own,
			col(func(r result) float64 { return r.NsPerPkt }), rat(1))
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*outDir, "results.md"), []byte(md.String()), 0o644); err != nil {
		fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("forwarder,offered_pps,delivered_pps\n")
	for _, p := range points {
		fmt.Fprintf(&csv, "%s,%.0f,%.0f\n", p.Forwarder, p.Offered, p.Delivered)
	}
	if err := os.WriteFile(filepath.Join(*outDir, "points.csv"), []byte(csv.String()), 0o644); err != nil {
		fatal(err)
	}
	if err := writePlot(points, fmt.Sprintf("IPv6 forwarding, %d-byte frames, veth gen → router (CPU1) → sink", *size), filepath.Join(*outDir, "plot.png")); err != nil {
		fatal(err)
	}
	fmt.Print(md.String())
	fmt.Fprintf(os.Stderr, "wrote %s, %s and %s\n", filepath.Join(*outDir, "results.md"), filepath.Join(*outDir, "points.csv"), filepath.Join(*outDir, "plot.png"))
	for i := len(cleanup) - 1; i >= 0; i-- {
		cleanup[i]()
	}
}
