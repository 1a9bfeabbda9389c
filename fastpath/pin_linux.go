package fastpath

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// pinThread locks the calling goroutine to its OS thread and restricts that
// thread to cpus (none: no pinning). The thread stays locked: when the
// goroutine ends, the runtime discards the thread with its affinity.
func pinThread(cpus []int) (func(), error) {
	if len(cpus) == 0 {
		return func() {}, nil
	}
	runtime.LockOSThread()
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return func() {}, nil
}
