package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/cloudinit"
)

// seedDrive writes a config drive directory with the user-data of `vrouter
// cloudinit` and returns it; cfg, when not nil, then replaces the config
// in it (as if edited after rendering, which can make it invalid).
func seedDrive(t *testing.T, iid string, cfg []byte) string {
	t.Helper()
	cc, _, err := cloudinit.Build(cloudinit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		cc.File(cloudinit.ConfigPath).Content = string(cfg)
	}
	ud, err := cloudinit.UserData(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "drive")
	if err := cloudinit.WriteSeed(dir, cloudinit.Seed{Format: cloudinit.ConfigDrive, InstanceID: iid, UserData: ud}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSeed(t *testing.T) {
	drive := seedDrive(t, "iid-1", nil)
	root := t.TempDir()
	code, out, errOut := run("seed", "--dir", drive, "--root", root)
	if code != exitOK || !strings.Contains(out, "written ahead of cloud-init") {
		t.Fatalf("seed: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, cloudinit.ConfigPath)); err != nil {
		t.Fatalf("no config written: %v", err)
	}
	// Again: everything is in place.
	if code, out, _ := run("seed", "--dir", drive, "--root", root); code != exitOK || !strings.Contains(out, "0 of the user-data's files written ahead of cloud-init (") {
		t.Errorf("second seed: code %d, %s", code, out)
	}

	// Once cloud-init's write_files has run for the instance, the files are
	// its (or the operator's since): an edit survives.
	edited := []byte("# edited by the operator\n")
	if err := os.WriteFile(filepath.Join(root, cloudinit.ConfigPath), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	sem := filepath.Join(root, cloudinit.WriteSemaphore("iid-1"))
	if err := os.MkdirAll(filepath.Dir(sem), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sem, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run("seed", "--dir", drive, "--root", root); code != exitOK || !strings.Contains(out, "already ran write_files") {
		t.Errorf("seed after cloud-init: code %d, %s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(root, cloudinit.ConfigPath)); string(b) != string(edited) {
		t.Errorf("the operator's edit was overwritten: %q", b)
	}
}

// TestSeedLeaves: an invalid config, user-data without one and a drive
// that is not one write nothing and exit 0 (the unit must not fail: the
// boot goes on as without the early start).
func TestSeedLeaves(t *testing.T) {
	bad := seedDrive(t, "iid-2", []byte("interfaces:\n  eth0:\n    role: upstreem\n"))
	empty := filepath.Join(t.TempDir(), "empty")
	if err := cloudinit.WriteSeed(empty, cloudinit.Seed{InstanceID: "iid-4", UserData: []byte("#cloud-config\nruncmd: [[echo, hi]]\n")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, want string
		wrote     bool
	}{
		{bad, "not valid, left to cloud-init", false},
		{empty, "has no /etc/vrouter/vrouter.yaml: nothing to do", false},
		{t.TempDir(), "left to cloud-init", false},
	} {
		root := t.TempDir()
		code, out, errOut := run("seed", "--dir", tc.dir, "--root", root)
		if code != exitOK || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("seed --dir %s: code %d, want %q in\n%s%s", tc.dir, code, tc.want, out, errOut)
		}
		_, err := os.Stat(filepath.Join(root, cloudinit.ConfigPath))
		if (err == nil) != tc.wrote {
			t.Errorf("seed --dir %s: config written = %v, want %v", tc.dir, err == nil, tc.wrote)
		}
	}
	if code, _, _ := run("seed", "--dir", "x", "--device", "y"); code != exitUsage {
		t.Errorf("--dir with --device: code %d, want %d", code, exitUsage)
	}
}

// TestFindSeedDevice: the config drive by its ISO label among the block
// devices, before a NoCloud seed, without udev's links.
func TestFindSeedDevice(t *testing.T) {
	if _, err := os.Stat(seedDevices[0]); err == nil {
		t.Skipf("%s exists on this machine: findSeedDevice returns it first", seedDevices[0])
	}
	sys, dev := t.TempDir(), t.TempDir()
	mk := func(name, label string) {
		if err := os.Mkdir(filepath.Join(sys, name), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 17*2048)
		if label != "" {
			copy(b[16*2048:], "\x01CD001")
			copy(b[16*2048+40:16*2048+72], label+strings.Repeat(" ", 32-len(label)))
		}
		if err := os.WriteFile(filepath.Join(dev, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("vda", "")
	mk("sr0", "CIDATA")
	if got := findSeedDevice(sys, dev); got != filepath.Join(dev, "sr0") {
		t.Errorf("findSeedDevice = %q, want the NoCloud seed sr0", got)
	}
	mk("sr1", "config-2")
	if got := findSeedDevice(sys, dev); got != filepath.Join(dev, "sr1") {
		t.Errorf("findSeedDevice = %q, want the config drive sr1", got)
	}
	if err := os.Mkdir(filepath.Join(sys, "nodev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := findSeedDevice(sys, dev); got != filepath.Join(dev, "sr1") {
		t.Errorf("with a device without a node: %q", got)
	}
}
