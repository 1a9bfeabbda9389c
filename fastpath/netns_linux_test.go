package fastpath_test

// Namespace integration tests (root). Topology, names randomised per test:
//
//	[ns G] gA ------ rA [ns R: fast path on rA, rB] rB ------ sB [ns S]
//	2001:db8:a::2/64    2001:db8:a::1     2001:db8:b::1         2001:db8:b::2/64
//
// The router runs in a child process (this test binary re-executed under
// `ip netns exec`, TestHelperRouter) so that every socket and netlink
// subscription of the engine lives in ns R. The test itself opens AF_PACKET
// sockets in G and S by switching a locked thread's namespace.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	goio "io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath"
	"github.com/vrouter/vrouter/fastpath/fastpathtest"
	"github.com/vrouter/vrouter/internal/netns"
)

const (
	helperEnv     = "VROUTER_FASTPATH_HELPER_IFACES"
	helperCPUsEnv = "VROUTER_FASTPATH_HELPER_CPUS" // "0", "0,1": pinned, threaded NAPI
	helperIOEnv   = "VROUTER_FASTPATH_HELPER_IO"   // fastpath.io; "": auto
)

// TestHelperRouter is not a test: it is the router child process.
func TestHelperRouter(t *testing.T) {
	ifaces := os.Getenv(helperEnv)
	if ifaces == "" {
		t.Skip("helper process for the namespace tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg := config.Fastpath{Enabled: true, Interfaces: strings.Split(ifaces, ","), IO: os.Getenv(helperIOEnv)}
	for _, c := range strings.Split(os.Getenv(helperCPUsEnv), ",") {
		if c == "" {
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		cfg.CPUs = append(cfg.CPUs, n)
	}
	e, err := fastpath.New(cfg, nil, fastpath.WithReady(func() { fmt.Println("READY") }))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	if err := e.Run(ctx); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(e.Stats())
	fmt.Printf("STATS %s\n", b)
	os.Exit(0)
}

type topo struct {
	t       *testing.T
	prefix  string
	g, r, s string // namespaces
	gA, rA  string
	rB, sB  string
	macRA   net.HardwareAddr
	macGA   net.HardwareAddr
	cpu     string   // the router's CPU ("": not pinned, softirq receive)
	io      string   // fastpath.io ("": auto)
	caps    []string // run the router with only these capabilities (setpriv names, e.g. "net_admin"); nil: all of root's
	gAddr   netip.Addr
	sAddr   netip.Addr
	router  *os.Process // the running router child, for kill
	killed  bool        // the router was killed: its exit is no error
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	return newTopoQueues(t, 1)
}

// newTopoQueues is newTopo with veths of queues receive and transmit
// queues.
func newTopoQueues(t *testing.T, queues int) *topo {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("namespace test: needs root (network namespaces, AF_PACKET, tc)")
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	p := "fp" + hex.EncodeToString(rnd[:])
	tp := &topo{t: t, prefix: p, g: p + "-g", r: p + "-r", s: p + "-s",
		gA: p + "gA", rA: p + "rA", rB: p + "rB", sB: p + "sB",
		gAddr: netip.MustParseAddr("2001:db8:a::2"), sAddr: netip.MustParseAddr("2001:db8:b::2")}
	for _, ns := range []string{tp.g, tp.r, tp.s} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	sys := func(ns, k, v string) { run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", k+"="+v) }
	for _, ns := range []string{tp.g, tp.r, tp.s} {
		sys(ns, "net.ipv6.conf.all.accept_dad", "0")
		sys(ns, "net.ipv6.conf.default.accept_dad", "0")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sys(tp.r, "net.ipv6.conf.all.forwarding", "1")
	q := []string{"numrxqueues", strconv.Itoa(queues), "numtxqueues", strconv.Itoa(queues)}
	run(t, append(append([]string{"ip", "link", "add", tp.gA, "netns", tp.g}, q...), append([]string{"type", "veth", "peer", "name", tp.rA, "netns", tp.r}, q...)...)...)
	run(t, append(append([]string{"ip", "link", "add", tp.sB, "netns", tp.s}, q...), append([]string{"type", "veth", "peer", "name", tp.rB, "netns", tp.r}, q...)...)...)
	for _, x := range [][3]string{{tp.g, tp.gA, "2001:db8:a::2/64"}, {tp.r, tp.rA, "2001:db8:a::1/64"}, {tp.r, tp.rB, "2001:db8:b::1/64"}, {tp.s, tp.sB, "2001:db8:b::2/64"}} {
		run(t, "ip", "-n", x[0], "addr", "add", x[2], "dev", x[1], "nodad")
		run(t, "ip", "-n", x[0], "link", "set", x[1], "up")
	}
	run(t, "ip", "-n", tp.g, "-6", "route", "add", "default", "via", "2001:db8:a::1")
	run(t, "ip", "-n", tp.s, "-6", "route", "add", "default", "via", "2001:db8:b::1")
	tp.macRA = linkMAC(t, tp.r, tp.rA)
	tp.macGA = linkMAC(t, tp.g, tp.gA)
	return tp
}

func linkMAC(t *testing.T, ns, link string) net.HardwareAddr {
	out := run(t, "ip", "-n", ns, "-br", "link", "show", link)
	f := strings.Fields(out)
	mac, err := net.ParseMAC(f[2])
	if err != nil {
		t.Fatalf("MAC of %s: %q", link, out)
	}
	return mac
}

// startRouter runs the fast path in ns R and returns a function that stops
// it and returns its counters.
func (tp *topo) startRouter() func() fastpath.Stats {
	t := tp.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, "ip", append(append([]string{"netns", "exec", tp.r}, setpriv(tp.caps)...),
		os.Args[0], "-test.run=^TestHelperRouter$", "-test.v=false")...)
	cmd.Env = append(os.Environ(), helperEnv+"="+tp.rA+","+tp.rB, helperCPUsEnv+"="+tp.cpu, helperIOEnv+"="+tp.io)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	stopped := false
	var stats fastpath.Stats
	stop := func() fastpath.Stats {
		if stopped {
			return stats
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		for l := range lines {
			if j, ok := strings.CutPrefix(l, "STATS "); ok {
				if err := json.Unmarshal([]byte(j), &stats); err != nil {
					t.Errorf("router stats %q: %v", j, err)
				}
			}
		}
		if err := cmd.Wait(); err != nil && !tp.killed {
			t.Errorf("router: %v\n%s", err, stderr.String())
		}
		cancel()
		return stats
	}
	tp.router = cmd.Process
	t.Cleanup(func() { stop() })
	select {
	case l := <-lines:
		if l != "READY" {
			t.Fatalf("router: %q\n%s", l, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("router not ready\n%s", stderr.String())
	}
	return stop
}

// inNS runs f on a thread switched into namespace ns (sockets f creates
// stay in ns).
func inNS(t *testing.T, ns string, f func() error) {
	t.Helper()
	if err := netns.Do(ns, f); err != nil {
		t.Fatal(err)
	}
}

// packetSocket opens an AF_PACKET socket on link in ns.
func packetSocket(t *testing.T, ns, link string) int {
	t.Helper()
	var fd int
	inNS(t, ns, func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	t.Cleanup(func() { unix.Close(fd) })
	// Room for a burst: frames the XDP tier redirects arrive in
	// page-sized buffers, and 200 of them overflow the default.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	tv := unix.Timeval{Usec: 100000}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// allIO are the datapaths every namespace test runs on: the XDP tier,
// AF_XDP and AF_PACKET.
var allIO = []string{config.FastpathIOXDP, config.FastpathIOAFXDP, config.FastpathIOPacket}

// sinkFrames reads IPv6/UDP frames arriving on fd (for the test's UDP port
// 2000 only) until d has passed.
func sinkFrames(fd int, d time.Duration) [][]byte {
	var got [][]byte
	buf := make([]byte, 10000)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f := buf[:n]
		if n >= 14+48 && binary.BigEndian.Uint16(f[12:]) == 0x86dd && f[14+6] == 17 && binary.BigEndian.Uint16(f[14+42:]) == 2000 {
			got = append(got, bytes.Clone(f))
		}
	}
	return got
}

func TestNamespaceForwardingNoDuplicates(t *testing.T) {
	for _, io := range allIO {
		t.Run(io, func(t *testing.T) { testNoDuplicatesModes(t, io) })
	}
}

func testNoDuplicatesModes(t *testing.T, io string) {
	t.Run("softirq", func(t *testing.T) {
		tp := newTopo(t)
		tp.io = io
		testNoDuplicates(t, tp)
	})
	t.Run("threaded-napi", func(t *testing.T) {
		// CPUs configured: threaded NAPI with RPS off and GRO that merges
		// nothing, all undone at exit.
		tp := newTopo(t)
		tp.cpu = "0"
		tp.io = io
		// veth hands frames to the receiver's NAPI only from a sender
		// without TSO.
		inNS(t, tp.g, func() error { return tsoOff(tp.gA) })
		sysfs := func(f string) string {
			return strings.TrimSpace(run(t, "ip", "netns", "exec", tp.r, "cat", "/sys/class/net/"+tp.rA+"/"+f))
		}
		groMax := func() string {
			f := strings.Fields(run(t, "ip", "-n", tp.r, "-d", "link", "show", tp.rA))
			if i := slices.Index(f, "gro_max_size"); i >= 0 && i+1 < len(f) {
				return f[i+1]
			}
			t.Fatalf("no gro_max_size for %s: %q", tp.rA, f)
			return ""
		}
		run(t, "ip", "netns", "exec", tp.r, "sh", "-c", "echo 1 > /sys/class/net/"+tp.rA+"/queues/rx-0/rps_cpus")
		before := []string{sysfs("threaded"), sysfs("queues/rx-0/rps_cpus"), groMax()}
		// The XDP tier's NAPI threads run at DefaultTierNAPINice (nothing
		// else forwards their frames), the userspace datapaths' at the
		// workers' DefaultNAPINice.
		wantNice := fastpath.DefaultNAPINice
		if io == config.FastpathIOXDP {
			wantNice = fastpath.DefaultTierNAPINice
		}
		var napiPids []int
		testNoDuplicates(t, tp, func() {
			during := []string{sysfs("threaded"), sysfs("queues/rx-0/rps_cpus"), groMax()}
			if want := []string{"1", "0", "0"}; !slices.Equal(during, want) {
				t.Errorf("while running: threaded, rps_cpus, gro_max_size = %q, want %q", during, want)
			}
			napiPids = napiThreadsOf(t, tp.rA)
			for _, pid := range napiPids {
				if got := niceOf(t, pid); got != wantNice {
					t.Errorf("while running: NAPI thread %d of %s has nice %d, want %d", pid, tp.rA, got, wantNice)
				}
			}
		})
		if after := []string{sysfs("threaded"), sysfs("queues/rx-0/rps_cpus"), groMax()}; !slices.Equal(after, before) {
			t.Errorf("after the router stopped: threaded, rps_cpus, gro_max_size = %q, want %q as before", after, before)
		}
		// Threaded NAPI is off again, so the threads are gone; none of
		// them may be left with the tier's priority.
		for _, pid := range napiPids {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(b), "napi/") {
				if got := niceOf(t, pid); got != 0 {
					t.Errorf("after the router stopped: NAPI thread %d has nice %d, want 0", pid, got)
				}
			}
		}
	})
}

// napiThreadsOf returns the pids of dev's NAPI threads ("napi/DEV-ID", the
// comm cut to 15 characters), failing the test when there is none.
func napiThreadsOf(t *testing.T, dev string) []int {
	t.Helper()
	prefix := "napi/" + dev + "-"
	if len(prefix) > 15 {
		prefix = prefix[:15]
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.HasPrefix(string(b), prefix) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		t.Fatalf("no NAPI thread of %s", dev)
	}
	return pids
}

// niceOf returns the nice value of process pid.
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, pid)
	if err != nil {
		t.Fatalf("priority of %d: %v", pid, err)
	}
	return 20 - p // getpriority(2) returns 20 - nice
}

// groOf returns whether GRO is on on link in namespace ns.
func groOf(t *testing.T, ns, link string) bool {
	t.Helper()
	var on bool
	inNS(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		v := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_GGRO}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], link)
		ifr.data = unsafe.Pointer(&v)
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
			return fmt.Errorf("%s: read GRO: %w", link, e)
		}
		on = v.data != 0
		return nil
	})
	return on
}

// tsoOff turns TCP segmentation offload of link off (ethtool -K link tso
// off) in the calling thread's namespace.
func tsoOff(link string) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STSO}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], link)
	ifr.data = unsafe.Pointer(&v)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return fmt.Errorf("%s: TSO off: %w", link, e)
	}
	return nil
}

// testNoDuplicates sends frames through a fast path in tp and checks each
// arrives exactly once, unchanged but for MACs and hop limit. running, if
// set, is called while the router runs.
func testNoDuplicates(t *testing.T, tp *topo, running ...func()) {
	sinkGRO := groOf(t, tp.s, tp.sB)
	stop := tp.startRouter()
	if tp.io == config.FastpathIOXDP && !groOf(t, tp.s, tp.sB) {
		t.Errorf("GRO of the veth peer %s is off while the XDP tier runs: redirects into %s need NAPI there", tp.sB, tp.rB)
	}
	for _, f := range running {
		f()
	}
	gfd := packetSocket(t, tp.g, tp.gA)
	sfd := packetSocket(t, tp.s, tp.sB)

	frame := func(seq int) []byte {
		payload := []byte(fmt.Sprintf("seq %04d %s", seq, strings.Repeat("x", 20)))
		return fastpathtest.UDPFrame(tp.macRA, tp.macGA, tp.gAddr, tp.sAddr, 64, payload)
	}
	send := func(f []byte) {
		if _, err := unix.Write(gfd, f); err != nil {
			t.Fatal(err)
		}
	}
	// The first frames make the fast path ask the kernel to resolve S.
	deadline := time.Now().Add(5 * time.Second)
	for {
		send(frame(9999))
		if len(sinkFrames(sfd, 50*time.Millisecond)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no frame reached the sink within 5s")
		}
	}
	time.Sleep(100 * time.Millisecond)
	sinkFrames(sfd, 50*time.Millisecond) // drain

	const n = 200
	sent := map[string][]byte{}
	for i := range n {
		f := frame(i)
		sent[string(f[14+48:14+56])] = f
		send(f)
	}
	got := sinkFrames(sfd, 500*time.Millisecond)
	seen := map[string]int{}
	macSB := linkMAC(t, tp.s, tp.sB)
	macRB := linkMAC(t, tp.r, tp.rB)
	for _, g := range got {
		key := string(g[14+48 : 14+56])
		seen[key]++
		want := bytes.Clone(sent[key])
		if want == nil {
			t.Errorf("unexpected frame %x", g)
			continue
		}
		copy(want[0:6], macSB)
		copy(want[6:12], macRB)
		want[14+7]--
		if !bytes.Equal(g, want) {
			t.Errorf("frame %q differs beyond MACs and hop limit:\n got %x\nwant %x", key, g, want)
		}
	}
	for key := range sent {
		if seen[key] != 1 {
			t.Errorf("frame %q arrived %d times, want exactly once", key, seen[key])
		}
	}
	s := stop()
	// Nothing of the claim is left behind: no XDP program, no ingress
	// qdisc on the router's links.
	for _, l := range []string{tp.rA, tp.rB} {
		if out := run(t, "ip", "-n", tp.r, "-d", "link", "show", l); strings.Contains(out, "prog/xdp") || strings.Contains(out, " xdp") {
			t.Errorf("%s still has an XDP program after the router stopped:\n%s", l, out)
		}
		if out := run(t, "tc", "-n", tp.r, "qdisc", "show", "dev", l, "ingress"); strings.TrimSpace(out) != "" {
			t.Errorf("%s still has an ingress qdisc after the router stopped:\n%s", l, out)
		}
	}
	if gro := groOf(t, tp.s, tp.sB); tp.io == config.FastpathIOXDP && gro != sinkGRO {
		t.Errorf("GRO of the veth peer %s is %v after the router stopped, want %v as before", tp.sB, gro, sinkGRO)
	}
	if s.Forwarded < n {
		t.Errorf("fast path forwarded %d, want ≥ %d (the kernel forwarded the rest?)", s.Forwarded, n)
	}
	if s.Dropped[fastpath.DropNoNeighbour] == 0 {
		t.Logf("note: S was resolved before the first frame")
	}
	t.Logf("stats: %+v", s)
}

func TestNamespaceTraceroute(t *testing.T) {
	for _, io := range allIO {
		t.Run(io, func(t *testing.T) { testTraceroute(t, io) })
	}
}

// testTraceroute: with AF_XDP the hop-limit-1 probes never reach the fast
// path; the XDP program counts them (ToKernel) as the classifier does.
func testTraceroute(t *testing.T, io string) {
	tp := newTopo(t)
	tp.io = io
	stop := tp.startRouter()
	// The fast path drops a packet whose next hop is not resolved yet (it
	// asks the kernel to resolve it): resolve S first, as for tracepath.
	run(t, "ip", "netns", "exec", tp.r, "ping", "-6", "-c", "1", "-W", "2", tp.sAddr.String())
	out, err := exec.Command("ip", "netns", "exec", tp.g, "traceroute6", "-n", "-q", "1", "-w", "2", "-m", "3", tp.sAddr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("traceroute6: %v\n%s", err, out)
	}
	hops := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			hops[f[0]] = f[1]
		}
	}
	if hops["1"] != "2001:db8:a::1" || hops["2"] != tp.sAddr.String() {
		t.Errorf("traceroute6 hops %v, want 1: 2001:db8:a::1, 2: %s\n%s", hops, tp.sAddr, out)
	}
	s := stop()
	if s.ToKernel[fastpath.KernelHopLimit] == 0 || s.Forwarded == 0 {
		t.Errorf("hop-limit-1 probes to kernel %d, forwarded %d: want both > 0", s.ToKernel[fastpath.KernelHopLimit], s.Forwarded)
	}
}

// TestNamespaceTracepathLearnsMTU: a packet larger than the egress MTU
// draws a Packet Too Big — from the userspace datapaths themselves, from the
// kernel when the XDP tier passes the packet on.
func TestNamespaceTracepathLearnsMTU(t *testing.T) {
	for _, io := range allIO {
		t.Run(io, func(t *testing.T) { testTracepathLearnsMTU(t, io) })
	}
}

func testTracepathLearnsMTU(t *testing.T, io string) {
	tp := newTopo(t)
	tp.io = io
	run(t, "ip", "-n", tp.r, "link", "set", tp.rB, "mtu", "1400")
	run(t, "ip", "-n", tp.s, "link", "set", tp.sB, "mtu", "1400")
	stop := tp.startRouter()
	// Resolve S from the router first so no probe is lost to resolution.
	run(t, "ip", "netns", "exec", tp.r, "ping", "-6", "-c", "1", "-W", "2", tp.sAddr.String())
	out, _ := exec.Command("ip", "netns", "exec", tp.g, "tracepath", "-6", "-n", "-m", "4", tp.sAddr.String()).CombinedOutput()
	if !strings.Contains(string(out), "pmtu 1400") {
		t.Errorf("tracepath did not learn pmtu 1400:\n%s", out)
	}
	s := stop()
	if io == config.FastpathIOXDP {
		if s.ToKernel[fastpath.KernelTooBig] == 0 {
			t.Errorf("the XDP tier left no too-big packet to the kernel (stats %+v)", s)
		}
		return
	}
	if s.PacketTooBig == 0 {
		t.Errorf("the fast path sent no Packet Too Big (stats %+v)", s)
	}
}

// TestNamespaceMalformedFrames: the router keeps forwarding after
// malformed frames, and counts each where it belongs. The ingress MTU is
// 9000 for the userspace datapaths (the jumbo frame is cut to the receive
// buffer) and 3400 for the XDP tier (native XDP takes a frame in a page).
func TestNamespaceMalformedFrames(t *testing.T) {
	for _, io := range allIO {
		t.Run(io, func(t *testing.T) { testMalformedFrames(t, io) })
	}
}

func testMalformedFrames(t *testing.T, io string) {
	tp := newTopo(t)
	tp.io = io
	mtu, jumbo := "9000", 8000
	if io == config.FastpathIOXDP {
		mtu, jumbo = "3400", 3300
	} else {
		// Neither native XDP nor an AF_XDP chunk takes 9000 bytes: the
		// ingress is on AF_PACKET whatever io says.
		tp.io = config.FastpathIOPacket
	}
	run(t, "ip", "-n", tp.g, "link", "set", tp.gA, "mtu", mtu)
	run(t, "ip", "-n", tp.r, "link", "set", tp.rA, "mtu", mtu)
	stop := tp.startRouter()
	gfd := packetSocket(t, tp.g, tp.gA)
	sfd := packetSocket(t, tp.s, tp.sB)
	good := func(hop uint8, n int) []byte {
		return fastpathtest.UDPFrame(tp.macRA, tp.macGA, tp.gAddr, tp.sAddr, hop, make([]byte, n))
	}
	mod := func(f []byte, m func([]byte)) []byte { m(f); return f }
	extChain := func() []byte {
		// 30 Destination Options headers (8 bytes each), then UDP.
		f := good(64, 8)
		var chain []byte
		for i := range 30 {
			next := byte(60)
			if i == 29 {
				next = 17
			}
			chain = append(chain, next, 0, 1, 4, 0, 0, 0, 0)
		}
		out := append(append(bytes.Clone(f[:54]), chain...), f[54:]...)
		out[14+6] = 60
		binary.BigEndian.PutUint16(out[14+4:], uint16(len(out)-54))
		return out
	}
	frames := map[string][]byte{
		"truncated":        good(64, 8)[:14+30],
		"version 4":        mod(good(64, 8), func(f []byte) { f[14] = 0x45 }),
		"payload too long": mod(good(64, 8), func(f []byte) { binary.BigEndian.PutUint16(f[18:], 500) }),
		"hop limit 0":      good(0, 8),
		"hop limit 1":      good(1, 8),
		"ext chain":        extChain(),
		"jumbo frame":      good(64, jumbo),
		"jumbogram":        mod(good(64, 8), func(f []byte) { f[20] = 0; binary.BigEndian.PutUint16(f[18:], 0) }),
	}
	for range 3 {
		for _, f := range frames {
			if _, err := unix.Write(gfd, f); err != nil {
				t.Fatalf("send %d bytes: %v", len(f), err)
			}
		}
	}
	// Still forwarding afterwards.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := unix.Write(gfd, good(64, 8)); err != nil {
			t.Fatal(err)
		}
		if len(sinkFrames(sfd, 50*time.Millisecond)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("router stopped forwarding after malformed frames")
		}
	}
	s := stop()
	want := map[string]uint64{
		"to-kernel truncated":   s.ToKernel[fastpath.KernelTruncated],
		"to-kernel bad-version": s.ToKernel[fastpath.KernelBadVersion],
		"to-kernel hop-limit":   s.ToKernel[fastpath.KernelHopLimit],
		"to-kernel ext-header":  s.ToKernel[fastpath.KernelExtHeader],
		"dropped bad-length":    s.Dropped[fastpath.DropBadLength],
		"dropped too-big":       s.Dropped[fastpath.DropTooBig],
	}
	if io == config.FastpathIOXDP {
		// The tier drops nothing: the kernel gets what it does not forward.
		delete(want, "dropped bad-length")
		delete(want, "dropped too-big")
		want["to-kernel bad-length"] = s.ToKernel[fastpath.KernelBadLength]
		want["to-kernel too-big"] = s.ToKernel[fastpath.KernelTooBig]
	}
	for name, got := range want {
		if got == 0 {
			t.Errorf("%s = 0, want > 0 (stats %+v)", name, s)
		}
	}
	if s.ToKernel[fastpath.KernelHopLimit] < 6 || s.ToKernel[fastpath.KernelExtHeader] < 6 {
		t.Errorf("hop-limit %d, ext-header %d: want ≥ 6 each", s.ToKernel[fastpath.KernelHopLimit], s.ToKernel[fastpath.KernelExtHeader])
	}
}

// TestNamespaceTCPBulk sends 16 MiB over TCP from G to S through the fast
// path, with the senders' offloads as veth sets them (TSO and checksum
// offload on): the data must arrive intact and without a Packet Too Big (a
// TSO frame longer than the MTU that reached the fast path would draw one
// and stall the connection: the AF_PACKET claim leaves those to the kernel).
func TestNamespaceTCPBulk(t *testing.T) {
	for _, io := range allIO {
		t.Run(io, func(t *testing.T) { testTCPBulk(t, io) })
	}
}

func testTCPBulk(t *testing.T, io string) {
	tp := newTopo(t)
	tp.io = io
	stop := tp.startRouter()
	var ln net.Listener
	inNS(t, tp.s, func() (err error) {
		ln, err = net.Listen("tcp6", "[2001:db8:b::2]:5001")
		return err
	})
	t.Cleanup(func() { ln.Close() })
	type result struct {
		n   int64
		sum [32]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		h := sha256.New()
		n, err := goio.Copy(h, c)
		got <- result{n: n, sum: [32]byte(h.Sum(nil)), err: err}
	}()
	var c net.Conn
	inNS(t, tp.g, func() (err error) {
		c, err = net.DialTimeout("tcp6", "[2001:db8:b::2]:5001", 5*time.Second)
		return err
	})
	data := make([]byte, 16<<20)
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.Close()
	var r result
	select {
	case r = <-got:
	case <-time.After(90 * time.Second):
		t.Fatal("receiver did not finish")
	}
	if r.err != nil || r.n != int64(len(data)) || r.sum != sha256.Sum256(data) {
		t.Errorf("received %d bytes (err %v), sha256 match %v; want %d bytes intact", r.n, r.err, r.sum == sha256.Sum256(data), len(data))
	}
	s := stop()
	t.Logf("stats: %+v", s)
	if s.PacketTooBig != 0 {
		t.Errorf("fast path sent %d Packet Too Big", s.PacketTooBig)
	}
	if io == config.FastpathIOAFXDP || io == config.FastpathIOXDP {
		// With an XDP program attached, veth turns its peer's TSO off:
		// every segment is MTU-sized and goes through the fast path.
		if s.Forwarded < uint64(len(data)/1500) || s.ToKernel[fastpath.KernelOversize] != 0 {
			t.Errorf("fast path forwarded %d frames, %d oversize to the kernel: want ≥ %d and 0", s.Forwarded, s.ToKernel[fastpath.KernelOversize], len(data)/1500)
		}
		return
	}
	// AF_PACKET: G's TSO frames (up to 64 KiB) go to the kernel, which
	// segments them; the fast path forwards the rest (S's ACKs).
	if s.ToKernel[fastpath.KernelOversize] == 0 || s.Forwarded == 0 {
		t.Errorf("oversize frames to the kernel %d, forwarded %d: want both > 0", s.ToKernel[fastpath.KernelOversize], s.Forwarded)
	}
}

// TestNamespaceLinkFlap: after the egress link goes down and up (which
// flushes the kernel's neighbour table), the fast path asks the kernel to
// resolve the next hop again — it had resolved it once before — and
// forwarding resumes, on both datapaths.
func TestNamespaceLinkFlap(t *testing.T) {
	for _, io := range allIO {
		t.Run(io, func(t *testing.T) {
			tp := newTopo(t)
			tp.io = io
			// Keep the static addresses over the flap, as the router
			// package's reconciler would restore them.
			run(t, "ip", "netns", "exec", tp.r, "sysctl", "-qw", "net.ipv6.conf."+tp.rB+".keep_addr_on_down=1")
			stop := tp.startRouter()
			ping := func() error {
				return exec.Command("ip", "netns", "exec", tp.g, "ping", "-6", "-c", "1", "-W", "1", tp.sAddr.String()).Run()
			}
			// The first echo request waits in the pending queue while the
			// kernel resolves S.
			if err := ping(); err != nil {
				t.Fatalf("ping before the flap: %v", err)
			}
			run(t, "ip", "-n", tp.r, "link", "set", tp.rB, "down")
			run(t, "ip", "-n", tp.r, "link", "set", tp.rB, "up")
			ok := false
			for range 5 {
				if ok = ping() == nil; ok {
					break
				}
			}
			// Once S is resolved again, the fast path forwards both ways
			// (the XDP tier left the first request to the kernel).
			var again error
			for range 2 {
				again = errors.Join(again, ping())
			}
			s := stop()
			if !ok {
				t.Fatalf("no echo reply within 5 pings after the flap (stats %+v)", s)
			}
			if again != nil {
				t.Errorf("pings after the first reply: %v", again)
			}
			if s.Forwarded < 6 {
				t.Errorf("fast path forwarded %d frames, want the last echo requests and replies at least (stats %+v)", s.Forwarded, s)
			}
		})
	}
}

// TestNamespaceLinkRemoved: when a fast-path interface disappears (a NIC
// unplugged) the engine stops with an error naming it — an AF_XDP socket
// whose device is gone reports nothing to poll — so that its supervisor
// (the daemon) starts it again once the interface is back.
func TestNamespaceLinkRemoved(t *testing.T) {
	for _, io := range allIO {
		t.Run(io, func(t *testing.T) {
			tp := newTopo(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", tp.r, os.Args[0], "-test.run=^TestHelperRouter$", "-test.v=false")
			cmd.Env = append(os.Environ(), helperEnv+"="+tp.rA+","+tp.rB, helperIOEnv+"="+io)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			next := func() string {
				select {
				case l := <-lines:
					return l
				case <-time.After(10 * time.Second):
					t.Fatal("router: no output within 10 s")
					return ""
				}
			}
			if l := next(); l != "READY" {
				t.Fatalf("router: %q", l)
			}
			run(t, "ip", "-n", tp.r, "link", "del", tp.rB)
			// AF_XDP: "interface X (index N) was removed"; AF_PACKET may
			// first fail to update X's ingress filter.
			if l := next(); !strings.HasPrefix(l, "ERROR") || !strings.Contains(l, tp.rB) {
				t.Errorf("router after %s was removed: %q, want an error naming it", tp.rB, l)
			}
			if err := cmd.Wait(); err == nil {
				t.Error("router exited 0")
			}
		})
	}
}

// TestNamespaceKilledRouter: a router killed with SIGKILL leaves nothing
// that keeps frames from the kernel — its XDP programs are attached with
// BPF links, which the kernel removes with the process — and the kernel
// forwards again at once.
func TestNamespaceKilledRouter(t *testing.T) {
	for _, io := range []string{config.FastpathIOXDP, config.FastpathIOAFXDP} {
		t.Run(io, func(t *testing.T) {
			tp := newTopo(t)
			tp.io = io
			tp.startRouter()
			ping := func() error {
				return exec.Command("ip", "netns", "exec", tp.g, "ping", "-6", "-c", "1", "-W", "1", tp.sAddr.String()).Run()
			}
			if err := ping(); err != nil {
				t.Fatalf("ping through the router: %v", err)
			}
			for _, l := range []string{tp.rA, tp.rB} {
				if out := run(t, "ip", "-n", tp.r, "-d", "link", "show", l); !strings.Contains(out, "prog/xdp") {
					t.Fatalf("%s has no XDP program while the router runs:\n%s", l, out)
				}
			}
			tp.killed = true
			if err := tp.router.Kill(); err != nil {
				t.Fatal(err)
			}
			_, _ = tp.router.Wait()
			// The links go with the process's file descriptors.
			deadline := time.Now().Add(5 * time.Second)
			for _, l := range []string{tp.rA, tp.rB} {
				for {
					out := run(t, "ip", "-n", tp.r, "-d", "link", "show", l)
					if !strings.Contains(out, "prog/xdp") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s still has an XDP program 5 s after the router was killed:\n%s", l, out)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			for i := range 3 {
				if err := ping(); err != nil {
					t.Errorf("ping %d after the router was killed: %v", i, err)
				}
			}
		})
	}
}

// TestNamespaceMixedDatapaths: with fastpath.io auto an interface whose MTU
// native XDP cannot take falls back (to AF_PACKET: AF_XDP's chunks cannot
// either) while the other runs the XDP tier; frames cross both ways — the
// AF_PACKET worker sends out of the tier's send-only port, the tier
// redirects into the AF_PACKET interface.
func TestNamespaceMixedDatapaths(t *testing.T) {
	tp := newTopo(t)
	run(t, "ip", "-n", tp.g, "link", "set", tp.gA, "mtu", "9000")
	run(t, "ip", "-n", tp.r, "link", "set", tp.rA, "mtu", "9000")
	stop := tp.startRouter()
	if out := run(t, "ip", "-n", tp.r, "-d", "link", "show", tp.rA); strings.Contains(out, "prog/xdp") {
		t.Errorf("%s (MTU 9000) has an XDP program:\n%s", tp.rA, out)
	}
	if out := run(t, "tc", "-n", tp.r, "qdisc", "show", "dev", tp.rA, "ingress"); strings.TrimSpace(out) == "" {
		t.Errorf("%s (MTU 9000) is not claimed by the AF_PACKET ingress filter", tp.rA)
	}
	if out := run(t, "ip", "-n", tp.r, "-d", "link", "show", tp.rB); !strings.Contains(out, "vrouter_fwd") {
		t.Errorf("%s is not on the XDP tier:\n%s", tp.rB, out)
	}
	for i := range 4 {
		if err := exec.Command("ip", "netns", "exec", tp.g, "ping", "-6", "-c", "1", "-W", "1", tp.sAddr.String()).Run(); err != nil {
			t.Errorf("ping %d: %v", i, err)
		}
	}
	s := stop()
	// Each echo: the request by the AF_PACKET worker, the reply by the
	// tier (the first ones may go through the kernel while S and G are
	// resolved).
	if s.Forwarded < 4 {
		t.Errorf("forwarded %d, want the later echo requests and replies (stats %+v)", s.Forwarded, s)
	}
	t.Logf("stats %+v", s)
}
