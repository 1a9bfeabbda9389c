// Command mkdeb builds the vrouter Debian package (make deb):
//
//	mkdeb --binary bin/vrouter-static --out bin [--version V] [--doc FILE]...
//
// It writes OUT/vrouter_VERSION_ARCH.deb, points OUT/vrouter.deb at it
// (a symlink, for make image) and prints its path. Without --version the
// version comes from git (packaging.DebVersion); file times are the commit
// time, or SOURCE_DATE_EPOCH when set.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vrouter/vrouter/packaging"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts packaging.Options
	fs.StringVar(&opts.Binary, "binary", "", "the vrouter `FILE` to ship (static linux build)")
	fs.StringVar(&opts.Version, "version", "", "Debian `VERSION` (default: from git describe)")
	fs.StringVar(&opts.Arch, "arch", "amd64", "Debian `ARCH`")
	fs.StringVar(&opts.Maintainer, "maintainer", packaging.DefaultMaint, "Maintainer field, `NAME <ADDRESS>`")
	out := fs.String("out", "bin", "output `DIR`")
	fs.Func("doc", "add `FILE` to /usr/share/doc/vrouter (repeatable)", func(s string) error {
		opts.Docs = append(opts.Docs, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.Binary == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: mkdeb --binary FILE [--out DIR] [--version V] [--doc FILE]...")
		return 2
	}
	if opts.Version == "" {
		v, t, err := packaging.GitVersion(".")
		if err != nil {
			fmt.Fprintf(stderr, "mkdeb: %v (or give --version)\n", err)
			return 1
		}
		opts.Version, opts.Date = v, t
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "mkdeb: SOURCE_DATE_EPOCH=%q: %v\n", s, err)
			return 2
		}
		opts.Date = time.Unix(sec, 0)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 1
	}
	name := packaging.FileName(opts.Version, opts.Arch)
	path := filepath.Join(*out, name)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 1
	}
	err = packaging.Build(f, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 1
	}
	link := filepath.Join(*out, "vrouter.deb")
	os.Remove(link)
	if err := os.Symlink(name, link); err != nil {
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, path)
	return 0
}
