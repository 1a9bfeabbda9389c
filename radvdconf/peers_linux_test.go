package radvdconf

// Equivalence against the real radvd: the same radvd.conf is advertised once
// by radvd and once by vrouter's advertiser from the converted config, and
// radvdump (radvd's own decoder) must print the same RA for both.
//
//	netns vrcXXXXXXr                    netns vrcXXXXXXh
//	[vrcXXXXXXa]-------- veth ----------[vrcXXXXXXb]
//	 radvd, then ra.Advertiser           radvdump

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/ra/ratest"
)

func sh(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startIn runs a command in namespace ns until stop is called or the test
// ends.
func startIn(t *testing.T, ns string, args ...string) (out *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return out, stop
}

// firstRA returns the first RA block radvdump printed for link, without
// comments and blank lines, sorted (option order is not significant).
func firstRA(dump, link string) []string {
	blocks := strings.Split(dump, "\ninterface "+link)
	if len(blocks) < 2 {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(blocks[1], "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "interface ") {
			break
		}
		lines = append(lines, l)
	}
	slices.Sort(lines)
	return lines
}

func TestConvertedConfigAdvertisesLikeRadvd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces need root (CI runs as root)")
	}
	for _, tool := range []string{"ip", "radvd", "radvdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed (.ci/run installs it)", tool)
		}
	}
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	id := make([]byte, 6)
	for i := range id {
		id[i] = chars[rand.IntN(len(chars))]
	}
	base := "vrc" + string(id)
	rns, hns, rlink, hlink := base+"r", base+"h", base+"a", base+"b"
	for _, ns := range []string{rns, hns} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	sh(t, "ip", "-n", rns, "link", "add", rlink, "address", "fa:16:3e:22:22:22", "type", "veth", "peer", "name", hlink, "netns", hns)
	sh(t, "ip", "netns", "exec", rns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf."+rlink+".accept_dad=0")
	sh(t, "ip", "netns", "exec", hns, "sysctl", "-qw", "net.ipv6.conf."+hlink+".accept_ra=0")
	sh(t, "ip", "-n", rns, "addr", "add", "2001:db8:0:7::1/64", "dev", rlink, "nodad")
	sh(t, "ip", "-n", rns, "link", "set", rlink, "up")
	sh(t, "ip", "-n", hns, "link", "set", hlink, "up")

	// Everything of full.conf that radvd 2.19 knows (it lacks
	// RemoveAdvOnExit and AdvCaptivePortalAPI, and its option names are
	// case-sensitive) without decrementing lifetimes, which the two
	// daemons start counting at different times.
	src, err := os.ReadFile("testdata/equivalence.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(string(src), "interface eth1", "interface "+rlink)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "radvd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	yml, err := Convert("radvd.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("converted.yaml", yml)
	if err != nil {
		t.Fatal(err)
	}

	// radvdump runs line-buffered (stdbuf) so its decoding can be watched:
	// wait, bounded, until it has printed an RA (a daemon that started
	// before radvdump listened sends more initial RAs, ≤ 16s apart), then
	// stop it, before the daemon's final RA, and read the complete block.
	stopDump := func(out *syncBuffer, stop func()) []string {
		t.Helper()
		for deadline := time.Now().Add(25 * time.Second); firstRA(out.String(), hlink) == nil; {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // the rest of the block
		stop()
		ra := firstRA(out.String(), hlink)
		if ra == nil {
			t.Fatalf("radvdump decoded no RA within 25s:\n%s", out.String())
		}
		return ra
	}

	// radvd first: it sends its first RA at once when the link is ready.
	dump, stop := startIn(t, hns, "stdbuf", "-oL", "radvdump")
	time.Sleep(time.Second) // radvdump listening (if not, stopDump waits for the next initial RA)
	radvdOut, stopRadvd := startIn(t, rns, "radvd", "-n", "-d", "5", "-m", "stderr", "-C", confPath, "-p", filepath.Join(dir, "radvd.pid"))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(radvdOut.String(), "sending RA to ff02::1"); {
		if time.Now().After(deadline) {
			t.Fatalf("radvd sent no RA within 10s:\n%s", radvdOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	want := stopDump(dump, stop)
	stopRadvd()

	// Then vrouter's advertiser with the converted config.
	fd, err := unix.Open("/run/netns/"+rns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	sys, closeSys, err := ratest.InNetns(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSys()
	dump, stop = startIn(t, hns, "stdbuf", "-oL", "radvdump")
	time.Sleep(time.Second)
	adv := ra.NewAdvertiser(rlink, *cfg.Interfaces[0].Advertise, nil, ra.WithSystem(sys))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- adv.Run(ctx) }()
	select {
	case <-adv.Ready():
	case <-time.After(10 * time.Second):
		t.Error("no RA within 10s")
	}
	time.Sleep(300 * time.Millisecond)
	got := stopDump(dump, stop)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("radvdump of radvd's RA vs ours from the converted config (-radvd +vrouter):\n%s", diff)
	}
}
