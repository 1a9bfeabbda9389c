package scenario

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// dhclientScript is what ISC dhclient runs on each event instead of
// dhclient-script: it configures the address a stateful exchange binds
// (as dhclient-script does, /128 with the lease's lifetimes), removes it
// when the lease ends, never touches /etc/resolv.conf (shared by every
// namespace), and appends one line per call to the events file beside it:
// "reason=X new_ip6_address=Y new_dhcp6_name_servers=Z,W ..." (a value's
// spaces written as commas).
const dhclientScript = `#!/bin/sh
line="reason=$reason interface=$interface $(env | grep -E '^(old|new|cur)_(ip6|dhcp6|preferred|max)' | sort | tr ' ' ',' | tr '\n' ' ')"
case "$reason" in
BOUND6|RENEW6|REBIND6|REBOOT6)
	if [ -n "$old_ip6_address" ] && [ "$old_ip6_address" != "$new_ip6_address" ]; then
		ip -6 addr del "$old_ip6_address/${old_ip6_prefixlen:-128}" dev "$interface" 2>/dev/null
	fi
	if [ -n "$new_ip6_address" ]; then
		ip -6 addr replace "$new_ip6_address/${new_ip6_prefixlen:-128}" dev "$interface" \
			valid_lft "${new_max_life:-forever}" preferred_lft "${new_preferred_life:-forever}" || line="$line script_error=addr"
	fi
	;;
EXPIRE6|RELEASE6|STOP6)
	if [ -n "$old_ip6_address" ]; then
		ip -6 addr del "$old_ip6_address/${old_ip6_prefixlen:-128}" dev "$interface" 2>/dev/null
	fi
	;;
esac
echo "$line" >> "$(dirname "$0")/$(basename "$0" .sh).events"
exit 0
`

// DHClient is ISC dhclient -6 running in the foreground in a VM's
// namespace (see StartDHClient).
type DHClient struct {
	*Proc
	events string
}

// StartDHClient runs `dhclient -6 -d -v ARGS IFNAME` in node (-S for
// Information-request only, -N for an address, -D LL for a DUID-LL), with
// its lease and pid files in the scenario's directory and a script that
// configures bound addresses and records every event (Events, WaitEvent)
// instead of dhclient-script, so nothing outside the namespace changes.
// The lease file stays across a Stop and a new start (a restarted client
// asks for its address again); the events are those of this start.
func (s *Scenario) StartDHClient(ctx context.Context, n Node, ifname string, args ...string) (*DHClient, error) {
	if _, err := exec.LookPath("dhclient"); err != nil {
		return nil, fmt.Errorf("scenario: %w (Debian package isc-dhcp-client)", err)
	}
	name := "dhclient-" + string(n) + "-" + ifname
	base := filepath.Join(s.dir, name)
	if err := os.WriteFile(base+".sh", []byte(dhclientScript), 0o755); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	// Events are this run's; the lease file is kept.
	if err := os.Remove(base + ".events"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	full := append([]string{"dhclient", "-6", "-d", "-v", "-lf", base + ".leases", "-pf", base + ".pid", "-sf", base + ".sh"}, args...)
	p, err := s.Start(ctx, n, name, append(full, ifname)...)
	if err != nil {
		return nil, err
	}
	return &DHClient{Proc: p, events: base + ".events"}, nil
}

// Events returns every event the client's script recorded so far.
func (c *DHClient) Events() []DHClientEvent {
	b, err := os.ReadFile(c.events)
	if err != nil {
		return nil
	}
	return parseDHClientEvents(string(b))
}

// WaitEvent waits up to timeout for an event with one of reasons
// ("BOUND6", "RENEW6", ...) recorded after the first skip events, and
// returns the first such.
func (c *DHClient) WaitEvent(ctx context.Context, skip int, timeout time.Duration, reasons ...string) (DHClientEvent, error) {
	var got DHClientEvent
	err := poll(ctx, timeout, pollInterval, func() (bool, string) {
		evs := c.Events()
		for i := skip; i < len(evs); i++ {
			if slices.Contains(reasons, evs[i]["reason"]) {
				got = evs[i]
				return true, ""
			}
		}
		if c.Exited() {
			return true, "dhclient exited: " + c.Status()
		}
		var seen []string
		for _, e := range evs {
			seen = append(seen, e["reason"])
		}
		return false, "events so far: " + strings.Join(seen, " ")
	})
	if err == nil && got == nil {
		err = fmt.Errorf("dhclient exited (%s):\n%s", c.Status(), tail(c.Output(), 40))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: waiting for %s: %w", c.Name, strings.Join(reasons, "|"), err)
	}
	return got, nil
}
