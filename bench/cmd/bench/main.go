// Command bench measures IPv6 forwarding of the Linux kernel and of the
// vrouter fast path's datapaths — the XDP tier, AF_XDP, AF_PACKET — and,
// when dpdk-testpmd is installed and asked for, of DPDK testpmd on its
// AF_PACKET driver (testpmd.go), side by side (`make bench`, root):
//
//	[ns G] gA --veth-- rA [ns R] rB --veth-- sB [ns S]
//	generator on CPU0   router on CPU1            sink: XDP counter, NAPI thread on CPU0
//
// Per round and forwarder it makes these trials (figures in issue 11):
//
//   - fixed: v6gen's TX ring at -fixed pps (300 kpps): the share delivered,
//     and the cost: busy time of the router's CPU (user, system, irq,
//     softirq from /proc/stat) per delivered packet;
//   - flat: v6gen's TX ring as fast as it goes, then the minimal C TX-ring
//     loop (txring/txring.c, compiled with -cc) the same way: what each
//     generator offers and what arrives;
//   - sweep: when the flat trial was not generator-capped (< 95 % of the
//     offered frames delivered), trials at 0.9× and 1.1× its delivered rate,
//     for the datapath's own peak;
//   - live (XDP-based datapaths only): v6gen's XDP live frames flat out,
//     and their sweep.
//
// Every trial records offered (the generator's own count) and delivered
// (the sink's). Writes results.md, points.csv and plot.png into -out.
//
// For profiling (bench/report, "Issue 11: where CPU1's time goes"): -kinds
// picks trials, -perf DIR records `perf record -C 1` (or -perf-cmd) during
// each and prints counters of gA, rA and CPU1's softirqs per trial;
// -napi-rt makes a forwarder's NAPI thread real-time as the sink's.
//
// The sink's XDP program counts the test traffic and drops it; its NAPI
// thread runs on CPU0, so that the router's CPU does only the router's
// work. TSO is off on gA, so that veth delivers to rA's NAPI when a
// datapath turns it on (as a NIC would).
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
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
	trialDur = flag.Duration("trial", 3*time.Second, "trial duration")
	size     = flag.Int("size", 78, "frame size")
	flows    = flag.Int("flows", 16, "flows")
	fixed    = flag.Float64("fixed", 300000, "rate of the fixed-rate trial (cost and loss)")
	fwList   = flag.String("forwarders", "", "forwarders to measure, in order: kernel, xdp (fastpath.io xdp), af_xdp, af_packet, testpmd (DPDK testpmd on net_af_packet, when installed), or a -variants name; default kernel,xdp,af_xdp,af_packet")
	live     = flag.Bool("live", true, "also measure the XDP-based datapaths with v6gen's XDP live frames")
	ccFlag   = flag.String("cc", "cc", "C compiler for the reference generator (txring.c); empty: no C generator")
	plotCSV  = flag.String("plot", "", "only redraw -out/plot.png from this points.csv")
	tsoOff   = flag.String("tso-off", "", "internal: turn TSO off on this interface (in the current namespace) and exit")
	perfDir  = flag.String("perf", "", "record `perf record -C 1 -g` of CPU1 during every trial into this directory (FORWARDER-GENERATOR-KIND-ROUND.data)")
	perfArgs = flag.String("perf-args", "-g", "perf record arguments besides -C 1 and -o, with -perf (e.g. \"-e irq:softirq_entry -e irq:softirq_exit\")")
	perfCmd  = flag.String("perf-cmd", "", "with -perf: run this command with the output file as its argument instead of perf record, stopped with SIGINT")
	kinds    = flag.String("kinds", "", "only these trials, comma-separated: fixed, flat (v6gen's ring flat out and its sweep), c (the C loop), live (flat out and its sweep), livefixed (live frames at -fixed); default all; live frames only for the XDP-based datapaths")
	napiRT   = flag.String("napi-rt", "", "forwarders (comma-separated) whose router NAPI thread of rA the harness makes SCHED_FIFO 50 after start, as the sink's (an experiment: receive processing that preempts ordinary processes, as the kernel's softirq does)")
	rcuExp   = flag.Bool("rcu-expedited", true, "run the live-frames trials with "+rcuExpeditedPath+" set to 1 (restored after each): each live-frames run waits for an RCU grace period, 24 ms on some kernels")
	variants = flag.String("variants", "", "extra fast-path forwarders for -forwarders, as NAME=FPROUTER-ARGS;NAME=...; e.g. \"xdpsoft=-io=xdp -threaded-napi=false\"; a first argument bin=PATH runs the fprouter at PATH (another build) instead of -bin's")
)

//go:embed txring/txring.c
var txringSource []byte

// variantArgs holds the fprouter arguments of the -variants forwarders.
var variantArgs = map[string][]string{}

type topo struct{ g, r, s, gA, rA, rB, sB, macRA, macGA, macSB string }

var trials []trial

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

func setup() (*topo, *sink) {
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
	// or XDP on and the sender no TSO; with TSO it runs the receive in the
	// sender's softirq. TSO does nothing for 78-byte UDP frames.
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	must("ip", "netns", "exec", t.g, self, "-tso-off", t.gA)
	must("ip", "-n", t.g, "-6", "route", "add", "default", "via", "2001:db8:a::1")
	must("ip", "-n", t.s, "-6", "route", "add", "default", "via", "2001:db8:b::1")
	// The kernel forwarder's receive processing on CPU1 (veth RX runs on
	// the sender's CPU otherwise).
	must("ip", "netns", "exec", t.r, "sh", "-c", "echo 2 > /sys/class/net/"+t.rA+"/queues/rx-0/rps_cpus")
	snk, err := attachSink(t.s, t.sB)
	if err != nil {
		fatal(err)
	}
	cleanup = append(cleanup, snk.Close)
	// The sink's receive in its NAPI thread on CPU0, off the router's CPU.
	must("ip", "netns", "exec", t.s, "sh", "-c", "echo 1 > /sys/class/net/"+t.sB+"/threaded")
	if err := pinNAPI(t.sB, 0); err != nil {
		fatal(err)
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
	return t, snk
}

// cpuSample is the router CPU's time so far, in clock ticks (USER_HZ):
// all of its busy time, and the router's part of it.
type cpuSample struct{ busy, router uint64 }

// sampleCPU reads CPU1's busy time (user, nice, system, irq, softirq) and
// the router's part: CPU1's irq and softirq time (the kernel forwarder's
// receive runs there), the threads of the router process pid (0: none), its
// interfaces' NAPI threads and ksoftirqd/1 (softirq work deferred to it is
// charged to the thread). The machine is shared: the busy time also holds
// whatever else ran on CPU1.
func sampleCPU(t *topo, pid int) cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		fatal(err)
	}
	var s cpuSample
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 8 && f[0] == "cpu1" {
			for _, i := range []int{1, 2, 3, 6, 7} { // user nice system [idle iowait] irq softirq
				n, _ := strconv.ParseUint(f[i], 10, 64)
				s.busy += n
				if i >= 6 {
					s.router += n
				}
			}
		}
	}
	taskTime := func(stat string) uint64 {
		b, err := os.ReadFile(stat)
		if err != nil {
			return 0 // exited
		}
		// The comm field may hold spaces: fields count from after ")".
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			return 0
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return 0
		}
		u, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		return u + st
	}
	if pid > 0 {
		threads, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		for _, th := range threads {
			s.router += taskTime(th)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(comm))
		if c == "ksoftirqd/1" || strings.HasPrefix(c, napiComm(t.rA)) || strings.HasPrefix(c, napiComm(t.rB)) {
			s.router += taskTime(filepath.Join("/proc", e.Name(), "stat"))
		}
	}
	return s
}

// napiComm is the comm prefix of dev's NAPI threads, cut as the kernel
// cuts it.
func napiComm(dev string) string {
	p := "napi/" + dev + "-"
	if len(p) > 15 {
		p = p[:15]
	}
	return p
}

// genResult is what a generator prints.
type genResult struct {
	Sent    uint64
	Seconds float64
}

// generator runs one generator for d at pps (0: flat out) and returns its
// output.
type generator func(t *topo, pps float64, d time.Duration) genResult

func v6gen(mode string) generator {
	return func(t *topo, pps float64, d time.Duration) genResult {
		out := genOutput("ip", "netns", "exec", t.g, "taskset", "-c", "0", filepath.Join(*binDir, "v6gen"),
			"-mode", mode, "-dev", t.gA, "-dst-mac", t.macRA, "-src", "2001:db8:a::2", "-dst", "2001:db8:b::2",
			"-pps", strconv.FormatFloat(pps, 'f', 0, 64), "-size", strconv.Itoa(*size), "-flows", strconv.Itoa(*flows),
			"-duration", d.String())
		return parseGen(out)
	}
}

// cRing runs the C reference loop (flat out only) with the frames v6gen
// built.
func cRing(bin, frames string) generator {
	return func(t *topo, _ float64, d time.Duration) genResult {
		out := genOutput("ip", "netns", "exec", t.g, "taskset", "-c", "0", bin, t.gA, frames, strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
		return parseGen(out)
	}
}

// genOutput runs a generator and returns its standard output, the JSON
// result; what it says on stderr (a warning) goes to the bench's stderr.
func genOutput(args ...string) string {
	var stderr bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	_, _ = os.Stderr.Write(stderr.Bytes())
	if err != nil {
		fatal(fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, stderr.Bytes()))
	}
	return string(out)
}

func parseGen(out string) genResult {
	var g genResult
	if err := json.Unmarshal([]byte(out), &g); err != nil || g.Seconds <= 0 {
		fatal(fmt.Errorf("generator output %q: %v", out, err))
	}
	return g
}

// routerPID is the running router process (0: the kernel forwards).
var routerPID int

// run makes one trial and records it.
func run(t *topo, snk *sink, round int, fw, genName, kind string, gen generator, pps float64) trial {
	stopPerf := startPerf(fmt.Sprintf("%s-%s-%s-%d", fw, genName, kind, round))
	var diag0 map[string]uint64
	if *perfDir != "" {
		diag0 = diag(t)
	}
	rx0, c0, d0 := snk.count(), sampleCPU(t, routerPID), sinkDrops(t)
	g := gen(t, pps, *trialDur)
	time.Sleep(200 * time.Millisecond) // let queues drain
	rx1, c1, d1 := snk.count(), sampleCPU(t, routerPID), sinkDrops(t)
	stopPerf()
	if *perfDir != "" {
		diag1 := diag(t)
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(diag1)) {
			fmt.Fprintf(&b, " %s %d", k, diag1[k]-diag0[k])
		}
		fmt.Fprintf(os.Stderr, "diag %s-%s-%s-%d:%s\n", fw, genName, kind, round, b.String())
	}
	tr := trial{Round: round, Forwarder: fw, Gen: genName, Kind: kind,
		Offered: float64(g.Sent) / g.Seconds, Delivered: float64(rx1-rx0) / g.Seconds, SinkDrops: float64(d1-d0) / g.Seconds}
	if rx1 > rx0 {
		const nsPerTick = 1e9 / 100 // USER_HZ = 100
		tr.NsPerPkt = float64(c1.router-c0.router) * nsPerTick / float64(rx1-rx0)
		tr.NsCPU1 = float64(c1.busy-c0.busy) * nsPerTick / float64(rx1-rx0)
	}
	trials = append(trials, tr)
	fmt.Fprintf(os.Stderr, "round %d %-10s %-10s %-5s offered %8.0f delivered %8.0f pps (%.2f %%, sink dropped %.0f) %6.0f ns/pkt (CPU1 %.0f)\n",
		round, fw, genName, kind, tr.Offered, tr.Delivered, 100*tr.Delivered/math.Max(tr.Offered, 1), tr.SinkDrops, tr.NsPerPkt, tr.NsCPU1)
	return tr
}

// startPerf starts `perf record -C 1 -g` into -perf/name.data when -perf
// is set and returns what stops it.
func startPerf(name string) func() {
	if *perfDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(*perfDir, 0o755); err != nil {
		fatal(err)
	}
	args := append([]string{"record", "-q", "-C", "1", "-o", filepath.Join(*perfDir, name+".data")}, strings.Fields(*perfArgs)...)
	cmd := exec.Command("perf", args...)
	if *perfCmd != "" {
		cmd = exec.Command(*perfCmd, filepath.Join(*perfDir, name+".trace"))
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fatal(fmt.Errorf("perf: %w", err))
	}
	time.Sleep(300 * time.Millisecond) // perf's set-up off the trial
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}

// diag returns counters that say where frames and softirqs went, for -perf
// runs: gA's transmit statistics, rA's receive drops and CPU1's NET_TX and
// NET_RX softirq counts.
func diag(t *topo) map[string]uint64 {
	m := map[string]uint64{}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(strings.TrimSpace(s), 10, 64); return n }
	for _, c := range [][3]string{{t.g, t.gA, "tx_packets"}, {t.g, t.gA, "tx_dropped"}, {t.r, t.rA, "rx_packets"}, {t.r, t.rA, "rx_dropped"}} {
		out, _ := sh("ip", "netns", "exec", c[0], "cat", "/sys/class/net/"+c[1]+"/statistics/"+c[2])
		m[c[1][len(c[1])-2:]+"_"+c[2]] = num(out)
	}
	m["wall_ticks"] = uint64(time.Now().UnixNano() / 1e7)
	if st, err := os.ReadFile("/proc/stat"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			f := strings.Fields(l)
			if len(f) > 8 && f[0] == "cpu1" {
				for i, name := range []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"} {
					m["cpu1_"+name] = num(f[i+1])
				}
			}
		}
	}
	b, _ := os.ReadFile("/proc/softirqs")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && (f[0] == "NET_TX:" || f[0] == "NET_RX:") {
			m[strings.TrimSuffix(f[0], ":")+"_cpu1"] = num(f[2])
		}
	}
	return m
}

// want reports whether -kinds asks for trials of kind k.
func want(k string) bool {
	return *kinds == "" || slices.Contains(strings.Split(*kinds, ","), k)
}

// sinkDrops returns the frames rB dropped toward the sink so far (the
// sink's ring was full): the measuring device's loss, not the router's.
func sinkDrops(t *topo) uint64 {
	out := must("ip", "netns", "exec", t.r, "cat", "/sys/class/net/"+t.rB+"/statistics/tx_dropped")
	n, _ := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	return n
}

// measure makes a forwarder's trials of one round.
func measure(t *topo, snk *sink, round int, fw string, cgen generator) {
	if want("fixed") {
		run(t, snk, round, fw, genRing, kindFixed, v6gen("ring"), *fixed)
	}
	if want("flat") {
		flatAndSweep(t, snk, round, fw, genRing, v6gen("ring"))
	}
	if cgen != nil && want("c") {
		run(t, snk, round, fw, genC, kindFlat, cgen, 0)
	}
	if !*live || !liveCapable(fw) || !want("livefixed") && !want("live") {
		return
	}
	restore := func() {}
	if *rcuExp {
		var err error
		if restore, err = expediteRCU(rcuExpeditedPath); err != nil {
			fmt.Fprintf(os.Stderr, "bench: live frames without expedited RCU grace periods (%v); the generator may be the limit\n", err)
		}
	}
	cleanup = append(cleanup, restore) // also on fatal
	defer func() {
		restore()
		cleanup = cleanup[:len(cleanup)-1]
	}()
	if want("livefixed") {
		run(t, snk, round, fw, genLive, kindFixed, v6gen("live"), *fixed)
	}
	if want("live") {
		flatAndSweep(t, snk, round, fw, genLive, v6gen("live"))
	}
}

// flatAndSweep runs gen flat out and, when the router (not the generator)
// was the limit, at 0.9× and 1.1× the delivered rate, for the peak.
func flatAndSweep(t *topo, snk *sink, round int, fw, name string, gen generator) {
	flat := run(t, snk, round, fw, name, kindFlat, gen, 0)
	if flat.capped() {
		return
	}
	for _, k := range []float64{0.9, 1.1} {
		if pps := k * flat.Delivered; pps < flat.Offered {
			run(t, snk, round, fw, name, kindSweep, gen, pps)
		}
	}
}

// liveCapable reports whether the forwarder runs an XDP program on rA,
// without which live frames from gA go nowhere.
func liveCapable(fw string) bool {
	switch fw {
	case "xdp", "af_xdp":
		return true
	case "kernel", "af_packet", "testpmd":
		return false
	}
	args := strings.Join(variantArgs[fw], " ")
	return !strings.Contains(args, "af_packet")
}

func startRouter(t *topo, fw string) func() string {
	defer func() {
		_, _ = sh("ip", "netns", "exec", t.g, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "2001:db8:b::2")
	}()
	bin, vargs := filepath.Join(*binDir, "fprouter"), variantArgs[fw]
	if len(vargs) > 0 && strings.HasPrefix(vargs[0], "bin=") {
		bin, vargs = strings.TrimPrefix(vargs[0], "bin="), vargs[1:]
	}
	args := []string{"netns", "exec", t.r, "taskset", "-c", "1", bin,
		"-interfaces", t.rA + "," + t.rB, "-cpus", "1"}
	switch fw {
	case "xdp", "af_xdp", "af_packet":
		args = append(args, "-io="+fw)
	}
	args = append(args, vargs...)
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
	routerPID = cmd.Process.Pid // ip netns exec and taskset exec it in place
	if slices.Contains(strings.Split(*napiRT, ","), fw) {
		if err := pinNAPI(t.rA, 1); err != nil {
			fatal(err)
		}
	}
	stop := func() string {
		routerPID = 0
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var stats string
		for sc.Scan() {
			stats = sc.Text()
		}
		_ = cmd.Wait()
		return stats
	}
	cleanup = append(cleanup, func() { _ = cmd.Process.Kill() })
	// The deferred ping resolves the sink's neighbour through the router
	// before measuring.
	return stop
}

// selectForwarders returns the forwarders of -forwarders (list; "" for the
// default). A testpmd the machine does not have is left out with a note.
func selectForwarders(list string, haveTestpmd bool) ([]string, error) {
	if list == "" {
		list = "kernel,xdp,af_xdp,af_packet"
	}
	var fws []string
	for _, fw := range strings.Split(list, ",") {
		switch _, variant := variantArgs[fw]; {
		case fw == "testpmd" && !haveTestpmd:
			fmt.Fprintf(os.Stderr, "note: skipping the testpmd forwarder: %s is not installed (Debian: apt-get install dpdk-dev)\n", *testpmdBin)
			continue
		case fw == "kernel", fw == "xdp", fw == "af_xdp", fw == "af_packet", fw == "testpmd", variant:
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

// buildC compiles the reference generator into dir, or returns "" with a
// note when there is no C compiler.
func buildC(dir string) string {
	if *ccFlag == "" {
		return ""
	}
	cc, err := exec.LookPath(*ccFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "note: no C compiler %q: the C TX-ring generator is not measured\n", *ccFlag)
		return ""
	}
	src := filepath.Join(dir, "txring.c")
	if err := os.WriteFile(src, txringSource, 0o644); err != nil {
		fatal(err)
	}
	bin := filepath.Join(dir, "txring")
	must(cc, "-O2", "-Wall", "-o", bin, src)
	return bin
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
	tmp, err := os.MkdirTemp("", "vrouter-bench-")
	if err != nil {
		fatal(err)
	}
	cleanup = append(cleanup, func() { _ = os.RemoveAll(tmp) })
	cBin := buildC(tmp)
	t, snk := setup()
	var cgen generator
	if cBin != "" {
		frames := filepath.Join(tmp, "frames")
		must("ip", "netns", "exec", t.g, filepath.Join(*binDir, "v6gen"), "-write-frames", frames,
			"-dev", t.gA, "-dst-mac", t.macRA, "-src", "2001:db8:a::2", "-dst", "2001:db8:b::2",
			"-size", strconv.Itoa(*size), "-flows", strconv.Itoa(*flows))
		cgen = cRing(cBin, frames)
	}
	started := time.Now()
	for round := 1; round <= *rounds; round++ {
		for _, fw := range forwarders {
			var stop func() string
			switch fw {
			case "kernel":
			case "testpmd":
				stop = startTestpmd(t, tpBin)
			default:
				stop = startRouter(t, fw)
			}
			measure(t, snk, round, fw, cgen)
			if stop != nil {
				who := "fprouter"
				if fw == "testpmd" {
					who = "testpmd"
				}
				fmt.Fprintf(os.Stderr, "%s %s stats: %s\n", fw, who, stop())
				cleanup = cleanup[:len(cleanup)-1]
			}
		}
	}
	header := fmt.Sprintf("# vrouter bench — %s\n\n%d rounds of %s trials (%s in all), %d-byte frames, %d flows; generator on CPU0, router on CPU1, sink's NAPI thread on CPU0%s.",
		time.Now().UTC().Format(time.RFC3339), *rounds, *trialDur, time.Since(started).Round(time.Second), *size, *flows, rcuNote())
	md := writeReport(trials, forwarders, header, *fixed)
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*outDir, "results.md"), []byte(md), 0o644); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*outDir, "points.csv"), []byte(pointsCSV(trials)), 0o644); err != nil {
		fatal(err)
	}
	if err := writePlot(trials, fmt.Sprintf("IPv6 forwarding, %d-byte frames, veth gen → router (CPU1) → sink", *size), filepath.Join(*outDir, "plot.png")); err != nil {
		fatal(err)
	}
	fmt.Print(md)
	fmt.Fprintf(os.Stderr, "wrote %s, %s and %s\n", filepath.Join(*outDir, "results.md"), filepath.Join(*outDir, "points.csv"), filepath.Join(*outDir, "plot.png"))
	for i := len(cleanup) - 1; i >= 0; i-- {
		cleanup[i]()
	}
}
