package cloudinit

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// syscallNonblock opens a CD-ROM without waiting for its tray.
const syscallNonblock = syscall.O_NONBLOCK

// syncFS flushes the file system that holds p (syncfs(2)).
func syncFS(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
