package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vrouter/vrouter/internal/netns/netnstest"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// killable is the real netlink source with a switch that kills its
// subscription (closing its sockets) and holds the next one back until
// released, so a test can change the kernel while nobody listens.
type killable struct {
	netwatch.Netlink
	mu     sync.Mutex
	kill   chan struct{}
	gate   chan struct{} // closed: subscribing allowed
	opened int
}

func newKillable() *killable {
	g := make(chan struct{})
	close(g)
	return &killable{kill: make(chan struct{}), gate: g}
}

func (k *killable) Open(stop <-chan struct{}, deliver func(netwatch.Event)) (<-chan error, error) {
	k.mu.Lock()
	gate, kill := k.gate, k.kill
	k.mu.Unlock()
	<-gate
	inner := make(chan struct{})
	done, err := k.Netlink.Open(inner, deliver)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.opened++
	k.mu.Unlock()
	out := make(chan error, 1)
	go func() {
		select {
		case <-stop:
			close(inner)
			out <- <-done
		case err := <-done:
			out <- err
		case <-kill:
			close(inner) // closes the netlink sockets
			<-done
			out <- errors.New("test killed the netlink sockets")
		}
	}()
	return out, nil
}

// killAndHold kills the open subscription and holds resubscribing back
// until the returned function is called.
func (k *killable) killAndHold() (release func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	gate := make(chan struct{})
	k.gate = gate
	close(k.kill)
	k.kill = make(chan struct{})
	return func() { close(gate) }
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state:\n%s", what, d, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRealKernelResyncAfterKilledWatcher runs the daemon with its real
// components in a private network namespace, kills the watcher's netlink
// sockets, changes the kernel while nobody listens (the configured address
// removed, the advertised link flapped, the proxied link re-addressed),
// and checks that after the watcher resubscribes every component is in
// sync again well before the reconciler's 30s safety pass.
func TestRealKernelResyncAfterKilledWatcher(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		sh(t, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
		up, down := netnstest.RandName(t, "vrd", "u"), netnstest.RandName(t, "vrd", "d")
		sh(t, "ip", "link", "add", up, "type", "veth", "peer", "name", up+"p")
		sh(t, "ip", "link", "add", down, "type", "veth", "peer", "name", down+"p")
		for _, l := range []string{up, up + "p", down, down + "p"} {
			sh(t, "ip", "link", "set", l, "up")
		}
		cfg := "interfaces:\n" +
			"  " + up + ": {role: upstream}\n" +
			"  " + down + ":\n    role: downstream\n    addresses: [2001:db8:0:2::1/64]\n" +
			"    advertise: {max_interval: 4s, prefixes: [{prefix: \"2001:db8:0:2::/64\"}]}\n" +
			"forwarding: true\n" +
			"ndproxy: [{upstream: " + up + ", downstream: " + down + ", prefix: \"2001:db8:0:2::c000/125\"}]\n"
		path := filepath.Join(t.TempDir(), "vrouter.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		src := newKillable()
		ready := make(chan struct{})
		var d *daemon
		ctx, cancel := context.WithCancel(t.Context())
		errC := make(chan error, 1)
		go func() {
			errC <- Run(ctx, Options{ConfigPath: path, Socket: "-", StateDir: "-", NetSource: src,
				Log:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
				Ready: func() { close(ready) }, started: func(x *daemon) { d = x }})
		}()
		select {
		case <-ready:
		case err := <-errC:
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("daemon not ready within 20s")
		}
		defer func() {
			cancel()
			if err := <-errC; err != nil {
				t.Errorf("Run = %v", err)
			}
		}()
		advertising := func() (bool, string) {
			for _, i := range d.snapshot().Interfaces {
				if i.Name == down && i.RA != nil {
					return i.RA.State == "advertising", string(i.RA.State)
				}
			}
			return false, "no advertiser"
		}
		eventually(t, 10*time.Second, "advertising", advertising)
		sent := func() uint64 {
			for _, i := range d.snapshot().Interfaces {
				if i.Name == down && i.RA != nil {
					return i.RA.Sent["unsolicited"]
				}
			}
			return 0
		}

		release := src.killAndHold()
		eventually(t, 5*time.Second, "watcher down", func() (bool, string) {
			st := d.watcher.Status()
			return !st.Subscribed, st.LastError
		})
		sh(t, "ip", "addr", "del", "2001:db8:0:2::1/64", "dev", down)
		sh(t, "ip", "link", "set", down, "down")
		sh(t, "ip", "link", "set", down, "up")
		before := sent()
		release()

		eventually(t, 5*time.Second, "address restored after the resync", func() (bool, string) {
			out := sh(t, "ip", "-6", "addr", "show", "dev", down)
			return strings.Contains(out, "2001:db8:0:2::1/64"), out
		})
		eventually(t, 10*time.Second, "advertising again after the flap", func() (bool, string) {
			ok, s := advertising()
			return ok && sent() > before, s
		})
		st := d.snapshot()
		if st.Watcher.Resyncs != 1 || !st.Watcher.Subscribed {
			t.Errorf("watcher %+v", st.Watcher)
		}
		if len(st.NDProxy) != 1 || !st.NDProxy[0].Active {
			t.Errorf("ndproxy after the resync %+v", st.NDProxy)
		}
		for _, cs := range st.Components {
			if cs.State != StateReady || cs.Restarts != 0 {
				t.Errorf("component %+v", cs)
			}
		}
	})
}
