package netns

import (
	"fmt"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces (`ip netns add NAME`).
const Dir = "/run/netns"

// Do runs fn in the network namespace ns, a name under Dir or a path
// (/proc/PID/ns/net), and returns its error.
func Do(ns string, fn func() error) error {
	path := ns
	if !filepath.IsAbs(ns) {
		path = filepath.Join(Dir, ns)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", ns, err)
	}
	defer unix.Close(fd)
	return DoFD(fd, fn)
}

// DoFD runs fn in the network namespace open at fd and returns its error.
//
// fn runs on a locked OS thread that is moved back to the caller's
// namespace afterwards and kept: a child process started by fn with
// Pdeathsig set is signalled when the thread that forked it exits, so
// letting the thread die with the goroutine would kill such children at
// random. Only when the thread cannot be moved back does it exit.
func DoFD(fd int, fn func() error) error {
	errC := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errC <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errC <- fmt.Errorf("setns: %w", err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: never unlocked, the thread exits with the goroutine
		errC <- err
	}()
	return <-errC
}
