package scenario

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PingResult is what ping printed about one run.
type PingResult struct {
	Transmitted, Received int
	Summary               string // "3 packets transmitted, ..." and the rtt line
	Output                string // everything
}

func parsePing(out string) PingResult {
	res := PingResult{Output: out}
	var summary []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, "packets transmitted"):
			summary = append(summary, line)
			fmt.Sscanf(line, "%d packets transmitted, %d received", &res.Transmitted, &res.Received)
		case strings.HasPrefix(line, "rtt ") || strings.HasPrefix(line, "round-trip"):
			summary = append(summary, line)
		}
	}
	res.Summary = strings.Join(summary, "; ")
	return res
}

// parseTraceroute reads lines " 1  2001:db8:0:2::1  0.051 ms" and
// " 2  *"; the header line and anything else are skipped.
func parseTraceroute(out string) []netip.Addr {
	var hops []netip.Addr
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		hop, err := strconv.Atoi(f[0])
		if err != nil || hop != len(hops)+1 {
			continue
		}
		a, _ := netip.ParseAddr(f[1]) // "*" stays invalid
		hops = append(hops, a)
	}
	return hops
}

// tail returns the last n lines of text, saying how many were cut.
func tail(text string, n int) string {
	if text == "" {
		return "(no output)\n"
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	lines := strings.SplitAfter(text, "\n")
	lines = lines[:len(lines)-1] // after the last "\n"
	if len(lines) <= n {
		return text
	}
	return fmt.Sprintf("(%d earlier lines cut)\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "")
}

// DHClientEvent is one call of the dhclient script: "reason" and the
// variables dhclient passed ("new_ip6_address", "new_dhcp6_name_servers",
// "new_dhcp6_domain_search", ...).
type DHClientEvent map[string]string

// parseDHClientEvents reads the script's lines of "key=value" fields:
// whole lines only (the script may be writing the last one), and only
// those with a reason.
func parseDHClientEvents(out string) []DHClientEvent {
	var evs []DHClientEvent
	out = out[:strings.LastIndexByte(out, '\n')+1]
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		e := DHClientEvent{}
		for _, kv := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				e[k] = v
			}
		}
		if e["reason"] != "" {
			evs = append(evs, e)
		}
	}
	return evs
}
