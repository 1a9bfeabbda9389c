package netwatch_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/internal/netns/netnstest"
	"github.com/vrouter/vrouter/internal/netwatch"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitEvent reads sub until an event matching ok arrives, at most 5s.
func waitEvent(t *testing.T, sub *netwatch.Subscription, what string, ok func(netwatch.Event) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-sub.C():
			for _, ev := range sub.Events() {
				if ok(ev) {
					return
				}
			}
		case <-deadline:
			t.Fatalf("no %s event within 5s", what)
		}
	}
}

// TestNetlinkKinds checks that every kind of change reaches a subscriber
// from the real kernel.
func TestNetlinkKinds(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		w := netwatch.New(netwatch.Netlink{}, nil)
		if err := w.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		sub := w.Subscribe(netwatch.All, 1024)
		defer sub.Close()
		name := netnstest.RandName(t, "vrw", "")
		ip(t, "link", "add", name, "type", "veth", "peer", "name", name+"p")
		waitEvent(t, sub, "link", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindLink && ev.Index > 0 })
		ip(t, "link", "set", name, "up")
		ip(t, "link", "set", name+"p", "up")
		ip(t, "addr", "add", "2001:db8:5::1/64", "dev", name, "nodad")
		waitEvent(t, sub, "address", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindAddr && !ev.Deleted })
		waitEvent(t, sub, "route", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindRoute })
		ip(t, "neigh", "add", "2001:db8:5::9", "lladdr", "02:00:00:00:00:09", "dev", name)
		waitEvent(t, sub, "neighbour", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindNeigh })
		if out, err := exec.Command("sysctl", "-qw", "net.ipv6.conf."+name+".forwarding=1").CombinedOutput(); err != nil {
			t.Fatalf("sysctl: %v\n%s", err, out)
		}
		waitEvent(t, sub, "netconf", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindNetconf && ev.Index > 0 })
		ip(t, "link", "del", name)
		waitEvent(t, sub, "link removal", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindLink && ev.Deleted })
	})
}

// tinyFirst opens its first subscription with a tiny receive buffer and the
// later ones with the default, so the first overruns and the watcher's
// recovery can be checked without overrunning again.
type tinyFirst struct{ opened int }

func (s *tinyFirst) Open(stop <-chan struct{}, deliver func(netwatch.Event)) (<-chan error, error) {
	s.opened++
	if s.opened == 1 {
		return netwatch.Netlink{ReceiveBuffer: 1}.Open(stop, deliver)
	}
	return netwatch.Netlink{}.Open(stop, deliver)
}

// TestNetlinkOverrun floods a subscription whose receive buffer is tiny:
// removing a link with hundreds of addresses sends a burst of
// notifications in one system call, which overruns it (ENOBUFS). The
// watcher must resubscribe, resync its subscribers and keep working.
func TestNetlinkOverrun(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		w := netwatch.New(&tinyFirst{}, nil)
		if err := w.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		sub := w.Subscribe(netwatch.All, 1<<16)
		defer sub.Close()
		resynced := false
		for round := 0; round < 10 && !resynced; round++ {
			name := netnstest.RandName(t, "vrf", "")
			var b strings.Builder
			fmt.Fprintf(&b, "link add %s type veth peer name %sp\nlink set %s up\n", name, name, name)
			for i := range 500 {
				fmt.Fprintf(&b, "addr add 2001:db8:%x::1/64 dev %s nodad\n", i+1, name)
			}
			fmt.Fprintf(&b, "link del %s\n", name)
			cmd := exec.Command("ip", "-batch", "-")
			cmd.Stdin = strings.NewReader(b.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ip -batch: %v\n%s", err, out)
			}
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) && w.Status().Resyncs == 0 {
				time.Sleep(10 * time.Millisecond)
			}
			resynced = w.Status().Resyncs > 0
		}
		if !resynced {
			t.Fatalf("no overrun after 10 bursts: %+v", w.Status())
		}
		t.Logf("status after the overrun: %+v", w.Status())
		waitEvent(t, sub, "resync", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindResync })
		name := netnstest.RandName(t, "vrw", "")
		ip(t, "link", "add", name, "type", "veth", "peer", "name", name+"p")
		waitEvent(t, sub, "link after the resync", func(ev netwatch.Event) bool { return ev.Kind == netwatch.KindLink })
	})
}
