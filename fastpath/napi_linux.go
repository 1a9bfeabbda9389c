package fastpath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// threadedNAPI moves the kernel's receive processing of the interface name
// out of softirq context into its NAPI kernel thread ("napi/NAME-ID") and
// pins that thread to cpus (none: left where it is), so that the scheduler
// shares a CPU fairly between it and the fast-path workers instead of
// softirq work starving them under overload (receive livelock). veth runs
// NAPI only with GRO (or XDP) on, so GRO is turned on first, with nothing
// to merge (gro_max_size 0). It returns a function that restores what it
// changed.
//
// RPS on the interface is turned off while the NAPI threads run: it would
// hand every packet from the NAPI thread back to a softirq backlog, which
// runs at the end of the workers' own send calls, and livelock returns.
// The NAPI threads get the scheduling priority nice (see napiNice), so that
// under overload receive processing yields to the workers and the excess is
// dropped where it costs the router nothing: at the full veth ring of the
// sender.
func threadedNAPI(name string, cpus []int, nice int) (restore func() error, err error) {
	var undo []func() error
	undoAll := func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		return errors.Join(errs...)
	}
	restore = undoAll
	// undoAll, not restore: a failing return sets restore to nil first.
	defer func() {
		if err != nil {
			err = errors.Join(err, undoAll())
		}
	}()
	gro, err := ethtoolGRO(name, -1)
	if err != nil {
		return nil, fmt.Errorf("%s: read GRO: %w", name, err)
	}
	if !gro {
		if _, err := ethtoolGRO(name, 1); err != nil {
			return nil, fmt.Errorf("%s: turn GRO on: %w", name, err)
		}
		undo = append(undo, func() error { _, err := ethtoolGRO(name, 0); return err })
	}
	// GRO must not merge what the fast path forwards frame by frame: a
	// merged frame is longer than the MTU and carries the first segment's
	// checksum. gro_max_size 0 leaves GRO nothing to merge, but veth still
	// receives through NAPI.
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if oldMax := int(link.Attrs().GROMaxSize); oldMax != 0 {
		if err := netlink.LinkSetGROMaxSize(link, 0); err != nil {
			return nil, fmt.Errorf("%s: set gro_max_size 0: %w", name, err)
		}
		undo = append(undo, func() error { return netlink.LinkSetGROMaxSize(link, oldMax) })
	}
	path := filepath.Join("/sys/class/net", name, "threaded")
	old, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(old)) != "1" {
		if err := os.WriteFile(path, []byte("1"), 0); err != nil {
			return nil, fmt.Errorf("%s: threaded NAPI: %w", name, err)
		}
		undo = append(undo, func() error { return os.WriteFile(path, old, 0) })
	}
	rps, err := filepath.Glob(filepath.Join("/sys/class/net", name, "queues", "rx-*", "rps_cpus"))
	if err != nil {
		return nil, err
	}
	for _, path := range rps {
		old, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if strings.Trim(string(old), "0,\n") == "" {
			continue // off already
		}
		if err := os.WriteFile(path, []byte("0"), 0); err != nil {
			return nil, fmt.Errorf("%s: turn RPS off: %w", name, err)
		}
		undo = append(undo, func() error { return os.WriteFile(path, old, 0) })
	}
	pids, err := napiThreads(name)
	if err != nil {
		return nil, err
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("%s: no NAPI thread after enabling threaded NAPI", name)
	}
	for _, pid := range pids {
		// getpriority(2) returns 20 - nice.
		raw, err := unix.Getpriority(unix.PRIO_PROCESS, pid)
		if err != nil {
			return nil, fmt.Errorf("%s: priority of NAPI thread %d: %w", name, pid, err)
		}
		if old := 20 - raw; old != nice {
			if err := unix.Setpriority(unix.PRIO_PROCESS, pid, nice); err != nil {
				return nil, fmt.Errorf("%s: set nice %d on NAPI thread %d: %w", name, nice, pid, err)
			}
			// The thread ends with threaded NAPI turned off: ESRCH is fine.
			undo = append(undo, func() error {
				if err := unix.Setpriority(unix.PRIO_PROCESS, pid, old); err != nil && !errors.Is(err, unix.ESRCH) {
					return err
				}
				return nil
			})
		}
	}
	if len(cpus) == 0 {
		return restore, nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	for _, pid := range pids {
		if err := unix.SchedSetaffinity(pid, &set); err != nil {
			return nil, fmt.Errorf("%s: pin NAPI thread %d to CPUs %v: %w", name, pid, cpus, err)
		}
	}
	return restore, nil
}

// napiThreads returns the pids of the NAPI kernel threads of interface
// name: their comm is "napi/NAME-ID", cut to 15 characters.
func napiThreads(name string) ([]int, error) {
	prefix := "napi/" + name + "-"
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue // exited
		}
		c := strings.TrimSpace(string(comm))
		// A name long enough to lose the ID to the cut matches any
		// interface sharing its first 10 characters: harmless, as all get
		// pinned the same way.
		if strings.HasPrefix(c, prefix) || (len(prefix) >= 15 && c == prefix[:15]) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// ethtoolGRO reads the GRO setting of the interface (set < 0) or sets it
// (0 off, 1 on) with the SIOCETHTOOL ioctl, and returns the setting.
func ethtoolGRO(name string, set int) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_GGRO}
	if set >= 0 {
		v.cmd, v.data = unix.ETHTOOL_SGRO, uint32(set)
	}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	if len(name) >= unix.IFNAMSIZ {
		return false, fmt.Errorf("interface name %q too long", name)
	}
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&v)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return false, e
	}
	return v.data != 0, nil
}
