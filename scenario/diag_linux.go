package scenario

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// maxLogLines bounds each process log in a dump (the tail is kept).
const maxLogLines = 400

// Dump writes what one needs to understand a failure: for every namespace
// its links, IPv6 addresses, routes and neighbours (the bridge's ports for
// the switch, the IPv6 sysctls that matter for the vRouter and the VMs),
// then every process's state, sd_notify messages and log. It never fails:
// what cannot be read is written as such.
func (s *Scenario) Dump(w io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.mu.Lock()
	netns := append([]string(nil), s.netns...)
	s.mu.Unlock()
	fmt.Fprintf(w, "===== scenario %s diagnostics (dir %s) =====\n", s.prefix, s.dir)
	nodes := append(append([]Node(nil), Nodes...), parking)
	for _, n := range nodes {
		if !slices.Contains(netns, s.NS(n)) {
			continue
		}
		fmt.Fprintf(w, "--- %s (netns %s) ---\n", n.Title(), s.NS(n))
		cmds := [][]string{{"ip", "-br", "link"}}
		switch n {
		case Switch:
			cmds = append(cmds, []string{"bridge", "link"}, []string{"bridge", "fdb", "show", "br", IfBridge})
		default:
			cmds = append(cmds, []string{"ip", "-6", "addr"}, []string{"ip", "-6", "route"}, []string{"ip", "-6", "neigh"})
		}
		for _, c := range cmds {
			out, err := s.Exec(ctx, n, c...)
			fmt.Fprintf(w, "$ %s\n%s", strings.Join(c, " "), out)
			if err != nil && out == "" {
				fmt.Fprintf(w, "(%v)\n", err)
			}
		}
		var keys []string
		switch n {
		case VRouter:
			keys = []string{"net.ipv6.conf.all.forwarding", "net.ipv6.conf.eth0.forwarding", "net.ipv6.conf.eth0.accept_ra",
				"net.ipv6.conf.eth0.autoconf", "net.ipv6.conf.eth1.forwarding", "net.ipv6.conf.eth1.accept_ra"}
		case VM1, VM2:
			keys = []string{"net.ipv6.conf.eth0.forwarding", "net.ipv6.conf.eth0.accept_ra", "net.ipv6.conf.eth0.autoconf",
				"net.ipv6.conf.eth0.use_tempaddr", "net.ipv6.conf.eth0.addr_gen_mode"}
		}
		if len(keys) > 0 {
			// -e: an interface that does not exist (yet) is not an error.
			out, _ := s.Exec(ctx, n, append([]string{"sysctl", "-e"}, keys...)...)
			fmt.Fprintf(w, "$ sysctl ...\n%s", out)
		}
	}
	for _, p := range s.Procs() {
		fmt.Fprintf(w, "--- process %s in %s: pid %d, started %s, %s ---\n",
			p.Name, s.NS(p.Node), p.Pid(), p.Started().Format("15:04:05.000"), p.Status())
		if notes := p.Notifications(); len(notes) > 0 {
			fmt.Fprintf(w, "sd_notify: %s\n", strings.Join(notes, " | "))
		}
		fmt.Fprint(w, tail(p.Output(), maxLogLines))
		if p.Name == "vrouter" && !p.Exited() {
			out, err := s.run(ctx, s.opts.VRouterBin, "status", "--socket", s.VRouterSocket())
			fmt.Fprintf(w, "$ vrouter status\n%s", out)
			if err != nil && out == "" {
				fmt.Fprintf(w, "(%v)\n", err)
			}
		}
	}
	fmt.Fprintf(w, "===== end of scenario %s diagnostics =====\n", s.prefix)
}

// DumpString returns Dump's text.
func (s *Scenario) DumpString() string {
	var b strings.Builder
	s.Dump(&b)
	return b.String()
}
