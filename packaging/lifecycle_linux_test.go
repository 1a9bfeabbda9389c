package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDebLifecycle installs, upgrades, removes and purges the package in a
// Debian bookworm chroot made with mmdebstrap (never on this machine's own
// root), with the maintainer scripts run by the real dpkg and apt. A fake
// systemctl (and /run/systemd/system, so the scripts believe systemd runs)
// records what the scripts ask of systemd.
//
//	install 1.0   → enabled (systemctl preset), never started; /etc/vrouter and /var/lib/vrouter exist
//	(systemd's DynamicUser= moves the state to /var/lib/private/vrouter behind a symlink; the operator writes a config)
//	dpkg -i 1.1   → upgraded; config and state untouched; a running router is try-restarted
//	apt remove    → binary gone, stopped; config and state kept
//	apt purge     → state gone; the operator's config kept
func TestDebLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mmdebstrap --mode=root, chroot)")
	}
	mm, err := exec.LookPath("mmdebstrap")
	if err != nil {
		t.Skip("mmdebstrap not installed (Debian package mmdebstrap; make test installs it)")
	}
	if testing.Short() {
		t.Skip("-short: the chroot takes a minute or two")
	}
	root := filepath.Join(t.TempDir(), "root")
	start := time.Now()
	tarball, made, err := bookwormTarball(mm)
	if err != nil {
		t.Fatal(err)
	}
	mkdirs(t, root, ".")
	if out, err := exec.Command("tar", "-C", root, "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v\n%s", tarball, err, out)
	}
	t.Logf("bookworm chroot in %s (%s)", time.Since(start).Round(time.Second), made)

	for _, v := range []string{"1.0", "1.1"} {
		f, err := os.Create(filepath.Join(root, "tmp", FileName(v, "")))
		if err != nil {
			t.Fatal(err)
		}
		if err := Build(f, Options{Version: v, Binary: fakeBinary(t, v), Date: testDate, Modules: []string{}}); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// systemd is "running" for the scripts; systemctl only writes down.
	// (The chroot has no systemd; apt runs dpkg with PATH=/usr/sbin:/usr/bin:/sbin:/bin.)
	mkdirs(t, root, "run/systemd/system")
	writeFile(t, filepath.Join(root, "usr/bin/systemctl"), "#!/bin/sh\necho \"$*\" >>/tmp/systemctl.log\n", 0o755)
	sysLog := filepath.Join(root, "tmp/systemctl.log")
	takeLog := func() string {
		b, _ := os.ReadFile(sysLog)
		os.Remove(sysLog)
		return string(b)
	}

	in := func(script string) string {
		t.Helper()
		cmd := exec.Command("chroot", root, "/bin/sh", "-ec", script)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in the chroot: %s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	exists := func(p string) bool {
		_, err := os.Lstat(filepath.Join(root, p))
		return err == nil
	}
	status := func() string {
		return strings.TrimSpace(in("dpkg-query -W -f='${db:Status-Abbrev}${Version}' vrouter"))
	}
	const wants = "etc/systemd/system/multi-user.target.wants/vrouter.service"

	// Install.
	out := in("dpkg -i /tmp/" + FileName("1.0", ""))
	if s := status(); s != "ii 1.0" {
		t.Fatalf("after install: %q\n%s", s, out)
	}
	for _, d := range []string{"etc/vrouter", "var/lib/vrouter", "usr/bin/vrouter", "lib/systemd/system/vrouter-setup.service"} {
		if !exists(d) {
			t.Errorf("install left no /%s", d)
		}
	}
	// deb-systemd-helper enables through `systemctl preset` where systemd
	// is installed (Debian's preset: enable).
	if log := takeLog(); strings.Contains(log, "start") || !strings.Contains(log, "preset vrouter.service") || !strings.Contains(log, "daemon-reload") {
		t.Errorf("install asked systemd for %q: want a preset (enable), a daemon-reload and never a start", log)
	}

	// The router ran: systemd moved the state behind a symlink
	// (DynamicUser=); the operator wrote the config.
	const config = "interfaces: {}\n"
	in(`mkdir -p /var/lib/private && mv /var/lib/vrouter /var/lib/private/vrouter && ln -s private/vrouter /var/lib/vrouter
		echo lease >/var/lib/vrouter/leases
		printf '` + config + `' >/etc/vrouter/vrouter.yaml`)

	// Upgrade with dpkg -i of the newer package.
	out = in("dpkg -i /tmp/" + FileName("1.1", ""))
	if s := status(); s != "ii 1.1" {
		t.Fatalf("after upgrade: %q\n%s", s, out)
	}
	if got := in("/usr/bin/vrouter"); got != "vrouter 1.1\n" {
		t.Errorf("after upgrade the binary says %q", got)
	}
	checkKept := func(when string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(root, "etc/vrouter/vrouter.yaml")); err != nil || string(b) != config {
			t.Errorf("%s: /etc/vrouter/vrouter.yaml = %q, %v", when, b, err)
		}
		if b, err := os.ReadFile(filepath.Join(root, "var/lib/vrouter/leases")); err != nil || string(b) != "lease\n" {
			t.Errorf("%s: state /var/lib/vrouter/leases = %q, %v", when, b, err)
		}
		if l, err := os.Readlink(filepath.Join(root, "var/lib/vrouter")); err != nil || l != "private/vrouter" {
			t.Errorf("%s: /var/lib/vrouter is no longer systemd's symlink: %q, %v", when, l, err)
		}
	}
	checkKept("after upgrade")
	if log := takeLog(); !strings.Contains(log, "try-restart vrouter.service") || strings.Contains(log, " start") ||
		strings.Contains(log, "disable") || strings.Contains(log, "preset") {
		t.Errorf("upgrade asked systemd for %q: want try-restart (restarts a running router, starts none) and the operator's enablement kept", log)
	}

	// apt remove: stopped, binary gone, config and state kept.
	out = in("apt-get remove -y vrouter")
	if s := status(); s != "rc 1.1" {
		t.Fatalf("after remove: %q\n%s", s, out)
	}
	if exists("usr/bin/vrouter") {
		t.Error("remove left the binary")
	}
	checkKept("after remove")
	if log := takeLog(); !strings.Contains(log, "stop vrouter.service") {
		t.Errorf("remove asked systemd for %q: want a stop", log)
	}

	// apt purge: state gone; the config the package did not write stays.
	out = in("apt-get purge -y vrouter")
	if s := strings.TrimSpace(in("dpkg-query -W -f='${db:Status-Abbrev}' vrouter 2>/dev/null || true")); s != "" && s != "un" {
		t.Errorf("after purge: status %q\n%s", s, out)
	}
	for _, p := range []string{"var/lib/vrouter", "var/lib/private/vrouter", wants} {
		if exists(p) {
			t.Errorf("purge left /%s", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/vrouter/vrouter.yaml")); err != nil || string(b) != config {
		t.Errorf("purge removed the operator's config: %q, %v", b, err)
	}
	if bytes.Contains([]byte(out), []byte("error")) {
		t.Errorf("purge reported an error:\n%s", out)
	}
}

// bookwormTarball returns a tarball of a Debian bookworm "apt" variant
// (dpkg, apt, the essential set) with iproute2, made by mmdebstrap and
// kept a week in the user's cache directory: making one takes minutes.
func bookwormTarball(mm string) (path, how string, err error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "vrouter-test")
	path = filepath.Join(dir, "bookworm-apt-iproute2.tar")
	if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) < 7*24*time.Hour {
		return path, "cached " + path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	tmp := path + ".tmp"
	defer os.Remove(tmp)
	out, err := exec.Command(mm, "--variant=apt", "--mode=root", "--format=tar", "--include=iproute2",
		"--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*", "bookworm", tmp).CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("mmdebstrap: %v\n%s", err, tailOf(out, 3000))
	}
	return path, "made by mmdebstrap", os.Rename(tmp, path)
}

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func tailOf(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
