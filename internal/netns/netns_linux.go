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
