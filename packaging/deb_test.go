package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/images"
)

var testDate = time.Date(2025, 12, 2, 10, 15, 0, 0, time.UTC)

func TestDebVersion(t *testing.T) {
	for _, tc := range []struct {
		describe, want, err string
	}{
		{describe: "v1.2.3", want: "1.2.3"},
		{describe: "1.2.3\n", want: "1.2.3"},
		{describe: "v1.2.3-4-gabc1234def56", want: "1.2.3+git4.abc1234def56"},
		{describe: "v1.2.3-4-gabc1234def56-dirty", want: "1.2.3+git4.abc1234def56.dirty"},
		{describe: "v2.0.0~rc1", want: "2.0.0~rc1"},
		{describe: "1928dc3058d0", want: "0.0~git20251202T101500.1928dc3058d0"},
		{describe: "1928dc3058d0-dirty", want: "0.0~git20251202T101500.1928dc3058d0.dirty"},
		{describe: "release-one", err: "want a tag vX.Y.Z or a commit hash"},
		{describe: "v1.2.3_beta", err: "want a tag vX.Y.Z or a commit hash"},
		{describe: "", err: "want a tag"},
	} {
		got, err := DebVersion(tc.describe, testDate)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("DebVersion(%q) = %q, %v; want error %q", tc.describe, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("DebVersion(%q) = %q, %v; want %q", tc.describe, got, err, tc.want)
		}
	}
	// Later commits without tags sort after earlier ones (dpkg order:
	// the timestamp comes first and has a fixed width).
	a, _ := DebVersion("aaaaaaaaaaaa", testDate)
	b, _ := DebVersion("000000000000", testDate.Add(time.Second))
	if !(a < b) {
		t.Errorf("%s does not sort before %s", a, b)
	}
}

// debEntry is one member of data.tar.
type debEntry struct {
	Mode os.FileMode
	Type byte
	Data []byte
}

// readDeb splits a .deb (ar) into its control fields, control files and
// data entries, with only the standard library.
func readDeb(t *testing.T, b []byte) (control map[string]string, ctl map[string]debEntry, data map[string]debEntry) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		t.Fatal("not an ar archive")
	}
	members := map[string][]byte{}
	var order []string
	for r := b[8:]; len(r) >= 60; {
		name := strings.TrimRight(strings.TrimSpace(string(r[0:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(r[48:58])))
		if err != nil || 60+size > len(r) {
			t.Fatalf("ar member %q: bad size", name)
		}
		members[name] = r[60 : 60+size]
		order = append(order, name)
		r = r[60+size:]
		if size%2 == 1 && len(r) > 0 {
			r = r[1:]
		}
	}
	if diff := cmp.Diff([]string{"debian-binary", "control.tar.gz", "data.tar.gz"}, order); diff != "" {
		t.Fatalf("ar members (-want +got):\n%s", diff)
	}
	if string(members["debian-binary"]) != "2.0\n" {
		t.Errorf("debian-binary %q", members["debian-binary"])
	}
	untar := func(z []byte) map[string]debEntry {
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		m := map[string]debEntry{}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return m
			}
			if err != nil {
				t.Fatal(err)
			}
			d, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if h.Uid != 0 || h.Gid != 0 || (h.Uname != "" && h.Uname != "root") || (h.Gname != "" && h.Gname != "root") {
				t.Errorf("%s owned by %s(%d):%s(%d), want root", h.Name, h.Uname, h.Uid, h.Gname, h.Gid)
			}
			m[strings.TrimPrefix(h.Name, ".")] = debEntry{Mode: os.FileMode(h.Mode).Perm(), Type: h.Typeflag, Data: d}
		}
	}
	ctl = untar(members["control.tar.gz"])
	data = untar(members["data.tar.gz"])
	control = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(ctl["/control"].Data))
	var last string
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, " ") {
			control[last] += "\n" + l
			continue
		}
		k, v, _ := strings.Cut(l, ": ")
		control[k], last = v, k
	}
	return control, ctl, data
}

// fakeBinary is a stand-in for the vrouter binary.
func fakeBinary(t *testing.T, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vrouter")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho vrouter "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func buildDeb(t *testing.T, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Build(&buf, opts); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return buf.Bytes()
}

func TestBuild(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "OPENSTACK.md")
	if err := os.WriteFile(doc, []byte("# doc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Version: "1.2.3", Binary: fakeBinary(t, "1.2.3"), Date: testDate,
		Docs: []string{doc}, Modules: []string{"example.org/a v1.0.0", "example.org/b v0.2.0"}}
	b := buildDeb(t, opts)
	control, ctl, data := readDeb(t, b)

	for k, want := range map[string]string{
		"Package": "vrouter", "Version": "1.2.3", "Architecture": "amd64", "Section": "net",
		"Priority": "optional", "Maintainer": DefaultMaint, "Depends": "iproute2",
	} {
		if control[k] != want {
			t.Errorf("control %s: %q, want %q", k, control[k], want)
		}
	}
	if !strings.HasPrefix(control["Description"], "IPv6 router for an OpenStack service VM\n ") {
		t.Errorf("Description lacks a synopsis and a long description: %q", control["Description"])
	}
	// Maintainer scripts, executable; no conffiles: the package ships no
	// file under /etc, so dpkg never asks about the operator's config.
	var ctlNames []string
	for n, e := range ctl {
		ctlNames = append(ctlNames, fmt.Sprintf("%s %o", n, e.Mode))
	}
	sort.Strings(ctlNames)
	if diff := cmp.Diff([]string{"/control 644", "/md5sums 644", "/postinst 755", "/postrm 755", "/prerm 755"}, ctlNames); diff != "" {
		t.Errorf("control.tar (-want +got):\n%s", diff)
	}

	var got []string
	for n, e := range data {
		kind := "f"
		if e.Type == tar.TypeDir {
			kind = "d"
		}
		got = append(got, fmt.Sprintf("%s %s %o", kind, n, e.Mode))
	}
	sort.Strings(got)
	want := []string{
		"d /etc/ 755",
		"d /etc/vrouter/ 755",
		"d /lib/ 755",
		"d /lib/systemd/ 755",
		"d /lib/systemd/system/ 755",
		"d /usr/ 755",
		"d /usr/bin/ 755",
		"d /usr/libexec/ 755",
		"d /usr/libexec/vrouter/ 755",
		"d /usr/share/ 755",
		"d /usr/share/doc/ 755",
		"d /usr/share/doc/vrouter/ 755",
		"d /usr/share/doc/vrouter/examples/ 755",
		"d /usr/share/lintian/ 755",
		"d /usr/share/lintian/overrides/ 755",
		"d /usr/share/man/ 755",
		"d /usr/share/man/man1/ 755",
		"d /usr/share/vrouter/ 755",
		"f /lib/systemd/system/vrouter-cloud-init.service 644",
		"f /lib/systemd/system/vrouter-seed.service 644",
		"f /lib/systemd/system/vrouter-setup.service 644",
		"f /lib/systemd/system/vrouter.service 644",
		"f /usr/bin/vrouter 755",
		"f /usr/libexec/vrouter/vrouter-setup 755",
		"f /usr/share/doc/vrouter/OPENSTACK.md 644",
		"f /usr/share/doc/vrouter/changelog.gz 644",
		"f /usr/share/doc/vrouter/copyright 644",
		"f /usr/share/doc/vrouter/examples/vrouter.yaml 644",
		"f /usr/share/lintian/overrides/vrouter 644",
		"f /usr/share/man/man1/vrouter.1.gz 644",
		"f /usr/share/vrouter/10-fastpath-xdp.conf 644",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data.tar (-want +got):\n%s", diff)
	}

	// The shipped files are the ones the rest of the tree tests.
	for path, want := range map[string][]byte{
		images.UnitPath:          images.Unit(),
		images.SetupUnitPath:     images.SetupUnit(),
		images.SetupPath:         images.SetupScript(),
		images.SeedUnitPath:      images.SeedUnit(),
		images.CloudInitUnitPath: images.CloudInitUnit(),
		images.XDPDropInExample:  images.XDPDropIn(),
		ExampleConfig:            config.DefaultYAML(),
		images.BinaryPath:        []byte("#!/bin/sh\necho vrouter 1.2.3\n"),
		DocDir + "/OPENSTACK.md": []byte("# doc\n"),
	} {
		if !bytes.Equal(data[path].Data, want) {
			t.Errorf("%s differs from its source", path)
		}
	}
	// The unit runs the binary the package ships.
	if !bytes.Contains(data[images.UnitPath].Data, []byte("\nExecStart="+images.BinaryPath+" run\n")) {
		t.Errorf("%s does not run %s", images.UnitPath, images.BinaryPath)
	}
	gunzip := func(p string) string {
		zr, err := gzip.NewReader(bytes.NewReader(data[p].Data))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if zr.Name != "" {
			t.Errorf("%s keeps a file name in its gzip header", p)
		}
		return string(b)
	}
	if cl := gunzip(DocDir + "/changelog.gz"); !strings.HasPrefix(cl, "vrouter (1.2.3) unstable; urgency=medium\n") ||
		!strings.Contains(cl, "\n -- "+DefaultMaint+"  Tue, 02 Dec 2025 10:15:00 +0000\n") {
		t.Errorf("changelog:\n%s", cl)
	}
	if man := gunzip(ManPage); !strings.HasPrefix(man, ".TH VROUTER 1") {
		t.Errorf("man page starts %q", man[:min(len(man), 20)])
	}
	cr := string(data[DocDir+"/copyright"].Data)
	for _, want := range []string{"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
		"Copyright: 2025 the vrouter authors\n", " example.org/a v1.0.0\n example.org/b v0.2.0\n"} {
		if !strings.Contains(cr, want) {
			t.Errorf("copyright lacks %q:\n%s", want, cr)
		}
	}
	// md5sums covers every regular file.
	md5 := string(ctl["/md5sums"].Data)
	for p, e := range data {
		if e.Type == tar.TypeReg && !strings.Contains(md5, "  "+strings.TrimPrefix(p, "/")+"\n") {
			t.Errorf("md5sums lacks %s", p)
		}
	}

	// Reproducible: the same inputs give the same bytes.
	if again := buildDeb(t, opts); !bytes.Equal(b, again) {
		t.Error("two builds of the same inputs differ")
	}
}

func TestBuildRefuses(t *testing.T) {
	bin := fakeBinary(t, "x")
	notExec := filepath.Join(t.TempDir(), "vrouter")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no version", Options{Binary: bin}, "no version"},
		{"revision", Options{Version: "1.0-1", Binary: bin}, `version "1.0-1": want a digit first`},
		{"epoch", Options{Version: "1:1.0", Binary: bin}, "native Debian version"},
		{"no binary", Options{Version: "1.0", Binary: filepath.Join(t.TempDir(), "none")}, "deb: binary:"},
		{"not executable", Options{Version: "1.0", Binary: notExec}, "is not executable"},
		{"no build info", Options{Version: "1.0", Binary: bin}, "build info of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Build(io.Discard, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestFileName(t *testing.T) {
	if got := FileName("0.0~git20251202T101500.1928dc3058d0", ""); got != "vrouter_0.0~git20251202T101500.1928dc3058d0_amd64.deb" {
		t.Errorf("FileName = %q", got)
	}
}
