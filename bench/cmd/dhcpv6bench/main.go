// Command dhcpv6bench measures DHCPv6 servers under load (`make
// bench-dhcpv6`, root): vrouter's, ISC Kea's kea-dhcp6 (memfile) and
// dnsmasq's, one after the other on the same link, in the same run:
//
//	[ns s] server on CPU1 --veth-- [ns c] perfdhcp / d6load on CPU0
//
// Every measurement starts the server afresh on an empty state directory.
// Per round and server:
//
//   - ladders of offered rates (doubling from -start until the offered
//     rate is 2.5× the best achieved one), each point measuring offered and
//     achieved exchanges per second, client and server CPU, the CPU time
//     other processes took on the server's CPU, socket-buffer drops. The
//     ladders (-series): the four-message exchange offered by perfdhcp -6
//     (Kea's load generator, single-threaded: often itself the limit) and
//     by d6load, and Rapid Commit offered by d6load (perfdhcp 2.2 cannot
//     count a Reply to a Solicit);
//   - the latency of the whole exchange (p50, p99, max; d6load, kernel
//     timestamps) in both exchanges at one common load, half of Kea's peak
//     of the round (dnsmasq: half of its own, which is far below);
//   - kill -9 of the server under load (half its own peak, four-message
//     exchange): leases acknowledged by a Reply that the client received,
//     against the leases the restarted server has;
//   - RSS with 10,000 leases (served by d6load; dnsmasq's written into its
//     lease file first, as it serves only tens of leases a second there).
//
// A point where the client was the limit (≥ 90 % of its CPU, or it could
// not send 95 % of its target) is marked client-capped and used for no peak
// and no ratio. Ratios against Kea use Kea's figure of the same round; the
// report gives the median and the range over rounds. Results go to -out:
// results.md, points.csv, a plot per series (plot-SERIES.png) and
// perfdhcp's reports (raw/).
package main

import (
	"cmp"
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
	binDir    = flag.String("bin", "bin", "directory with vrouter, d6server and d6load")
	outDir    = flag.String("out", "bench/results", "results directory")
	rounds    = flag.Int("rounds", 3, "rounds")
	trialDur  = flag.Duration("trial", 3*time.Second, "sending period of each point")
	startRate = flag.Float64("start", 1000, "first offered rate of each ladder (Solicits/s)")
	maxPoints = flag.Int("points", 8, "points of a ladder at most")
	serverArg = flag.String("servers", "vrouter,kea,dnsmasq", "servers to measure: vrouter (vrouter run), kea, dnsmasq, d6server (package dhcpv6's server alone, for -cpuprofile)")
	seriesArg = flag.String("series", "perfdhcp-4way,d6load-4way,d6load-rapid", "ladders, CLIENT-EXCHANGE: perfdhcp-4way (Kea's perfdhcp, four-message exchange), d6load-4way, d6load-rapid (Rapid Commit, which perfdhcp 2.2 cannot count)")
	clients   = flag.Int("clients", 50000, "distinct clients a point cycles through (vrouter's lease table holds 65536)")
	extras    = flag.Bool("extras", true, "also measure latency at a common load, kill -9 and RSS with 10,000 leases")
	profile   = flag.String("cpuprofile", "", "write a pprof CPU profile of server d6server at the highest d6load-4way point of round 1 to this file")
	only      = flag.String("rates", "", "instead of ladders, only these offered rates (comma-separated), e.g. for a profile")
	table     = flag.String("table", "", "only print the offered → answered table of every series of this points.csv (a finished run's) and exit")
	baseline  = flag.String("baseline", "", "also measure the vrouter binary at this path (vrouter run; a d6server if its name says so) as server vrouter-base: another build, e.g. main's before a change")
)

type bench struct {
	t       *topo
	servers []server
	series  []string
	work    string
	trials  []trial
	lats    []trial
	kills   []killResult
	rss     []rssResult
}

type killResult struct {
	Server       string
	Round        int
	Rate         float64
	Acked, Lost  int
	LeasesBefore int // leases the restarted server has
	Note         string
}

type rssResult struct {
	Server         string
	Round          int
	Leases         int
	EmptyKB, RSSKB int
	HWMKB          int
	Note           string
}

func main() {
	flag.Parse()
	if *table != "" {
		if err := printTables(*table); err != nil {
			fmt.Fprintln(os.Stderr, "bench-dhcpv6:", err)
			os.Exit(1)
		}
		return
	}
	b := &bench{}
	leasesBin := filepath.Join(*binDir, "d6server")
	for _, s := range strings.Split(*serverArg, ",") {
		switch s {
		case "vrouter":
			b.servers = append(b.servers, vrouterServer{bin: filepath.Join(*binDir, "vrouter"), leasesBin: leasesBin})
			if *baseline != "" {
				b.servers = append(b.servers, vrouterServer{bin: *baseline, leasesBin: leasesBin, label: "vrouter-base",
					d6server: strings.Contains(filepath.Base(*baseline), "d6server")})
			}
		case "d6server":
			b.servers = append(b.servers, vrouterServer{bin: leasesBin, leasesBin: leasesBin, label: "d6server", d6server: true})
		case "kea":
			b.servers = append(b.servers, keaServer{})
		case "dnsmasq":
			b.servers = append(b.servers, dnsmasqServer{})
		default:
			fmt.Fprintf(os.Stderr, "bench-dhcpv6: -servers: unknown server %q\n", s)
			os.Exit(2)
		}
	}
	for _, x := range strings.Split(*seriesArg, ",") {
		if !slices.Contains([]string{"perfdhcp-4way", "d6load-4way", "d6load-rapid"}, x) {
			fmt.Fprintf(os.Stderr, "bench-dhcpv6: -series: unknown series %q\n", x)
			os.Exit(2)
		}
		b.series = append(b.series, x)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench-dhcpv6: needs root (network namespaces)")
		os.Exit(2)
	}
	if err := checkPeers(b.servers, b.series); err != nil {
		fmt.Fprintln(os.Stderr, "bench-dhcpv6:", err)
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; fatal(fmt.Errorf("interrupted")) }()
	defer func() {
		if r := recover(); r != nil {
			fatal(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	work, err := os.MkdirTemp("", "bench-dhcpv6-")
	if err != nil {
		fatal(err)
	}
	b.work = work
	atExit(func() { os.RemoveAll(work) })
	b.t = setupTopo()
	started := time.Now()
	for round := 1; round <= *rounds; round++ {
		b.round(round)
	}
	if err := b.write(time.Since(started)); err != nil {
		fatal(err)
	}
	runCleanups()
}

// checkPeers fails clearly when a program the run needs is missing.
func checkPeers(servers []server, series []string) error {
	need := map[string]string{"ip": "iproute2", "taskset": "util-linux"}
	if slices.Contains(series, "perfdhcp-4way") {
		need["perfdhcp"] = "kea-admin"
	}
	for _, s := range servers {
		switch s.(type) {
		case keaServer:
			need["kea-dhcp6"] = "kea-dhcp6-server"
		case dnsmasqServer:
			need["dnsmasq"] = "dnsmasq-base"
		}
	}
	var missing []string
	for prog, pkg := range need {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", prog, pkg))
		}
	}
	for f, pkg := range map[string]string{"vrouter": "./cmd/vrouter", "d6server": "./bench/cmd/d6server", "d6load": "./bench/cmd/d6load"} {
		if _, err := os.Stat(filepath.Join(*binDir, f)); err != nil {
			missing = append(missing, fmt.Sprintf("%s (go build -o %s/ %s)", filepath.Join(*binDir, f), *binDir, pkg))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("missing: %s; `make deps` installs the packages", strings.Join(missing, ", "))
	}
	return nil
}

func (b *bench) stateDir() string {
	d, err := os.MkdirTemp(b.work, "state-")
	if err != nil {
		fatal(err)
	}
	return d
}

func (b *bench) round(round int) {
	// Rotate the order of the servers, so that none is always first.
	order := slices.Clone(b.servers)
	k := (round - 1) % len(order)
	order = append(order[k:], order[:k]...)
	peaks := map[string]map[string]float64{} // server → exchange → peak
	for _, srv := range order {
		peaks[srv.name()] = map[string]float64{}
		for _, x := range b.series {
			client, mode, _ := strings.Cut(x, "-")
			pts := b.ladder(srv, client, mode, round)
			// d6load's figure where both clients ran: perfdhcp is often
			// the limit of the four-message exchange.
			if p := peak(pts); client == "d6load" || peaks[srv.name()][mode] == 0 {
				peaks[srv.name()][mode] = p
			}
		}
	}
	if !*extras || *only != "" {
		return
	}
	for _, srv := range order {
		for _, mode := range []string{"4way", "rapid"} {
			load := peaks["kea"][mode] / 2
			if srv.name() == "dnsmasq" || load == 0 {
				load = peaks[srv.name()][mode] / 2
			}
			if load > 0 {
				tr := b.point(srv, mode, "d6load", round, load, "")
				b.lats = append(b.lats, tr)
			}
		}
		if p := peaks[srv.name()]["4way"]; p > 0 {
			b.kills = append(b.kills, b.killTest(srv, round, p/2))
			b.rss = append(b.rss, b.rssTest(srv, round, p/2))
		}
	}
}

// peak returns the best achieved rate of the points that were not
// client-capped (0 without one).
func peak(pts []trial) float64 {
	best := 0.0
	for _, p := range pts {
		if !p.Capped {
			best = math.Max(best, p.Achieved)
		}
	}
	return best
}

// ladder measures srv at doubling offered rates (see ladderNext), first
// halving below -start until a point is served (≥ 90 % achieved).
func (b *bench) ladder(srv server, client, mode string, round int) []trial {
	var pts []trial
	add := func(rate float64, prof string) trial {
		tr := b.point(srv, mode, client, round, rate, prof)
		b.trials = append(b.trials, tr)
		// A client that fell short of its target without using its
		// CPU was held up by other work on the machine: once more.
		if tr.Capped && tr.ClientCPU < 0.9 {
			tr = b.point(srv, mode, client, round, rate, prof)
			b.trials = append(b.trials, tr)
		}
		pts = append(pts, tr)
		return tr
	}
	if *only != "" {
		for i, f := range strings.Split(*only, ",") {
			r, err := strconv.ParseFloat(f, 64)
			if err != nil {
				fatal(fmt.Errorf("-rates: %w", err))
			}
			prof := ""
			if i == len(strings.Split(*only, ","))-1 && round == 1 && client == "d6load" && mode == "4way" && srv.name() == "d6server" {
				prof = *profile
			}
			add(r, prof)
		}
		return pts
	}
	lo := add(*startRate, "")
	for down := 0; !lo.Capped && lo.Achieved < 0.9*lo.Offered && lo.Target/2 >= 25 && down < 5; down++ {
		lo = add(lo.Target/2, "")
	}
	for {
		sorted := slices.Clone(pts)
		slices.SortFunc(sorted, func(a, b trial) int { return cmp.Compare(a.Target, b.Target) })
		next := ladderNext(sorted, *maxPoints)
		if next == 0 {
			break
		}
		add(next, "")
	}
	if *profile != "" && round == 1 && client == "d6load" && mode == "4way" && srv.name() == "d6server" {
		top := pts[0]
		for _, p := range pts {
			if p.Target > top.Target && !p.Capped {
				top = p
			}
		}
		fmt.Fprintf(os.Stderr, "profiling vrouter at %.0f/s\n", top.Target)
		b.point(srv, mode, client, round, top.Target, *profile)
	}
	return pts
}

// point starts srv on an empty state directory, offers rate with client
// for the trial period and measures.
func (b *bench) point(srv server, mode, client string, round int, rate float64, prof string) trial {
	dir := b.stateDir()
	defer os.RemoveAll(dir)
	p := srv.start(b.t, dir, prof)
	tr := trial{Server: srv.name(), Mode: mode, Client: client, Round: round, Target: rate}
	u0 := udpStats(b.t.srvNS)["Udp6RcvbufErrors"]
	c0, err := cpuTime(p.pid())
	if err != nil {
		fatal(err)
	}
	s0 := cpuStat(1)
	// The CPU figures cover the sending period, not the second the
	// client then waits for late answers.
	measured := make(chan struct{})
	go func() {
		defer close(measured)
		t0 := time.Now()
		time.Sleep(*trialDur)
		c1, err := cpuTime(p.pid())
		if err != nil {
			return
		}
		s1, el := cpuStat(1), since(t0)
		tr.ServerCPU = (c1 - c0).Seconds() / el
		tr.OtherCPU = max(0, (s1.busy-s0.busy-(c1-c0)).Seconds()/el)
		tr.IdleCPU, tr.SoftirqCPU = (s1.idle-s0.idle).Seconds()/el, (s1.softirq-s0.softirq).Seconds()/el
	}()
	switch client {
	case "perfdhcp":
		b.runPerfdhcp(&tr)
	default:
		b.runLoad(&tr, mode, rate, *clients, 0, *trialDur, "")
	}
	<-measured
	if p.exited() {
		tr.Note = "server exited"
	}
	tr.RcvbufErrors = udpStats(b.t.srvNS)["Udp6RcvbufErrors"] - u0
	p.stop()
	tr.Capped = capped(tr.Target, tr.Offered, tr.ClientCPU)
	c := ""
	if tr.Capped {
		c = "  CLIENT-CAPPED"
	}
	fmt.Fprintf(os.Stderr, "round %d %-8s %-5s %-8s offered %7.0f/s achieved %7.0f/s  p99 %6.1f ms  cpu client %.2f server %.2f, CPU1 others %.2f irq %.2f idle %.2f  rcvbuf drops %d%s %s\n",
		round, tr.Server, mode, client, tr.Offered, tr.Achieved, float64(tr.P99US)/1000, tr.ClientCPU, tr.ServerCPU, tr.OtherCPU, tr.SoftirqCPU, tr.IdleCPU, tr.RcvbufErrors, c, tr.Note)
	return tr
}

// runPerfdhcp offers tr.Target four-message exchanges per second with
// perfdhcp for the trial period, then waits a second for late answers.
func (b *bench) runPerfdhcp(tr *trial) {
	d := trialDur.Seconds()
	args := []string{"netns", "exec", b.t.cliNS, "taskset", "-c", "0", "perfdhcp", "-6", "-l", b.t.cliIf,
		"-r", strconv.FormatFloat(tr.Target, 'f', 0, 64), "-R", strconv.Itoa(*clients),
		"-p", strconv.FormatFloat(d, 'f', -1, 64), "-W", "1000000"}
	cmd := exec.Command("ip", args...)
	out, err := cmd.Output()
	// Exit status 3: some exchanges did not complete, which is what an
	// overload point measures.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 3) {
		fatal(fmt.Errorf("perfdhcp: %w: %s%s", err, out, ee.Stderr))
	}
	raw := filepath.Join(*outDir, "raw")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		fatal(err)
	}
	name := fmt.Sprintf("perfdhcp-%s-r%d-%.0f.txt", tr.Server, tr.Round, tr.Target)
	if err := os.WriteFile(filepath.Join(raw, name), out, 0o644); err != nil {
		fatal(err)
	}
	res, err := parsePerfdhcp(strings.NewReader(string(out)))
	if err != nil {
		fatal(fmt.Errorf("perfdhcp: %w: %s", err, out))
	}
	ps := cmd.ProcessState
	tr.ClientCPU = (ps.UserTime() + ps.SystemTime()).Seconds() / (d + 1)
	tr.Offered = float64(res.SA.Sent) / d
	tr.Achieved = float64(res.RR.Received) / d
	tr.AvgMS, tr.MaxMS = res.RR.AvgMS, res.RR.MaxMS
	if res.SA.Rejected+res.RR.Rejected > 0 {
		tr.Note = fmt.Sprintf("%d leases rejected", res.SA.Rejected+res.RR.Rejected)
	}
}

// runLoad runs d6load; count > 0 stops after count Solicits.
func (b *bench) runLoad(tr *trial, mode string, rate float64, nclients, count int, dur time.Duration, acked string) loadResult {
	args := []string{"netns", "exec", b.t.cliNS, "taskset", "-c", "0", filepath.Join(*binDir, "d6load"),
		"-iface", b.t.cliIf, "-mode", mode, "-rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"-duration", dur.String(), "-clients", strconv.Itoa(nclients), "-seed", strconv.Itoa(tr.Round)}
	if count > 0 {
		args = append(args, "-count", strconv.Itoa(count))
	}
	if acked != "" {
		args = append(args, "-acked", acked)
	}
	out, err := exec.Command("ip", args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			fatal(fmt.Errorf("d6load: %w: %s", err, ee.Stderr))
		}
		fatal(fmt.Errorf("d6load: %w", err))
	}
	res, err := parseLoad(out)
	if err != nil {
		fatal(err)
	}
	tr.Offered, tr.Achieved, tr.ClientCPU = res.Offered, res.Rate, res.CPU
	tr.P50US, tr.P99US, tr.MaxUS = res.P50US, res.P99US, res.MaxUS
	switch {
	case res.Advertised > 0:
		tr.Note = fmt.Sprintf("%d Advertise to Rapid Commit", res.Advertised)
	case res.NoAddrs > 0:
		tr.Note = fmt.Sprintf("%d answers without an address", res.NoAddrs)
	}
	return res
}

// killTest offers rate (four-message exchange) for 4 s, kills the server
// with SIGKILL after 2 s, restarts it on its state and compares the leases
// it has with those the client saw acknowledged.
func (b *bench) killTest(srv server, round int, rate float64) killResult {
	dir := b.stateDir()
	defer os.RemoveAll(dir)
	acked := filepath.Join(b.work, "acked")
	p := srv.start(b.t, dir, "")
	kr := killResult{Server: srv.name(), Round: round, Rate: rate}
	done := make(chan loadResult, 1)
	go func() {
		tr := trial{Round: round}
		done <- b.runLoad(&tr, "4way", rate, 1_000_000, 0, 4*time.Second, acked)
	}()
	time.Sleep(2 * time.Second)
	p.kill()
	res := <-done
	q := srv.start(b.t, dir, "")
	q.stop()
	have, err := srv.leases(b.t, dir)
	if err != nil {
		fatal(fmt.Errorf("%s leases after kill -9: %w", srv.name(), err))
	}
	kr.LeasesBefore = len(have)
	data, err := os.ReadFile(acked)
	if err != nil {
		fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		kr.Acked++
		if !have[l] {
			kr.Lost++
		}
	}
	if res.Completed == 0 {
		kr.Note = "no exchange completed before the kill"
	}
	fmt.Fprintf(os.Stderr, "round %d %-8s kill -9 at %.0f/s: %d leases acknowledged, %d lost (%d after restart)\n",
		round, srv.name(), rate, kr.Acked, kr.Lost, kr.LeasesBefore)
	return kr
}

// rssTest measures the server's RSS empty and with 10,000 leases.
func (b *bench) rssTest(srv server, round int, rate float64) rssResult {
	const n = 10000
	dir := b.stateDir()
	defer os.RemoveAll(dir)
	rr := rssResult{Server: srv.name(), Round: round}
	_, isDnsmasq := srv.(dnsmasqServer)
	if isDnsmasq {
		// dnsmasq rewrites its whole lease file and fsyncs it for every
		// change: filling it by serving would take many minutes.
		lf := dnsmasqLeaseFile(n, byte(round), time.Now().Add(2*time.Hour))
		if err := os.WriteFile(filepath.Join(dir, "leases"), []byte(lf), 0o644); err != nil {
			fatal(err)
		}
	}
	p := srv.start(b.t, dir, "")
	time.Sleep(500 * time.Millisecond)
	if !isDnsmasq {
		rr.EmptyKB, _, _ = memKB(p.pid())
	}
	tr := trial{Round: round}
	if isDnsmasq {
		// It serves, with the leases loaded.
		b.runLoad(&tr, "4way", 10, 1000, 10, 2*time.Second, "")
	} else {
		rate = math.Min(rate, 4000)
		d := time.Duration(float64(n)/rate*float64(time.Second)) + time.Second
		for range 2 { // the second pass gets the exchanges the first one lost
			b.runLoad(&tr, "4way", rate, n, n, d, "")
		}
	}
	time.Sleep(time.Second)
	var err error
	rr.RSSKB, rr.HWMKB, err = memKB(p.pid())
	if err != nil {
		fatal(err)
	}
	p.stop()
	have, err := srv.leases(b.t, dir)
	if err != nil {
		fatal(err)
	}
	rr.Leases = len(have)
	fmt.Fprintf(os.Stderr, "round %d %-8s RSS %d KiB empty, %d KiB with %d leases (peak %d KiB)\n",
		round, srv.name(), rr.EmptyKB, rr.RSSKB, rr.Leases, rr.HWMKB)
	return rr
}

// printTables prints byRateTable for every series of a points.csv.
func printTables(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ts, err := readPoints(f)
	if err != nil {
		return err
	}
	var series []string
	for _, t := range ts {
		if x := t.series(); !slices.Contains(series, x) {
			series = append(series, x)
		}
	}
	for _, x := range series {
		client, mode, _ := strings.Cut(x, "-")
		fmt.Printf("## %s, offered by %s\n\n%s\n", modeName(mode), client, byRateTable(ts, x))
	}
	return nil
}
