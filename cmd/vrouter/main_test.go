package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/config"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = dispatch(args, &o, &e)
	return code, o.String(), e.String()
}

func TestDispatch(t *testing.T) {
	if code, _, errOut := run(); code != exitUsage || !strings.Contains(errOut, "usage: vrouter") {
		t.Errorf("no args: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := run("frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, stderr %q", code, errOut)
	}
	if code, out, _ := run("version"); code != exitOK || !strings.HasPrefix(out, "vrouter ") {
		t.Errorf("version: code %d, out %q", code, out)
	}
}

func TestDefaultsRoundTrip(t *testing.T) {
	code, out, _ := run("defaults")
	if code != exitOK {
		t.Fatalf("defaults: code %d", code)
	}
	if _, err := config.Parse("defaults", []byte(out)); err != nil {
		t.Fatalf("printed defaults do not parse: %v", err)
	}
	path := filepath.Join(t.TempDir(), "vrouter.yaml")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("check", "--config", path); code != exitOK || !strings.Contains(out, "ok (2 interfaces") {
		t.Errorf("check defaults: code %d, out %q, err %q", code, out, errOut)
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	src := "interfaces:\n  eth1:\n    role: downstream\n    advertise:\n      max_interval: 1s\nforwarding: yes\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("check", "--config", path)
	if code != exitUsage || out != "" {
		t.Fatalf("check bad: code %d (want 2), stdout %q", code, out)
	}
	want := path + ":5:21: interfaces.eth1.advertise.max_interval: must be between 4s and 1800s (RFC 4861 §6.2.1), got 1s\n" +
		path + ":6:13: forwarding: must be true or false, got string \"yes\"\n"
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
	if code, _, errOut := run("check", "--config", filepath.Join(t.TempDir(), "nope.yaml")); code != exitUsage || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: code %d, stderr %q", code, errOut)
	}
}

// TestCheckRunsComponentRules: check runs the rules of every component,
// not only the decoder's (a fast path on CPU 2000 used to pass check and
// fail in the supervisor forever).
func TestCheckRunsComponentRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fp.yaml")
	src := "fastpath:\n  enabled: true\n  interfaces: [eth0, eth0]\n  cpus: [1, 2000]\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("check", "--config", path)
	want := path + ":3:22: fastpath.interfaces[1]: interface \"eth0\" listed twice\n" +
		path + ":4:13: fastpath.cpus[1]: bad CPU number 2000 (0 to 1023)\n"
	if code != exitUsage || out != "" || errOut != want {
		t.Errorf("check: code %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
}

func TestRunRejectsBadConfigAndFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("interfaces: [eth0]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run("run", "--config", path, "--socket", "-")
	if code != exitUsage || !strings.Contains(errOut, path+":1:13: interfaces: must be a mapping of interface names, got a list") {
		t.Errorf("run with bad config: code %d, stderr %q", code, errOut)
	}
	if code, _, _ := run("run", "--log-level", "loud"); code != exitUsage {
		t.Errorf("bad --log-level: code %d, want 2", code)
	}
}

// TestMain lets tests run the real binary: with VROUTER_TEST_MAIN=1 the test
// executable behaves as vrouter itself.
func TestMain(m *testing.M) {
	if os.Getenv("VROUTER_TEST_MAIN") == "1" {
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestRunWithoutPrivileges drops CAP_NET_ADMIN and CAP_NET_RAW with setpriv
// and expects a clear message and exit 1, not a stack trace.
func TestRunWithoutPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop capabilities with setpriv (CI runs as root)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	for _, tc := range []struct {
		drop      string
		want, not []string
	}{
		{"-net_admin,-net_raw", []string{"missing capabilities: CAP_NET_ADMIN", "CAP_NET_RAW (ICMPv6"}, nil},
		{"-net_raw", []string{"missing capabilities: CAP_NET_RAW (ICMPv6"}, []string{"CAP_NET_ADMIN (links"}},
	} {
		cmd := exec.Command(setpriv, "--inh-caps=-all", "--bounding-set="+tc.drop, os.Args[0], "run", "--socket", "-")
		cmd.Env = append(os.Environ(), "VROUTER_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
			t.Errorf("drop %s: err %v, want exit 1; output:\n%s", tc.drop, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("drop %s: output lacks %q:\n%s", tc.drop, w, out)
			}
		}
		for _, w := range append(tc.not, "goroutine ") {
			if strings.Contains(string(out), w) {
				t.Errorf("drop %s: output has %q:\n%s", tc.drop, w, out)
			}
		}
	}
}

func TestCloudinitCommand(t *testing.T) {
	code, out, errOut := run("cloudinit")
	if code != exitOK || !strings.HasPrefix(out, "#cloud-config\n") || !strings.Contains(out, "/etc/vrouter/vrouter.yaml") {
		t.Fatalf("cloudinit: code %d, stderr %q, stdout starts %q", code, errOut, out[:min(len(out), 80)])
	}
	if code, _, errOut := run("cloudinit", "--url", "https://example.org/vrouter"); code != exitUsage || !strings.Contains(errOut, "sha256") {
		t.Errorf("cloudinit --url without --sha256: code %d (want 2), stderr %q", code, errOut)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("interfaces:\n  eth0: {role: upstreem}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("cloudinit", "--config", path); code != exitUsage || !strings.Contains(errOut, path+":2:16: interfaces.eth0.role") {
		t.Errorf("cloudinit with a bad config: code %d (want 2), stderr %q", code, errOut)
	}
	// A rule of a component (the DHCPv6 server's), not of the decoder.
	ruled := `interfaces:
  eth1:
    role: downstream
    addresses: [2001:db8:0:2::1/64]
    dhcpv6:
      mode: stateful
      hosts: [{duid: "00:01", address: "2001:db8:0:2::33"}]
`
	if err := os.WriteFile(path, []byte(ruled), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("cloudinit", "--config", path); code != exitUsage || !strings.Contains(errOut, path+":7:22: interfaces.eth1.dhcpv6.hosts[0].duid: must be at least 3 bytes") {
		t.Errorf("cloudinit with a config a component refuses: code %d (want 2), stderr %q", code, errOut)
	}
}

func TestImportRadvdCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "radvd.conf")
	if err := os.WriteFile(good, []byte(`interface eth1 {
	AdvSendAdvert on;
	MaxRtrAdvInterval 60;
	prefix 2001:db8:0:2::/64 {
		AdvOnLink on;
		AdvAutonomous on;
	};
	RDNSS 2001:db8:0:2::53 { };
};
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("import-radvd", good)
	if code != exitOK {
		t.Fatalf("import-radvd: code %d, stderr %q", code, errOut)
	}
	cfg, err := config.Parse("converted", []byte(out))
	if err != nil {
		t.Fatalf("converted config does not parse: %v\n%s", err, out)
	}
	ifc := cfg.Interface("eth1")
	if ifc == nil || ifc.Advertise == nil || len(ifc.Advertise.Prefixes) != 1 || ifc.Advertise.MaxInterval.Seconds() != 60 || len(ifc.Advertise.RDNSS) != 1 {
		t.Errorf("converted config lost something:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("interface eth1 {\n\tAdvSendAdvert on;\n\tBase6to4Interface ppp0;\n};\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("import-radvd", bad)
	if code != exitUsage || out != "" || !strings.HasPrefix(errOut, bad+":3:") || !strings.Contains(errOut, "Base6to4Interface") {
		t.Errorf("import-radvd of an unsupported option: code %d (want 2), stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, _ := run("import-radvd", filepath.Join(dir, "missing.conf")); code != exitFailure {
		t.Errorf("missing file: code %d, want 1", code)
	}
}
