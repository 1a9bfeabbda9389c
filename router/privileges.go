package router

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Capability numbers from linux/capability.h.
const (
	capNetAdmin = 12
	capNetRaw   = 13
)

// parseCapEff returns the effective capability set from the text of
// /proc/self/status.
func parseCapEff(status string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parse CapEff %q: %w", strings.TrimSpace(rest), err)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	return 0, fmt.Errorf("no CapEff line in status")
}

// missingCaps returns an error naming the capabilities vrouter needs that
// the effective set lacks, or nil.
func missingCaps(eff uint64) error {
	var missing, names []string
	if eff&(1<<capNetAdmin) == 0 {
		missing = append(missing, "CAP_NET_ADMIN (links, addresses, sysctls)")
		names = append(names, "CAP_NET_ADMIN")
	}
	if eff&(1<<capNetRaw) == 0 {
		missing = append(missing, "CAP_NET_RAW (ICMPv6 and packet sockets)")
		names = append(names, "CAP_NET_RAW")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("missing capabilities: %s; run as root or grant them (systemd: AmbientCapabilities=%s)",
		strings.Join(missing, ", "), strings.Join(names, " "))
}
