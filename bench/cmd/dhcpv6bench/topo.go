package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// topo is the link under test: a veth pair between the server's namespace
// and the client's.
//
//	[ns PREFIXs] PREFIXS 2001:db8:0:2::1/64 --veth-- PREFIXC [ns PREFIXc]
//	server on CPU1 (RPS of PREFIXS on CPU1)           client on CPU0 (RPS on CPU0)
type topo struct {
	srvNS, cliNS, srvIf, cliIf string
}

// cleanups run in reverse order on exit, also on failure and on a signal.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atExit(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

func runCleanups() {
	cleanupMu.Lock()
	cs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench-dhcpv6:", err)
	runCleanups()
	os.Exit(1)
}

func sh(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
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

// setupTopo creates the namespaces and the link, with a random prefix so
// that other runs on the machine are not disturbed; they are removed at exit.
func setupTopo() *topo {
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	p := "d6" + hex.EncodeToString(rnd[:])
	t := &topo{srvNS: p + "s", cliNS: p + "c", srvIf: p + "S", cliIf: p + "C"}
	for _, ns := range []string{t.srvNS, t.cliNS} {
		must("ip", "netns", "add", ns)
		atExit(func() { _, _ = sh("ip", "netns", "del", ns) })
		must("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		must("ip", "-n", ns, "link", "set", "lo", "up")
	}
	must("ip", "link", "add", t.srvIf, "netns", t.srvNS, "type", "veth", "peer", "name", t.cliIf, "netns", t.cliNS)
	must("ip", "-n", t.srvNS, "addr", "add", "2001:db8:0:2::1/64", "dev", t.srvIf, "nodad")
	must("ip", "-n", t.srvNS, "link", "set", t.srvIf, "up")
	must("ip", "-n", t.cliNS, "link", "set", t.cliIf, "up")
	// Each side's receive processing on its own CPU: the server's kernel
	// work (IPv6, UDP, socket queue) is paid on the server's CPU, as on a
	// real NIC, instead of on the sender's.
	must("ip", "netns", "exec", t.srvNS, "sh", "-c", "echo 2 > /sys/class/net/"+t.srvIf+"/queues/rx-0/rps_cpus")
	must("ip", "netns", "exec", t.cliNS, "sh", "-c", "echo 1 > /sys/class/net/"+t.cliIf+"/queues/rx-0/rps_cpus")
	// Wait for the link-local addresses (no DAD, but the link must be up).
	deadline := time.Now().Add(10 * time.Second)
	for _, x := range [][2]string{{t.srvNS, t.srvIf}, {t.cliNS, t.cliIf}} {
		for !strings.Contains(must("ip", "-n", x[0], "-6", "addr", "show", "dev", x[1], "scope", "link"), "fe80") {
			if time.Now().After(deadline) {
				fatal(fmt.Errorf("no link-local address on %s", x[1]))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return t
}

// proc is a process started in a namespace, pinned to a CPU.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// start runs args in namespace ns on CPU cpu. ip netns exec and taskset
// exec the command in place, so the process's PID is the command's.
func start(name, ns string, cpu int, env []string, args ...string) *proc {
	p := &proc{name: name, done: make(chan struct{})}
	full := append([]string{"netns", "exec", ns, "taskset", "-c", strconv.Itoa(cpu)}, args...)
	p.cmd = exec.Command("ip", full...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		fatal(fmt.Errorf("start %s: %w", name, err))
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	atExit(func() { p.kill() })
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 10 s, then SIGKILL.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// kill sends SIGKILL and waits.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// cpuTime returns the user+system time of process pid (all its threads).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ
}

// cpuTimes is a CPU's time by state, from /proc/stat.
type cpuTimes struct {
	busy, idle, softirq time.Duration // busy: user, nice and system
}

func cpuStat(cpu int) cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		fatal(err)
	}
	name := "cpu" + strconv.Itoa(cpu)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 7 && f[0] == name {
			v := func(i int) time.Duration {
				n, _ := strconv.ParseUint(f[i], 10, 64)
				return time.Duration(n) * time.Second / 100 // USER_HZ
			}
			return cpuTimes{busy: v(1) + v(2) + v(3), idle: v(4) + v(5), softirq: v(6) + v(7)}
		}
	}
	fatal(fmt.Errorf("no %s in /proc/stat", name))
	return cpuTimes{}
}

// memKB returns VmRSS and VmHWM of process pid in KiB.
func memKB(pid int) (rss, hwm int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}

// udpStats returns the Udp6 counters of /proc/net/snmp6 in namespace ns.
func udpStats(ns string) map[string]uint64 {
	out := must("ip", "netns", "exec", ns, "cat", "/proc/net/snmp6")
	m := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && strings.HasPrefix(f[0], "Udp6") {
			m[f[0]], _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	return m
}

// listening reports whether a UDP socket in namespace ns is bound to port.
func listening(ns string, port int) bool {
	out, err := sh("ip", "netns", "exec", ns, "cat", "/proc/net/udp6")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, l := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasSuffix(f[1]+" ", want) {
			return true
		}
	}
	return false
}
