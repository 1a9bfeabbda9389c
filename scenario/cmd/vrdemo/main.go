//go:build linux

// Command vrdemo runs the reference scenario (DESIGN §1, §5 `make demo`):
// it builds the topology in network namespaces, starts radvd in the
// ipv6-router and `vrouter run` (embedded default config) in the vRouter,
// waits until VM1 and VM2 have their SLAAC addresses, pings the ipv6-router
// from both, prints the addresses, routes and ping summaries, and removes
// everything again, also on Ctrl-C. It exits 0 when the scenario works, 1
// when it does not (then with the diagnostics of every namespace), 2 on
// bad usage.
//
//	go build -o bin/vrouter ./cmd/vrouter && go run ./scenario/cmd/vrdemo --vrouter bin/vrouter
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vrouter/vrouter/scenario"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrdemo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("vrouter", "bin/vrouter", "the vrouter binary to run")
	prefix := fs.String("prefix", "", `namespace prefix (default "vr-" + 5 random characters + "-")`)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for SLAAC")
	keep := fs.Bool("keep", false, "when it works, keep the scenario running until Ctrl-C")
	verbose := fs.Bool("v", false, "log every command run")
	remove := fs.String("remove", "", "only delete the namespaces of an earlier run that could not clean up, e.g. vr-k3f9a-")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vrdemo [flags]   (as root)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "vrdemo: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "vrdemo: needs root (it creates network namespaces); try: sudo go run ./scenario/cmd/vrdemo")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *remove != "" {
		names, err := scenario.RemoveLeftovers(ctx, *remove)
		for _, n := range names {
			fmt.Fprintf(stdout, "removed %s\n", n)
		}
		if err != nil {
			fmt.Fprintf(stderr, "vrdemo: %v\n", err)
			return 1
		}
		return 0
	}
	if _, err := os.Stat(*bin); err != nil {
		fmt.Fprintf(stderr, "vrdemo: vrouter binary: %v (build it: go build -o bin/vrouter ./cmd/vrouter)\n", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	d := &demo{
		out:     stdout,
		start:   time.Now(),
		timeout: *timeout,
		keep:    *keep,
		opts: scenario.Options{
			Prefix:     *prefix,
			VRouterBin: *bin,
			Logger:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		},
	}
	err := d.run(ctx)
	if d.s != nil {
		if err != nil && ctx.Err() == nil {
			fmt.Fprintln(stdout, "\nDiagnostics:")
			d.s.Dump(stdout)
		}
		d.step("removing the namespaces")
		if cerr := d.s.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		} else {
			d.step("removed")
		}
	}
	switch {
	case err == nil && d.kept:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintln(stdout, "interrupted")
		return 1
	case err != nil:
		fmt.Fprintf(stdout, "\nRESULT: FAIL: %v\n", err)
		return 1
	}
	return 0
}

type demo struct {
	out     io.Writer
	start   time.Time
	timeout time.Duration
	keep    bool
	opts    scenario.Options
	s       *scenario.Scenario
	kept    bool // succeeded, then ran until Ctrl-C
}

func (d *demo) step(format string, args ...any) {
	fmt.Fprintf(d.out, "[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	s, err := scenario.New(ctx, d.opts)
	if err != nil {
		return err
	}
	d.s = s
	d.diagram()
	d.step("topology built")
	radvd, err := s.StartRadvd(ctx)
	if err != nil {
		return err
	}
	d.step("radvd running in %s (pid %d), MaxRtrAdvInterval %v", s.NS(scenario.Upstream), radvd.Pid(), scenario.DefaultRadvdMaxInterval)
	vr, err := s.StartVRouter(ctx)
	if err != nil {
		return err
	}
	d.step("vrouter run started in %s (pid %d)", s.NS(scenario.VRouter), vr.Pid())
	if err := vr.Ready(ctx, 10*time.Second); err != nil {
		d.step("vrouter: %v", err)
		if vr.Exited() {
			return fmt.Errorf("vrouter exited: %s", vr.Status())
		}
	} else {
		d.step("vrouter ready (sd_notify READY=1 after %v)", vr.ReadyAt().Sub(vr.Started()).Round(time.Millisecond))
	}

	deadline := time.Now().Add(d.timeout)
	left := func() time.Duration { return max(0, time.Until(deadline)) }
	var vm1After time.Duration
	for _, w := range []struct {
		node   scenario.Node
		ifname string
		addr   netip.Prefix
	}{
		{scenario.VM1, scenario.IfEth0, scenario.VM1Addr},
		{scenario.VM2, scenario.IfEth0, scenario.VM2Addr},
		{scenario.VRouter, scenario.IfEth0, scenario.VRouterEth0Addr},
	} {
		if err := s.WaitAddr(ctx, w.node, w.ifname, w.addr, left()); err != nil {
			return err
		}
		after := time.Since(vr.Started())
		if w.node == scenario.VM1 {
			vm1After = after
		}
		d.step("%-7s %s has %v (SLAAC, %v after vrouter start)", w.node.Title(), w.ifname, w.addr, after.Round(time.Millisecond))
	}
	for _, w := range []struct {
		node   scenario.Node
		ifname string
		gw     netip.Addr
	}{
		{scenario.VM1, scenario.IfEth0, scenario.VRouterEth1LL},
		{scenario.VM2, scenario.IfEth0, scenario.VRouterEth1LL},
		{scenario.VRouter, scenario.IfEth0, scenario.UpstreamLL},
	} {
		if err := s.WaitDefaultRoute(ctx, w.node, w.ifname, w.gw, left()); err != nil {
			return err
		}
	}
	d.step("default routes in place")

	fmt.Fprintln(d.out, "\nAddresses and routes:")
	for _, n := range []scenario.Node{scenario.Upstream, scenario.VRouter, scenario.VM1, scenario.VM2} {
		d.showNode(n)
	}

	fmt.Fprintln(d.out, "\nPing:")
	var failed []string
	for _, p := range []struct {
		from scenario.Node
		to   netip.Addr
	}{
		{scenario.VM1, scenario.UpstreamAddr.Addr()},
		{scenario.VM2, scenario.UpstreamAddr.Addr()},
	} {
		res, err := s.Ping(ctx, p.from, p.to, 3)
		if err != nil {
			fmt.Fprintf(d.out, "  %-4s -> %v: FAILED: %v\n", p.from.Title(), p.to, err)
			failed = append(failed, fmt.Sprintf("%s -> %v", p.from.Title(), p.to))
			continue
		}
		fmt.Fprintf(d.out, "  %-4s -> %v: %s\n", p.from.Title(), p.to, res.Summary)
	}
	if len(failed) > 0 {
		return fmt.Errorf("ping failed: %s", strings.Join(failed, ", "))
	}
	if vr.Exited() {
		return fmt.Errorf("vrouter exited: %s", vr.Status())
	}
	if mem, err := procMemory(vr.Pid()); err == nil {
		fmt.Fprintf(d.out, "\nvrouter memory: %s\n", mem)
	}
	fmt.Fprintf(d.out, "\nRESULT: OK: VM1 had its address %v after `vrouter run` started; both VMs reach 2001:db8:0:1::1 through the vRouter.\n",
		vm1After.Round(time.Millisecond))
	if d.keep {
		fmt.Fprintf(d.out, "\nThe scenario keeps running; try\n  ip netns exec %s traceroute -6 -n %v\n  %s status --socket %s\nCtrl-C removes it.\n",
			s.NS(scenario.VM1), scenario.UpstreamAddr.Addr(), d.opts.VRouterBin, s.VRouterSocket())
		select {
		case <-ctx.Done():
			d.kept = true
		case <-vr.Done():
			return fmt.Errorf("vrouter exited: %s", vr.Status())
		}
	}
	return nil
}

func (d *demo) diagram() {
	ns := d.s.NS
	fmt.Fprintf(d.out, `IPv6 vRouter reference scenario (namespaces %s*)

  [ipv6-router] %-12s radvd: 2001:db8:0:1::/64, route 2001:db8:0:2::/64 via the vRouter
        | eth0 2001:db8:0:1::1/64
        |
        | eth0 SLAAC 2001:db8:0:1:f816:3eff:fe11:1111
  [vRouter]     %-12s vrouter run (embedded default config)
        | eth1 2001:db8:0:2::1/64, RA 2001:db8:0:2::/64
        |
  [switch]      %-12s bridge br0
     |                    |
  [VM1] %-12s  [VM2] %-12s
  SLAAC ...fe33:3333      SLAAC ...fe44:4444

`, d.s.Prefix(), ns(scenario.Upstream), ns(scenario.VRouter), ns(scenario.Switch), ns(scenario.VM1), ns(scenario.VM2))
}

// showNode prints node's IPv6 addresses per interface and its routes other
// than the link-local ones.
func (d *demo) showNode(n scenario.Node) {
	ifnames := []string{scenario.IfEth0}
	if n == scenario.VRouter {
		ifnames = append(ifnames, scenario.IfEth1)
	}
	for i, ifname := range ifnames {
		title := ""
		if i == 0 {
			title = n.Title()
		}
		addrs, err := d.s.Addrs(n, ifname)
		var list []string
		for _, a := range addrs {
			list = append(list, a.Prefix.String())
		}
		if err != nil {
			list = []string{err.Error()}
		}
		fmt.Fprintf(d.out, "  %-12s %-5s %s\n", title, ifname, strings.Join(list, "  "))
	}
	routes, err := d.s.Routes(n)
	if err != nil {
		fmt.Fprintf(d.out, "  %-12s route %v\n", "", err)
		return
	}
	for _, r := range routes {
		if r.Dst.Addr().IsLinkLocalUnicast() || r.Dst.Addr().IsMulticast() {
			continue
		}
		dst := r.Dst.String()
		if r.Dst.Bits() == 0 {
			dst = "default"
		}
		via := ""
		if r.Gw.IsValid() {
			via = " via " + r.Gw.String()
		}
		fmt.Fprintf(d.out, "  %-12s route %s%s dev %s\n", "", dst, via, r.Dev)
	}
}

// procMemory reads the resident set size (now and peak) of pid.
func procMemory(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	var rss, hwm string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = strings.TrimSpace(v)
		}
	}
	if rss == "" {
		return "", fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return fmt.Sprintf("RSS %s (peak %s)", rss, hwm), nil
}
