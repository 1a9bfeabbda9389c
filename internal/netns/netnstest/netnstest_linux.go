package netnstest

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

const (
	// childEnv names the test a re-executed child runs.
	childEnv = "VROUTER_NETNS_CHILD"
	// parentEnv holds the parent's namespace ("net:[inode]") so the child
	// can check that it is somewhere else.
	parentEnv = "VROUTER_NETNS_PARENT"
)

// Run runs body in a fresh network namespace that belongs to this test
// alone. Without root it skips the test, saying why. Call it first in the
// test: in the parent process Run returns after the child finished, and
// whatever the test does besides body runs in both.
func Run(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		// Never touch the host: refuse to run unless this process
		// really is in another namespace than the parent test.
		self, err := os.Readlink("/proc/self/ns/net")
		if parent := os.Getenv(parentEnv); err != nil || parent == "" || self == parent {
			t.Fatalf("%s=%s set but not in a private network namespace (self %q, parent %q, %v)",
				childEnv, t.Name(), self, parent, err)
		}
		body(t)
		return
	}
	if os.Getenv(childEnv) != "" {
		t.Skipf("skipping in the namespace child of %s", os.Getenv(childEnv))
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace (CLONE_NEWNET) and configure links; run as root")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v", "-test.timeout=100s")
	parentNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("own network namespace: %v", err)
	}
	// atexit_sleep_ms=0: a -race child otherwise idles 1s before exiting.
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), parentEnv+"="+parentNS,
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

// RandName returns prefix + 6 random lowercase letters + suffix, failing
// the test when that is longer than an interface name may be (15).
func RandName(t testing.TB, prefix, suffix string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	n := prefix + string(b) + suffix
	if len(n) > 15 {
		t.Fatalf("name %q longer than 15", n)
	}
	return n
}

// RequireRoot skips t unless the process is root (creating network
// namespaces needs it; CI runs as root) and every tool is installed.
func RequireRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating network namespaces needs root (CI runs as root)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed (.ci/run installs it)", tool)
		}
	}
}

// Cmd runs a command for at most 20 s and returns its combined output; an
// error fails t.
func Cmd(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
