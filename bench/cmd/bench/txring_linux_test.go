package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTxringOnVeth compiles the reference generator and runs it for a
// moment on one end of a veth pair: the other end receives as many frames
// as it says it sent.
func TestTxringOnVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (network namespace, AF_PACKET)")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("skipping: no C compiler")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "txring.c")
	if err := os.WriteFile(src, txringSource, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "txring")
	if out, err := exec.Command(cc, "-O2", "-Wall", "-Werror", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("compile txring.c: %v\n%s", err, out)
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	ns := "txring-" + hex.EncodeToString(rnd[:])
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
	ip("-n", ns, "link", "add", "ta", "type", "veth", "peer", "name", "tb")
	ip("-n", ns, "link", "set", "ta", "up")
	ip("-n", ns, "link", "set", "tb", "up")
	rx := func() uint64 {
		n, err := strconv.ParseUint(strings.TrimSpace(ip("netns", "exec", ns, "cat", "/sys/class/net/tb/statistics/rx_packets")), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Two frames of different lengths (a length prefix each).
	frames := filepath.Join(dir, "frames")
	f1 := make([]byte, 78)
	f2 := make([]byte, 100)
	for _, f := range [][]byte{f1, f2} {
		for i := range f {
			f[i] = byte(i)
		}
		f[0] = 0x02               // a unicast destination MAC
		f[12], f[13] = 0x88, 0xb5 // local experimental EtherType: the stack ignores it
	}
	data := append([]byte{0, 78}, f1...)
	data = append(append(data, 0, 100), f2...)
	if err := os.WriteFile(frames, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := rx()
	out, err := exec.Command("ip", "netns", "exec", ns, bin, "ta", frames, "0.3").Output()
	if err != nil {
		t.Fatalf("txring: %v", err)
	}
	var res struct {
		Sent    uint64
		Seconds float64
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("txring output %q: %v", out, err)
	}
	got := rx() - before
	if res.Sent == 0 || res.Seconds < 0.3 || got < res.Sent || got > res.Sent+5 {
		t.Errorf("txring says %d frames in %.3f s, the peer received %d", res.Sent, res.Seconds, got)
	}
	t.Logf("%s; peer received %d", strings.TrimSpace(string(out)), got)
}
