package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/daemon"
	"github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/ha"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// TestStatusShowsComponents: the supervisor's view of each component and
// the watcher's state reach `vrouter status`, and --json is the daemon's
// document.
func TestStatusShowsComponents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st := daemon.Status{Config: "x.yaml",
		Interfaces: []daemon.InterfaceStatus{{Name: "eth1", Role: "downstream", DHCPv6: &dhcpv6.Status{Interface: "eth1", Mode: "stateful", Active: true, Running: true,
			LeasesInUse: 2, PoolSize: 256, Reservations: 1, Received: map[string]uint64{"solicit": 3, "request": 2}, Sent: map[string]uint64{"reply": 2},
			Dropped: map[dhcpv6.DropReason]uint64{dhcpv6.DropMalformed: 1}}}},
		Components: []daemon.ComponentStatus{{Name: "ra", State: daemon.StateReady}, {Name: "fastpath", State: daemon.StateBackoff, Restarts: 2, LastError: "fastpath: eth9: link: link not found"}},
		Watcher:    &netwatch.Status{Subscribed: true, Resyncs: 1},
		HA: &ha.Status{State: ha.StateBackup, VRID: 51, Priority: 100, EffectivePriority: 100, Preempt: true, AdvertIntervalMS: 20,
			LastTransition: &ha.Transition{From: ha.StateActive, To: ha.StateBackup, At: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC), Reason: "peer preempts"},
			Instances: []ha.InstanceStatus{{Interface: "eth1", VirtualLink: "vrrp51.3", VirtualMAC: "00:00:5e:00:02:33", LinkUp: true, AdvertsSent: 7, AdvertsReceived: 9,
				Peer: &ha.PeerStatus{Address: netip.MustParseAddr("fe80::b"), Priority: 200, AdvertIntervalMS: 20, LastSeen: time.Date(2026, 12, 2, 8, 0, 1, 0, time.UTC)}}}}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = json.NewEncoder(c).Encode(st)
			c.Close()
		}
	}()
	code, out, errOut := run("status", "--socket", path)
	for _, want := range []string{
		"component ra        ready\n",
		`component fastpath  backoff restarts=2 last_error="fastpath: eth9: link: link not found"` + "\n",
		"netlink watcher: subscribed=true resyncs=1 overflows=0\n",
		"ha vrid 51: backup priority=100 effective=100 preempt=true advert_interval=20ms since 2026-12-02 08:00:00.000 (from active: peer preempts)\n",
		"  eth1 via vrrp51.3 (00:00:5e:00:02:33): link_up=true adverts sent=7 received=9 dropped=0 peer fe80::b priority 200 interval 20ms seen 08:00:01.000\n",
		"dhcpv6 eth1 (stateful): active=true running=true leases=2/256 declined=0 reservations=1 received=request=2,solicit=3 sent=reply=2 dropped=malformed=1 suppressed=0\n",
	} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("status: code %d, stderr %q, output lacks %q:\n%s", code, errOut, want, out)
		}
	}
	code, out, _ = run("status", "--json", "--socket", path)
	var got daemon.Status
	if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil || len(got.Components) != 2 || got.Components[1].Restarts != 2 {
		t.Errorf("status --json: code %d, %v, %+v", code, err, got)
	}
}
