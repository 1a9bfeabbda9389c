package main

// The "testpmd" forwarder: DPDK's testpmd with its AF_PACKET poll-mode
// driver (net_af_packet) on the router namespace's two veths, as an
// external userspace peer (issue 5). Debian ships dpdk-testpmd in dpdk-dev;
// the AF_PACKET driver and the ring mempool are the librte-net-af-packet23
// and librte-mempool-ring23 plugins.
//
// testpmd runs without hugepages (--no-huge), both of its lcores (the idle
// main lcore waiting for "enter" and the busy-polling forwarding lcore)
// mapped onto CPU1 (--lcores=0@1,1@1 under taskset -c 1), in "mac" forward
// mode: port 0 (rA) ↔ port 1 (rB), destination MAC rewritten to the peer's
// (gA for port 0, sB for port 1) and the source to the port's own, so that
// the sink's veth counts the frames. It does no route lookup and no hop-limit
// decrement: the least a forwarder can do per packet.
//
// net_af_packet does not take the frames away from the kernel: its
// AF_PACKET sockets see a copy, and the kernel's stack still receives every
// frame. While testpmd runs, net.ipv6.conf.all.forwarding is 0 in the router
// namespace, so the kernel drops the frames (ip6_forward) instead of
// forwarding them a second time; -testpmd-ingress-drop also drops the UDP
// test traffic at rA's tc ingress (after the AF_PACKET tap, as the fast
// path's claim program does), so that the kernel's IPv6 input does not run
// on CPU1 either.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

var (
	testpmdBin   = flag.String("testpmd", "dpdk-testpmd", "DPDK testpmd binary for the testpmd forwarder (Debian: package dpdk-dev)")
	testpmdRing  = flag.String("testpmd-ring", "blocksz=4096,framesz=2048,framecnt=2048", "net_af_packet ring arguments of each testpmd port")
	testpmdDrop  = flag.Bool("testpmd-ingress-drop", false, "testpmd forwarder: also drop the UDP test traffic at rA's tc ingress (after testpmd's AF_PACKET socket has seen it), so that the kernel's IPv6 input does not also process each frame")
	testpmdStart = 30 * time.Second // bound on testpmd's start-up
)

// testpmdPath returns the testpmd binary's path, or "" when it is not
// installed.
func testpmdPath() string {
	p, err := exec.LookPath(*testpmdBin)
	if err != nil {
		return ""
	}
	return p
}

// testpmdArgs returns testpmd's command line for the router namespace of t
// (without the "ip netns exec NS taskset -c 1" in front).
func testpmdArgs(bin string, t *topo, filePrefix string) []string {
	ring := ""
	if *testpmdRing != "" {
		ring = "," + *testpmdRing
	}
	return []string{bin,
		// EAL: both lcores on CPU1, no hugepages, no PCI scan, no shared
		// config files, no telemetry socket.
		"--lcores=0@1,1@1", "--main-lcore=0", "--no-huge", "-m", "256", "--no-pci",
		"--no-shconf", "--file-prefix=" + filePrefix, "--no-telemetry",
		"--vdev=net_af_packet0,iface=" + t.rA + ring,
		"--vdev=net_af_packet1,iface=" + t.rB + ring,
		"--",
		"--forward-mode=mac", "--eth-peer=0," + t.macGA, "--eth-peer=1," + t.macSB,
		"--nb-cores=1", "--total-num-mbufs=16384", "--auto-start",
	}
}

// accumulatedStats returns testpmd's exit summary ("Accumulated forward
// statistics for all ports") as one line.
func accumulatedStats(out string) string {
	_, after, ok := strings.Cut(out, "Accumulated forward statistics")
	if !ok {
		return "no statistics"
	}
	var f []string
	for _, l := range strings.Split(after, "\n")[1:] {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "+++") {
			break
		}
		f = append(f, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(f, "; ")
}

var sysctlForwarding = "net.ipv6.conf.all.forwarding"

// startTestpmd starts testpmd in the router namespace with the kernel's IPv6
// forwarding off there, waits until it forwards, and returns a function that
// stops it, restores forwarding and returns testpmd's statistics. Like
// startRouter, it appends one function to cleanup (which the caller removes
// after stop).
func startTestpmd(t *topo, bin string) func() string {
	prefix := t.r + "-tp"
	restore := func() {
		_, _ = sh("ip", "netns", "exec", t.r, "sysctl", "-qw", sysctlForwarding+"=1")
		if *testpmdDrop {
			_, _ = sh("tc", "-n", t.r, "qdisc", "del", "dev", t.rA, "ingress")
		}
		_ = os.RemoveAll("/var/run/dpdk/" + prefix) // its runtime directory (the mp socket)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", t.r, "taskset", "-c", "1"}, testpmdArgs(bin, t, prefix)...)...)
	// In non-interactive mode testpmd forwards until it reads a line (or
	// end of file) from its standard input.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
	}()
	// Off before testpmd starts: the kernel must not forward what testpmd
	// forwards.
	must("ip", "netns", "exec", t.r, "sysctl", "-qw", sysctlForwarding+"=0")
	if *testpmdDrop {
		must("tc", "-n", t.r, "qdisc", "add", "dev", t.rA, "ingress")
		must("tc", "-n", t.r, "filter", "add", "dev", t.rA, "ingress", "prio", "1", "protocol", "ipv6",
			"bpf", "bytecode", "4,48 0 0 20,21 0 1 17,6 0 0 2,6 0 0 0", "da")
	}
	if err := cmd.Start(); err != nil {
		restore()
		fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); _ = pw.Close(); close(exited) }()
	kill := func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		restore()
	}
	cleanup = append(cleanup, kill)
	// Ready when a ping goes through it (its output to a pipe is block
	// buffered, so "Press enter to exit" shows only at exit). The echo
	// request and reply both cross testpmd (the sink's neighbour entry for
	// b::1 is answered by the router's kernel through it).
	deadline := time.Now().Add(testpmdStart)
	for {
		select {
		case <-exited:
			<-done
			fatal(fmt.Errorf("testpmd exited (%v):\n%s", waitErr, log.String()))
		default:
		}
		if _, err := sh("ip", "netns", "exec", t.g, "ping", "-6", "-c", "1", "-W", "1", "2001:db8:b::2"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			fatal(errors.New("testpmd did not forward a ping within " + testpmdStart.String()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return func() string {
		_, _ = io.WriteString(stdin, "\n")
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		<-done
		restore()
		return accumulatedStats(log.String())
	}
}
