package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vrouter/vrouter/radvdconf"
)

// defaultRadvdConf is where radvd reads its config on Debian.
const defaultRadvdConf = "/etc/radvd.conf"

// cmdImportRadvd converts a radvd.conf into a vrouter config (YAML on
// stdout, or the -o file). Every option that cannot be carried over is
// reported as FILE:LINE:COL and nothing is written (exit 2).
func cmdImportRadvd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrouter import-radvd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vrouter import-radvd [-o FILE] [RADVD_CONF]  (default "+defaultRadvdConf+")")
		fs.PrintDefaults()
	}
	outPath := fs.String("o", "", "write the vrouter config to `FILE` instead of stdout")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	path := defaultRadvdConf
	switch fs.NArg() {
	case 0:
	case 1:
		path = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "vrouter import-radvd: unexpected argument %q\n", fs.Arg(1))
		return exitUsage
	}
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "vrouter import-radvd: %v\n", err)
		return exitFailure
	}
	out, err := radvdconf.Convert(path, src)
	if err != nil {
		var errs radvdconf.Errors
		if errors.As(err, &errs) {
			fmt.Fprintln(stderr, errs.Error())
		} else {
			fmt.Fprintf(stderr, "vrouter import-radvd: %v\n", err)
		}
		return exitUsage
	}
	if *outPath == "" {
		if _, err := stdout.Write(out); err != nil {
			return exitFailure
		}
		return exitOK
	}
	if err := os.WriteFile(*outPath, out, 0o644); err != nil {
		fmt.Fprintf(stderr, "vrouter import-radvd: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: written from %s\n", *outPath, path)
	return exitOK
}
