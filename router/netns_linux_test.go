package router_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netnsChildEnv names the test a re-executed child runs inside its own
// network namespace.
const netnsChildEnv = "VROUTER_ROUTER_NETNS_CHILD"

// netnsParentEnv holds the parent's namespace ("net:[inode]") so the child
// can check that it is somewhere else.
const netnsParentEnv = "VROUTER_ROUTER_NETNS_PARENT"

// inNetns runs body in a fresh network namespace that belongs to this test
// alone.
//
// The test binary re-executes itself for just this test in a child process
// created with CLONE_NEWNET, and body runs there. This is more robust than
// runtime.LockOSThread + netns.Set in the test process:
//   - the code under test (Run, Watch, the netlink library's receive
//     goroutines) runs on whatever OS threads the scheduler picks, and
//     /proc/sys/net resolves against the namespace of the thread that opens
//     the file, so a namespace entered by one locked thread would let sysctl
//     writes and netlink sockets from other threads land in the host
//     namespace; in the child every thread is in the new namespace;
//   - it runs exactly the production path: LinuxOS and Watch use the
//     namespace of the process, as the daemon does, with no test-only
//     constructor;
//   - the namespace is unnamed and the kernel destroys it, with every link
//     in it, when the child exits, even when it crashes or is killed: nothing
//     can leak into `ip netns list` or the host.
//
// Links still get random names (randName) so logs are unambiguous.
func inNetns(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(netnsChildEnv) == t.Name() {
		// Never touch the host: refuse to run unless this process
		// really is in another namespace than the parent test.
		self, err := os.Readlink("/proc/self/ns/net")
		if parent := os.Getenv(netnsParentEnv); err != nil || parent == "" || self == parent {
			t.Fatalf("%s=%s set but not in a private network namespace (self %q, parent %q, %v)",
				netnsChildEnv, t.Name(), self, parent, err)
		}
		body(t)
		return
	}
	if os.Getenv(netnsChildEnv) != "" {
		t.Skipf("skipping in the namespace child of %s", os.Getenv(netnsChildEnv))
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace (CLONE_NEWNET) and configure links; run as root, e.g. sudo go test ./router")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v", "-test.timeout=100s")
	// atexit_sleep_ms=0: a -race child otherwise idles 1s before exiting.
	parentNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("own network namespace: %v", err)
	}
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+t.Name(), netnsParentEnv+"="+parentNS,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("child in its own network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("namespace child for %s: %v", t.Name(), err)
	}
	if bytes.Contains(out, []byte("--- SKIP: "+t.Name()+" ")) {
		t.Skip("skipped in the namespace child")
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name()+" ")) {
		t.Fatalf("namespace child did not run %s", t.Name())
	}
}

// runPattern is a -test.run pattern matching exactly the test name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// randName returns "vrt" + 6 random lowercase letters + suffix.
func randName(t *testing.T, suffix string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	n := "vrt" + string(b) + suffix
	if len(n) > 15 {
		t.Fatalf("link name %q longer than 15", n)
	}
	return n
}

// waitFor polls cond every 10ms until it holds or timeout passes, and
// returns how long it took; on timeout it fails with cond's last report.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, report := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, report)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
