package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSetupScript runs vrouter-setup against this machine's real NICs
// (read from /sys, never changed) with fake ip, systemctl and networkctl
// that only write down their arguments.
func TestSetupScript(t *testing.T) {
	var nic, mac string
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		d := filepath.Join("/sys/class/net", e.Name())
		if _, err := os.Stat(filepath.Join(d, "device")); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "address"))
		if err == nil {
			nic, mac = e.Name(), strings.TrimSpace(string(b))
			break
		}
	}
	if nic == "" {
		t.Skip("no network device with a /sys/class/net/*/device link here")
	}
	script := filepath.Join(t.TempDir(), "vrouter-setup")
	if err := os.WriteFile(script, SetupScript(), 0o755); err != nil {
		t.Fatal(err)
	}

	asked := []string{"systemctl -q is-active systemd-networkd.service", "networkctl reload",
		"systemctl show -p NeedDaemonReload -p DropInPaths vrouter.service"}
	for _, tc := range []struct {
		name      string
		links     map[string]string // .link file name → content
		systemd   bool
		needsLoad string // what NeedDaemonReload says
		dropIns   []string
		loaded    string // what DropInPaths says
		want      []string
		errHas    string
	}{
		{name: "no link files, no systemd", want: nil},
		{name: "names already right; networkd and systemd asked",
			links:   map[string]string{"10-vrouter-x.link": linkFile(mac, nic)},
			systemd: true, needsLoad: "no",
			want: append(asked, nil...)},
		{name: "unit file changed: systemd reloaded",
			systemd: true, needsLoad: "yes",
			want: append(asked, "systemctl daemon-reload")},
		{name: "a drop-in systemd has not loaded: reloaded (NeedDaemonReload misses new directories)",
			systemd: true, needsLoad: "no", dropIns: []string{"10-fastpath-xdp.conf"}, loaded: "/lib/systemd/system/vrouter.service.d/x.conf",
			want: append(asked, "systemctl daemon-reload")},
		{name: "drop-ins already loaded: no reload",
			systemd: true, needsLoad: "no", dropIns: []string{"10-fastpath-xdp.conf"}, loaded: "DROPINS/10-fastpath-xdp.conf",
			want: append(asked, nil...)},
		{name: "two drop-ins loaded, one of them new: reloaded",
			systemd: true, needsLoad: "no", dropIns: []string{"10-fastpath-xdp.conf", "20-new.conf"}, loaded: "/lib/systemd/system/vrouter.service.d/x.conf DROPINS/10-fastpath-xdp.conf",
			want: append(asked, "systemctl daemon-reload")},
		{name: "two drop-ins, both loaded: no reload",
			systemd: true, needsLoad: "no", dropIns: []string{"10-fastpath-xdp.conf", "20-new.conf"}, loaded: "DROPINS/20-new.conf DROPINS/10-fastpath-xdp.conf",
			want: append(asked, nil...)},
		{name: "renamed through a temporary name (uppercase MAC in the file)",
			links: map[string]string{"10-vrouter-up0.link": linkFile(strings.ToUpper(mac), "vrtestup0"), "99-other.link": linkFile("02:00:00:00:00:99", "other")},
			want: []string{"ip link set dev " + nic + " down", "ip link set dev " + nic + " name vrtmp0",
				// the fake ip renames nothing, so the NIC still has its old name
				"ip link set dev " + nic + " name vrtestup0", "ip link set dev vrtestup0 up"}},
		{name: "no NIC has the MAC",
			links:  map[string]string{"10-vrouter-eth9.link": linkFile("02:00:5e:00:53:99", "eth9")},
			errHas: "vrouter-setup: no network device has MAC 02:00:5e:00:53:99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			netdir, bin, run, dropins := filepath.Join(dir, "network"), filepath.Join(dir, "bin"), filepath.Join(dir, "run"), filepath.Join(dir, "dropins")
			for _, d := range []string{netdir, bin, dropins} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.systemd {
				if err := os.MkdirAll(run, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for n, c := range tc.links {
				if err := os.WriteFile(filepath.Join(netdir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range tc.dropIns {
				if err := os.WriteFile(filepath.Join(dropins, n), []byte("[Service]\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			log := filepath.Join(dir, "calls")
			for _, tool := range []string{"ip", "systemctl", "networkctl"} {
				body := "#!/bin/sh\necho \"" + tool + " $*\" >>'" + log + "'\n"
				if tool == "systemctl" {
					// systemd prints the properties in its own order.
					body += "[ \"$1\" = show ] && echo 'DropInPaths=" + strings.ReplaceAll(tc.loaded, "DROPINS", dropins) + "' && echo NeedDaemonReload=" + tc.needsLoad + "\n"
				}
				if err := os.WriteFile(filepath.Join(bin, tool), []byte(body+"exit 0\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("/bin/sh", script)
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "VROUTER_NETWORK_DIR=" + netdir, "VROUTER_SYSTEMD_RUN=" + run, "VROUTER_DROPIN_DIR=" + dropins}
			out, err := cmd.CombinedOutput()
			if tc.errHas != "" {
				if err == nil || !strings.Contains(string(out), tc.errHas) {
					t.Fatalf("err %v, output %q; want a failure with %q", err, out, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("vrouter-setup: %v\n%s", err, out)
			}
			var calls []string
			if b, err := os.ReadFile(log); err == nil {
				calls = strings.Split(strings.TrimSpace(string(b)), "\n")
			}
			if diff := cmp.Diff(tc.want, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s\noutput:\n%s", diff, out)
			}
		})
	}
}

// linkFile is a .link file as `vrouter cloudinit --match-mac` writes it.
func linkFile(mac, name string) string {
	return "# Written by `vrouter cloudinit`\n[Match]\nMACAddress=" + mac + "\nType=ether\n\n[Link]\nNamePolicy=\nName=" + name + "\n"
}
