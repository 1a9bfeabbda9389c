package netns

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace; run as root")
	}
	name := "vrns" + randSuffix()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	own, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := Do(name, func() (err error) {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == own {
		t.Errorf("fn ran in the caller's namespace %s", own)
	}
	if now, _ := os.Readlink("/proc/thread-self/ns/net"); now != own {
		t.Errorf("caller's namespace changed from %s to %s", own, now)
	}
	if err := Do("vrns-absent-"+randSuffix(), func() error { return nil }); err == nil {
		t.Error("Do on a missing namespace: want error")
	}
}

// TestDoKeepsPdeathsigChildren: a child started inside Do with Pdeathsig
// outlives Do. The thread that forked it used to exit with Do's goroutine,
// and the kernel then killed the child (kea in the PD tests, at random).
func TestDoKeepsPdeathsigChildren(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace; run as root")
	}
	name := "vrns" + randSuffix()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	var cmd *exec.Cmd
	if err := Do(name, func() error {
		cmd = exec.Command("sleep", "30")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return cmd.Start()
	}); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	select {
	case err := <-exited:
		t.Fatalf("child started in Do exited when Do returned: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
}

func randSuffix() string {
	b := make([]byte, 6)
	f, _ := os.Open("/dev/urandom")
	defer f.Close()
	_, _ = f.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b)
}
