// Package netns provides the one way vrouter's tests and benchmarks run code
// inside another network namespace: on a fresh OS thread switched there with
// setns(2) and thrown away afterwards, so no other goroutine ever runs in
// that namespace by accident and the caller's thread never changes. Sockets
// opened there stay in that namespace. Package netnstest runs a whole test in
// a private namespace instead.
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
func DoFD(fd int, fn func() error) error {
	errC := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's thread exits with it.
		runtime.LockOSThread()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errC <- fmt.Errorf("setns: %w", err)
			return
		}
		errC <- fn()
	}()
	return <-errC
}
