package main

// Restarts of the real binary in namespaces, watched with `ip monitor`.
//
//	namespace <p>up               <p>vr (vrouter run)               <p>h (a host)
//	[upstream] eth0 ==veth== up0 [vRouter] dn0 ==veth== eth0 [host]
//	 2001:db8:0:1::1/64                  2001:db8:0:2::1/64         SLAAC from our RAs,
//	                                     2001:db8:0:3::1/64         default route via vRouter
//	                    NDP proxy up0 -> dn0 for 2001:db8:0:1::c000/125 (route proto 199)
//
// Every name carries a random prefix; the namespaces (and so every link)
// are deleted in t.Cleanup, and the vrouter processes are killed there.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

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

// restartLab is the topology above.
type restartLab struct {
	t              *testing.T
	up, vr, host   string // namespaces
	dir, cfg, sock string
}

func (l *restartLab) must(args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newRestartLab(t *testing.T) *restartLab {
	if os.Geteuid() != 0 {
		t.Skip("skipping: namespace test needs root (network namespaces, veth links); CI runs it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: ip (iproute2) not installed")
	}
	b := make([]byte, 3)
	rand.Read(b)
	p := "vrr" + hex.EncodeToString(b) + "-"
	l := &restartLab{t: t, up: p + "up", vr: p + "vr", host: p + "h", dir: t.TempDir()}
	l.cfg, l.sock = filepath.Join(l.dir, "vrouter.yaml"), filepath.Join(l.dir, "vrouter.sock")
	for _, ns := range []string{l.up, l.vr, l.host} {
		l.must("ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("cleanup: ip netns del %s: %v %s", ns, err, out)
			}
		})
		l.must("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		l.must("ip", "-n", ns, "link", "set", "lo", "up")
	}
	l.must("ip", "-n", l.vr, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", l.up)
	l.must("ip", "-n", l.vr, "link", "add", "dn0", "type", "veth", "peer", "name", "eth0", "netns", l.host)
	l.must("ip", "-n", l.up, "link", "set", "eth0", "up")
	l.must("ip", "-n", l.up, "addr", "add", "2001:db8:0:1::1/64", "dev", "eth0", "nodad")
	l.must("ip", "-n", l.host, "link", "set", "eth0", "up")
	return l
}

func (l *restartLab) writeConfig(addrs ...string) {
	l.t.Helper()
	var prefixes []string
	for _, a := range addrs {
		prefixes = append(prefixes, fmt.Sprintf("{prefix: %q}", strings.TrimSuffix(a, "1/64")+"/64"))
	}
	cfg := "interfaces:\n" +
		"  up0: {role: upstream}\n" +
		"  dn0:\n    role: downstream\n    addresses: [" + strings.Join(addrs, ", ") + "]\n" +
		"    advertise: {max_interval: 4s, prefixes: [" + strings.Join(prefixes, ", ") + "]}\n" +
		"forwarding: true\n" +
		"ndproxy: [{upstream: up0, downstream: dn0, prefix: \"2001:db8:0:1::c000/125\"}]\n"
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// vrouterProc is `vrouter run` (this test binary as vrouter) in the
// vRouter namespace.
type vrouterProc struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
}

func (l *restartLab) start() *vrouterProc {
	l.t.Helper()
	p := &vrouterProc{logs: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command("ip", "netns", "exec", l.vr, os.Args[0], "run", "--config", l.cfg, "--socket", l.sock,
		"--state-dir", filepath.Join(l.dir, "state"), "--log-level", "debug")
	p.cmd.Env = append(os.Environ(), "VROUTER_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	l.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
		if l.t.Failed() {
			l.t.Logf("vrouter log:\n%s", p.logs)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.logs.String(), "msg=ready") {
		select {
		case err := <-p.done:
			l.t.Fatalf("vrouter exited before ready: %v\n%s", err, p.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("vrouter not ready within 20s:\n%s", p.logs)
		}
	}
	return p
}

// stop sends sig (the ip netns exec process is vrouter itself: it execs)
// and expects exit 0.
func (p *vrouterProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("vrouter exited after %v: %v\n%s", sig, err, p.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("vrouter did not exit within 15s of %v", sig)
	}
}

// monitor is `ip -6 monitor OBJECTS` in a namespace; lines are its
// messages, continuation lines joined to their first line.
type monitor struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

func (l *restartLab) monitor(ns string, objects ...string) *monitor {
	l.t.Helper()
	m := &monitor{out: &lockedBuffer{}}
	m.cmd = exec.Command("ip", append([]string{"-n", ns, "-6", "monitor"}, objects...)...)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	if err := m.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	})
	return m
}

// live waits until the monitor in namespace ns has subscribed: it creates
// veth pairs there until one shows up in its output.
func (m *monitor) live(l *restartLab, ns string) {
	l.t.Helper()
	for i := range 40 {
		name := fmt.Sprintf("probe%d", i)
		l.must("ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", name+"p")
		for range 25 {
			if strings.Contains(m.out.String(), name) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	l.t.Fatalf("ip monitor in %s shows nothing:\n%s", ns, m.out)
}

func (m *monitor) messages() []string {
	var out []string
	for _, line := range strings.Split(m.out.String(), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case (line[0] == ' ' || line[0] == '\t') && len(out) > 0:
			out[len(out)-1] += " | " + strings.TrimSpace(line)
		default:
			out = append(out, line)
		}
	}
	return out
}

// waitFor waits until a message after the first from contains s, and
// returns how many messages there are then.
func (m *monitor) waitFor(t *testing.T, from int, s string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := m.messages()
		for _, l := range ms[min(from, len(ms)):] {
			if strings.Contains(l, s) {
				return len(ms)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ip monitor did not show %q within 10s:\n%s", s, strings.Join(ms, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// since returns the messages after the first n that mention any of subs.
func (m *monitor) since(n int, subs ...string) []string {
	var out []string
	for _, l := range m.messages()[n:] {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func (l *restartLab) waitHost(t *testing.T, what string, cond func(string) bool, args ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := l.must(append([]string{"ip", "-n", l.host, "-6"}, args...)...)
		if cond(out) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host: %s: not within 20s:\n%s", what, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle is how long the new process runs, watched, before the monitors
// are read: longer than its initial RAs and the RA interval (4s), and than
// the proxy's and the reconciler's first passes.
const settle = 6 * time.Second

// TestRestartTouchesNothing runs `vrouter run`, then restarts it the way
// `systemctl restart` does with RestartKillSignal=SIGUSR2, and checks with
// `ip monitor` that from the stop until a settle time after the new start
// nothing changed: no address, route, link or forwarding event on the
// vRouter's interfaces, and the host lost nothing (a final RA would delete
// its default route). Then it restarts with an address dropped from the
// config while vrouter was down: exactly that address goes, an operator's
// stays. Last, SIGTERM: the final RA removes the host's default route,
// which shows the host's monitor would have seen one.
func TestRestartTouchesNothing(t *testing.T) {
	l := newRestartLab(t)
	l.writeConfig("2001:db8:0:2::1/64", "2001:db8:0:3::1/64")
	vr := l.start()
	l.waitHost(t, "default route via the vRouter", func(s string) bool { return strings.Contains(s, "default via fe80::") }, "route", "show", "default")
	l.waitHost(t, "SLAAC addresses in both prefixes", func(s string) bool {
		return strings.Contains(s, "2001:db8:0:2:") && strings.Contains(s, "2001:db8:0:3:")
	}, "addr", "show", "dev", "eth0")
	if out := l.must("ip", "-n", l.vr, "-6", "route", "show", "proto", "199"); !strings.Contains(out, "2001:db8:0:1::c000/125 dev dn0") {
		t.Fatalf("no proxy route:\n%s", out)
	}

	mon := l.monitor(l.vr, "address", "route", "link", "netconf")
	hostMon := l.monitor(l.host, "address", "route", "link")
	mon.live(l, l.vr)
	hostMon.live(l, l.host)
	// An operator's address: proves the monitor is live, and must stay.
	// Its prefix, local and anycast routes follow the address.
	l.must("ip", "-n", l.vr, "addr", "add", "2001:db8:0:9::9/64", "dev", "dn0", "nodad")
	n := 0
	for _, s := range []string{"2001:db8:0:9::9/64", "2001:db8:0:9::/64 dev dn0", "local 2001:db8:0:9::9 dev dn0", "anycast 2001:db8:0:9:: dev dn0"} {
		n = max(n, mon.waitFor(t, 0, s))
	}
	hostN := len(hostMon.messages())

	vr.stop(t, syscall.SIGUSR2)
	if !strings.Contains(vr.logs.String(), "stopping for a restart") {
		t.Errorf("SIGUSR2 not logged as a stop for a restart:\n%s", vr.logs)
	}
	vr = l.start()
	time.Sleep(settle)
	if got := mon.since(n, "up0", "dn0"); len(got) != 0 {
		t.Errorf("the restart changed the vRouter's interfaces (ip monitor):\n%s", strings.Join(got, "\n"))
	}
	if got := hostMon.since(hostN, "Deleted"); len(got) != 0 {
		t.Errorf("the host lost something during the restart (ip monitor):\n%s", strings.Join(got, "\n"))
	}
	for _, want := range []string{"restored address ownership", "routes of an earlier run"} {
		if !strings.Contains(vr.logs.String(), want) {
			t.Errorf("log of the new process lacks %q", want)
		}
	}

	// Down again; the config drops 2001:db8:0:3::1/64 meanwhile.
	n = len(mon.messages())
	vr.stop(t, syscall.SIGUSR2)
	l.writeConfig("2001:db8:0:2::1/64")
	vr = l.start()
	mon.waitFor(t, n, "2001:db8:0:3::1/64")
	time.Sleep(settle)
	// The address, and the routes the kernel removes with it (prefix,
	// local, anycast): deletions in 2001:db8:0:3::/64 only.
	var deleted []string
	for _, m := range mon.since(n, "up0", "dn0") {
		if f := strings.Fields(m); len(f) > 4 && f[0] == "Deleted" && f[3] == "inet6" {
			deleted = append(deleted, f[4]) // "Deleted IDX: DEV inet6 ADDR ..."
		}
		if !strings.HasPrefix(m, "Deleted ") || !strings.Contains(m, "2001:db8:0:3:") {
			t.Errorf("unexpected change after the restart: %s", m)
		}
	}
	if len(deleted) != 1 || deleted[0] != "2001:db8:0:3::1/64" {
		t.Errorf("addresses deleted %q, want only 2001:db8:0:3::1/64", deleted)
	}
	if out := l.must("ip", "-n", l.vr, "-6", "addr", "show", "dev", "dn0"); !strings.Contains(out, "2001:db8:0:9::9/64") ||
		!strings.Contains(out, "2001:db8:0:2::1/64") || !strings.Contains(out, "fe80::") {
		t.Errorf("addresses after the restart:\n%s", out)
	}

	// A real stop withdraws: the host's default route goes at once.
	hostN = len(hostMon.messages())
	vr.stop(t, syscall.SIGTERM)
	hostMon.waitFor(t, hostN, "Deleted default via fe80::")
	if got := hostMon.since(hostN, "Deleted default"); len(got) == 0 {
		t.Error("SIGTERM: the host kept its default route")
	}
	if out := l.must("ip", "-n", l.vr, "-6", "route", "show", "proto", "199"); strings.TrimSpace(out) != "" {
		t.Errorf("SIGTERM left the proxy route:\n%s", out)
	}
}
