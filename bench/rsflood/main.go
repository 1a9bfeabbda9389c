// Command rsflood is the Router Solicitation flood benchmark of vrouter's
// advertiser against radvd (issue 3). It needs root, builds its own network
// namespaces and removes them when it ends (also on Ctrl-C).
//
//	netns rsfXXXXr                                  netns rsfXXXXf
//	[rsfXXXXa]---------------- veth ----------------[rsfXXXXb]
//	 daemon under test: vrouter's advertiser          flooder: RSs from -sources
//	 (this binary re-executed as `rsflood advertise`  link-local addresses over
//	 or `vrouter run` with -vrouter), then radvd      AF_PACKET at -rate for
//	                                                  -duration; an AF_PACKET
//	                                                  capture counts the RAs
//
// For each daemon it reports the RAs seen during the flood (multicast,
// unicast, the smallest gap between two multicast RAs), the daemon's CPU
// seconds per 10k RS and its RSS before and after. Then it reports the RSS
// of the advertiser with 2 and with 200 advertising interfaces.
//
//	go build -o /tmp/rsflood ./bench/rsflood && sudo /tmp/rsflood
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netns"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "advertise" {
		os.Exit(advertise(os.Args[2:]))
	}
	os.Exit(bench())
}

// advertise runs one advertiser per interface named in args, in the current
// network namespace, until SIGTERM/SIGINT: the daemon under test.
func advertise(ifaces []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var wg sync.WaitGroup
	for _, name := range ifaces {
		a := ra.NewAdvertiser(name, advertiseConfig(), log)
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				log.Error("advertiser failed", "iface", name, "err", err)
			}
		})
	}
	if path := os.Getenv("RSFLOOD_HEAPPROFILE"); path != "" {
		// Diagnostics: a heap profile once the advertisers settled.
		go func() {
			time.Sleep(8 * time.Second)
			f, err := os.Create(path)
			if err != nil {
				log.Error("heap profile", "err", err)
				return
			}
			defer f.Close()
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
		}()
	}
	wg.Wait()
	return 0
}

func advertiseConfig() config.Advertise {
	return config.Advertise{
		MinInterval: 198 * time.Second, MaxInterval: 600 * time.Second, RouterLifetime: 1800 * time.Second,
		Preference: config.PreferenceMedium, HopLimit: 64,
		Prefixes: []config.Prefix{{Prefix: netip.MustParsePrefix("2001:db8:0:2::/64"), OnLink: true, Autonomous: true,
			ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second}},
		RDNSS: []config.RDNSS{{Servers: []netip.Addr{netip.MustParseAddr("2001:db8:0:2::53")}, Lifetime: 1800 * time.Second}},
	}
}

const radvdConf = `interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval 198;
	MaxRtrAdvInterval 600;
	AdvDefaultLifetime 1800;
	prefix 2001:db8:0:2::/64 { };
	RDNSS 2001:db8:0:2::53 { AdvRDNSSLifetime 1800; };
};
`

type options struct {
	rate     int
	duration time.Duration
	sources  int
	settle   time.Duration
	vrouter  string
	radvd    string
	many     int
}

func bench() int {
	var o options
	flag.IntVar(&o.rate, "rate", 10000, "RS per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "flood duration")
	flag.IntVar(&o.sources, "sources", 256, "distinct RS source addresses (the router's neighbour table holds 1024)")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "wait after the daemon starts, past radvd's 16s initial phase")
	flag.StringVar(&o.vrouter, "vrouter", "", "measure `vrouter run` from this binary instead of the bare advertiser")
	flag.StringVar(&o.radvd, "radvd", "radvd", `radvd binary ("" = skip radvd)`)
	flag.IntVar(&o.many, "many", 200, "interfaces for the RSS measurement (0 = skip)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "rsflood: needs root (network namespaces, AF_PACKET)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	env := &env{}
	defer env.cleanup()
	if err := env.setup(); err != nil {
		fmt.Fprintln(os.Stderr, "rsflood:", err)
		return 1
	}

	fmt.Printf("RS flood: %d RS/s for %s from %d sources; %d CPUs; kernel %s\n\n", o.rate, o.duration, o.sources, runtime.NumCPU(), kernel())
	var rows []result
	daemons := []string{"vrouter"}
	if o.radvd != "" {
		daemons = append(daemons, "radvd")
	}
	for _, d := range daemons {
		r, err := env.run(ctx, o, d)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rsflood: %s: %v\n", d, err)
			return 1
		}
		rows = append(rows, r)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "daemon\tRS sent\tRA multicast\tRA unicast\tmin multicast gap\tCPU s / 10k RS\tRSS before\tRSS after\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%.3f\t%d KiB\t%d KiB\t\n", r.daemon, r.sent, r.multicast, r.unicast,
			gap(r.minGap), r.cpu/float64(r.sent)*10000, r.rssBefore, r.rssAfter)
	}
	tw.Flush()

	if o.many > 0 && ctx.Err() == nil {
		fmt.Println()
		for _, n := range []int{2, o.many} {
			rss, err := env.rssWith(ctx, o, n)
			if err != nil {
				fmt.Fprintf(os.Stderr, "rsflood: rss with %d interfaces: %v\n", n, err)
				return 1
			}
			fmt.Printf("advertiser RSS with %3d advertising interfaces: %d KiB\n", n, rss)
		}
	}
	return 0
}

func gap(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

type env struct {
	id       string
	rns, fns string
	rlink    string
	flink    string
	dir      string
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (e *env) setup() error {
	e.id = fmt.Sprintf("rsf%05d", rand.IntN(100000))
	e.rns, e.fns = e.id+"r", e.id+"f"
	e.rlink, e.flink = e.id+"a", e.id+"b"
	var err error
	if e.dir, err = os.MkdirTemp("", "rsflood"); err != nil {
		return err
	}
	for _, ns := range []string{e.rns, e.fns} {
		if err := sh("ip", "netns", "add", ns); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"ip", "-n", e.rns, "link", "add", e.rlink, "type", "veth", "peer", "name", e.flink, "netns", e.fns},
		{"ip", "netns", "exec", e.rns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf." + e.rlink + ".accept_dad=0"},
		{"ip", "netns", "exec", e.fns, "sysctl", "-qw", "net.ipv6.conf." + e.flink + ".accept_ra=0", "net.ipv6.conf." + e.flink + ".accept_dad=0"},
		{"ip", "-n", e.rns, "addr", "add", "2001:db8:0:2::1/64", "dev", e.rlink, "nodad"},
		{"ip", "-n", e.rns, "link", "set", e.rlink, "up"},
		{"ip", "-n", e.fns, "link", "set", e.flink, "up"},
		{"ip", "-n", e.rns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := sh(s...); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) cleanup() {
	for _, ns := range []string{e.rns, e.fns} {
		if ns != "" {
			_ = sh("ip", "netns", "del", ns)
		}
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// start runs the daemon d in the router namespace on ifaces.
func (e *env) start(o options, d string, ifaces []string) (*exec.Cmd, error) {
	var args []string
	switch d {
	case "vrouter":
		if o.vrouter != "" {
			cfg := filepath.Join(e.dir, "vrouter.yaml")
			var b strings.Builder
			b.WriteString("interfaces:\n")
			for _, i := range ifaces {
				fmt.Fprintf(&b, "  %s:\n    role: downstream\n    advertise:\n      prefixes: [{prefix: 2001:db8:0:2::/64}]\n      rdnss: [{servers: [2001:db8:0:2::53], lifetime: 1800s}]\n", i)
			}
			if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
				return nil, err
			}
			args = []string{o.vrouter, "run", "--config", cfg, "--socket", "-", "--log-level", "warn"}
		} else {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			args = append([]string{self, "advertise"}, ifaces...)
		}
	case "radvd":
		conf := filepath.Join(e.dir, "radvd.conf")
		var b strings.Builder
		for _, i := range ifaces {
			fmt.Fprintf(&b, radvdConf, i)
		}
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		args = []string{o.radvd, "-n", "-m", "stderr", "-C", conf, "-p", filepath.Join(e.dir, "radvd.pid")}
	}
	// `ip netns exec` execs the daemon in place, so the PID is the daemon's.
	cmd := exec.Command("ip", append([]string{"netns", "exec", e.rns}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

func stopDaemon(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

type result struct {
	daemon              string
	sent                int
	multicast, unicast  int
	minGap              time.Duration
	cpu                 float64 // seconds during the flood
	rssBefore, rssAfter int     // KiB
}

func (e *env) run(ctx context.Context, o options, d string) (result, error) {
	r := result{daemon: d, minGap: -1}
	cmd, err := e.start(o, d, []string{e.rlink})
	if err != nil {
		return r, err
	}
	defer stopDaemon(cmd)
	fmt.Fprintf(os.Stderr, "%s: started (pid %d), settling %s\n", d, cmd.Process.Pid, o.settle)
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	pid := cmd.Process.Pid
	capt, err := e.capture()
	if err != nil {
		return r, err
	}
	defer capt.close()
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return r, err
	}
	r.rssBefore, _ = rssKiB(pid)
	fmt.Fprintf(os.Stderr, "%s: flooding\n", d)
	if r.sent, err = e.flood(ctx, o); err != nil {
		return r, err
	}
	time.Sleep(time.Second) // replies still due
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return r, fmt.Errorf("daemon died during the flood: %w", err)
	}
	r.rssAfter, _ = rssKiB(pid)
	r.cpu = cpu1 - cpu0
	r.multicast, r.unicast, r.minGap = capt.stats()
	return r, nil
}

// flood sends RSs with valid source link-layer options from o.sources
// link-local addresses at o.rate for o.duration.
func (e *env) flood(ctx context.Context, o options) (int, error) {
	var frames [][]byte
	var fd, index int
	err := netns.Do(e.fns, func() error {
		ifi, err := net.InterfaceByName(e.flink)
		if err != nil {
			return err
		}
		index = ifi.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("flooder socket: %w", err)
	}
	defer unix.Close(fd)
	for i := range o.sources {
		mac := net.HardwareAddr{0x02, 0xf1, 0, 0, byte(i >> 8), byte(i)}
		src := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 8: 0x00, 9: 0xf1, 11: 0xff, 12: 0xfe, 14: byte(i >> 8), 15: byte(i)})
		rs, err := ndp.MarshalMessage(&ndp.RouterSolicitation{Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}}})
		if err != nil {
			return 0, err
		}
		frames = append(frames, ratest.ICMPv6Frame(mac, src, netip.IPv6LinkLocalAllRouters(), 255, rs))
	}
	sa := &unix.SockaddrLinklayer{Ifindex: index, Protocol: htons(unix.ETH_P_IPV6), Halen: 6}
	copy(sa.Addr[:], frames[0][0:6])
	start := time.Now()
	total := int(float64(o.rate) * o.duration.Seconds())
	sent := 0
	for sent < total && ctx.Err() == nil {
		// Absolute pacing: by now, rate*elapsed RSs should be out.
		due := min(int(float64(o.rate)*time.Since(start).Seconds())+1, total)
		for ; sent < due; sent++ {
			if err := unix.Sendto(fd, frames[sent%len(frames)], 0, sa); err != nil && !errors.Is(err, unix.ENOBUFS) {
				return sent, fmt.Errorf("send: %w", err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	return sent, ctx.Err()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// capture counts the RAs on the flooder's side of the link with AF_PACKET,
// which also sees the unicast RAs sent to the made-up sources' MACs.
type capture struct {
	fd   int
	done chan struct{}

	mu        sync.Mutex
	multicast int
	unicast   int
	last      time.Time
	minGap    time.Duration
}

func (e *env) capture() (*capture, error) {
	c := &capture{done: make(chan struct{}), minGap: -1}
	err := netns.Do(e.fns, func() error {
		ifi, err := net.InterfaceByName(e.flink)
		if err != nil {
			return err
		}
		c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IPV6)))
		if err != nil {
			return err
		}
		return unix.Bind(c.fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(unix.ETH_P_IPV6)})
	})
	if err != nil {
		return nil, fmt.Errorf("capture socket: %w", err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	_ = unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	go c.loop()
	return c, nil
}

func (c *capture) loop() {
	buf := make([]byte, 65536)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own RSs
		}
		// Ethernet headers are stripped for SOCK_RAW? No: AF_PACKET
		// SOCK_RAW keeps them.
		p := buf[:n]
		if len(p) < 14+40+1 || binary.BigEndian.Uint16(p[12:14]) != 0x86dd || p[14+6] != 58 || p[54] != 134 {
			continue
		}
		now := time.Now()
		c.mu.Lock()
		if p[14+24] == 0xff {
			if !c.last.IsZero() {
				if g := now.Sub(c.last); c.minGap < 0 || g < c.minGap {
					c.minGap = g
				}
			}
			c.last = now
			c.multicast++
		} else {
			c.unicast++
		}
		c.mu.Unlock()
	}
}

func (c *capture) stats() (multicast, unicast int, minGap time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.multicast, c.unicast, c.minGap
}

func (c *capture) close() {
	close(c.done)
	time.Sleep(300 * time.Millisecond) // the loop's receive timeout
	unix.Close(c.fd)
}

// rssWith starts the advertiser on n veth links and reports its RSS once
// every link advertises.
func (e *env) rssWith(ctx context.Context, o options, n int) (int, error) {
	var batch strings.Builder
	var ifaces []string
	for i := range n {
		a := fmt.Sprintf("%sm%d", e.id, i)
		fmt.Fprintf(&batch, "link add %s type veth peer name %sp%d\nlink set %s up\nlink set %sp%d up\n", a, e.id, i, a, e.id, i)
		ifaces = append(ifaces, a)
	}
	f := filepath.Join(e.dir, fmt.Sprintf("links%d", n))
	if err := os.WriteFile(f, []byte(batch.String()), 0o644); err != nil {
		return 0, err
	}
	if err := sh("ip", "-n", e.rns, "-batch", f); err != nil {
		return 0, err
	}
	defer func() {
		var del strings.Builder
		for _, i := range ifaces {
			fmt.Fprintf(&del, "link del %s\n", i)
		}
		_ = os.WriteFile(f, []byte(del.String()), 0o644)
		_ = sh("ip", "-n", e.rns, "-batch", f)
	}()
	cmd, err := e.start(o, "vrouter", ifaces)
	if err != nil {
		return 0, err
	}
	defer stopDaemon(cmd)
	select {
	case <-time.After(10 * time.Second): // every link advertised and settled
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return rssKiB(cmd.Process.Pid)
}

// cpuSeconds is utime+stime of pid from /proc/PID/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	return float64(ut+st) / 100, nil // USER_HZ is 100 on Linux
}

// rssKiB is VmRSS of pid.
func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}
