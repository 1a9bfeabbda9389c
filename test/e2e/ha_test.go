//go:build linux

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/daemon"
	"github.com/vrouter/vrouter/ha"
)

// The HA pair end to end (issue 12): two `vrouter run` on the same
// upstream and tenant links, each a bridge in a switch namespace:
//
//	[up] eth0 2001:db8:0:1::1/64, route 2001:db8:0:2::/64 via 2001:db8:0:1::fe
//	  | bridge U
//	[a] eth0, eth1  priority 200, preempt     [b] eth0, eth1  priority 100
//	  | bridge T
//	[vm1] eth0: SLAAC from the Active's RAs, default router fe80::1
//
// Virtual addresses: eth0 fe80::1, 2001:db8:0:1::fe/64; eth1 fe80::1,
// 2001:db8:0:2::1/64. VM1 pings 2001:db8:0:1::1 every 10 ms through kill -9
// of the Active (systemd restarts it: preemption back), its tenant link
// down and up, and SIGTERM (restart: preemption back); every loss window is
// recorded, VM1's default router is fe80::1 throughout, and no echo reply
// arrives twice.

// haPair is the topology and the two routers.
type haPair struct {
	t        *testing.T
	p        string // random prefix of the namespace names
	up, vm   string
	sw       string
	ns       map[string]string // router name → namespace
	dir      string
	interval time.Duration
	procs    map[string]*exec.Cmd
	logs     map[string]*os.File
	// keepalived: the routers are keepalived + radvd driven the way
	// Neutron's L3 HA drives them (radvd on the Active only, started and
	// killed by keepalived's notify scripts), for the baseline figures.
	keepalived bool
	// pcapDir: VROUTER_HA_PCAP=DIR captures both bridges (dumpcap) into
	// DIR for a look at a failover's frames.
	pcapDir string
}

func haRandPrefix() string {
	b := make([]byte, 4)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return "vh" + string(b)
}

func haRun(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

const haRouterConfig = `interfaces:
  eth0:
    role: upstream
  eth1:
    role: downstream
    advertise:
      max_interval: 4s
      min_interval: 3s
      prefixes: [{prefix: "2001:db8:0:2::/64"}]
forwarding: true
ha:
  vrid: 51
  priority: %d
  advert_interval: %s
  preempt: true
  interfaces:
    eth0: {virtual_addresses: ["fe80::1", "2001:db8:0:1::fe/64"]}
    eth1: {virtual_addresses: ["fe80::1", "2001:db8:0:2::1/64"]}
`

func newHAPair(t *testing.T, interval time.Duration) *haPair {
	t.Helper()
	return newHAPairConfig(t, interval, haRouterConfig)
}

// newHAPairConfig is newHAPair with the routers' config template cfg
// (priority and advert_interval as %d and %s).
func newHAPairConfig(t *testing.T, interval time.Duration, cfgTemplate string) *haPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the HA end-to-end test needs root (network namespaces); CI runs it as root")
	}
	for _, prog := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%v (.ci/run installs iproute2, iputils-ping)", err)
		}
	}
	if buildErr != nil {
		t.Fatalf("building vrouter: %v", buildErr)
	}
	p := haRandPrefix()
	h := &haPair{t: t, p: p, up: p + "up", vm: p + "vm1", sw: p + "sw",
		ns: map[string]string{"a": p + "a", "b": p + "b"}, dir: t.TempDir(), interval: interval,
		procs: map[string]*exec.Cmd{}, logs: map[string]*os.File{}}
	t.Cleanup(h.close)
	addNS := func(ns string) {
		haRun(t, "ip", "netns", "add", ns)
		haRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
		haRun(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
	}
	for _, ns := range []string{h.sw, h.up, h.vm, h.ns["a"], h.ns["b"]} {
		addNS(ns)
	}
	for _, br := range []string{"brU", "brT"} {
		haRun(t, "ip", "-n", h.sw, "link", "add", br, "type", "bridge", "mcast_snooping", "0")
		haRun(t, "ip", "-n", h.sw, "link", "set", br, "up")
	}
	attach := func(swPort, bridge, ns, name, mac string) {
		haRun(t, "ip", "-n", h.sw, "link", "add", swPort, "type", "veth", "peer", "name", name, "address", mac, "netns", ns)
		haRun(t, "ip", "-n", h.sw, "link", "set", swPort, "master", bridge, "up")
		haRun(t, "ip", "-n", ns, "link", "set", name, "up")
	}
	if dir := os.Getenv("VROUTER_HA_PCAP"); dir != "" {
		h.capture(dir)
	}
	attach("sup", "brU", h.up, "eth0", "fa:16:3e:00:00:01")
	attach("sau", "brU", h.ns["a"], "eth0", "fa:16:3e:11:11:11")
	attach("sat", "brT", h.ns["a"], "eth1", "fa:16:3e:22:22:22")
	attach("sbu", "brU", h.ns["b"], "eth0", "fa:16:3e:11:11:12")
	attach("sbt", "brT", h.ns["b"], "eth1", "fa:16:3e:22:22:23")
	attach("svm", "brT", h.vm, "eth0", "fa:16:3e:33:33:33")
	haRun(t, "ip", "-n", h.up, "addr", "add", "2001:db8:0:1::1/64", "dev", "eth0", "nodad")
	haRun(t, "ip", "-n", h.up, "-6", "route", "add", "2001:db8:0:2::/64", "via", "2001:db8:0:1::fe", "dev", "eth0")
	haRun(t, "ip", "netns", "exec", h.vm, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=2")
	for r, prio := range map[string]int{"a": 200, "b": 100} {
		// @R@: the router's own name, for its own addresses.
		cfg := strings.ReplaceAll(fmt.Sprintf(cfgTemplate, prio, interval), "@R@", r)
		if err := os.WriteFile(filepath.Join(h.dir, r+".yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *haPair) socket(r string) string { return filepath.Join(h.dir, r+".sock") }

// start runs router r's vrouter (again, as systemd's Restart= does).
func (h *haPair) start(r string) {
	t := h.t
	t.Helper()
	if h.keepalived {
		h.startKeepalived(r)
		return
	}
	log, err := os.OpenFile(filepath.Join(h.dir, r+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", h.ns[r], vrouterBin, "run",
		"--config", filepath.Join(h.dir, r+".yaml"), "--socket", h.socket(r), "--state-dir", "-", "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.procs[r], h.logs[r] = cmd, log
}

// signal sends sig to router r's vrouter and waits for it to exit.
func (h *haPair) signal(r string, sig syscall.Signal) {
	h.t.Helper()
	cmd := h.procs[r]
	if cmd == nil {
		return
	}
	// ip netns exec execs the program: the pid is vrouter's.
	if !stopWithin(cmd, sig, 10*time.Second) {
		h.t.Errorf("router %s did not exit on %v", r, sig)
	}
	h.procs[r] = nil
}

// stopWithin sends sig to a started command and waits for it to exit; one
// still running after d is killed (and waited for) and stopWithin reports
// false.
func stopWithin(cmd *exec.Cmd, sig syscall.Signal, d time.Duration) bool {
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return false
	}
}

func (h *haPair) close() {
	for r := range h.procs {
		h.signal(r, syscall.SIGTERM)
		h.killRadvd(r)
	}
	if h.t.Failed() || os.Getenv("VROUTER_HA_LOGS") == "1" {
		for _, r := range []string{"a", "b"} {
			b, _ := os.ReadFile(filepath.Join(h.dir, r+".log"))
			if h.keepalived {
				b, _ = os.ReadFile(filepath.Join(h.routerDir(r), "keepalived.log"))
			}
			h.t.Logf("router %s log:\n%s", r, tailLines(string(b), 200))
		}
	}
	for _, f := range h.logs {
		f.Close()
	}
	for _, ns := range []string{h.vm, h.up, h.ns["a"], h.ns["b"], h.sw} {
		// Whatever is still running in the namespace dies with it: a radvd
		// that keepalived's notify script started on the surviving router
		// after its killRadvd above would otherwise outlive the test.
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			h.t.Errorf("remove namespace %s: %v\n%s", ns, err, out)
		}
	}
}

func tailLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// state is router r's HA state ("" when it does not answer).
func (h *haPair) state(r string) ha.State {
	if h.keepalived {
		// The state the running keepalived last logged entering: not
		// its virtual addresses (a killed keepalived leaves them), nor
		// what its notify scripts did (they run concurrently and may
		// finish out of order).
		if h.procs[r] == nil {
			return ""
		}
		b, err := os.ReadFile(filepath.Join(h.routerDir(r), "keepalived.log"))
		if err != nil {
			return ""
		}
		run := string(b)
		if i := strings.LastIndex(run, "Starting Keepalived"); i >= 0 {
			run = run[i:]
		}
		i := strings.LastIndex(run, "Entering ")
		if i < 0 {
			return ""
		}
		if strings.HasPrefix(run[i:], "Entering MASTER STATE") {
			return ha.StateActive
		}
		return ha.StateBackup
	}
	st, err := daemon.QueryStatus(h.socket(r))
	if err != nil || st.HA == nil {
		return ""
	}
	return st.HA.State
}

// waitState waits until router r is in state s.
func (h *haPair) waitState(r string, s ha.State, timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h.state(r) == s {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("router %s not %s after %v (now %q)", r, s, timeout, h.state(r))
}

// defaultRoutes returns VM1's default routes, "via GW dev DEV" each.
func (h *haPair) defaultRoutes() []string {
	out, err := exec.Command("ip", "-n", h.vm, "-6", "route", "show", "default").Output()
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var rs []string
	for l := range strings.Lines(string(out)) {
		f := strings.Fields(l)
		if len(f) >= 5 && f[1] == "via" {
			rs = append(rs, f[2]+" "+f[4])
		}
	}
	return rs
}

// pinger pings from VM1 every 10 ms and keeps the reply times.
type pinger struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	reply []time.Time // arrival of each first reply
	seqs  map[int]int // replies per sequence number
	dups  int
	done  chan struct{}
}

func (h *haPair) ping() *pinger {
	h.t.Helper()
	pg := &pinger{seqs: map[int]int{}, done: make(chan struct{})}
	pg.cmd = exec.Command("ip", "netns", "exec", h.vm, "ping", "-6", "-n", "-D", "-i", "0.01", "-W", "1", "2001:db8:0:1::1")
	out, err := pg.cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := pg.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() {
		defer close(pg.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			// [1733130000.123456] 64 bytes from 2001:db8:0:1::1: icmp_seq=12 ttl=63 time=0.1 ms
			if !strings.HasPrefix(l, "[") || !strings.Contains(l, "icmp_seq=") {
				continue
			}
			ts, _, _ := strings.Cut(l[1:], "]")
			sec, err := strconv.ParseFloat(ts, 64)
			if err != nil {
				continue
			}
			_, rest, _ := strings.Cut(l, "icmp_seq=")
			seqS, _, _ := strings.Cut(rest, " ")
			seq, _ := strconv.Atoi(seqS)
			at := time.Unix(0, int64(sec*1e9))
			pg.mu.Lock()
			pg.seqs[seq]++
			if pg.seqs[seq] > 1 || strings.Contains(l, "DUP!") {
				pg.dups++
			} else {
				pg.reply = append(pg.reply, at)
			}
			pg.mu.Unlock()
		}
	}()
	return pg
}

func (pg *pinger) stop() {
	_ = pg.cmd.Process.Signal(syscall.SIGINT)
	<-pg.done
	_ = pg.cmd.Wait()
}

// gap is the longest time without an echo reply in [from, to].
func (pg *pinger) gap(from, to time.Time) time.Duration {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	// The event's own outage: from its start to the first reply, between
	// replies, and from the last reply to its end. An outage that began
	// before from counts from from (it is the previous event's), and one
	// still going on at to counts until to (it is this event's, although
	// its end comes later).
	pts := []time.Time{from}
	for _, r := range pg.reply {
		if r.After(from) && r.Before(to) {
			pts = append(pts, r)
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Before(pts[j]) })
	pts = append(pts, to)
	var longest time.Duration
	for i := 1; i < len(pts); i++ {
		longest = max(longest, pts[i].Sub(pts[i-1]))
	}
	return longest
}

// last is the time of the latest echo reply.
func (pg *pinger) last() time.Time {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	var t time.Time
	for _, r := range pg.reply {
		if r.After(t) {
			t = r
		}
	}
	return t
}

func (pg *pinger) replies() int {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return len(pg.reply)
}

func (pg *pinger) duplicates() int {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	return pg.dups
}

// haEvent is one disruption and the loss window VM1 saw.
type haEvent struct {
	Name   string
	Outage time.Duration
}

// runEvents runs the whole sequence on a started pair with a converged VM1
// and returns the loss window of each event. settle is how long each state
// is held before the next event.
func (h *haPair) runEvents(pg *pinger, settle time.Duration) []haEvent {
	t := h.t
	t.Helper()
	var evs []haEvent
	event := func(name string, do func(), after func()) {
		t.Helper()
		h.requireVMPathViaActive(name)
		from := time.Now()
		do()
		after()
		if h.pcapDir == "" {
			time.Sleep(settle)
		} else {
			// Dump the routers' state once when VM1 has had no reply for
			// 300 ms during the settle time.
			dumped := false
			for end := time.Now().Add(settle); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if last := pg.last(); !dumped && time.Since(last) > 300*time.Millisecond {
					dumped = true
					h.dumpState(name, last)
				}
			}
		}
		e := haEvent{name, pg.gap(from, time.Now())}
		evs = append(evs, e)
		if h.pcapDir != "" {
			t.Logf("event %q from %s: outage %v", name, from.Format("15:04:05.000000"), e.Outage.Round(time.Millisecond))
		}
	}
	waitB := func() { h.waitState("b", ha.StateActive, 5*time.Second) }
	waitA := func() { h.waitState("a", ha.StateActive, 10*time.Second) }
	event("kill -9", func() {
		// A crashed service VM: the process dies without a word, and
		// its links go with it (a killed process alone leaves the
		// kernel forwarding on the old virtual link, which hides the
		// failover).
		h.crash("a")
		haRun(t, "ip", "-n", h.sw, "link", "set", "sat", "down")
		haRun(t, "ip", "-n", h.sw, "link", "set", "sau", "down")
	}, waitB)
	event("preemption after kill -9", func() {
		haRun(t, "ip", "-n", h.sw, "link", "set", "sat", "up")
		haRun(t, "ip", "-n", h.sw, "link", "set", "sau", "up")
		h.start("a")
	}, waitA)
	// The tenant port goes down (carrier lost: vrouter's reconciler
	// would set an interface that is administratively down up again).
	event("tenant link down", func() {
		haRun(t, "ip", "-n", h.sw, "link", "set", "sat", "down")
	}, waitB)
	event("preemption after link up", func() {
		haRun(t, "ip", "-n", h.sw, "link", "set", "sat", "up")
	}, waitA)
	event("SIGTERM", func() {
		h.signal("a", syscall.SIGTERM)
		h.killRadvd("a") // the L3 agent stops it with the router
	}, waitB)
	event("preemption after SIGTERM", func() { h.start("a") }, waitA)
	return evs
}

// requireVMPathViaActive fails the test unless VM1 sends its traffic to the
// Active router, waiting up to 3 s: otherwise the next event would not
// disrupt the router carrying VM1's traffic and its figure would measure
// nothing. Only the baseline can differ: keepalived's routers keep their
// own MACs and VM1 uses whichever its neighbour entry for fe80::1 holds
// (vrouter's routers share the virtual MAC).
func (h *haPair) requireVMPathViaActive(event string) {
	t := h.t
	t.Helper()
	if !h.keepalived {
		return
	}
	var active, want, got string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		active, want, got = "", "", ""
		for _, r := range []string{"a", "b"} {
			if h.state(r) == ha.StateActive {
				active = r
			}
		}
		if active == "" {
			continue
		}
		out, _ := exec.Command("ip", "-n", h.ns[active], "-br", "link", "show", "eth1").Output()
		if f := strings.Fields(string(out)); len(f) >= 3 {
			want = f[2]
		}
		out, _ = exec.Command("ip", "-n", h.vm, "-6", "neigh", "show", "fe80::1", "dev", "eth0").Output()
		if f := strings.Fields(string(out)); len(f) >= 3 && f[1] == "lladdr" {
			got = f[2]
		}
		if want != "" && got == want {
			return
		}
	}
	t.Fatalf("before %q: VM1 sends to %q for fe80::1, not to the Active (%q, %s)", event, got, active, want)
}

// converge starts both routers and waits for VM1's address, default route
// and first replies.
func (h *haPair) converge() *pinger {
	t := h.t
	t.Helper()
	h.start("a")
	h.start("b")
	h.waitState("a", ha.StateActive, 15*time.Second)
	h.waitState("b", ha.StateBackup, 5*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Equal(h.defaultRoutes(), []string{"fe80::1 eth0"}) {
		if time.Now().After(deadline) {
			t.Fatalf("VM1 default routes %v, want via fe80::1", h.defaultRoutes())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		out, _ := exec.Command("ip", "-n", h.vm, "-6", "addr", "show", "dev", "eth0", "scope", "global").Output()
		if strings.Contains(string(out), "2001:db8:0:2:f816:3eff:fe33:3333") && !strings.Contains(string(out), "tentative") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("VM1 has no SLAAC address:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pg := h.ping()
	for pg.replies() == 0 {
		if time.Now().After(deadline) {
			pg.stop()
			t.Fatal("VM1 gets no echo reply through the Active")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pg
}

// watchDefaultRoute polls VM1's default routes every 20 ms until stop is
// called and returns every set of routes other than "via fe80::1" seen.
func (h *haPair) watchDefaultRoute() (stop func() []string) {
	quit := make(chan struct{})
	var bad []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if rs := h.defaultRoutes(); !slices.Equal(rs, []string{"fe80::1 eth0"}) {
				bad = append(bad, fmt.Sprint(time.Now().Format("15:04:05.000"), rs))
			}
		}
	}()
	return func() []string { close(quit); <-done; return bad }
}

// TestHAPairFailover is the reference scenario with an HA pair at 100 ms
// adverts: bounded loss windows, the default router fe80::1 throughout,
// no duplicate.
func TestHAPairFailover(t *testing.T) {
	h := newHAPair(t, 100*time.Millisecond)
	pg := h.converge()
	stopWatch := h.watchDefaultRoute()
	evs := h.runEvents(pg, time.Second)
	bad := stopWatch()
	pg.stop()
	// Active_Down_Interval at 100 ms is 3×100 ms + Skew_Time (61 ms for
	// priority 100): a crash costs about that; a link down, a SIGTERM and
	// a preemption hand over after Skew_Time or at once. The bound leaves
	// a loaded CI machine twice the crash figure (the figures are
	// TestHAPairFigures'): it catches a failover that does not happen, the
	// seconds of a host waiting for neighbour unreachability or a new RA,
	// and most of the 1 s outages of a new Active whose first neighbour
	// resolution went unanswered (before its takeover RetransTimer).
	const bound = 800 * time.Millisecond
	for _, e := range evs {
		t.Logf("%-26s outage %v", e.Name, e.Outage.Round(time.Millisecond))
		if e.Outage > bound || e.Outage == 0 && e.Name == "kill -9" {
			t.Errorf("%s: outage %v, want at most %v", e.Name, e.Outage, bound)
		}
	}
	if len(bad) > 0 {
		t.Errorf("VM1's default router was not fe80::1 alone %d times: %v", len(bad), bad[:min(len(bad), 5)])
	}
	if d := pg.duplicates(); d != 0 {
		t.Errorf("%d duplicate echo replies: two routers forwarded the same packet", d)
	}
}

// TestHAPairFigures measures the loss windows of every event at 100 ms and
// 20 ms adverts over several rounds (VROUTER_HA_ROUNDS, default 5) for
// bench/report/ha.md; it runs only when VROUTER_HA_FIGURES=1 (under
// with no other heavy job running on a shared machine).
func TestHAPairFigures(t *testing.T) {
	if os.Getenv("VROUTER_HA_FIGURES") != "1" {
		t.Skip("set VROUTER_HA_FIGURES=1 to measure the HA figures")
	}
	rounds := 5
	if n, err := strconv.Atoi(os.Getenv("VROUTER_HA_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	// VROUTER_HA_BASELINE: "1" adds keepalived + radvd, "only" measures
	// nothing else.
	var kinds []bool
	if os.Getenv("VROUTER_HA_BASELINE") != "only" {
		kinds = append(kinds, false)
	}
	if b := os.Getenv("VROUTER_HA_BASELINE"); b == "1" || b == "only" {
		kinds = append(kinds, true)
	}
	for _, kd := range kinds {
		for _, ivl := range []time.Duration{100 * time.Millisecond, 20 * time.Millisecond} {
			res := map[string][]time.Duration{}
			var order []string
			dups := 0
			for range rounds {
				t.Run(ivl.String(), func(t *testing.T) {
					h := newHAPair(t, ivl)
					h.keepalived = kd
					pg := h.converge()
					evs := h.runEvents(pg, 700*time.Millisecond)
					pg.stop()
					dups += pg.duplicates()
					for _, e := range evs {
						if _, ok := res[e.Name]; !ok {
							order = append(order, e.Name)
						}
						res[e.Name] = append(res[e.Name], e.Outage)
					}
				})
			}
			var b strings.Builder
			who := "vrouter"
			if kd {
				who = "keepalived + radvd"
			}
			fmt.Fprintf(&b, "%s, advert_interval %v, %d rounds, duplicates %d\n| event | median | range |\n| --- | --- | --- |\n", who, ivl, rounds, dups)
			for _, name := range order {
				ds := res[name]
				slices.Sort(ds)
				fmt.Fprintf(&b, "| %s | %v | %v – %v |\n", name, ds[len(ds)/2].Round(time.Millisecond),
					ds[0].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
			}
			t.Logf("FIGURES\n%s", b.String())
		}
	}
}

// haDHCPv6Config is haRouterConfig with a stateful DHCPv6 server on eth1,
// renewing every 2 s. Each router has its own address on eth1 (the fixed
// IP of its Neutron port): a pool must be on-link among the interface's
// own addresses, which the virtual ones are not.
var haDHCPv6Config = strings.Replace(haRouterConfig, `      prefixes: [{prefix: "2001:db8:0:2::/64"}]
`, `      prefixes: [{prefix: "2001:db8:0:2::/64"}]
    addresses: ["2001:db8:0:2::@R@/64"]
    dhcpv6:
      mode: stateful
      t1: 2s
      t2: 3s
      preferred_lifetime: 30s
      valid_lifetime: 60s
      pools: [{start: "2001:db8:0:2::1000", end: "2001:db8:0:2::10ff"}]
`, 1)

// haDHClientScript records each dhclient event as one line:
// "reason=X addr=Y".
const haDHClientScript = `#!/bin/sh
echo "reason=$reason addr=$new_ip6_address" >> "$(dirname "$0")/events"
exit 0
`

// TestHAPairDHCPv6Lease: ISC dhclient -6 -N in VM1 takes a lease from
// the Active; the Backup learns the binding passively; after a failover
// (SIGTERM of the Active) the client's Renew is answered by the former
// Backup with the same address, under the same server DUID.
func TestHAPairDHCPv6Lease(t *testing.T) {
	h := newHAPairConfig(t, 100*time.Millisecond, haDHCPv6Config)
	if _, err := exec.LookPath("dhclient"); err != nil {
		t.Fatalf("%v (.ci/run installs isc-dhcp-client)", err)
	}
	h.start("a")
	h.start("b")
	h.waitState("a", ha.StateActive, 15*time.Second)
	h.waitState("b", ha.StateBackup, 5*time.Second)
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte(haDHClientScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cl := exec.Command("ip", "netns", "exec", h.vm, "dhclient", "-6", "-N", "-d", "-v",
		"-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "pid"), "-sf", script, "eth0")
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cl.Stdout, cl.Stderr = out, out
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cl.Process.Kill()
		_ = cl.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "out"))
			t.Logf("dhclient:\n%s", tailLines(string(b), 40))
		}
	})
	// event waits for the n-th line (from 0) whose reason is one of
	// reasons and returns its address.
	event := func(skip int, timeout time.Duration, reasons ...string) (string, int) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "events"))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			for i := skip; i < len(lines); i++ {
				f := strings.Fields(lines[i])
				if len(f) == 2 && slices.Contains(reasons, strings.TrimPrefix(f[0], "reason=")) {
					return strings.TrimPrefix(f[1], "addr="), i
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no dhclient event %v after %v", reasons, timeout)
		return "", 0
	}
	addr, i := event(0, 20*time.Second, "BOUND6")
	if !strings.HasPrefix(addr, "2001:db8:0:2::10") {
		t.Fatalf("bound %q, want an address of the pool", addr)
	}
	leases := func(r string) (int, string) {
		st, err := daemon.QueryStatus(h.socket(r))
		if err != nil {
			return -1, err.Error()
		}
		for _, is := range st.Interfaces {
			if is.Name == "eth1" && is.DHCPv6 != nil {
				return is.DHCPv6.LeasesInUse, is.DHCPv6.ServerDUID
			}
		}
		return -1, "no dhcpv6 status"
	}
	// The Backup learned the binding from the client's multicast Request.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := leases("b"); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			n, why := leases("b")
			t.Fatalf("the Backup holds %d leases (%s), want the client's", n, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, duidA := leases("a")
	_, duidB := leases("b")
	if duidA != duidB {
		t.Errorf("server DUIDs differ: a %s, b %s", duidA, duidB)
	}
	h.signal("a", syscall.SIGTERM)
	h.waitState("b", ha.StateActive, 5*time.Second)
	failover := i + 1
	// Renews go on every 2 s: the next one after the failover is B's.
	time.Sleep(100 * time.Millisecond)
	b, _ := os.ReadFile(filepath.Join(dir, "events"))
	failover = max(failover, len(strings.Split(strings.TrimSpace(string(b)), "\n")))
	got, _ := event(failover, 10*time.Second, "RENEW6", "REBIND6")
	if got != addr {
		t.Errorf("after the failover the client has %q, want %q", got, addr)
	}
	evs, _ := os.ReadFile(filepath.Join(dir, "events"))
	t.Logf("dhclient events (failover after line %d):\n%s", failover, evs)
	st, err := daemon.QueryStatus(h.socket("b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range st.Interfaces {
		if is.Name == "eth1" && (is.DHCPv6 == nil || is.DHCPv6.Sent["reply"] == 0) {
			t.Errorf("the new Active sent no Reply: %+v", is.DHCPv6)
		}
	}
}

// keepalived.conf of a router of the baseline: VRRP on the tenant link,
// the virtual addresses on both links, radvd started by notify_master and
// killed (-9, as Neutron's process manager does: no final RA) otherwise.
const haKeepalivedConf = `global_defs {
  vrrp_version 3
  script_user root
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth1
  virtual_router_id 51
  priority %d
  advert_int %s
  native_ipv6
  virtual_ipaddress {
    fe80::1/64 dev eth1
    2001:db8:0:2::1/64 dev eth1
    2001:db8:0:1::fe/64 dev eth0
  }
  notify_master "%s start"
  notify_backup "%s stop"
  notify_fault "%s stop"
  notify_stop "%s stop"
}
`

const haRadvdConf = `interface eth1 {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvRASrcAddress { fe80::1; };
  prefix 2001:db8:0:2::/64 {};
};
`

const haNotifyScript = `#!/bin/sh
d=$(dirname "$0")
case "$1" in
start) radvd -C "$d/radvd.conf" -p "$d/radvd.pid" -m logfile -l "$d/radvd.log" ;;
stop) [ -f "$d/radvd.pid" ] && kill -9 "$(cat "$d/radvd.pid")" 2>/dev/null; rm -f "$d/radvd.pid" ;;
esac
exit 0
`

func (h *haPair) routerDir(r string) string { return filepath.Join(h.dir, "kr-"+r) }

func (h *haPair) startKeepalived(r string) {
	t := h.t
	t.Helper()
	dir := h.routerDir(r)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prio := map[string]int{"a": 200, "b": 100}[r]
	notify := filepath.Join(dir, "notify.sh")
	conf := fmt.Sprintf(haKeepalivedConf, prio, strconv.FormatFloat(h.interval.Seconds(), 'f', -1, 64), notify, notify, notify, notify)
	for name, data := range map[string]string{"keepalived.conf": conf, "radvd.conf": haRadvdConf, "notify.sh": haNotifyScript} {
		mode := os.FileMode(0o644)
		if name == "notify.sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	// What vrouter sets itself: forwarding, no RA accepted on the tenant.
	haRun(t, "ip", "netns", "exec", h.ns[r], "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.eth1.accept_ra=0")
	log, err := os.OpenFile(filepath.Join(dir, "keepalived.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", h.ns[r], "keepalived", "-n", "-l", "-D", "-P",
		"-f", filepath.Join(dir, "keepalived.conf"), "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.procs[r], h.logs[r] = cmd, log
}

// crash kills router r at once: vrouter, or keepalived with its VRRP
// child (which would otherwise resign with priority 0) and radvd.
func (h *haPair) crash(r string) {
	h.t.Helper()
	if h.keepalived {
		if b, err := os.ReadFile(filepath.Join(h.routerDir(r), "vrrp.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	h.signal(r, syscall.SIGKILL)
	h.killRadvd(r)
	if h.keepalived {
		// The service VM reboots: /run is empty again and the virtual
		// addresses are gone. Without this the next keepalived found its
		// dead VRRP child's pid file, did not start a VRRP process, and
		// the addresses it left made it look Active: the baseline's
		// events after a crash then measured a router that carried no
		// traffic.
		for _, f := range []string{"keepalived.pid", "vrrp.pid"} {
			_ = os.Remove(filepath.Join(h.routerDir(r), f))
		}
		for _, a := range keepalivedVIPs() {
			_ = exec.Command("ip", "-n", h.ns[r], "-6", "addr", "del", a[0], "dev", a[1]).Run()
		}
	}
}

// keepalivedVIPs are the virtual addresses of haKeepalivedConf, as
// {address/len, interface}.
func keepalivedVIPs() [][2]string {
	_, block, _ := strings.Cut(haKeepalivedConf, "virtual_ipaddress {")
	block, _, _ = strings.Cut(block, "}")
	var out [][2]string
	for l := range strings.Lines(block) {
		if f := strings.Fields(l); len(f) == 3 && f[1] == "dev" {
			out = append(out, [2]string{f[0], f[2]})
		}
	}
	return out
}

// killRadvd kills router r's radvd (baseline only).
func (h *haPair) killRadvd(r string) {
	if !h.keepalived {
		return
	}
	_ = exec.Command(filepath.Join(h.routerDir(r), "notify.sh"), "stop").Run()
}

// capture runs dumpcap on both bridges of the switch namespace until the
// test ends, writing DIR/<prefix>-brT.pcap and -brU.pcap.
func (h *haPair) capture(dir string) {
	t := h.t
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.pcapDir = dir
	for _, br := range []string{"brT", "brU"} {
		f := filepath.Join(dir, h.p+"-"+br+".pcap")
		cmd := exec.Command("ip", "netns", "exec", h.sw, "dumpcap", "-q", "-i", br, "-w", f)
		if err := cmd.Start(); err != nil {
			t.Fatalf("dumpcap: %v", err)
		}
		// A dumpcap that ignores SIGINT must not hold the cleanup (and
		// so the namespaces) until the test times out.
		t.Cleanup(func() { stopWithin(cmd, syscall.SIGINT, 5*time.Second) })
		t.Logf("capturing %s into %s", br, f)
	}
	time.Sleep(500 * time.Millisecond) // dumpcap's start
}

// dumpState logs the neighbours, routes and links of both routers and the
// switch's forwarding entries for the virtual MAC.
func (h *haPair) dumpState(event string, last time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "no echo reply since %s (event %q), at %s:\n", last.Format("15:04:05.000000"), event, time.Now().Format("15:04:05.000000"))
	for _, r := range []string{"a", "b"} {
		for _, c := range [][]string{{"-6", "neigh", "show"}, {"-6", "route", "show"}, {"-br", "link", "show"}, {"-6", "-br", "addr", "show"}} {
			out, _ := exec.Command("ip", append([]string{"-n", h.ns[r]}, c...)...).CombinedOutput()
			fmt.Fprintf(&b, "--- %s: ip %s\n%s", r, strings.Join(c, " "), out)
		}
		for _, c := range []string{"ip6tables-save 2>/dev/null | head -5", "cat /proc/sys/net/ipv6/conf/*/forwarding | tr '\\n' ' '"} {
			out, _ := exec.Command("ip", "netns", "exec", h.ns[r], "sh", "-c", c).CombinedOutput()
			fmt.Fprintf(&b, "--- %s: %s\n%s\n", r, c, out)
		}
	}
	out, _ := exec.Command("ip", "netns", "exec", h.sw, "bridge", "fdb", "show").CombinedOutput()
	fmt.Fprintf(&b, "--- switch fdb\n%s", out)
	h.t.Logf("%s", b.String())
}
