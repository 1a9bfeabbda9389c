//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrouter/vrouter/daemon"
)

// TestNDProxyThroughDaemon runs the NDP proxy the way operators do, through
// `vrouter run` and its config, in the container topology of issue 4:
//
//	netns <p>up               netns <p>host (vrouter run)                 netns <p>c1
//	[upstream router]        [host]                                       [container]
//	 eth0 ================== eth0 2001:db8::c001/64   docker0 (bridge) == eth0
//	 2001:db8::1/64           fa:16:3e:c0:00:01      2001:db8::c008/125    2001:db8::c009/125
//	 2001:db8::/64 on-link                                                 default via c008
//
// Nothing routes 2001:db8::c008/125 to the host: the upstream router reaches
// the container only if the host answers its Neighbor Solicitations.
func TestNDProxyThroughDaemon(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: end-to-end tests need root (network namespaces); CI runs them as root")
	}
	if buildErr != nil {
		t.Fatalf("building vrouter: %v", buildErr)
	}
	ctx := t.Context()
	b := make([]byte, 3)
	rand.Read(b)
	p := fmt.Sprintf("vr-%x-", b)
	up, host, c1 := p+"up", p+"host", p+"c1"
	dir := t.TempDir()

	sh := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, ns := range []string{up, host, c1} {
		sh("ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh("ip", "-n", ns, "link", "set", "lo", "up")
		sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	sh("ip", "-n", up, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", host)
	sh("ip", "-n", host, "link", "set", "eth0", "address", "fa:16:3e:c0:00:01")
	sh("ip", "-n", up, "addr", "add", "2001:db8::1/64", "dev", "eth0")
	sh("ip", "-n", up, "link", "set", "eth0", "up")
	sh("ip", "-n", host, "link", "add", "docker0", "type", "bridge")
	sh("ip", "-n", host, "addr", "add", "2001:db8::c008/125", "dev", "docker0")
	sh("ip", "-n", host, "link", "set", "docker0", "up")
	sh("ip", "-n", c1, "link", "add", "eth0", "type", "veth", "peer", "name", "vc1", "netns", host)
	sh("ip", "-n", host, "link", "set", "vc1", "master", "docker0", "up")
	sh("ip", "-n", c1, "addr", "add", "2001:db8::c009/125", "dev", "eth0")
	sh("ip", "-n", c1, "link", "set", "eth0", "up")
	sh("ip", "-n", c1, "-6", "route", "add", "default", "via", "2001:db8::c008")

	ping := func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, "ip", "netns", "exec", up, "ping", "-6", "-n", "-c", "2", "-i", "0.3", "-W", "2", "2001:db8::c009").CombinedOutput()
		if err != nil {
			return fmt.Errorf("ping from the upstream router: %v\n%s", err, out)
		}
		return nil
	}
	if err := ping(); err == nil {
		t.Fatal("the upstream router reaches the container without the proxy: the test proves nothing")
	}

	cfg := `interfaces:
  eth0:
    role: upstream
    addresses: [2001:db8::c001/64]
forwarding: true
ndproxy:
  - upstream: eth0
    downstream: docker0
    prefix: 2001:db8::c008/125
    mode: static
`
	cfgPath, sock := filepath.Join(dir, "vrouter.yaml"), filepath.Join(dir, "vrouter.sock")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "vrouter.log"))
	if err != nil {
		t.Fatal(err)
	}
	vr := exec.Command("ip", "netns", "exec", host, vrouterBin, "run", "--config", cfgPath, "--socket", sock, "--state-dir", dir)
	vr.Stdout, vr.Stderr = logf, logf
	vr.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := vr.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- vr.Wait() }()
	t.Cleanup(func() {
		vr.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			vr.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(logf.Name())
			t.Logf("vrouter output:\n%s", log)
		}
	})

	// Bounded wait for the first successful ping through the proxy.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := ping()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	neigh := sh("ip", "-n", up, "-6", "neigh", "show", "2001:db8::c009")
	if !strings.Contains(neigh, "lladdr fa:16:3e:c0:00:01") {
		t.Errorf("upstream neighbour entry for the container = %q, want the host's MAC fa:16:3e:c0:00:01", neigh)
	}
	st, err := daemon.QueryStatus(sock)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(st.NDProxy)
	if len(st.NDProxy) != 1 || !st.NDProxy[0].Active || st.NDProxy[0].Answered == 0 {
		t.Errorf("vrouter status ndproxy = %s, want one active rule with answers", js)
	}
	t.Logf("status: %s", js)
}
