package ndproxy_test

// Namespace tests: the proxy against real kernels, in the topology of issue 4.
//
//	 [rt] 2001:db8::1     [n2] 2001:db8::2
//	   eth0 (…:01)          eth0 (…:02)
//	     |                    |
//	   rt0 ------ br0 ------ n20          namespace sw (optionally MLD snooping
//	               |                      + querier, no flooding of unknown groups)
//	              h0
//	               |
//	   eth0 2001:db8::c001/64, MAC 02:00:00:00:c0:01        namespace h (the host,
//	   docker0 2001:db8::c00f/125                           forwarding on; the proxy
//	    |          |                                        runs here as a child)
//	  [c1] c009  [c2] c00a …   containers, default via c00f
//
// Every namespace name carries a random prefix; all links live inside
// them; everything is deleted in t.Cleanup.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netns"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
	"github.com/vrouter/vrouter/ndproxy/internal/probe"
)

const hostMAC = "02:00:00:00:c0:01"

func TestMain(m *testing.M) {
	if os.Getenv("NDPROXY_HELPER") == "proxy" {
		os.Exit(helperProxy())
	}
	os.Exit(m.Run())
}

// helperProxy runs the proxy in the current namespace (the test re-executes
// itself inside the host namespace), writing its Status as JSON to
// $NDPROXY_STATUS every 50 ms, until SIGTERM.
func helperProxy() int {
	var cfg []config.NDProxy
	if err := json.Unmarshal([]byte(os.Getenv("NDPROXY_CONFIG")), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper: config:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := ndproxy.New(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	path := os.Getenv("NDPROXY_STATUS")
	go func() {
		for ctx.Err() == nil {
			b, _ := json.Marshal(p.Status())
			os.WriteFile(path+".tmp", b, 0o644)
			os.Rename(path+".tmp", path)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := p.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "helper: run:", err)
		return 1
	}
	return 0
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: namespace test needs root (run as root, e.g. in CI via make test)")
	}
	for _, tool := range []string{"ip", "ping", "bridge"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed (iproute2, iputils-ping)", tool)
		}
	}
}

type topo struct {
	t                testing.TB
	sw, rt, n2, host string
	prefix           string
	ncont            int
	proxy            *proxyProc // the last one started
}

func sh(t testing.TB, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (tp *topo) must(name string, args ...string) string {
	tp.t.Helper()
	out, err := sh(tp.t, name, args...)
	if err != nil {
		tp.t.Fatal(err)
	}
	return out
}

// in runs a command inside namespace ns.
func (tp *topo) in(ns string, args ...string) string {
	tp.t.Helper()
	return tp.must("ip", append([]string{"netns", "exec", ns}, args...)...)
}

func (tp *topo) addNS(name string) string {
	tp.t.Helper()
	ns := tp.prefix + name
	tp.must("ip", "netns", "add", ns)
	tp.t.Cleanup(func() {
		if out, err := sh(tp.t, "ip", "netns", "del", ns); err != nil {
			tp.t.Errorf("cleanup: %v %s", err, out)
		}
	})
	tp.in(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	tp.must("ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// newTopo builds the topology; snooping turns on MLD snooping with a
// querier and stops flooding unknown multicast on the switch.
func newTopo(t testing.TB, snooping bool) *topo {
	needRoot(t)
	b := make([]byte, 3)
	rand.Read(b)
	tp := &topo{t: t, prefix: "ndp" + hex.EncodeToString(b) + "-"}
	tp.sw, tp.rt, tp.n2, tp.host = tp.addNS("sw"), tp.addNS("rt"), tp.addNS("n2"), tp.addNS("h")
	br := []string{"-n", tp.sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"}
	if snooping {
		br = []string{"-n", tp.sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "1", "mcast_querier", "1",
			"mcast_query_interval", "500", "mcast_query_response_interval", "100", "mcast_startup_query_interval", "100"}
	}
	tp.must("ip", br...)
	tp.must("ip", "-n", tp.sw, "link", "set", "br0", "up")
	for _, p := range []struct{ port, ns, mac, addr string }{
		{"rt0", tp.rt, "02:00:00:00:00:01", "2001:db8::1/64"},
		{"n20", tp.n2, "02:00:00:00:00:02", "2001:db8::2/64"},
		{"h0", tp.host, hostMAC, "2001:db8::c001/64"},
	} {
		tp.must("ip", "-n", tp.sw, "link", "add", p.port, "type", "veth", "peer", "name", "eth0", "netns", p.ns)
		tp.must("ip", "-n", tp.sw, "link", "set", p.port, "master", "br0", "up")
		if snooping {
			tp.must("bridge", "-n", tp.sw, "link", "set", "dev", p.port, "mcast_flood", "off")
		}
		tp.must("ip", "-n", p.ns, "link", "set", "eth0", "address", p.mac, "up")
		tp.must("ip", "-n", p.ns, "addr", "add", p.addr, "dev", "eth0", "nodad")
	}
	tp.in(tp.host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	tp.must("ip", "-n", tp.host, "-6", "route", "add", "default", "via", "2001:db8::1")
	tp.must("ip", "-n", tp.rt, "-6", "route", "add", "2001:db8::c000/124", "via", "2001:db8::c001") // reply path sanity: not used, the /64 is on-link
	tp.must("ip", "-n", tp.rt, "-6", "route", "del", "2001:db8::c000/124")
	tp.addDocker0()
	return tp
}

func (tp *topo) addDocker0() {
	tp.t.Helper()
	tp.must("ip", "-n", tp.host, "link", "add", "docker0", "type", "bridge")
	tp.must("ip", "-n", tp.host, "link", "set", "docker0", "up")
	tp.must("ip", "-n", tp.host, "addr", "add", "2001:db8::c00f/125", "dev", "docker0", "nodad")
}

// addContainer creates a container namespace with addr on docker0 and
// returns the name of its veth in the host namespace.
func (tp *topo) addContainer(addr string) (ns, veth string) {
	tp.t.Helper()
	tp.ncont++
	ns = tp.addNS(fmt.Sprintf("c%d", tp.ncont))
	veth = fmt.Sprintf("veth%d", tp.ncont)
	tp.must("ip", "-n", tp.host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	tp.must("ip", "-n", tp.host, "link", "set", veth, "master", "docker0", "up")
	tp.must("ip", "-n", ns, "link", "set", "eth0", "up")
	tp.must("ip", "-n", ns, "addr", "add", addr+"/125", "dev", "eth0", "nodad")
	tp.must("ip", "-n", ns, "-6", "route", "add", "default", "via", "2001:db8::c00f")
	return ns, veth
}

// ping reports whether one echo from ns to dst is answered within 1 s.
func (tp *topo) ping(ns, dst string) bool {
	_, err := sh(tp.t, "ip", "netns", "exec", ns, "ping", "-6", "-n", "-c", "1", "-W", "1", dst)
	return err == nil
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, d)
	return 0
}

// proxyProc is the proxy running as a child process in the host namespace.
type proxyProc struct {
	cmd    *exec.Cmd
	status string
	logs   *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (tp *topo) startProxy(cfg ...config.NDProxy) *proxyProc {
	tp.t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		tp.t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		tp.t.Fatal(err)
	}
	pp := &proxyProc{status: filepath.Join(tp.t.TempDir(), "status.json"), logs: &syncBuffer{}, done: make(chan error, 1)}
	pp.cmd = exec.Command("ip", "netns", "exec", tp.host, self, "-test.run=^$")
	pp.cmd.Env = append(os.Environ(), "NDPROXY_HELPER=proxy", "NDPROXY_CONFIG="+string(b), "NDPROXY_STATUS="+pp.status)
	pp.cmd.Stderr, pp.cmd.Stdout = pp.logs, pp.logs
	if err := pp.cmd.Start(); err != nil {
		tp.t.Fatal(err)
	}
	go func() { pp.done <- pp.cmd.Wait() }()
	tp.proxy = pp
	tp.t.Cleanup(func() {
		pp.stop(tp.t)
		if tp.t.Failed() {
			tp.t.Logf("proxy log:\n%s", pp.logs)
		}
	})
	eventually(tp.t, 5*time.Second, "proxy active", func() bool {
		st, ok := pp.read()
		return ok && len(st.Rules) > 0 && st.Rules[0].Active
	})
	return pp
}

func (pp *proxyProc) stop(t testing.TB) {
	if pp.cmd.ProcessState != nil {
		return
	}
	pp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-pp.done:
		if err != nil {
			t.Errorf("proxy exited: %v", err)
		}
	case <-time.After(10 * time.Second):
		pp.cmd.Process.Kill()
		<-pp.done
		t.Errorf("proxy did not stop on SIGTERM")
	}
}

func (pp *proxyProc) read() (ndproxy.Status, bool) {
	var st ndproxy.Status
	b, err := os.ReadFile(pp.status)
	if err != nil {
		return st, false
	}
	return st, json.Unmarshal(b, &st) == nil
}

func (pp *proxyProc) rule(t testing.TB) ndproxy.RuleStatus {
	t.Helper()
	// Wait for a status written after this call (the file is rewritten
	// every 50 ms).
	since := time.Now()
	eventually(t, 5*time.Second, "fresh proxy status", func() bool {
		fi, err := os.Stat(pp.status)
		return err == nil && fi.ModTime().After(since)
	})
	st, ok := pp.read()
	if !ok || len(st.Rules) == 0 {
		t.Fatal("no proxy status")
	}
	return st.Rules[0]
}

func openProber(t testing.TB, ns string) *probe.Prober {
	t.Helper()
	var p *probe.Prober
	if err := netns.Do(ns, func() (err error) { p, err = probe.Open("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var (
	c009s   = "2001:db8::c009"
	n2GUA   = netip.MustParseAddr("2001:db8::2")
	rule125 = config.NDProxy{Upstream: "eth0", Downstream: "docker0", Prefix: netip.MustParsePrefix("2001:db8::c008/125"), Mode: config.NDProxyStatic}
)

func neighLine(tp *topo, ns, addr string) string {
	return strings.TrimSpace(tp.in(ns, "ip", "-6", "neigh", "show", addr, "dev", "eth0"))
}

func TestNetnsStatic(t *testing.T) {
	tp := newTopo(t, false)
	tp.addContainer(c009s)

	if tp.ping(tp.rt, c009s) {
		t.Fatal("container reachable from upstream without the proxy")
	}
	pp := tp.startProxy(rule125)

	t.Run("ping from both upstream nodes", func(t *testing.T) {
		tp.in(tp.rt, "ip", "-6", "neigh", "flush", "dev", "eth0")
		eventually(t, 5*time.Second, "ping from rt", func() bool { return tp.ping(tp.rt, c009s) })
		eventually(t, 5*time.Second, "ping from n2", func() bool { return tp.ping(tp.n2, c009s) })
		if l := neighLine(tp, tp.rt, c009s); !strings.Contains(l, "lladdr "+hostMAC) {
			t.Fatalf("router neighbour entry %q does not show the host MAC", l)
		}
	})

	t.Run("NUD keeps REACHABLE via unicast NS", func(t *testing.T) {
		// ping confirms reachability itself (MSG_CONFIRM) once it has a
		// reply, so one-shot pings: the entry goes STALE, DELAY, then
		// PROBE with a unicast NS that only the proxy can answer.
		tp.in(tp.rt, "sysctl", "-qw", "net.ipv6.neigh.eth0.base_reachable_time_ms=500", "net.ipv6.neigh.eth0.delay_first_probe_time=1")
		// Entries keep the timer armed with the old reachable time.
		tp.in(tp.rt, "ip", "-6", "neigh", "flush", "dev", "eth0")
		before := pp.rule(t)
		states := map[string]int{}
		lost := 0
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			if !tp.ping(tp.rt, c009s) {
				lost++
			}
			for i := 0; i < 10; i++ {
				l := neighLine(tp, tp.rt, c009s)
				if f := strings.Fields(l); len(f) > 0 {
					states[f[len(f)-1]]++
				}
				if strings.Contains(l, "FAILED") || strings.Contains(l, "INCOMPLETE") {
					t.Errorf("neighbour entry went %q", l)
				}
				if !strings.Contains(l, hostMAC) {
					t.Errorf("neighbour entry %q lost the host MAC", l)
				}
				time.Sleep(40 * time.Millisecond)
			}
		}
		after := pp.rule(t)
		if lost > 0 {
			t.Errorf("%d pings lost through NUD cycles", lost)
		}
		if states["PROBE"]+states["DELAY"] == 0 || after.AnsweredUnicast == before.AnsweredUnicast {
			t.Errorf("no NUD probing seen (states %v, unicast NS answered %d): the test did not exercise it", states, after.AnsweredUnicast-before.AnsweredUnicast)
		}
		eventually(t, 3*time.Second, "entry REACHABLE after a ping", func() bool {
			tp.ping(tp.rt, c009s)
			return strings.Contains(neighLine(tp, tp.rt, c009s), "REACHABLE")
		})
		t.Logf("router neighbour states sampled: %v; unicast NS answered: %d", states, after.AnsweredUnicast-before.AnsweredUnicast)
	})

	t.Run("wire flags (tshark)", func(t *testing.T) {
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Skip("tshark not installed")
		}
		// tshark decodes live; traffic repeats until it has shown both
		// kinds of NA (its start-up time varies).
		cap := exec.Command("ip", "netns", "exec", tp.rt, "tshark", "-n", "-l", "-i", "eth0", "-f", "icmp6",
			"-Y", "icmpv6.type == 136 && icmpv6.nd.na.target_address == 2001:db8::c009",
			"-T", "fields", "-e", "ipv6.dst", "-e", "ipv6.hlim", "-e", "icmpv6.nd.na.flag.r", "-e", "icmpv6.nd.na.flag.s",
			"-e", "icmpv6.nd.na.flag.o", "-e", "icmpv6.opt.linkaddr", "-E", "separator=,")
		capOut := &syncBuffer{}
		cap.Stdout = capOut
		if err := cap.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cap.Process.Kill()
			cap.Wait()
		}()
		pr := openProber(t, tp.n2)
		eventually(t, 20*time.Second, "tshark shows a solicited NA and a DAD defence", func() bool {
			tp.in(tp.rt, "ip", "-6", "neigh", "flush", "dev", "eth0")
			if !tp.ping(tp.rt, c009s) {
				t.Error("ping failed")
			}
			if _, _, err := pr.Solicit(context.Background(), probe.Multicast(netip.IPv6Unspecified(), netip.MustParseAddr(c009s)), time.Second); err != nil {
				t.Errorf("DAD probe: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
			out := capOut.String()
			return strings.Contains(out, "ff02::1,") && strings.Contains(out, "2001:db8::1,")
		})
		out := capOut.String()
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var sol, dad int
		for _, l := range lines {
			f := strings.Split(l, ",")
			if len(f) < 6 {
				continue
			}
			if f[1] != "255" || f[2] != "False" && f[2] != "0" || f[4] != "False" && f[4] != "0" || f[5] != hostMAC {
				t.Errorf("NA on the wire: %s (want hlim 255, R=0, O=0, TLLA %s)", l, hostMAC)
			}
			switch {
			case f[0] == "ff02::1" && (f[3] == "False" || f[3] == "0"):
				dad++
			case f[0] != "ff02::1" && (f[3] == "True" || f[3] == "1"):
				sol++
			default:
				t.Errorf("NA with unexpected destination/S flag: %s", l)
			}
		}
		if sol == 0 || dad == 0 {
			t.Errorf("tshark saw %d solicited and %d DAD-defence NAs, want both:\n%s", sol, dad, out)
		}
		t.Logf("tshark: %d solicited NA (S=1 O=0), %d DAD defences to ff02::1 (S=0)", sol, dad)
	})

	t.Run("malformed NS dropped", func(t *testing.T) {
		pr := openProber(t, tp.n2)
		target := netip.MustParseAddr(c009s)
		good := probe.Multicast(n2GUA, target)
		if _, _, err := pr.Solicit(context.Background(), good, time.Second); err != nil {
			t.Fatalf("valid NS not answered: %v", err)
		}
		before := pp.rule(t).Dropped
		bad := map[string]probe.NS{}
		for name, o := range map[string]ndwire.NSOptions{
			"hop_limit": {HopLimit: 254}, "code": {Code: 1}, "option_length": {ZeroLengthOption: true}, "checksum": {BadChecksum: true},
		} {
			ns := good
			ns.Options = o
			bad[name] = ns
		}
		dadSLLA := probe.Multicast(netip.IPv6Unspecified(), target)
		dadSLLA.WithSLLA = true
		bad["dad_source_lla"] = dadSLLA
		for name, ns := range bad {
			if na, _, err := pr.Solicit(context.Background(), ns, 300*time.Millisecond); err == nil {
				t.Errorf("%s: answered: %v", name, na)
			}
		}
		after := pp.rule(t).Dropped
		for name := range bad {
			if after[name]-before[name] != 1 {
				t.Errorf("drop counter %s went %d -> %d, want +1", name, before[name], after[name])
			}
		}
	})

	t.Run("DAD defended against a real kernel", func(t *testing.T) {
		tp.in(tp.n2, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.conf.eth0.dad_transmits=1")
		tp.must("ip", "-n", tp.n2, "addr", "add", "2001:db8::c00a/64", "dev", "eth0")
		eventually(t, 5*time.Second, "n2 DAD fails for 2001:db8::c00a", func() bool {
			return strings.Contains(tp.in(tp.n2, "ip", "-6", "addr", "show", "dev", "eth0"), "dadfailed")
		})
		tp.must("ip", "-n", tp.n2, "addr", "del", "2001:db8::c00a/64", "dev", "eth0")
	})

	t.Run("upstream flapped", func(t *testing.T) {
		tp.must("ip", "-n", tp.host, "link", "set", "eth0", "down")
		tp.must("ip", "-n", tp.host, "link", "set", "eth0", "up")
		// The kernel drops addresses and routes on link down (as it would
		// in production, where the network config puts them back).
		tp.must("ip", "-n", tp.host, "addr", "replace", "2001:db8::c001/64", "dev", "eth0", "nodad")
		tp.must("ip", "-n", tp.host, "-6", "route", "replace", "default", "via", "2001:db8::1")
		tp.in(tp.rt, "ip", "-6", "neigh", "flush", "dev", "eth0")
		d := eventually(t, 5*time.Second, "ping after upstream flap", func() bool { return tp.ping(tp.rt, c009s) })
		t.Logf("reachable %v after the flap", d.Round(time.Millisecond))
	})

	t.Run("docker0 re-created", func(t *testing.T) {
		tp.must("ip", "-n", tp.host, "link", "del", "docker0")
		tp.addDocker0()
		tp.must("ip", "-n", tp.host, "link", "set", "veth1", "master", "docker0")
		tp.in(tp.rt, "ip", "-6", "neigh", "flush", "dev", "eth0")
		d := eventually(t, 5*time.Second, "ping after docker0 re-created", func() bool { return tp.ping(tp.rt, c009s) })
		t.Logf("reachable %v after re-creating docker0", d.Round(time.Millisecond))
	})
}

func TestNetnsAuto(t *testing.T) {
	tp := newTopo(t, false)
	tp.addContainer(c009s)
	auto := rule125
	auto.Mode = config.NDProxyAuto
	pp := tp.startProxy(auto)

	eventually(t, 5*time.Second, "ping existing container", func() bool { return tp.ping(tp.rt, c009s) })
	if tp.ping(tp.rt, "2001:db8::c00d") {
		t.Fatal("a missing target is reachable")
	}
	pr := openProber(t, tp.n2)
	if na, _, err := pr.Solicit(context.Background(), probe.Multicast(n2GUA, netip.MustParseAddr("2001:db8::c00d")), 300*time.Millisecond); err == nil {
		t.Fatalf("answered for a missing target: %v", na)
	}

	// A container appears while the router keeps trying to reach it.
	start := time.Now()
	tp.addContainer("2001:db8::c00a")
	d := eventually(t, 3*time.Second, "new container reachable", func() bool { return tp.ping(tp.rt, "2001:db8::c00a") })
	t.Logf("new container reachable %v after it appeared", (time.Since(start)).Round(time.Millisecond))
	_ = d
	st := pp.rule(t)
	if len(st.Targets) < 2 {
		t.Errorf("targets %v, want c009 and c00a", st.Targets)
	}
	t.Logf("status: answered %d probes %d unsolicited %d dropped %v", st.Answered, st.Probes, st.Unsolicited, st.Dropped)

	// docker0 re-created: relearned without restart.
	tp.must("ip", "-n", tp.host, "link", "del", "docker0")
	tp.addDocker0()
	tp.must("ip", "-n", tp.host, "link", "set", "veth1", "master", "docker0")
	tp.in(tp.rt, "ip", "-6", "neigh", "flush", "dev", "eth0")
	eventually(t, 5*time.Second, "ping after docker0 re-created", func() bool { return tp.ping(tp.rt, c009s) })
}

func TestNetnsMLDSnooping(t *testing.T) {
	tp := newTopo(t, true)
	tp.addContainer(c009s)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mdb:\n%s", tp.must("bridge", "-n", tp.sw, "-d", "mdb", "show"))
		}
	})
	// The bridge forwards by MDB only once its own querier is established
	// (a few seconds); until then, with flooding off, nothing passes.
	eventually(t, 20*time.Second, "router reachable from host through the snooping bridge", func() bool {
		return tp.ping(tp.host, "2001:db8::1")
	})
	tp.startProxy(rule125)
	eventually(t, 10*time.Second, "MDB entry for ff02::1:ff00:c009 on the host port", func() bool {
		out := tp.must("bridge", "-n", tp.sw, "mdb", "show", "dev", "br0")
		return strings.Contains(out, "port h0 grp ff02::1:ff00:c009")
	})
	eventually(t, 5*time.Second, "ping through the snooping bridge", func() bool { return tp.ping(tp.rt, c009s) })
	eventually(t, 5*time.Second, "ping from n2 through the snooping bridge", func() bool { return tp.ping(tp.n2, c009s) })
}

// TestNetnsPeerChecks runs the wire checks of issue 4 against the proxy and,
// for comparison, kernel proxy entries and ndppd. Only the proxy's results
// can fail the test; the table is logged.
func TestNetnsPeerChecks(t *testing.T) {
	needRoot(t)
	hw := ndwire.MAC{0x02, 0, 0, 0, 0xc0, 0x01}
	target := netip.MustParseAddr(c009s)
	rtGUA := netip.MustParseAddr("2001:db8::1")
	type check struct {
		name   string
		ns     probe.NS
		answer bool
		ok     func(probe.NA) bool
	}
	mc := probe.Multicast(rtGUA, target)
	with := func(o ndwire.NSOptions) probe.NS { n := mc; n.Options = o; return n }
	dadSLLA := probe.Multicast(netip.IPv6Unspecified(), target)
	dadSLLA.WithSLLA = true
	proxied := func(na probe.NA) bool {
		return na.Solicited && !na.Override && na.HopLimit == 255 && bytes.Equal(na.TLLA, hw[:])
	}
	checks := []check{
		{"multicast NS: S=1 O=0 our MAC", mc, true, proxied},
		// The TLLA option may be left out answering a unicast NS (§7.2.4).
		{"unicast NS (NUD) answered", probe.NS{Src: rtGUA, Dst: target, DstMAC: hw, Target: target}, true,
			func(na probe.NA) bool {
				return na.Solicited && !na.Override && (na.TLLA == nil || bytes.Equal(na.TLLA, hw[:]))
			}},
		{"DAD defended: ff02::1 S=0", probe.Multicast(netip.IPv6Unspecified(), target), true,
			func(na probe.NA) bool { return !na.Solicited && na.Dst == allNodesAddr && bytes.Equal(na.TLLA, hw[:]) }},
		{"hop limit 254 dropped", with(ndwire.NSOptions{HopLimit: 254}), false, nil},
		{"code 1 dropped", with(ndwire.NSOptions{Code: 1}), false, nil},
		{"zero-length option dropped", with(ndwire.NSOptions{ZeroLengthOption: true}), false, nil},
		{"DAD with SLLA dropped", dadSLLA, false, nil},
	}
	var table []string
	for _, impl := range impls {
		t.Run(impl, func(t *testing.T) {
			tp := newTopo(t, false)
			tp.addContainer(c009s)
			setupImpl(t, tp, impl, false)
			pr := openProber(t, tp.rt)
			eventually(t, 10*time.Second, "first answer", func() bool {
				_, _, err := pr.Solicit(context.Background(), mc, 200*time.Millisecond)
				return err == nil
			})
			pass := 0
			row := func(name string, ok bool, detail string) {
				if ok {
					pass++
				} else if impl == "vrouter" {
					t.Errorf("%s: %s", name, detail)
				}
				table = append(table, fmt.Sprintf("%-8s %-34s %-4v %s", impl, name, ok, detail))
			}
			for _, c := range checks {
				na, _, err := pr.Solicit(context.Background(), c.ns, 300*time.Millisecond)
				switch {
				case c.answer && err != nil:
					row(c.name, false, "no answer")
				case c.answer:
					row(c.name, c.ok(na), na.String())
				case err == nil:
					row(c.name, false, "answered: "+na.String())
				default:
					row(c.name, true, "")
				}
			}
			// Upstream admin down/up: the network config restores the
			// address; nothing touches the proxy.
			tp.must("ip", "-n", tp.host, "link", "set", "eth0", "down")
			tp.must("ip", "-n", tp.host, "link", "set", "eth0", "up")
			tp.must("ip", "-n", tp.host, "addr", "replace", "2001:db8::c001/64", "dev", "eth0", "nodad")
			ok := false
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && !ok; {
				_, _, err := pr.Solicit(context.Background(), mc, 200*time.Millisecond)
				ok = err == nil
			}
			row("answers after upstream down/up", ok, map[bool]string{false: "no answer within 3 s"}[ok])
			table = append(table, fmt.Sprintf("%-8s %d of %d checks passed", impl, pass, len(checks)+1))
		})
	}
	t.Logf("peer checks:\n%s", strings.Join(table, "\n"))
}

var allNodesAddr = netip.MustParseAddr("ff02::1")

// TestNetnsUnsolicitedAfterFlap: the upstream link of the host goes down;
// meanwhile the upstream router's neighbour entries go (flushed here, as
// they expire or fail); when the link comes back the proxy announces the
// target in use downstream with 3 unsolicited NAs (RFC 4861 §7.2.6), and
// the router (forwarding, accept_untracked_na=1) has an entry for it again
// with the host's MAC before it sends anything itself. tshark decodes the
// NAs: to ff02::1, S=0, O=0, our MAC, at least 1 s apart.
func TestNetnsUnsolicitedAfterFlap(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipping: tshark not installed")
	}
	if _, err := os.Stat("/proc/sys/net/ipv6/conf/default/accept_untracked_na"); err != nil {
		t.Skip("skipping: the kernel has no accept_untracked_na (Linux < 5.18): an unsolicited NA creates no entry")
	}
	tp := newTopo(t, false)
	tp.addContainer(c009s)
	tp.in(tp.rt, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.eth0.accept_untracked_na=1")
	pp := tp.startProxy(rule125)
	// The container is in use: the host has resolved it on docker0.
	eventually(t, 5*time.Second, "ping from rt", func() bool { return tp.ping(tp.rt, c009s) })

	pcap := filepath.Join(t.TempDir(), "na.pcap")
	shark := exec.Command("ip", "netns", "exec", tp.rt, "tshark", "-q", "-i", "eth0", "-f", "icmp6", "-w", pcap)
	sharkErr := &syncBuffer{}
	shark.Stderr = sharkErr
	if err := shark.Start(); err != nil {
		t.Fatal(err)
	}
	sharkDone := make(chan struct{})
	go func() { shark.Wait(); close(sharkDone) }()
	t.Cleanup(func() { shark.Process.Kill(); <-sharkDone })
	eventually(t, 60*time.Second, "tshark capturing", func() bool { return strings.Contains(sharkErr.String(), "Capturing on") })

	before := pp.rule(t).Unsolicited
	tp.must("ip", "-n", tp.host, "link", "set", "eth0", "down")
	tp.in(tp.rt, "ip", "-6", "neigh", "flush", "dev", "eth0")
	if l := neighLine(tp, tp.rt, c009s); l != "" {
		t.Fatalf("router still has an entry for the target: %q", l)
	}
	up := time.Now()
	tp.must("ip", "-n", tp.host, "link", "set", "eth0", "up")
	tp.must("ip", "-n", tp.host, "addr", "replace", "2001:db8::c001/64", "dev", "eth0", "nodad")
	eventually(t, 3*time.Second, "router entry for the target from the unsolicited NA", func() bool {
		return strings.Contains(neighLine(tp, tp.rt, c009s), "lladdr "+hostMAC)
	})
	t.Logf("router has the target's entry %v after the link came up: %s", time.Since(up).Round(time.Millisecond), neighLine(tp, tp.rt, c009s))
	eventually(t, 5*time.Second, "3 unsolicited NAs counted", func() bool { return pp.rule(t).Unsolicited-before >= 3 })
	time.Sleep(1500 * time.Millisecond) // a fourth would be due by now
	if n := pp.rule(t).Unsolicited - before; n != 3 {
		t.Errorf("%d unsolicited NAs after the flap, want 3", n)
	}

	shark.Process.Signal(os.Interrupt)
	<-sharkDone
	out, err := exec.Command("tshark", "-r", pcap, "-Y", "icmpv6.type == 136 && icmpv6.nd.na.target_address == "+c009s+" && ipv6.dst == ff02::1",
		"-T", "fields", "-e", "frame.time_epoch", "-e", "ipv6.hlim", "-e", "icmpv6.nd.na.flag.s", "-e", "icmpv6.nd.na.flag.o",
		"-e", "icmpv6.opt.linkaddr", "-E", "separator=,").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	var times []float64
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, ",")
		if len(f) < 5 {
			continue
		}
		var at float64
		fmt.Sscan(f[0], &at)
		times = append(times, at)
		if f[1] != "255" || (f[2] != "False" && f[2] != "0") || (f[3] != "False" && f[3] != "0") || f[4] != hostMAC {
			t.Errorf("unsolicited NA on the wire: %s (want hlim 255, S=0, O=0, TLLA %s)", l, hostMAC)
		}
	}
	if len(times) != 3 {
		// Where a lost one went: the host's tx and the router's rx drop counters.
		hs, _ := exec.Command("ip", "-n", tp.host, "-s", "-s", "link", "show", "eth0").CombinedOutput()
		rs, _ := exec.Command("ip", "-n", tp.rt, "-s", "-s", "link", "show", "eth0").CombinedOutput()
		t.Fatalf("tshark saw %d unsolicited NAs for %s, want 3:\n%s\nhost:\n%s\nrouter:\n%s", len(times), c009s, out, hs, rs)
	}
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d < 0.99 {
			t.Errorf("unsolicited NAs %d and %d %.3fs apart, want at least RetransTimer (1s)", i, i+1, d)
		}
	}
}
