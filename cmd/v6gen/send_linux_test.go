package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// TestSendOnVeth sends at a fixed rate from the TX ring on one end of a
// veth pair in a namespace of its own and checks the other end's receive
// counter against what v6gen reports.
func TestSendOnVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (network namespace, AF_PACKET)")
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	ns := "v6gen-" + hex.EncodeToString(rnd[:])
	ip := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ip("-n", ns, "link", "add", "ga", "type", "veth", "peer", "name", "gb")
	ip("-n", ns, "link", "set", "ga", "up")
	ip("-n", ns, "link", "set", "gb", "up")

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Fatalf("back to the original namespace: %v", err)
		}
	}()
	mac := strings.Fields(ip("-n", ns, "-br", "link", "show", "gb"))[2]
	spec, err := parseSpec("ga", mac, "", "2001:db8:a::2", "2001:db8:b::2", 100, 8, 64)
	if err != nil {
		t.Fatal(err)
	}
	rx := func() uint64 {
		// ip netns exec mounts the namespace's sysfs.
		out := ip("netns", "exec", ns, "cat", "/sys/class/net/gb/statistics/rx_packets")
		n, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := rx()
	const pps, dur = 20000, 300 * time.Millisecond
	res, err := send(context.Background(), spec, pps, dur)
	if err != nil {
		t.Fatal(err)
	}
	got := rx() - before
	want := uint64(pps * dur.Seconds())
	// The pacing must never exceed the rate; on a loaded shared machine the
	// sender may fall behind it, so the lower bound only proves it sends.
	if res.Sent < want/5 || res.Sent > want*11/10 {
		t.Errorf("sent %d frames at %d pps for %v, want at most about %d (and at least %d)", res.Sent, pps, dur, want, want/5)
	}
	// The peer may also count an IPv6 router solicitation or two.
	if got < res.Sent || got > res.Sent+5 {
		t.Errorf("peer received %d frames, v6gen sent %d", got, res.Sent)
	}
	t.Logf("%+v, peer received %d", res, got)
}
