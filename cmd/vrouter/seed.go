package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/cloudinit"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/daemon"
)

// seedDevices are the config drive's and NoCloud seed's udev links, in the
// order cloud-init's datasources look for them.
var seedDevices = []string{
	"/dev/disk/by-label/" + cloudinit.ConfigDriveLabel,
	"/dev/disk/by-label/" + strings.ToUpper(cloudinit.ConfigDriveLabel),
	"/dev/disk/by-label/" + cloudinit.NoCloudLabel,
	"/dev/disk/by-label/" + strings.ToUpper(cloudinit.NoCloudLabel),
}

// cmdSeed is vrouter-seed.service: on an instance's first boot it writes the
// user-data's vrouter files from the config drive before cloud-init's init
// stage would, so that vrouter.service starts at once (cloudinit/early.go).
// Whenever it cannot do exactly what cloud-init's write_files would, it
// writes nothing and says why: cloud-init then writes the files as before.
// Exit 0 unless a file could not be written.
func cmdSeed(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrouter seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	device := fs.String("device", "", "config drive or NoCloud seed block device (default: the first of "+strings.Join(seedDevices, ", ")+")")
	dir := fs.String("dir", "", "read an already mounted or unpacked drive from this directory instead of a device")
	root := fs.String("root", "/", "write the files (and look for cloud-init's state) under this directory")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "vrouter seed: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *device != "" && *dir != "" {
		fmt.Fprintln(stderr, "vrouter seed: --device and --dir exclude each other")
		return exitUsage
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "vrouter seed: "+format+"\n", a...) }
	// Where its time goes, for the boot-time figures: the phases are
	// logged with the result.
	var phases []string
	last := time.Now()
	phase := func(name string) {
		now := time.Now()
		phases = append(phases, fmt.Sprintf("%s %dms", name, now.Sub(last).Milliseconds()))
		last = now
	}

	src := *dir
	if src == "" {
		dev := *device
		if dev == "" {
			dev = findSeedDevice("/sys/class/block", "/dev")
			phase("find " + dev)
			if dev == "" {
				say("no config drive or NoCloud seed (%s, nor an ISO 9660 labelled %s or %s): nothing to do",
					strings.Join(seedDevices, ", "), cloudinit.ConfigDriveLabel, cloudinit.NoCloudLabel)
				return exitOK
			}
		}
		mnt, unmount, err := mountDrive(dev)
		if err != nil {
			fmt.Fprintf(stderr, "vrouter seed: %v; left to cloud-init\n", err)
			return exitOK
		}
		defer unmount()
		src = mnt
		phase("mount")
	}
	drive, err := cloudinit.ReadDrive(src)
	if err != nil {
		fmt.Fprintf(stderr, "vrouter seed: %v; left to cloud-init\n", err)
		return exitOK
	}
	sem := cloudinit.WriteSemaphore(drive.InstanceID)
	if _, err := os.Stat(filepath.Join(*root, sem)); err == nil {
		say("cloud-init already ran write_files for instance %s (%s): nothing to do", drive.InstanceID, sem)
		return exitOK
	}
	files, err := cloudinit.EarlyFiles(drive.UserData)
	phase("read")
	if errors.Is(err, cloudinit.ErrLeftToCloudInit) {
		say("%v", err)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "vrouter seed: %v\n", err)
		return exitFailure
	}
	if files == nil {
		say("the user-data of instance %s has no %s: nothing to do", drive.InstanceID, cloudinit.ConfigPath)
		return exitOK
	}
	// A config the router would refuse is left to cloud-init, so that the
	// boot goes as without the early start: the unit fails on it and
	// `vrouter check` in the user-data's runcmd shows why on the console.
	if _, err := daemon.CheckConfig(cloudinit.ConfigPath, files[len(files)-1].Data); err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			err = errors.New(errs.Error())
		}
		say("the user-data's config is not valid, left to cloud-init:\n%v", err)
		return exitOK
	}
	phase("check")
	wrote, err := cloudinit.WriteEarlyFiles(*root, files)
	phase("write")
	for _, p := range wrote {
		say("wrote %s", p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vrouter seed: %v\n", err)
		return exitFailure
	}
	say("instance %s: %d of the user-data's files written ahead of cloud-init (%d already in place; %s)",
		drive.InstanceID, len(wrote), len(files)-len(wrote), strings.Join(phases, ", "))
	return exitOK
}

// findSeedDevice returns the config drive or NoCloud seed: udev's link by
// label when udev has made it, else the block device (listed in sysBlock,
// a /sys/class/block) whose ISO 9660 label is config-2 or cidata, the
// config drive first, as cloud-init's datasource list has it. At boot the
// kernel has the device seconds before udev's coldplug reaches it.
func findSeedDevice(sysBlock, devDir string) string {
	for _, d := range seedDevices {
		if _, err := os.Stat(d); err == nil {
			return d
		}
	}
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return ""
	}
	found := map[string]string{}
	for _, e := range ents {
		dev := filepath.Join(devDir, e.Name())
		label, err := cloudinit.ISOLabel(dev)
		if err != nil || label == "" {
			continue
		}
		label = strings.ToLower(label)
		if _, ok := found[label]; !ok {
			found[label] = dev
		}
	}
	for _, l := range []string{cloudinit.ConfigDriveLabel, cloudinit.NoCloudLabel} {
		if d, ok := found[l]; ok {
			return d
		}
	}
	return ""
}

// mountDrive mounts dev read-only on a fresh directory in the unit's
// runtime directory (else /run) and returns it with the function that
// unmounts and removes it.
func mountDrive(dev string) (string, func(), error) {
	parent := os.Getenv("RUNTIME_DIRECTORY")
	if parent == "" {
		parent = "/run"
	}
	mnt, err := os.MkdirTemp(parent, "vrouter-seed.")
	if err != nil {
		return "", nil, err
	}
	const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	var errs []string
	for _, fstype := range []string{"iso9660", "vfat"} {
		err := unix.Mount(dev, mnt, fstype, flags, "")
		if err == nil {
			return mnt, func() {
				_ = unix.Unmount(mnt, unix.MNT_DETACH)
				_ = os.Remove(mnt)
			}, nil
		}
		errs = append(errs, fstype+": "+err.Error())
	}
	_ = os.Remove(mnt)
	return "", nil, fmt.Errorf("mount %s: %s", dev, strings.Join(errs, "; "))
}
