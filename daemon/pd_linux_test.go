//go:build linux

package daemon

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/dhcpv6/pdclient/pdtest"
	"github.com/vrouter/vrouter/internal/netwatch"
)

func linkEvent(name string, flags uint32) netwatch.Event {
	return netwatch.Event{Kind: netwatch.KindLink, Index: 2, Msg: netlink.LinkUpdate{
		IfInfomsg: nl.IfInfomsg{IfInfomsg: unix.IfInfomsg{Flags: flags}},
		Link:      &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name}},
	}}
}

// The upstream's carrier coming back restarts its client, which solicits
// at once instead of at the end of a retransmission timeout that grew
// while nobody answered.
func TestPDLinkUpSolicitsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &pdUpstreamSrv{srv: pdtest.NewServer(pdOld), down: true}
		r := newPDRig(t, mustConfig(t, pdConfig), t.TempDir(), up)
		r.run(t.Context())
		r.c.linkEvents([]netwatch.Event{linkEvent("eth0", unix.IFF_UP)})
		time.Sleep(100 * time.Second) // Solicit timeouts grow past 30s
		up.mu.Lock()
		up.down = false
		up.mu.Unlock()
		r.c.linkEvents([]netwatch.Event{linkEvent("eth1", unix.IFF_UP|unix.IFF_LOWER_UP), linkEvent("eth0", unix.IFF_UP)})
		if n := up.opened(); n != 1 {
			t.Fatalf("%d sockets opened before the carrier came back, want 1", n)
		}
		r.c.linkEvents([]netwatch.Event{linkEvent("eth0", unix.IFF_UP|unix.IFF_LOWER_UP)})
		time.Sleep(3 * time.Second) // SOL_MAX_DELAY 1s, the first timeout 1.1s
		if up.opened() != 2 {
			t.Errorf("%d sockets opened, want the client run again once", up.opened())
		}
		if st := r.status().Interfaces[0].PrefixDelegation; st.State != pdclient.StateBound {
			t.Errorf("3s after the carrier came back: %+v, want bound", st)
		}
		// Carrier up again without a loss: nothing restarts.
		r.c.linkEvents([]netwatch.Event{linkEvent("eth0", unix.IFF_UP|unix.IFF_LOWER_UP)})
		if up.opened() != 2 {
			t.Errorf("%d sockets opened after a repeated carrier-up event", up.opened())
		}
	})
}
