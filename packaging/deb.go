package packaging

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/images"
)

//go:embed debian/postinst debian/prerm debian/postrm debian/vrouter.1 debian/lintian-overrides
var debianFiles embed.FS

// Paths the package installs beside images' (binary, units, setup script).
const (
	StateDir       = "/var/lib/vrouter"
	ConfigDir      = "/etc/vrouter"
	DocDir         = "/usr/share/doc/vrouter"
	ExampleConfig  = DocDir + "/examples/vrouter.yaml"
	ManPage        = "/usr/share/man/man1/vrouter.1.gz"
	Overrides      = "/usr/share/lintian/overrides/vrouter"
	DefaultMaint   = "vrouter maintainers <vrouter@example.org>"
	packageName    = "vrouter"
	defaultArch    = "amd64"
	packageSection = "net"
)

// Options describes one build of the package.
type Options struct {
	// Version is the Debian version (DebVersion makes one from git).
	Version string
	// Binary is the vrouter executable to ship (linux, static).
	Binary string
	// Arch is the Debian architecture; default amd64.
	Arch string
	// Maintainer is "Name <address>"; default DefaultMaint.
	Maintainer string
	// Date stamps the changelog entry and every file (reproducible builds:
	// the commit time); default the Unix epoch.
	Date time.Time
	// Docs are more files for /usr/share/doc/vrouter (e.g. OPENSTACK.md).
	Docs []string
	// Modules lists the Go modules compiled into Binary for the copyright
	// file, "path version" each; default read from Binary's build info.
	Modules []string
}

// FileName is the conventional name of the package file:
// vrouter_VERSION_ARCH.deb.
func FileName(version, arch string) string {
	if arch == "" {
		arch = defaultArch
	}
	return packageName + "_" + version + "_" + arch + ".deb"
}

// Build writes the Debian package described by opts to w.
func Build(w io.Writer, opts Options) error {
	if opts.Version == "" {
		return fmt.Errorf("deb: no version")
	}
	if err := checkVersion(opts.Version); err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	if opts.Arch == "" {
		opts.Arch = defaultArch
	}
	if opts.Maintainer == "" {
		opts.Maintainer = DefaultMaint
	}
	if opts.Date.IsZero() {
		opts.Date = time.Unix(0, 0)
	}
	opts.Date = opts.Date.UTC()
	if st, err := os.Stat(opts.Binary); err != nil {
		return fmt.Errorf("deb: binary: %w", err)
	} else if st.Mode()&0o111 == 0 {
		return fmt.Errorf("deb: binary %s is not executable", opts.Binary)
	}
	if opts.Modules == nil {
		mods, err := modules(opts.Binary)
		if err != nil {
			return fmt.Errorf("deb: %w", err)
		}
		opts.Modules = mods
	}

	// nfpm reads contents from files: stage the generated ones.
	stage, err := os.MkdirTemp("", "vrouter-deb-")
	if err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	defer os.RemoveAll(stage)
	put := func(name string, data []byte, mode os.FileMode) (string, error) {
		p := filepath.Join(stage, name)
		return p, os.WriteFile(p, data, mode)
	}
	var contents files.Contents
	add := func(src, dst string, mode os.FileMode) {
		contents = append(contents, &files.Content{Source: src, Destination: dst, Type: files.TypeFile,
			FileInfo: &files.ContentFileInfo{Mode: mode, MTime: opts.Date}})
	}
	gen := []struct {
		name, dst string
		data      []byte
		mode      os.FileMode
	}{
		{"vrouter.service", images.UnitPath, images.Unit(), 0o644},
		{"vrouter-setup.service", images.SetupUnitPath, images.SetupUnit(), 0o644},
		{"vrouter-setup", images.SetupPath, images.SetupScript(), 0o755},
		{"vrouter-seed.service", images.SeedUnitPath, images.SeedUnit(), 0o644},
		{"vrouter-cloud-init.service", images.CloudInitUnitPath, images.CloudInitUnit(), 0o644},
		{"10-fastpath-xdp.conf", images.XDPDropInExample, images.XDPDropIn(), 0o644},
		{"vrouter.yaml", ExampleConfig, config.DefaultYAML(), 0o644},
		{"copyright", DocDir + "/copyright", Copyright(opts.Date.Year(), opts.Modules), 0o644},
		{"lintian-overrides", Overrides, nil, 0o644},
		{"changelog.gz", DocDir + "/changelog.gz", nil, 0o644},
		{"vrouter.1.gz", ManPage, nil, 0o644},
	}
	for _, g := range gen {
		data := g.data
		switch g.name {
		case "changelog.gz":
			if data, err = gzipped(Changelog(opts.Version, opts.Maintainer, opts.Date), opts.Date); err != nil {
				return fmt.Errorf("deb: %w", err)
			}
		case "lintian-overrides":
			if data, err = debianFiles.ReadFile("debian/lintian-overrides"); err != nil {
				return fmt.Errorf("deb: %w", err)
			}
		case "vrouter.1.gz":
			man, err := debianFiles.ReadFile("debian/vrouter.1")
			if err != nil {
				return fmt.Errorf("deb: %w", err)
			}
			if data, err = gzipped(man, opts.Date); err != nil {
				return fmt.Errorf("deb: %w", err)
			}
		}
		src, err := put(g.name, data, g.mode)
		if err != nil {
			return fmt.Errorf("deb: %w", err)
		}
		add(src, g.dst, g.mode)
	}
	add(opts.Binary, images.BinaryPath, 0o755)
	for _, d := range opts.Docs {
		add(d, DocDir+"/"+filepath.Base(d), 0o644)
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{ConfigDir, 0o755}} { // postinst makes StateDir: dpkg must not own it
		contents = append(contents, &files.Content{Destination: d.path, Type: files.TypeDir,
			FileInfo: &files.ContentFileInfo{Mode: d.mode, MTime: opts.Date}})
	}
	scripts := map[string]string{}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := debianFiles.ReadFile("debian/" + s)
		if err != nil {
			return fmt.Errorf("deb: %w", err)
		}
		if scripts[s], err = put(s, b, 0o755); err != nil {
			return fmt.Errorf("deb: %w", err)
		}
	}

	info := &nfpm.Info{
		Name:          packageName,
		Arch:          opts.Arch,
		Platform:      "linux",
		Version:       opts.Version,
		VersionSchema: "none",
		Section:       packageSection,
		Priority:      "optional",
		Maintainer:    opts.Maintainer,
		Description:   description,
		MTime:         opts.Date,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
			Depends:  []string{"iproute2"},
			Scripts: nfpm.Scripts{
				PostInstall: scripts["postinst"],
				PreRemove:   scripts["prerm"],
				PostRemove:  scripts["postrm"],
			},
			Deb: nfpm.Deb{Compression: "gzip"},
		},
	}
	if err := deb.Default.Package(nfpm.WithDefaults(info), w); err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	return nil
}

const description = `IPv6 router for an OpenStack service VM
 vrouter turns a small service VM into the IPv6 router of a tenant network
 with one binary run by systemd: it configures the interfaces through
 netlink, sends Router Advertisements (radvd's job), proxies Neighbor
 Discovery (ndppd's job) and can forward IPv6 in userspace on AF_XDP or
 AF_PACKET sockets.
 .
 The service is enabled but starts only once /etc/vrouter/vrouter.yaml
 exists (written by cloud-init user-data from "vrouter cloudinit", or
 from the config drive ahead of cloud-init on a first boot).`

// Changelog is the Debian changelog of a native package built at version.
func Changelog(version, maintainer string, date time.Time) []byte {
	return []byte(fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Package built from the vrouter source tree.\n\n -- %s  %s\n",
		packageName, version, maintainer, date.UTC().Format(time.RFC1123Z)))
}

// Copyright is the machine-readable debian/copyright: vrouter itself and
// the Go modules compiled into the binary.
func Copyright(year int, modules []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vrouter

Files: *
Copyright: %d the vrouter authors
`, year)
	b.WriteString(`License: vrouter
 The vrouter authors have not published vrouter under a license yet; all
 rights are reserved until they do.
`)
	if len(modules) > 0 {
		b.WriteString("Comment: The binary /usr/bin/vrouter is statically linked with these Go\n modules, each under the license in its source:\n")
		for _, m := range modules {
			b.WriteString(" " + m + "\n")
		}
	}
	return []byte(b.String())
}

// modules lists the dependency modules in the build info of bin.
func modules(bin string) ([]string, error) {
	f, err := os.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := buildinfo.Read(f)
	if err != nil {
		return nil, fmt.Errorf("build info of %s: %w", bin, err)
	}
	var mods []string
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		mods = append(mods, d.Path+" "+d.Version)
	}
	sort.Strings(mods)
	return mods, nil
}

func gzipped(data []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	// Best compression and no file name, as lintian and reproducible
	// builds want.
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = mtime
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
