package images_test

// TestCloneDemo is the new user's first ten minutes, in a VM: a plain
// Debian bookworm image with nothing of vrouter's installed, only git, make
// and the Go toolchain (build-image.sh with PLAIN=1), clones the repository
// from a git bundle on a CD and runs `make demo`, which must install the
// Debian packages it needs with apt (from Debian's mirror, reached through
// qemu's user networking as this machine reaches it) and succeed.
//
//	qemu (TCG) -netdev user ── NAT ── this machine's network ── Debian mirror, Go module proxy
//	  cd0: NoCloud seed (runcmd: mount cd1, git clone, make demo)
//	  cd1: vrouter.bundle (git bundle of HEAD)
//
// Run: VROUTER_E2E_CLONE=1 [VROUTER_PLAIN_IMAGE=bin/plain-bookworm.qcow2] go test -v -timeout 100m -run TestCloneDemo ./images/
// (root; make e2e-clone). Under TCG it takes tens of minutes: the figure is in the README.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/cloudinit"
)

const (
	cloneTimeout = 90 * time.Minute
	cloneMarker  = "E2E clone-demo rc="
)

// cloneScript runs in the guest's final stage as root.
const cloneScript = `set -u
export HOME=/root PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /mnt/src
mount -o ro /dev/disk/by-label/VRSRC /mnt/src
start=$(date +%s)
cd /root
git clone -q /mnt/src/vrouter.bundle vrouter && cd vrouter && make demo
rc=$?
echo "` + cloneMarker + `$rc after $(( $(date +%s) - start )) s"
`

func TestCloneDemo(t *testing.T) {
	if os.Getenv("VROUTER_E2E_CLONE") != "1" {
		t.Skip("clone + make demo in a VM: set VROUTER_E2E_CLONE=1 to run it (make e2e-clone); it takes tens of minutes under TCG")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (image build, mounts)")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "git", "genisoimage", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s (Debian packages qemu-system-x86 qemu-utils git genisoimage coreutils)", tool)
		}
	}
	dir := t.TempDir()
	image := os.Getenv("VROUTER_PLAIN_IMAGE")
	if image == "" {
		image = filepath.Join(dir, "plain.qcow2")
		start := time.Now()
		cmd := exec.Command("bash", "build-image.sh", image)
		cmd.Env = append(os.Environ(), "PLAIN=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build-image.sh (PLAIN=1): %v\n%s", err, tail(out, 4000))
		}
		t.Logf("plain image built in %s", time.Since(start).Round(time.Second))
	}
	// A larger overlay: cloud-init grows the root file system into it
	// (the Go module and build caches need room).
	disk := filepath.Join(dir, "disk.qcow2")
	mustRun(t, "", "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image, disk, "8G")

	// The repository as `git clone` sees it: HEAD, committed.
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "git", "-C", "..", "bundle", "create", filepath.Join(src, "vrouter.bundle"), "HEAD")
	srcISO := filepath.Join(dir, "src.iso")
	mustRun(t, "", "genisoimage", "-quiet", "-J", "-r", "-V", "VRSRC", "-o", srcISO, src)

	cc := &cloudinit.CloudConfig{FinalMessage: cloudinit.FinalMessage,
		Runcmd: [][]string{{"sh", "-c", cloneScript}}}
	ud, err := cloudinit.UserData(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := cloudinit.NewInstanceID()
	if err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, "seed.iso")
	if err := cloudinit.WriteSeed(seed, cloudinit.Seed{Format: cloudinit.ConfigDrive, InstanceID: id, Hostname: "newuser",
		UserData: ud, NICs: []cloudinit.SeedNIC{{MAC: mustMAC(t, macVMEth0), Type: "ipv4_dhcp"}}}); err != nil {
		t.Fatal(err)
	}

	serial := filepath.Join(dir, "serial.log")
	cmd := exec.Command("timeout", "--kill-after=10", strconv.Itoa(int(cloneTimeout.Seconds())),
		"qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "2048", "-smp", "2",
		"-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
		"-serial", "file:"+serial,
		"-drive", "file="+disk+",if=virtio",
		"-drive", "file="+seed+",media=cdrom,readonly=on",
		"-drive", "file="+srcISO+",media=cdrom,readonly=on",
		"-netdev", "user,id=n0",
		"-device", "virtio-net-pci,netdev=n0,mac="+macVMEth0,
	)
	cmd.SysProcAttr = sysProcAttrGroup()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = killGroup(cmd)
		<-done
		if t.Failed() {
			s, _ := os.ReadFile(serial)
			t.Logf("serial console (tail):\n%s", tail(s, 12000))
		}
	})

	v := &vm{serial: serial, start: start}
	v.waitSerial(t, cloneMarker, cloneTimeout)
	b, err := os.ReadFile(serial)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(cloneMarker) + `(\d+) after (\d+) s`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %q line with the exit status", cloneMarker)
	}
	took := time.Since(start).Round(time.Second)
	if string(m[1]) != "0" {
		t.Fatalf("git clone + make demo exited %s in the VM", m[1])
	}
	// The demo's own summary, and the packages it installed.
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "installing the missing Debian packages") || strings.Contains(l, "packets transmitted") {
			t.Logf("VM: %s", strings.TrimSpace(l))
		}
	}
	if !strings.Contains(string(b), "make demo: installing the missing Debian packages:") {
		t.Error("make demo did not install any package: the plain image was not plain")
	}
	t.Logf("plain bookworm VM: git clone + make demo succeeded in %s s (boot to done %s, TCG)", m[2], took)
}
