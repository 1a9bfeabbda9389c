package cloudinit

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testSeed(t *testing.T, f SeedFormat) Seed {
	return Seed{Format: f, InstanceID: "0a3c7e8e-1f5e-4d7a-9a43-1b1d7f0e2c11", Hostname: "vrouter",
		UserData: []byte(Header + "runcmd: [[true]]\n"),
		NICs: []SeedNIC{
			{MAC: mustMAC(t, "fa:16:3e:11:11:11"), Type: "ipv6_slaac"},
			{MAC: mustMAC(t, "fa:16:3e:22:22:22")},
		}}
}

func TestConfigDriveDir(t *testing.T) {
	dir := t.TempDir()
	s := testSeed(t, ConfigDrive)
	if err := WriteSeed(dir, s); err != nil {
		t.Fatal(err)
	}
	ud, err := os.ReadFile(filepath.Join(dir, "openstack/latest/user_data"))
	if err != nil || string(ud) != string(s.UserData) {
		t.Errorf("user_data = %q, %v", ud, err)
	}
	var md novaMetaData
	readJSON(t, filepath.Join(dir, "openstack/latest/meta_data.json"), &md)
	if md.UUID != s.InstanceID || md.Hostname != "vrouter" {
		t.Errorf("meta_data.json = %+v", md)
	}
	var nd NetworkData
	readJSON(t, filepath.Join(dir, "openstack/latest/network_data.json"), &nd)
	var got []string
	for _, l := range nd.Links {
		got = append(got, l.EthernetMACAddress+" "+l.Type)
	}
	if diff := cmp.Diff([]string{"fa:16:3e:11:11:11 ovs", "fa:16:3e:22:22:22 ovs"}, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	if len(nd.Networks) != 1 || nd.Networks[0].Type != "ipv6_slaac" || nd.Networks[0].Link != nd.Links[0].ID {
		t.Errorf("networks = %+v, want one ipv6_slaac network on the first link", nd.Networks)
	}
	// Versions before 2015-10-15 have no network_data.json, as with nova.
	if _, err := os.Stat(filepath.Join(dir, "openstack/2012-08-10/network_data.json")); !os.IsNotExist(err) {
		t.Errorf("2012-08-10 must not have network_data.json (%v)", err)
	}
}

func TestNoCloudDir(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSeed(dir, testSeed(t, NoCloud)); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "meta-data"))
	if err != nil || !strings.Contains(string(md), "instance-id: 0a3c7e8e-") || !strings.Contains(string(md), "local-hostname: vrouter") {
		t.Errorf("meta-data = %q, %v", md, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "user-data")); err != nil {
		t.Error(err)
	}
}

func TestSeedISO(t *testing.T) {
	if _, err := exec.LookPath("isoinfo"); err != nil {
		t.Skip("isoinfo not installed (Debian package genisoimage): skipping the ISO check")
	}
	for _, tc := range []struct {
		f     SeedFormat
		label string
		file  string
	}{
		{ConfigDrive, "config-2", "/openstack/latest/user_data"},
		{NoCloud, "cidata", "/user-data"},
	} {
		t.Run(string(tc.f), func(t *testing.T) {
			iso := filepath.Join(t.TempDir(), "seed.iso")
			if err := WriteSeed(iso, testSeed(t, tc.f)); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("isoinfo", "-d", "-i", iso).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Volume id: "+tc.label+"\n") {
				t.Errorf("isoinfo -d: %v, want label %s:\n%s", err, tc.label, out)
			}
			out, err = exec.Command("isoinfo", "-R", "-i", iso, "-x", tc.file).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), Header) {
				t.Errorf("isoinfo -x %s: %v: %q", tc.file, err, out)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
