package cloudinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/images"
)

func testNICs(t *testing.T) []NIC {
	t.Helper()
	var nics []NIC
	for _, s := range []string{"eth0=fa:16:3e:11:11:11", "eth1=fa:16:3e:22:22:22"} {
		n, err := ParseNIC(s)
		if err != nil {
			t.Fatal(err)
		}
		nics = append(nics, n)
	}
	return nics
}

// earlyWant is what the early start must write for cc: its write_files
// entries under the early paths that are not deferred, the config last.
func earlyWant(t *testing.T, cc *CloudConfig) []EarlyFile {
	t.Helper()
	var want []EarlyFile
	var cfg *EarlyFile
	for _, f := range cc.WriteFiles {
		if !IsEarlyPath(f.Path) || f.Defer {
			continue
		}
		e := EarlyFile{Path: f.Path, Data: []byte(f.Content), Mode: 0o644}
		if f.Path == ConfigPath {
			cfg = &e
			continue
		}
		want = append(want, e)
	}
	if cfg == nil {
		t.Fatal("the cloud-config has no vrouter config")
	}
	return append(want, *cfg)
}

func sameFiles(t *testing.T, got, want []EarlyFile) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d:\ngot  %v\nwant %v", len(got), len(want), paths(got), paths(want))
	}
	for i := range got {
		if got[i].Path != want[i].Path || !bytes.Equal(got[i].Data, want[i].Data) || got[i].Mode != want[i].Mode {
			t.Errorf("file %d: got %s %v %q, want %s %v %q", i, got[i].Path, got[i].Mode, got[i].Data, want[i].Path, want[i].Mode, want[i].Data)
		}
	}
}

func paths(fs []EarlyFile) []string {
	var p []string
	for _, f := range fs {
		p = append(p, f.Path)
	}
	return p
}

// TestEarlyFilesRendered: what `vrouter cloudinit` renders (plain, with the
// fast path's drop-in, multipart with a script part) comes back exactly,
// the config last, and nothing outside the early paths.
func TestEarlyFilesRendered(t *testing.T) {
	fast := append(config.DefaultYAML(), []byte("fastpath:\n  enabled: true\n  interfaces: [eth0, eth1]\n")...)
	for _, tc := range []struct {
		name  string
		opts  Options
		parts []Part
	}{
		{"default", Options{NICs: testNICs(t)}, nil},
		{"fastpath", Options{NICs: testNICs(t), Config: fast}, nil},
		{"multipart", Options{NICs: testNICs(t)}, []Part{{Filename: "x.sh", ContentType: "text/x-shellscript", Content: []byte("#!/bin/sh\necho hi\n")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, _, err := Build(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			ud, err := UserData(cc, tc.parts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EarlyFiles(ud)
			if err != nil {
				t.Fatal(err)
			}
			sameFiles(t, got, earlyWant(t, cc))
			if tc.name == "fastpath" && !strings.Contains(strings.Join(paths(got), " "), images.XDPDropInPath) {
				t.Errorf("the fast path's drop-in is not written early: %v", paths(got))
			}
			// gzip'd user-data is cloud-init's too.
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(ud)
			zw.Close()
			gz, err := EarlyFiles(z.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			sameFiles(t, gz, got)
		})
	}
}

func TestEarlyFilesEncodingsAndModes(t *testing.T) {
	cfg := "interfaces:\n  eth1:\n    role: downstream\n    addresses: [2001:db8:0:2::1/64]\n"
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(cfg))
	zw.Close()
	b64 := base64.StdEncoding.EncodeToString([]byte(cfg))
	gzb64 := base64.StdEncoding.EncodeToString(z.Bytes())
	for _, tc := range []struct {
		name, entry string
		mode        os.FileMode
	}{
		{"plain", "content: |\n    " + strings.ReplaceAll(strings.TrimSuffix(cfg, "\n"), "\n", "\n    ") + "\n", 0o644},
		{"b64", "encoding: b64\n  content: " + b64 + "\n", 0o644},
		{"base64-folded", "encoding: base64\n  content: >\n    " + b64[:20] + "\n    " + b64[20:] + "\n", 0o644},
		{"gz+b64", "encoding: gz+b64\n  content: " + gzb64 + "\n", 0o644},
		{"gzip+base64 0600", "encoding: gzip+base64\n  permissions: '0600'\n  content: " + gzb64 + "\n", 0o600},
		{"plain octal 0640", "permissions: 0640\n  owner: root:root\n  encoding: b64\n  content: " + b64 + "\n", 0o640},
		{"binary", "content: !!binary |\n    " + b64 + "\n", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ud := "#cloud-config\nwrite_files:\n- path: /etc/vrouter/vrouter.yaml\n  " + tc.entry
			got, err := EarlyFiles([]byte(ud))
			if err != nil {
				t.Fatalf("%v\n%s", err, ud)
			}
			sameFiles(t, got, []EarlyFile{{Path: ConfigPath, Data: []byte(cfg), Mode: tc.mode}})
		})
	}
}

// TestEarlyFilesNothing: user-data without a vrouter config is not the
// early start's business (nil, no error).
func TestEarlyFilesNothing(t *testing.T) {
	for _, ud := range []string{
		"",
		"#cloud-config\n",
		"#cloud-config\nruncmd: [[echo, hi]]\n",
		"#cloud-config\nwrite_files:\n- path: /etc/motd\n  content: hi\n",
		// Only the sysctl file: the router does not start without its config.
		"#cloud-config\nwrite_files:\n- path: /etc/sysctl.d/60-vrouter.conf\n  content: x\n",
		// Deferred: cloud-init writes it in its final stage.
		"#cloud-config\nwrite_files:\n- path: /etc/vrouter/vrouter.yaml\n  content: x\n  defer: true\n",
		"#!/bin/sh\necho hi\n",
	} {
		got, err := EarlyFiles([]byte(ud))
		if err != nil || got != nil {
			t.Errorf("EarlyFiles(%q) = %v, %v; want nothing", ud, paths(got), err)
		}
	}
}

// TestEarlyFilesLeftToCloudInit: whatever the early start cannot be sure to
// write as cloud-init would is refused with ErrLeftToCloudInit.
func TestEarlyFilesLeftToCloudInit(t *testing.T) {
	cfgEntry := "- path: /etc/vrouter/vrouter.yaml\n  content: x\n"
	for name, ud := range map[string]string{
		"not yaml":           "#cloud-config\nwrite_files: [\n",
		"not a mapping":      "#cloud-config\n- a\n",
		"write_files map":    "#cloud-config\nwrite_files: {path: /etc/vrouter/vrouter.yaml}\n",
		"twice":              "#cloud-config\nwrite_files:\n" + cfgEntry + cfgEntry,
		"append":             "#cloud-config\nwrite_files:\n" + cfgEntry + "  append: true\n",
		"source":             "#cloud-config\nwrite_files:\n- path: /etc/vrouter/vrouter.yaml\n  source: {uri: 'http://x/y'}\n",
		"owner":              "#cloud-config\nwrite_files:\n" + cfgEntry + "  owner: nobody:nogroup\n",
		"encoding":           "#cloud-config\nwrite_files:\n" + cfgEntry + "  encoding: rot13\n",
		"bad base64":         "#cloud-config\nwrite_files:\n- path: /etc/vrouter/vrouter.yaml\n  encoding: b64\n  content: '!!!'\n",
		"decimal mode":       "#cloud-config\nwrite_files:\n" + cfgEntry + "  permissions: 644\n",
		"bad mode":           "#cloud-config\nwrite_files:\n" + cfgEntry + "  permissions: '0999'\n",
		"int content":        "#cloud-config\nwrite_files:\n- path: /etc/vrouter/vrouter.yaml\n  content: 12\n",
		"merge_how":          "#cloud-config\nmerge_how: 'list(append)'\nwrite_files:\n" + cfgEntry,
		"archive":            "#cloud-config-archive\n- type: text/cloud-config\n",
		"jsonp":              "#cloud-config-jsonp\n[]\n",
		"include":            "#include\nhttp://x/y\n",
		"jinja":              "## template: jinja\n#cloud-config\n",
		"unknown first line": "hello\n",
		"mime include":       mimeUD("text/x-include-url", "http://x/y\n"),
		"mime two configs":   mimeUD("text/cloud-config", "#cloud-config\nwrite_files:\n"+cfgEntry, "text/cloud-config", "#cloud-config\nwrite_files:\n"+cfgEntry),
		"mime jinja":         mimeUD("text/cloud-config", "## template: jinja\n#cloud-config\n"),
		"mime unknown type":  "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\nContent-Type: application/x-foo\n\nx\n--b--\n",
		"mime nested":        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\n--c--\n--b--\n",
		"mime qp":            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/cloud-config\nContent-Transfer-Encoding: quoted-printable\n\n#cloud-config\n--b--\n",
		"bad gzip":           "\x1f\x8b\x08\x00garbage",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := EarlyFiles([]byte(ud))
			if !errors.Is(err, ErrLeftToCloudInit) {
				t.Errorf("EarlyFiles = %v, %v; want ErrLeftToCloudInit", paths(got), err)
			}
		})
	}
}

// mimeUD makes a multipart/mixed user-data of (type, body) pairs.
func mimeUD(tb ...string) string {
	var parts []Part
	for i := 0; i+1 < len(tb); i += 2 {
		parts = append(parts, Part{Filename: "p", ContentType: tb[i], Content: []byte(tb[i+1])})
	}
	b, err := Multipart(parts)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestEarlyFilesMIMEParts: a multipart with one cloud-config part (and
// others that only run) is understood; parts may be base64-encoded.
func TestEarlyFilesMIMEParts(t *testing.T) {
	cc := "#cloud-config\nwrite_files:\n- path: /etc/vrouter/vrouter.yaml\n  content: \"héllo\"\n"
	ud := mimeUD("text/x-shellscript", "#!/bin/sh\n", "text/cloud-config", cc, "text/cloud-config", "#cloud-config\nruncmd: [[echo]]\n")
	if !strings.Contains(ud, "base64") {
		t.Fatalf("want a base64 part in the test (non-ASCII content):\n%s", ud)
	}
	got, err := EarlyFiles([]byte(ud))
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, got, []EarlyFile{{Path: ConfigPath, Data: []byte("héllo"), Mode: 0o644}})
}

func TestIsEarlyPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/etc/vrouter/vrouter.yaml":                       true,
		"/etc/sysctl.d/60-vrouter.conf":                   true,
		"/etc/systemd/network/10-vrouter-eth0.link":       true,
		"/etc/systemd/network/05-vrouter-eth1.network":    true,
		images.XDPDropInPath:                              true,
		"/etc/systemd/network/10-cloud-init-eth0.network": false,
		"/etc/systemd/system/vrouter.service":             false,
		"/etc/vrouter/../passwd":                          false,
		"etc/vrouter/vrouter.yaml":                        false,
		"/etc/sysctl.d/99-other.conf":                     false,
		"/usr/bin/vrouter":                                false,
	} {
		if got := IsEarlyPath(p); got != want {
			t.Errorf("IsEarlyPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestReadDriveAndWrite: the drive as WriteSeed lays it out (both formats)
// reads back, and the files land under root with their modes, atomically
// and only when they change.
func TestReadDriveAndWrite(t *testing.T) {
	cc, _, err := Build(Options{NICs: testNICs(t)})
	if err != nil {
		t.Fatal(err)
	}
	ud, err := UserData(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []SeedFormat{ConfigDrive, NoCloud} {
		t.Run(string(format), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "drive")
			s := Seed{Format: format, InstanceID: "iid-1234", UserData: ud,
				NICs: []SeedNIC{{MAC: net.HardwareAddr{0xfa, 0x16, 0x3e, 0x11, 0x11, 0x11}}}}
			if err := WriteSeed(dir, s); err != nil {
				t.Fatal(err)
			}
			d, err := ReadDrive(dir)
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != format || d.InstanceID != "iid-1234" || !bytes.Equal(d.UserData, ud) {
				t.Fatalf("ReadDrive = %s %q %d bytes; want %s iid-1234 %d bytes", d.Format, d.InstanceID, len(d.UserData), format, len(ud))
			}
			files, err := EarlyFiles(d.UserData)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			wrote, err := WriteEarlyFiles(root, files)
			if err != nil {
				t.Fatal(err)
			}
			if len(wrote) != len(files) {
				t.Errorf("wrote %v, want all of %v", wrote, paths(files))
			}
			for _, f := range files {
				p := filepath.Join(root, f.Path)
				b, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(b, f.Data) {
					t.Errorf("%s: %q, %v; want %q", f.Path, b, err, f.Data)
				}
				if st, err := os.Stat(p); err != nil || st.Mode() != f.Mode {
					t.Errorf("%s: mode %v, want %v", f.Path, st.Mode(), f.Mode)
				}
			}
			// A second run changes nothing; a changed mode is put right.
			if wrote, err := WriteEarlyFiles(root, files); err != nil || len(wrote) != 0 {
				t.Errorf("second run wrote %v, %v; want nothing", wrote, err)
			}
			if err := os.Chmod(filepath.Join(root, ConfigPath), 0o600); err != nil {
				t.Fatal(err)
			}
			if wrote, err := WriteEarlyFiles(root, files); err != nil || len(wrote) != 1 || wrote[0] != ConfigPath {
				t.Errorf("after chmod wrote %v, %v; want the config", wrote, err)
			}
			// No temporary file left behind.
			ents, _ := os.ReadDir(filepath.Join(root, "etc", "vrouter"))
			for _, e := range ents {
				if strings.Contains(e.Name(), "vrouter-seed") {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
	if _, err := ReadDrive(t.TempDir()); err == nil {
		t.Error("ReadDrive of an empty directory: want an error")
	}
}

func FuzzEarlyFiles(f *testing.F) {
	cc, _, err := Build(Options{})
	if err != nil {
		f.Fatal(err)
	}
	ud, err := UserData(cc, []Part{{Filename: "s", ContentType: "text/x-shellscript", Content: []byte("#!/bin/sh\n")}})
	if err != nil {
		f.Fatal(err)
	}
	plain, _ := cc.Marshal()
	f.Add(ud)
	f.Add(plain)
	f.Add([]byte("#cloud-config\nwrite_files:\n- path: /etc/vrouter/vrouter.yaml\n  encoding: gz+b64\n  content: H4sIAAAAAAAA/w==\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/cloud-config\n\n#cloud-config\n--x--\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := EarlyFiles(data)
		if err != nil && !errors.Is(err, ErrLeftToCloudInit) {
			t.Fatalf("error not wrapping ErrLeftToCloudInit: %v", err)
		}
		for i, f := range files {
			if !IsEarlyPath(f.Path) {
				t.Fatalf("writes %q", f.Path)
			}
			if (i == len(files)-1) != (f.Path == ConfigPath) {
				t.Fatalf("the config is not last: %v", paths(files))
			}
		}
	})
}

// isoWithLabel writes a file holding just an ISO 9660 primary volume
// descriptor labelled label.
func isoWithLabel(t *testing.T, p, label string) {
	t.Helper()
	b := make([]byte, 17*2048)
	pvd := b[16*2048:]
	pvd[0] = 1
	copy(pvd[1:6], "CD001")
	copy(pvd[40:72], label+strings.Repeat(" ", 32-len(label)))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestISOLabel(t *testing.T) {
	dir := t.TempDir()
	iso := filepath.Join(dir, "iso")
	isoWithLabel(t, iso, "config-2")
	if l, err := ISOLabel(iso); err != nil || l != "config-2" {
		t.Errorf("ISOLabel = %q, %v; want config-2", l, err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny"), 0o644)
	notISO := filepath.Join(dir, "zero")
	os.WriteFile(notISO, make([]byte, 40000), 0o644)
	for _, p := range []string{short, notISO} {
		if l, err := ISOLabel(p); err != nil || l != "" {
			t.Errorf("ISOLabel(%s) = %q, %v; want no label", filepath.Base(p), l, err)
		}
	}
	if _, err := ISOLabel(filepath.Join(dir, "missing")); err == nil {
		t.Error("ISOLabel of a missing file: want an error")
	}
	// A real one, as nova makes it, where genisoimage or xorriso is here.
	seed := filepath.Join(dir, "seed.iso")
	if err := WriteSeed(seed, Seed{InstanceID: "i-1", UserData: []byte("#cloud-config\n")}); err != nil {
		t.Logf("no real ISO: %v", err)
		return
	}
	if l, err := ISOLabel(seed); err != nil || l != ConfigDriveLabel {
		t.Errorf("ISOLabel(config drive) = %q, %v; want %s", l, err, ConfigDriveLabel)
	}
}
