package ha_test

// Namespace integration tests: every router is this test binary re-executed
// in its own network namespace (so kill -9 kills a router and leaves its
// namespace, as a crash leaves the VM), on bridges in a switch namespace:
//
//	                netns <p>sw
//	   bridge <p>U (upstream)        bridge <p>T (tenant)
//	     |            |                |            |          |
//	 <p>rau       <p>rbu           <p>rat       <p>rbt     <p>vmt
//	     |            |                |            |          |
//	   <p>u         <p>u             <p>t         <p>t       <p>t
//	 netns <p>ra  netns <p>rb      (ra)         (rb)     netns <p>vm
//	 router a     router b                               the VM
//
// Everything carries a random prefix <p> and is removed on exit.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ha"
)

// childEnv names the config file a re-executed test binary runs a Group
// from, instead of running tests.
const childEnv = "VROUTER_HA_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(childMain(path))
	}
	os.Exit(m.Run())
}

// childLine is what a child prints on stdout, one JSON object a line.
type childLine struct {
	Transition *ha.Transition `json:"transition,omitempty"`
	Status     *ha.Status     `json:"status,omitempty"`
	Final      bool           `json:"final,omitempty"`
}

// childMain runs one Group in the process's network namespace until
// SIGTERM: transitions and (on SIGUSR1) its status go to stdout, logs to
// stderr.
func childMain(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var cfg config.HA
	if err := json.Unmarshal(b, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(l childLine) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(l)
	}
	g, err := ha.New(&cfg, log, ha.OnTransition(func(tr ha.Transition) { emit(childLine{Transition: &tr}) }))
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	usr := make(chan os.Signal, 1)
	signal.Notify(usr, syscall.SIGUSR1)
	go func() {
		for range usr {
			st := g.Status()
			emit(childLine{Status: &st})
		}
	}()
	err = g.Run(ctx)
	st := g.Status()
	emit(childLine{Status: &st, Final: true})
	if err != nil {
		log.Error("run", "err", err)
		return 1
	}
	return 0
}

func requireRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces need root (CI runs as root)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed (make deps installs it)", tool)
		}
	}
}

// run runs a command with a bounded time and fails the test on error.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runErr(args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// randomPrefix is "vha" and 4 random lowercase letters.
func randomPrefix() string {
	b := make([]byte, 4)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return "vha" + string(b)
}

// topo is the topology of the file comment with the routers named.
type topo struct {
	t       *testing.T
	p       string // random prefix
	sw, vm  string
	routers map[string]string // router name -> namespace
	tIf     string            // tenant interface in routers and VM
	uIf     string            // upstream interface in routers
}

var vmac = ha.VirtualMAC(51).String()

func newTopo(t *testing.T, routers ...string) *topo {
	t.Helper()
	p := randomPrefix()
	tp := &topo{t: t, p: p, sw: p + "sw", vm: p + "vm", routers: map[string]string{}, tIf: p + "t", uIf: p + "u"}
	addNS := func(ns string) {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := runErr("ip", "netns", "del", ns); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		// No DAD delay for the links' own addresses.
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
	}
	addNS(tp.sw)
	addNS(tp.vm)
	for _, br := range []string{p + "T", p + "U"} {
		run(t, "ip", "-n", tp.sw, "link", "add", br, "type", "bridge", "mcast_snooping", "0")
		run(t, "ip", "-n", tp.sw, "link", "set", br, "up")
	}
	attach := func(swPort, bridge, ns, name, mac string) {
		run(t, "ip", "-n", tp.sw, "link", "add", swPort, "type", "veth", "peer", "name", name, "address", mac, "netns", ns)
		run(t, "ip", "-n", tp.sw, "link", "set", swPort, "master", bridge, "up")
		run(t, "ip", "-n", ns, "link", "set", name, "up")
	}
	for i, r := range routers {
		ns := p + "r" + r
		tp.routers[r] = ns
		addNS(ns)
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.forwarding=1")
		attach(tp.port(r, "t"), p+"T", ns, tp.tIf, fmt.Sprintf("fa:16:3e:%02x:00:02", i+1))
		attach(tp.port(r, "u"), p+"U", ns, tp.uIf, fmt.Sprintf("fa:16:3e:%02x:00:01", i+1))
	}
	attach(p+"vmt", p+"T", tp.vm, tp.tIf, "fa:16:3e:33:33:33")
	run(t, "ip", "-n", tp.vm, "addr", "add", "2001:db8:0:2::100/64", "dev", tp.tIf, "nodad")
	return tp
}

// port is the switch-side port of router r's tenant ("t") or upstream
// ("u") link.
func (tp *topo) port(r, link string) string { return tp.p + "r" + r + link }

// haConfig is the HA config of a router in the topology.
func (tp *topo) haConfig(prio uint8, preempt bool, interval time.Duration) *config.HA {
	return &config.HA{
		VRID: 51, Priority: prio, AdvertInterval: interval, Preempt: preempt,
		Interfaces: []config.HAInterface{
			{Name: tp.tIf, VirtualAddresses: []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("2001:db8:0:2::1/64")}},
			{Name: tp.uIf, VirtualAddresses: []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("2001:db8:0:1::fe/64")}},
		},
	}
}

// linkLocal is the kernel link-local address of interface ifname in ns.
func (tp *topo) linkLocal(ns, ifname string) netip.Addr {
	tp.t.Helper()
	var addrs []struct {
		AddrInfo []struct {
			Local string `json:"local"`
			Scope string `json:"scope"`
		} `json:"addr_info"`
	}
	out := run(tp.t, "ip", "-n", ns, "-j", "-6", "addr", "show", "dev", ifname)
	if err := json.Unmarshal([]byte(out), &addrs); err != nil {
		tp.t.Fatalf("ip -j addr: %v: %s", err, out)
	}
	for _, a := range addrs {
		for _, ai := range a.AddrInfo {
			if ai.Scope == "link" {
				return netip.MustParseAddr(ai.Local)
			}
		}
	}
	tp.t.Fatalf("no link-local on %s in %s", ifname, ns)
	return netip.Addr{}
}

// vmNeighbor pings fe80::1 from the VM and returns the MAC the VM's
// neighbour entry for it holds.
func (tp *topo) vmNeighbor() string {
	tp.t.Helper()
	run(tp.t, "ip", "netns", "exec", tp.vm, "ping", "-6", "-c", "1", "-W", "2", "fe80::1%"+tp.tIf)
	out := run(tp.t, "ip", "-n", tp.vm, "-6", "neigh", "show", "fe80::1", "dev", tp.tIf)
	f := strings.Fields(out)
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	tp.t.Fatalf("VM has no neighbour entry for fe80::1: %q", out)
	return ""
}

// watchNeighbor pings fe80::1 from the VM every 20ms and samples the VM's
// neighbour entry for it every 50ms until the returned function is called,
// which returns the MACs seen.
func (tp *topo) watchNeighbor() func() []string {
	tp.t.Helper()
	ping := exec.Command("ip", "netns", "exec", tp.vm, "ping", "-6", "-q", "-i", "0.02", "fe80::1%"+tp.tIf)
	ping.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ping.Start(); err != nil {
		tp.t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan []string)
	go func() {
		seen := map[string]bool{}
		for {
			out, _ := runErr("ip", "-n", tp.vm, "-6", "neigh", "show", "fe80::1", "dev", tp.tIf)
			if f := strings.Fields(out); slices.Contains(f, "lladdr") {
				seen[f[slices.Index(f, "lladdr")+1]] = true
			}
			select {
			case <-stop:
				ping.Process.Kill()
				ping.Wait()
				done <- slices.Sorted(maps.Keys(seen))
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	var seen []string
	get := func() []string {
		once.Do(func() {
			close(stop)
			seen = <-done
		})
		return seen
	}
	tp.t.Cleanup(func() { get() })
	return get
}

// checkVirtualLinks checks the macvlans of router ns: when active, up and
// holding exactly the configured addresses; otherwise down and empty; in
// both cases no kernel link-local, no SLAAC and the pitfall sysctls set.
func (tp *topo) checkVirtualLinks(ns string, active bool, cfg *config.HA) {
	tp.t.Helper()
	for _, in := range cfg.Interfaces {
		idx := strings.TrimSpace(run(tp.t, "ip", "netns", "exec", ns, "cat", "/sys/class/net/"+in.Name+"/ifindex"))
		i, _ := strconv.Atoi(idx)
		name := ha.VirtualLinkName(51, i)
		var links []struct {
			Flags    []string `json:"flags"`
			Address  string   `json:"address"`
			Link     string   `json:"link"`
			AddrInfo []struct {
				Family    string `json:"family"`
				Local     string `json:"local"`
				Prefixlen int    `json:"prefixlen"`
			} `json:"addr_info"`
		}
		out := run(tp.t, "ip", "-n", ns, "-j", "addr", "show", "dev", name)
		if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
			tp.t.Fatalf("ip -j addr show %s: %v: %s", name, err, out)
		}
		l := links[0]
		var got []string
		for _, a := range l.AddrInfo {
			got = append(got, fmt.Sprintf("%s/%d", a.Local, a.Prefixlen))
		}
		var want []string
		if active {
			for _, p := range in.VirtualAddresses {
				want = append(want, p.String())
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			tp.t.Errorf("%s %s (active %v): addresses %v, want %v", ns, name, active, got, want)
		}
		if up := slices.Contains(l.Flags, "UP"); up != active {
			tp.t.Errorf("%s %s: flags %v, want up=%v", ns, name, l.Flags, active)
		}
		if l.Address != vmac || l.Link != in.Name {
			tp.t.Errorf("%s %s: address %s on %s, want %s on %s", ns, name, l.Address, l.Link, vmac, in.Name)
		}
		for key, want := range map[string]string{"addr_gen_mode": "1", "accept_ra": "0", "autoconf": "0", "accept_dad": "0", "forwarding": "1"} {
			got := strings.TrimSpace(run(tp.t, "ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv6/conf/"+name+"/"+key))
			if got != want {
				tp.t.Errorf("%s %s: %s=%s, want %s", ns, name, key, got, want)
			}
		}
	}
}

// haProc is a Group running in a child process in a namespace.
type haProc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	stderr lockedBuffer

	mu      sync.Mutex
	trs     []ha.Transition
	statusC chan ha.Status
	final   *ha.Status
	exitErr error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startHA(t *testing.T, name, ns string, cfg *config.HA) *haProc {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &haProc{t: t, name: name, exited: make(chan struct{}), statusC: make(chan ha.Status, 1)}
	p.cmd = exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), childEnv+"="+path, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l childLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				continue
			}
			p.mu.Lock()
			switch {
			case l.Transition != nil:
				p.trs = append(p.trs, *l.Transition)
			case l.Final:
				p.final = l.Status
			case l.Status != nil:
				select {
				case p.statusC <- *l.Status:
				default:
				}
			}
			p.mu.Unlock()
		}
		err := p.cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("router %s log:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// kill kills the router with SIGKILL: nothing is sent, nothing cleaned up.
func (p *haProc) kill() time.Time {
	at := time.Now()
	p.cmd.Process.Kill()
	<-p.exited
	return at
}

// term stops the router with SIGTERM and checks it exited cleanly.
func (p *haProc) term() time.Time {
	p.t.Helper()
	at := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s did not stop within 10s", p.name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitErr != nil {
		p.t.Fatalf("%s exited: %v\n%s", p.name, p.exitErr, p.stderr.String())
	}
	return at
}

func (p *haProc) transitions() []ha.Transition {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.trs)
}

// lastTo is when the router last went to state s; the zero Time if never.
func (p *haProc) lastTo(s ha.State) time.Time {
	trs := p.transitions()
	for i := len(trs) - 1; i >= 0; i-- {
		if trs[i].To == s {
			return trs[i].At
		}
	}
	return time.Time{}
}

func (p *haProc) state() ha.State {
	trs := p.transitions()
	if len(trs) == 0 {
		return ha.StateInitialize
	}
	return trs[len(trs)-1].To
}

// waitState waits until the router's last transition is to s, after
// since, and returns when it happened.
func (p *haProc) waitState(s ha.State, since time.Time, timeout time.Duration) time.Time {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		trs := p.transitions()
		if n := len(trs); n > 0 && trs[n-1].To == s && !trs[n-1].At.Before(since) {
			return trs[n-1].At
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not %s within %v; transitions %+v\nlog:\n%s", p.name, s, timeout, trs, p.stderr.String())
		}
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited: %v\n%s", p.name, p.exitErr, p.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// status asks the router for its status.
func (p *haProc) status() ha.Status {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case st := <-p.statusC:
		return st
	case <-time.After(5 * time.Second):
		p.t.Fatalf("%s: no status", p.name)
		return ha.Status{}
	}
}

// capture runs dumpcap on every interface of namespace ns, in Linux
// cooked v2 headers that say on which interface and in which direction a
// frame passed.
type capture struct {
	cmd    *exec.Cmd
	ns     string
	file   string
	done   chan struct{}
	ifaces map[string]string // ifindex -> name
}

func startCapture(t *testing.T, ns string) *capture {
	t.Helper()
	c := &capture{ns: ns, file: filepath.Join(t.TempDir(), "cap.pcapng"), done: make(chan struct{})}
	c.cmd = exec.Command("ip", "netns", "exec", ns, "dumpcap", "-q", "-i", "any", "-y", "LINUX_SLL2", "-w", c.file)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Capturing on") {
				close(started)
				break
			}
		}
		io.Copy(io.Discard, stderr)
		c.cmd.Wait()
		close(c.done)
	}()
	select {
	case <-started:
	case <-c.done:
		t.Fatal("dumpcap exited before capturing")
	case <-time.After(10 * time.Second):
		t.Fatal("dumpcap did not start")
	}
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	var links []struct {
		Index int    `json:"ifindex"`
		Name  string `json:"ifname"`
	}
	out := run(t, "ip", "-n", ns, "-j", "link", "show")
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("ip -j link: %v", err)
	}
	c.ifaces = map[string]string{}
	for _, l := range links {
		c.ifaces[strconv.Itoa(l.Index)] = l.Name
	}
	return c
}

// frames stops the capture and decodes it with tshark.
func (c *capture) frames(t *testing.T) []frame {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("dumpcap did not stop")
	}
	fields := []string{"frame.time_epoch", "sll.ifindex", "sll.pkttype", "sll.src.eth", "ipv6.src", "ipv6.hlim",
		"vrrp.version", "vrrp.type", "vrrp.prio", "vrrp.checksum.status", "icmpv6.type",
		"icmpv6.nd.na.flag.r", "icmpv6.nd.na.flag.s", "icmpv6.nd.na.flag.o", "icmpv6.opt.linkaddr"}
	args := []string{"tshark", "-r", c.file, "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	var frames []frame
	for _, line := range strings.Split(strings.TrimSpace(run(t, args...)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != len(fields) {
			continue
		}
		sec, _ := strconv.ParseFloat(f[0], 64)
		frames = append(frames, frame{
			at:    time.Unix(0, int64(sec*1e9)),
			iface: c.ifaces[f[1]], inbound: f[2] != "4", src: f[3], ipSrc: f[4], hlim: f[5],
			vrrp: f[6] != "", version: f[6], typ: f[7], prio: f[8], csum: f[9],
			icmpType: f[10], naFlags: f[11] + f[12] + f[13], tlla: f[14],
		})
	}
	if len(frames) == 0 {
		t.Fatalf("no frames in %s", c.file)
	}
	return frames
}

// frame is one captured frame as tshark decodes it.
type frame struct {
	at                time.Time
	iface, src, ipSrc string
	// inbound: received on iface (not PACKET_OUTGOING); on a switch port,
	// sent by what is behind it.
	inbound            bool
	hlim               string
	vrrp               bool
	version, typ, prio string
	csum               string // vrrp.checksum.status: 1 good
	icmpType           string
	naFlags            string // R, S, O of an NA
	tlla               string
}

// activeWindows are the times a router was Active, from its transitions;
// an open window ends at end. After a clean stop the virtual links stay up
// (the kernel answers solicitations from the virtual MAC) until the peer
// is heard Active, for at most the drain bound at interval.
func activeWindows(trs []ha.Transition, end time.Time) [][2]time.Time {
	var ws [][2]time.Time
	for i, tr := range trs {
		if tr.To != ha.StateActive {
			continue
		}
		to := end
		if i+1 < len(trs) {
			to = trs[i+1].At
			if trs[i+1].Reason == "stopped" {
				to = to.Add(min(downAt(1), time.Second))
			}
		}
		ws = append(ws, [2]time.Time{tr.At, to})
	}
	return ws
}

func inWindows(at time.Time, ws [][2]time.Time, slack time.Duration) bool {
	for _, w := range ws {
		if !at.Before(w[0]) && !at.After(w[1].Add(slack)) {
			return true
		}
	}
	return false
}

const (
	interval = 100 * time.Millisecond
	// slack for process scheduling on a shared, -race-instrumented host.
	slack = 200 * time.Millisecond
)

func skewAt(prio int) time.Duration { return time.Duration(256-prio) * interval / 256 }
func downAt(prio int) time.Duration { return 3*interval + skewAt(prio) }

// TestNetnsFailover runs two routers and a VM and goes through the
// failovers: start, kill -9, preemption back, SIGTERM, a link down, and
// checks the wire throughout.
func TestNetnsFailover(t *testing.T) {
	requireRoot(t, "dumpcap", "tshark", "ping")
	tp := newTopo(t, "a", "b")
	cap := startCapture(t, tp.sw)
	cfgA, cfgB := tp.haConfig(200, true, interval), tp.haConfig(100, true, interval)
	var lls []netip.Addr
	for _, ns := range tp.routers {
		lls = append(lls, tp.linkLocal(ns, tp.tIf), tp.linkLocal(ns, tp.uIf))
	}
	llA := tp.linkLocal(tp.routers["a"], tp.tIf)
	start := time.Now()
	a := startHA(t, "a", tp.routers["a"], cfgA)
	a.waitState(ha.StateActive, start, 10*time.Second)
	b := startHA(t, "b", tp.routers["b"], cfgB)
	b.waitState(ha.StateBackup, start, 10*time.Second)
	time.Sleep(5 * interval)
	if trs := b.transitions(); len(trs) != 1 || a.state() != ha.StateActive {
		t.Fatalf("a %s; b's transitions %+v", a.state(), trs)
	}
	tp.checkVirtualLinks(tp.routers["a"], true, cfgA)
	tp.checkVirtualLinks(tp.routers["b"], false, cfgB)
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s, want %s", mac, vmac)
	}
	run(t, "ip", "netns", "exec", tp.vm, "ping", "-6", "-c", "1", "-W", "2", "2001:db8:0:2::1")
	macs := tp.watchNeighbor()
	st := b.status()
	if in := st.Instances[0]; in.Peer == nil || in.Peer.Address != llA || in.Peer.Priority != 200 || in.Peer.AdvertIntervalMS != interval.Milliseconds() {
		t.Errorf("b's view of its peer: %+v", in.Peer)
	}

	// kill -9: b takes over within its Active_Down_Interval.
	killed := a.kill()
	took := b.waitState(ha.StateActive, killed, 5*time.Second).Sub(killed)
	t.Logf("kill -9 of the Active: b Active after %v (Active_Down_Interval %v)", took, downAt(100))
	if took > downAt(100)+slack {
		t.Errorf("b took over %v after kill -9, want within Active_Down_Interval %v (+%v)", took, downAt(100), slack)
	}
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s after the failover", mac)
	}

	// Restarted, a takes its virtual links over as they were left (up,
	// with addresses), resets them, and preempts b.
	restart := time.Now()
	a = startHA(t, "a2", tp.routers["a"], cfgA)
	if trs := a.transitions(); len(trs) > 0 && trs[0].To == ha.StateActive {
		t.Fatalf("restarted a went Active at once: %+v", trs)
	}
	at := a.waitState(ha.StateActive, restart, 5*time.Second)
	yielded := b.waitState(ha.StateBackup, restart, 5*time.Second)
	t.Logf("preemption back: a Active %v after its restart; b Backup %v after that", at.Sub(restart), yielded.Sub(at))
	if d := yielded.Sub(at); d > interval+slack {
		t.Errorf("both Active for %v during preemption", d)
	}
	tp.checkVirtualLinks(tp.routers["b"], false, cfgB)
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s after preemption", mac)
	}

	// SIGTERM: priority 0, b takes over after its Skew_Time.
	// Timed from a's stop (its priority 0 follows at once), not from
	// the signal, which a loaded host may deliver late.
	termed := a.term()
	resigned := a.lastTo(ha.StateInitialize)
	took = b.waitState(ha.StateActive, termed, 5*time.Second).Sub(resigned)
	t.Logf("SIGTERM of the Active: a resigned %v after the signal, b Active %v after that (Skew_Time %v)", resigned.Sub(termed), took, skewAt(100))
	if took < skewAt(100) || took > skewAt(100)+slack {
		t.Errorf("b took over %v after a's priority 0, want Skew_Time %v (+%v)", took, skewAt(100), slack)
	}
	// A clean stop removes the virtual links.
	if out := run(t, "ip", "-n", tp.routers["a"], "-o", "link", "show", "type", "macvlan"); strings.TrimSpace(out) != "" {
		t.Errorf("virtual links left after SIGTERM:\n%s", out)
	}
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s after SIGTERM", mac)
	}

	restart = time.Now()
	a = startHA(t, "a3", tp.routers["a"], cfgA)
	a.waitState(ha.StateActive, restart, 5*time.Second)
	b.waitState(ha.StateBackup, restart, 5*time.Second)

	// The tenant link of the Active goes down: a gives way on both links,
	// b takes both over after Skew_Time.
	down := time.Now()
	run(t, "ip", "-n", tp.routers["a"], "link", "set", tp.tIf, "down")
	bActive := b.waitState(ha.StateActive, down, 5*time.Second)
	gaveWay := a.waitState(ha.StateInitialize, down, 5*time.Second)
	took = bActive.Sub(gaveWay)
	t.Logf("tenant link of the Active down: a gave way %v after the command, b Active %v after that", gaveWay.Sub(down), took)
	if took > skewAt(100)+slack {
		t.Errorf("b took over %v after a gave way, want Skew_Time %v (+%v)", took, skewAt(100), slack)
	}
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s with a's link down", mac)
	}
	up := time.Now()
	run(t, "ip", "-n", tp.routers["a"], "link", "set", tp.tIf, "up")
	a.waitState(ha.StateActive, up, 5*time.Second)
	b.waitState(ha.StateBackup, up, 5*time.Second)
	tp.checkVirtualLinks(tp.routers["a"], true, cfgA)
	tp.checkVirtualLinks(tp.routers["b"], false, cfgB)

	if seen := macs(); len(seen) != 1 || seen[0] != vmac {
		t.Errorf("the VM's neighbour entry for fe80::1 held %v, want only %s", seen, vmac)
	}
	a.term()
	end := b.term()
	frames := cap.frames(t)
	checkWire(t, tp, frames, map[string][]ha.Transition{"b": b.transitions()}, end, nil, lls...)
	for _, st := range []*ha.Status{b.final} {
		for _, in := range st.Instances {
			if len(in.AdvertsDropped) != 0 || in.SendErrors != 0 {
				t.Errorf("b %s: dropped %v, %d send errors", in.Interface, in.AdvertsDropped, in.SendErrors)
			}
		}
	}
}

// checkWire checks the frames the routers sent: every VRRP advert is
// valid VRRPv3 for tshark, sent with hop limit 255 from a router's
// link-local address and the virtual MAC (or one of others: keepalived's);
// every frame from the virtual MAC of a router whose transitions are given
// falls within its Active periods; NAs carry R and O and the virtual MAC.
func checkWire(t *testing.T, tp *topo, frames []frame, trs map[string][]ha.Transition, end time.Time, others []string, lls ...netip.Addr) {
	t.Helper()
	var adverts, nas int
	for _, f := range frames {
		if !f.inbound || !strings.HasPrefix(f.iface, tp.p+"r") {
			continue // each frame once: as it enters the switch from a router
		}
		if f.vrrp {
			adverts++
			if f.version != "3" || f.typ != "1" || f.csum != "1" || f.hlim != "255" || (f.src != vmac && !slices.Contains(others, f.src)) {
				t.Errorf("advert at %v on %s: version %s type %s checksum status %s hop limit %s from %s",
					f.at, f.iface, f.version, f.typ, f.csum, f.hlim, f.src)
			}
			if ip, err := netip.ParseAddr(f.ipSrc); err != nil || !slices.Contains(lls, ip) {
				t.Errorf("advert from %s, not a router's link-local %v", f.ipSrc, lls)
			}
		}
		if f.src == vmac && f.icmpType == "136" {
			// Ours are unsolicited (S=0), the kernel's answers to
			// NS solicited; R and O always.
			if f.naFlags == "101" {
				nas++
			}
			if f.naFlags != "101" && f.naFlags != "111" || f.tlla != vmac {
				t.Errorf("NA from the virtual MAC: flags R,S,O %q, target link-layer %s", f.naFlags, f.tlla)
			}
		}
		for r, tr := range trs {
			if f.src == vmac && strings.HasPrefix(f.iface, tp.p+"r"+r) && !inWindows(f.at, activeWindows(tr, end), 50*time.Millisecond) {
				t.Errorf("%s sent from the virtual MAC at %v on %s while not Active (vrrp %v icmpv6 %s)", r, f.at, f.iface, f.vrrp, f.icmpType)
			}
		}
	}
	if adverts == 0 || nas == 0 {
		t.Errorf("captured %d adverts and %d NAs from the virtual MAC", adverts, nas)
	}
	t.Logf("checked %d frames: %d adverts, %d NAs from the virtual MAC", len(frames), adverts, nas)
}

// TestNetnsSplitBrain drops the adverts between the two routers with
// nftables in their namespaces: both go Active; once healed, exactly one
// is Active again within one advert interval.
func TestNetnsSplitBrain(t *testing.T) {
	requireRoot(t, "nft")
	tp := newTopo(t, "a", "b")
	cfgA, cfgB := tp.haConfig(200, true, interval), tp.haConfig(100, true, interval)
	start := time.Now()
	a := startHA(t, "a", tp.routers["a"], cfgA)
	b := startHA(t, "b", tp.routers["b"], cfgB)
	a.waitState(ha.StateActive, start, 10*time.Second)
	b.waitState(ha.StateBackup, start, 10*time.Second)

	table := tp.p + "sb"
	for _, ns := range tp.routers {
		run(t, "ip", "netns", "exec", ns, "nft", "add", "table", "inet", table)
		t.Cleanup(func() { runErr("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", table) })
		run(t, "ip", "netns", "exec", ns, "nft", "add", "chain", "inet", table, "in", "{ type filter hook input priority 0; policy accept; }")
		run(t, "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", table, "in", "meta", "l4proto", "112", "drop")
	}
	split := time.Now()
	b.waitState(ha.StateActive, split, 5*time.Second)
	if a.state() != ha.StateActive {
		t.Fatalf("a %s during the split", a.state())
	}
	time.Sleep(3 * interval)
	// b can hear a only once its own table is gone: that is the heal.
	run(t, "ip", "netns", "exec", tp.routers["a"], "nft", "delete", "table", "inet", table)
	heal := time.Now()
	run(t, "ip", "netns", "exec", tp.routers["b"], "nft", "delete", "table", "inet", table)
	took := b.waitState(ha.StateBackup, heal, 5*time.Second).Sub(heal)
	t.Logf("split brain healed: b Backup after %v", took)
	if took > interval+slack {
		t.Errorf("two Active routers for %v after healing, want at most one advert interval %v (+%v)", took, interval, slack)
	}
	time.Sleep(5 * interval)
	if a.state() != ha.StateActive || b.state() != ha.StateBackup {
		t.Fatalf("after healing: a %s, b %s", a.state(), b.state())
	}
	tp.checkVirtualLinks(tp.routers["b"], false, cfgB)
	if mac := tp.vmNeighbor(); mac != vmac {
		t.Fatalf("VM resolves fe80::1 to %s after the split", mac)
	}
}
