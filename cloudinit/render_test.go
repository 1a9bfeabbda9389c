package cloudinit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"github.com/vrouter/vrouter/images"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	testSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	testURL = "https://downloads.example.org/vrouter/v1.0.0/vrouter-linux-amd64"
	testDeb = "https://downloads.example.org/vrouter/v1.0.0/vrouter_1.0.0_amd64.deb"
)

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goldenCases(t *testing.T) []struct {
	name string
	opts Options
} {
	nics := []NIC{
		{Name: "eth0", MAC: mustMAC(t, "fa:16:3e:11:11:11")},
		{Name: "eth1", MAC: mustMAC(t, "fa:16:3e:22:22:22")},
	}
	return []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"match-mac", Options{NICs: nics}},
		{"url", Options{URL: testURL, SHA256: testSHA}},
		{"deb-url", Options{DebURL: testDeb, SHA256: testSHA, NICs: nics}},
		{"config-file", Options{ConfigName: "testdata/ndproxy.yaml", Config: readTestdata(t, "ndproxy.yaml")}},
		{"fastpath", Options{ConfigName: "testdata/fastpath.yaml", Config: readTestdata(t, "fastpath.yaml")}},
		{"dhcpv6-stateless", Options{ConfigName: "testdata/dhcpv6-stateless.yaml", Config: readTestdata(t, "dhcpv6-stateless.yaml"), NICs: nics}},
		{"dhcpv6-stateful", Options{ConfigName: "testdata/dhcpv6-stateful.yaml", Config: readTestdata(t, "dhcpv6-stateful.yaml"), NICs: nics}},
		// An HA pair: one config, two user-datas.
		{"ha-a", Options{ConfigName: "testdata/ha.yaml", Config: readTestdata(t, "ha.yaml"), NICs: nics}},
		{"ha-b", Options{ConfigName: "testdata/ha.yaml", Config: readTestdata(t, "ha.yaml"), HAPriority: 100, NICs: []NIC{
			{Name: "eth0", MAC: mustMAC(t, "fa:16:3e:11:11:12")},
			{Name: "eth1", MAC: mustMAC(t, "fa:16:3e:22:22:23")},
		}}},
		{"multipart", Options{NICs: nics, Parts: []Part{
			{Filename: "hello.sh", ContentType: "text/x-shellscript", Content: []byte("#!/bin/sh\necho hello from a part\n")},
		}}},
	}
}

// TestGolden compares every render with testdata/<name>.golden; run
// `go test ./cloudinit -run Golden -update` after an intended change.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(tc.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("render differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// cloudConfigOf returns the cloud-config in user-data: the whole of it, or
// its text/cloud-config MIME part.
func cloudConfigOf(t *testing.T, userData []byte) []byte {
	t.Helper()
	if bytes.HasPrefix(userData, []byte(Header)) {
		return userData
	}
	parts := parseMultipart(t, userData)
	for _, p := range parts {
		if p.ContentType == "text/cloud-config" {
			return p.Content
		}
	}
	t.Fatal("no text/cloud-config part")
	return nil
}

func parseMultipart(t *testing.T, data []byte) []Part {
	t.Helper()
	head, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		t.Fatal("multipart: no blank line after the headers")
	}
	var ctype string
	for _, l := range strings.Split(string(head), "\n") {
		if v, ok := strings.CutPrefix(l, "Content-Type: "); ok {
			ctype = v
		}
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("multipart: Content-Type %q: %v", ctype, err)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []Part
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		var rd io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			rd = base64.NewDecoder(base64.StdEncoding, p)
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts = append(parts, Part{Filename: p.FileName(), ContentType: pt, Content: b})
	}
	return parts
}

// TestSchema runs every render through the real `cloud-init schema -c`
// and our top-level key allow-list.
func TestSchema(t *testing.T) {
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Log("cloud-init not installed (Debian package cloud-init; .ci/run installs it): checking only the key allow-list")
	}
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // cloud-init schema takes seconds per file
			ud, err := Render(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			cc := cloudConfigOf(t, ud)
			if err := CheckKeys(cc); err != nil {
				t.Error(err)
			}
			if ci == "" {
				t.Skip("cloud-init not installed (Debian package cloud-init): skipping `cloud-init schema -c`")
			}
			f := filepath.Join(t.TempDir(), "user-data")
			if err := os.WriteFile(f, cc, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("Valid cloud-config")) {
				t.Errorf("cloud-init schema -c: %v\n%s", err, out)
			}
		})
	}
}

// TestSchemaCatchesErrors makes sure the two validators can fail: a wrong
// type fails cloud-init's schema, a misspelt key fails the allow-list.
func TestSchemaCatchesErrors(t *testing.T) {
	bad := []byte(Header + "runcmd: 5\nwrite_file:\n  - path: /x\n")
	if err := CheckKeys(bad); err == nil || !strings.Contains(err.Error(), "write_file") {
		t.Errorf("CheckKeys(misspelt key) = %v, want an error naming write_file", err)
	}
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Skip("cloud-init not installed (Debian package cloud-init): skipping")
	}
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ci, "schema", "-c", f).CombinedOutput(); err == nil {
		t.Errorf("cloud-init schema accepted runcmd: 5:\n%s", out)
	}
}

func TestContent(t *testing.T) {
	cc, cfg, err := Build(Options{NICs: []NIC{{Name: "eth0", MAC: mustMAC(t, "fa:16:3e:11:11:11")}}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source != "<default>" {
		t.Errorf("config source %q, want <default>", cfg.Source)
	}
	f := cc.File(ConfigPath)
	if f == nil {
		t.Fatalf("no %s", ConfigPath)
	}
	// The config is installed byte for byte, and survives the YAML round
	// trip cloud-init does.
	var back CloudConfig
	out, err := cc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cc, &back); diff != "" {
		t.Errorf("YAML round trip (-want +got):\n%s", diff)
	}
	sys := cc.File(SysctlPath)
	if sys == nil {
		t.Fatalf("no %s", SysctlPath)
	}
	for _, want := range []string{"net.ipv6.conf.all.forwarding = 1\n", "net.ipv6.conf.eth0.accept_ra = 2\n"} {
		if !strings.Contains(sys.Content, want) {
			t.Errorf("sysctl file lacks %q:\n%s", want, sys.Content)
		}
	}
	if strings.Index(sys.Content, "accept_ra") > strings.Index(sys.Content, "forwarding = 1") {
		t.Error("accept_ra=2 must come before forwarding=1 (forwarding on with accept_ra=1 drops the RA-learned default route)")
	}
	// Baked mode: the unit and the setup script come with the image's
	// package, and the unit is already running when runcmd runs: start,
	// never restart (a restart withdraws the router for a moment).
	for _, p := range []string{images.LocalUnitPath, images.LocalSetupPath} {
		if cc.File(p) != nil {
			t.Errorf("baked mode must not write %s", p)
		}
	}
	want := [][]string{
		{images.BinaryPath, "check", "--config", ConfigPath},
		{"systemctl", "enable", "vrouter.service"},
		{"systemctl", "start", "vrouter.service"},
	}
	if diff := cmp.Diff(want, cc.Runcmd); diff != "" {
		t.Errorf("runcmd (-want +got):\n%s", diff)
	}
}

// TestXDPDropIn: the AF_XDP privileges come only with a fast path that may
// run on AF_XDP.
func TestXDPDropIn(t *testing.T) {
	fp := string(readTestdata(t, "fastpath.yaml"))
	for _, tc := range []struct {
		name, config string
		want         bool
	}{
		{"fastpath io auto", fp, true},
		{"fastpath io af_xdp", fp + "  io: af_xdp\n", true},
		{"fastpath io af_packet", fp + "  io: af_packet\n", false},
		{"fastpath disabled", strings.Replace(fp, "enabled: true", "enabled: false", 1), false},
		{"default", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if tc.config != "" {
				opts = Options{ConfigName: "f.yaml", Config: []byte(tc.config)}
			}
			cc, _, err := Build(opts)
			if err != nil {
				t.Fatal(err)
			}
			f := cc.File(images.XDPDropInPath)
			if got := f != nil; got != tc.want {
				t.Fatalf("drop-in %s installed = %v, want %v", images.XDPDropInPath, got, tc.want)
			}
			if f != nil && f.Content != string(images.XDPDropIn()) {
				t.Errorf("drop-in content differs from images/vrouter-xdp.conf:\n%s", f.Content)
			}
		})
	}
}

func TestURLMode(t *testing.T) {
	cc, _, err := Build(Options{URL: testURL, SHA256: strings.ToUpper(testSHA)})
	if err != nil {
		t.Fatal(err)
	}
	f := cc.File(images.LocalUnitPath)
	if f == nil || !strings.Contains(f.Content, "\nExecStart="+images.LocalBinaryPath+" run\n") {
		t.Errorf("URL mode must install the unit running %s, got %+v", images.LocalBinaryPath, f)
	}
	if f := cc.File(images.LocalSetupPath); f == nil || f.Content != string(images.SetupScript()) || f.Permissions != "0755" {
		t.Errorf("URL mode must install the setup script at %s, got %+v", images.LocalSetupPath, f)
	}
	first := cc.Runcmd[0]
	if n := len(first); n < 3 || first[n-3] != images.LocalBinaryPath || first[n-2] != testURL || first[n-1] != testSHA {
		t.Errorf("first runcmd must download %s with sha256 %s, got %q", testURL, testSHA, first)
	}
	if diff := cmp.Diff([]string{images.LocalSetupPath}, cc.Runcmd[1]); diff != "" {
		t.Errorf("second runcmd must be the setup script (-want +got):\n%s", diff)
	}
}

func TestDebURLMode(t *testing.T) {
	cc, _, err := Build(Options{DebURL: testDeb, SHA256: testSHA})
	if err != nil {
		t.Fatal(err)
	}
	// The package brings the unit and the setup script.
	for _, p := range []string{images.LocalUnitPath, images.LocalSetupPath, images.UnitPath} {
		if cc.File(p) != nil {
			t.Errorf("--deb-url must not write %s: the package has it", p)
		}
	}
	want := [][]string{
		{"sh", "-c", debInstallScript, "vrouter-install-deb", DebPath, testDeb, testSHA},
		{images.SetupPath},
		{images.BinaryPath, "check", "--config", ConfigPath},
		{"systemctl", "enable", "vrouter.service"},
		{"systemctl", "restart", "vrouter.service"},
	}
	if diff := cmp.Diff(want, cc.Runcmd); diff != "" {
		t.Errorf("runcmd (-want +got):\n%s", diff)
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"url without sha256", Options{URL: testURL}, "--url needs --sha256"},
		{"bad sha256", Options{URL: testURL, SHA256: "abc"}, "64 hexadecimal digits"},
		{"sha256 without url", Options{SHA256: testSHA}, "only meaningful with --url or --deb-url"},
		{"ftp url", Options{URL: "ftp://x/vrouter", SHA256: testSHA}, "http:// or https://"},
		{"deb-url without sha256", Options{DebURL: testDeb}, "--deb-url needs --sha256"},
		{"deb-url bad sha256", Options{DebURL: testDeb, SHA256: testSHA[1:]}, "64 hexadecimal digits"},
		{"deb-url relative", Options{DebURL: "vrouter.deb", SHA256: testSHA}, `--deb-url "vrouter.deb": want an http:// or https:// URL`},
		{"url and deb-url", Options{URL: testURL, DebURL: testDeb, SHA256: testSHA}, "--url and --deb-url exclude each other"},
		{"bad config", Options{ConfigName: "bad.yaml", Config: []byte("interfaces:\n  eth0:\n    role: upstreem\n")},
			"bad.yaml:3:11: interfaces.eth0.role:"},
		{"unknown key", Options{ConfigName: "bad.yaml", Config: []byte("forwardin: true\n")}, "bad.yaml:1:1: forwardin"},
		{"same MAC twice", Options{NICs: []NIC{
			{Name: "eth0", MAC: mustMAC(t, "fa:16:3e:11:11:11")},
			{Name: "eth1", MAC: mustMAC(t, "fa:16:3e:11:11:11")},
		}}, "MAC fa:16:3e:11:11:11 is given for two interfaces"},
		{"same name twice", Options{NICs: []NIC{
			{Name: "eth0", MAC: mustMAC(t, "fa:16:3e:11:11:11")},
			{Name: "eth0", MAC: mustMAC(t, "fa:16:3e:22:22:22")},
		}}, "interface eth0 is matched by MAC twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSizeGuard(t *testing.T) {
	// 49152 bytes are exactly 65536 bytes of base64: one over.
	limit := NovaMaxBase64 / 4 * 3 // 49149 bytes → 65532 base64 bytes
	if err := CheckSize(make([]byte, limit)); err != nil {
		t.Errorf("CheckSize(%d bytes) = %v, want nil", limit, err)
	}
	if err := CheckSize(make([]byte, limit+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("CheckSize(%d bytes) = %v, want ErrTooLarge", limit+1, err)
	}
	big := Part{Filename: "big.sh", ContentType: "text/x-shellscript",
		Content: append([]byte("#!/bin/sh\n"), bytes.Repeat([]byte("# padding padding padding\n"), 2000)...)}
	_, err := Render(Options{Parts: []Part{big}})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "65535") {
		t.Errorf("Render(52 kB part) = %v, want ErrTooLarge naming 65535", err)
	}
}

func TestMultipart(t *testing.T) {
	ud, err := Render(Options{Parts: []Part{
		{Filename: "a.sh", Content: []byte("#!/bin/sh\necho a\n")},
		{Filename: "b.cfg", Content: []byte("#cloud-config\nfinal_message: hi\n")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	parts := parseMultipart(t, ud)
	var types []string
	for _, p := range parts {
		types = append(types, p.Filename+" "+p.ContentType)
	}
	want := []string{"vrouter.cfg text/cloud-config", "a.sh text/x-shellscript", "b.cfg text/cloud-config"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	if _, err := Render(Options{Parts: []Part{{Filename: "x", Content: []byte("no header")}}}); err == nil {
		t.Error("a part of unknown type must be refused")
	}
}

func TestReadPart(t *testing.T) {
	dir := t.TempDir()
	sh := filepath.Join(dir, "x.sh")
	if err := os.WriteFile(sh, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPart(sh + ":text/x-shellscript")
	if err != nil || p.ContentType != "text/x-shellscript" || p.Filename != "x.sh" {
		t.Errorf("ReadPart = %+v, %v", p, err)
	}
	if _, err := ReadPart(sh); err == nil || !strings.Contains(err.Error(), "FILE:CONTENT-TYPE") {
		t.Errorf("ReadPart(untyped) = %v, want a hint about FILE:CONTENT-TYPE", err)
	}
	if _, err := ReadPart(sh + ":text/html"); err == nil {
		t.Error("text/html must be refused")
	}
}

func TestParseNIC(t *testing.T) {
	n, err := ParseNIC("eth0=FA:16:3E:11:11:11")
	if err != nil || n.Name != "eth0" || n.MAC.String() != "fa:16:3e:11:11:11" {
		t.Errorf("ParseNIC = %+v, %v", n, err)
	}
	for _, bad := range []string{"eth0", "=fa:16:3e:11:11:11", "eth0=xx", "a/b=fa:16:3e:11:11:11",
		"averyveryverylongname=fa:16:3e:11:11:11", "eth0=00:00:00:00:fe:80:00:00:00:00:00:00:00:00:00:00:00:00:00:00"} {
		if _, err := ParseNIC(bad); err == nil {
			t.Errorf("ParseNIC(%q) accepted", bad)
		}
	}
}

func TestIfSysctl(t *testing.T) {
	if got := ifSysctl("eth0.100", "accept_ra"); got != "net/ipv6/conf/eth0.100/accept_ra" {
		t.Errorf("got %q", got)
	}
	if got := ifSysctl("eth0", "accept_ra"); got != "net.ipv6.conf.eth0.accept_ra" {
		t.Errorf("got %q", got)
	}
}

// TestInstallScript runs the download-and-verify runcmd against a local
// HTTP server: a wrong checksum must leave no binary behind.
func TestInstallScript(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the script installs with owner root")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if _, err := exec.LookPath("wget"); err != nil {
			t.Skip("needs curl or wget")
		}
	}
	payload := []byte("#!/bin/sh\necho vrouter\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
	defer srv.Close()
	sum := "b1a03c3a9ca6a4e1d55aba5b6ef3bf1ee63a8ab1e4d1e82f0e1e61c67d9ce3df" // wrong on purpose
	dst := filepath.Join(t.TempDir(), "vrouter")

	run := func(sum string) (string, error) {
		out, err := exec.Command("sh", "-c", installScript, "vrouter-install", dst, srv.URL+"/vrouter", sum).CombinedOutput()
		return string(out), err
	}
	out, err := run(sum)
	if err == nil || !strings.Contains(out, "does not have SHA-256") {
		t.Errorf("wrong checksum: err %v, output %q", err, out)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("wrong checksum left %s behind (%v)", dst, err)
	}
	if _, err := os.Stat(dst + ".download"); !os.IsNotExist(err) {
		t.Errorf("wrong checksum left %s.download behind", dst)
	}
	good := sha256Hex(payload)
	if out, err := run(good); err != nil {
		t.Fatalf("right checksum: %v: %s", err, out)
	}
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("installed binary: %v, mode %v", err, st.Mode())
	}
}

// TestDebInstallScript runs the --deb-url runcmd against a local HTTP
// server with a fake apt-get on PATH: a wrong checksum must never reach
// apt and leave nothing behind; the right one installs the kept file.
func TestDebInstallScript(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("needs curl")
	}
	payload := []byte("!<arch>\nnot really a package\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
	defer srv.Close()
	bin := t.TempDir()
	aptLog := filepath.Join(bin, "apt.log")
	if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte("#!/bin/sh\necho \"$*\" >>"+aptLog+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"sh", "mkdir", "dirname", "rm", "mv", "sha256sum", "printf"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("needs %s", tool)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(curl, filepath.Join(bin, "curl")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "cache", "vrouter.deb")
	run := func(sum string) (string, error) {
		cmd := exec.Command("sh", "-c", debInstallScript, "vrouter-install-deb", dst, srv.URL+"/vrouter.deb", sum)
		cmd.Env = []string{"PATH=" + bin}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(testSHA)
	if err == nil || !strings.Contains(out, "does not have SHA-256") {
		t.Errorf("wrong checksum: err %v, output %q", err, out)
	}
	if _, err := os.Stat(aptLog); !os.IsNotExist(err) {
		t.Error("wrong checksum reached apt-get")
	}
	if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 0 {
		t.Errorf("wrong checksum left %v behind", ents)
	}
	if out, err := run(sha256Hex(payload)); err != nil {
		t.Fatalf("right checksum: %v: %s", err, out)
	}
	got, err := os.ReadFile(aptLog)
	if err != nil {
		t.Fatal(err)
	}
	if want := "install -y --no-install-recommends " + dst + "\n"; string(got) != want {
		t.Errorf("apt-get called with %q, want %q", got, want)
	}
	if b, err := os.ReadFile(dst); err != nil || !bytes.Equal(b, payload) {
		t.Errorf("package kept at %s: %q, %v", dst, b, err)
	}
}

// TestWithHAPriority changes the priority and nothing else, and refuses a
// config it cannot change.
func TestWithHAPriority(t *testing.T) {
	in := readTestdata(t, "ha.yaml")
	out, err := WithHAPriority(in, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(in), "priority: 200 ", "priority: 100 ", 1)
	if want == string(in) {
		t.Fatal("testdata/ha.yaml has no \"priority: 200 \"")
	}
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"interfaces: {}\n",
		"ha: {vrid: 1, interfaces: {eth1: {virtual_addresses: [fe80::1]}}}\n",
		"ha:\n  priority: \"200\"\n",
		"- a\n",
	} {
		if _, err := WithHAPriority([]byte(bad), 100); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := WithHAPriority(in, 0); err == nil {
		t.Error("priority 0: no error")
	}
}
