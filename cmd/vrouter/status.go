package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vrouter/vrouter/daemon"
)

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrouter status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", daemon.DefaultSocket, "status socket of the running daemon")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	st, err := daemon.QueryStatus(*socket)
	if err != nil {
		fmt.Fprintf(stderr, "vrouter status: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return exitOK
	}
	fmt.Fprintf(stdout, "config:  %s\nstarted: %s\n", st.Config, st.Started.Format("2006-01-02 15:04:05"))
	if st.Forwarding != nil {
		fmt.Fprintf(stdout, "forwarding: %t\n", *st.Forwarding)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INTERFACE\tROLE\tCONFIGURED\tADVERTISING\tRA SENT\tRS RECEIVED\tRS DROPPED\tINCONSISTENT\tWITHDRAWING")
	for _, i := range st.Interfaces {
		adv, sent, rs, dropped, inc, wd := "-", "-", "-", "-", "-", "-"
		if i.Advertise {
			adv = fmt.Sprint(i.Advertising)
		}
		if r := i.RA; r != nil {
			adv = string(r.State)
			sent, rs = counts(r.Sent), fmt.Sprint(r.SolicitationsReceived)
			dropped, inc, wd = counts(r.SolicitationsDropped), counts(r.Inconsistencies), fmt.Sprint(r.Withdrawing)
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.Role, i.Configured, adv, sent, rs, dropped, inc, wd)
	}
	tw.Flush()
	for _, i := range st.Interfaces {
		d := i.DHCPv6
		if d == nil {
			continue
		}
		dropped := map[string]uint64{}
		for r, n := range d.Dropped {
			dropped[r.String()] = n
		}
		fmt.Fprintf(stdout, "dhcpv6 %s (%s): active=%t running=%t leases=%d/%d declined=%d reservations=%d received=%s sent=%s dropped=%s suppressed=%d\n",
			i.Name, d.Mode, d.Active, d.Running, d.LeasesInUse, d.PoolSize, d.DeclinedAddresses, d.Reservations,
			counts(d.Received), counts(d.Sent), counts(dropped), d.Suppressed)
	}
	for _, r := range st.NDProxy {
		fmt.Fprintf(stdout, "ndproxy %s -> %s %s (%s): active=%t targets=%d pending=%d answered=%d (unicast %d) defended=%d probes=%d\n",
			r.Upstream, r.Downstream, r.Prefix, r.Mode, r.Active, len(r.Targets), r.Pending, r.Answered, r.AnsweredUnicast, r.Defended, r.Probes)
		for _, k := range slices.Sorted(maps.Keys(r.Dropped)) {
			fmt.Fprintf(stdout, "  dropped %-20s %d\n", k, r.Dropped[k])
		}
	}
	if fp := st.Fastpath; fp != nil {
		fmt.Fprintf(stdout, "fast path: running=%t interfaces=%v received=%d forwarded=%d ptb_sent=%d rx_ring_dropped=%d\n",
			fp.Running, fp.Interfaces, fp.Received, fp.Forwarded, fp.PacketTooBig, fp.RxRingDropped)
		for _, k := range slices.Sorted(maps.Keys(fp.IO)) {
			fmt.Fprintf(stdout, "  io %-20s %s\n", k, fp.IO[k])
		}
		for _, m := range []struct {
			name string
			c    map[string]uint64
		}{{"to kernel", fp.ToKernel}, {"dropped", fp.Dropped}} {
			for _, k := range slices.Sorted(maps.Keys(m.c)) {
				fmt.Fprintf(stdout, "  %s %-20s %d\n", m.name, k, m.c[k])
			}
		}
	}
	if h := st.HA; h != nil {
		fmt.Fprintf(stdout, "ha vrid %d: %s priority=%d effective=%d preempt=%t advert_interval=%dms", h.VRID, h.State, h.Priority, h.EffectivePriority, h.Preempt, h.AdvertIntervalMS)
		if lt := h.LastTransition; lt != nil {
			fmt.Fprintf(stdout, " since %s (from %s: %s)", lt.At.Format("2006-01-02 15:04:05.000"), lt.From, lt.Reason)
		}
		fmt.Fprintln(stdout)
		for _, in := range h.Instances {
			peer := "none"
			if p := in.Peer; p != nil {
				peer = fmt.Sprintf("%s priority %d interval %dms seen %s", p.Address, p.Priority, p.AdvertIntervalMS, p.LastSeen.Format("15:04:05.000"))
			}
			fmt.Fprintf(stdout, "  %s via %s (%s): link_up=%t adverts sent=%d received=%d dropped=%s peer %s\n",
				in.Interface, in.VirtualLink, in.VirtualMAC, in.LinkUp, in.AdvertsSent, in.AdvertsReceived, counts(in.AdvertsDropped), peer)
		}
	}
	for _, c := range st.Components {
		line := fmt.Sprintf("component %-9s %s", c.Name, c.State)
		if c.Restarts > 0 {
			line += fmt.Sprintf(" restarts=%d last_error=%q", c.Restarts, c.LastError)
		}
		fmt.Fprintln(stdout, line)
	}
	if w := st.Watcher; w != nil {
		fmt.Fprintf(stdout, "netlink watcher: subscribed=%t resyncs=%d overflows=%d\n", w.Subscribed, w.Resyncs, w.Overflows)
	}
	return exitOK
}

// counts renders a counter map as "k=v,k=v" in key order, or "0".
func counts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ",")
}
