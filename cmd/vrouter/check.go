package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/daemon"
)

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrouter check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default /etc/vrouter/vrouter.yaml if it exists, else the embedded default)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	path := *cfgPath
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0) // `vrouter check FILE` as a convenience
	} else if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "vrouter check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := daemon.LoadConfig(path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintln(stderr, errs.Error())
		} else {
			fmt.Fprintf(stderr, "vrouter check: %v\n", err)
		}
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s: ok (%d interfaces, %d ndproxy rules)\n", cfg.Source, len(cfg.Interfaces), len(cfg.NDProxy))
	return exitOK
}

func cmdDefaults(args []string, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: vrouter defaults")
		return exitUsage
	}
	if _, err := stdout.Write(config.DefaultYAML()); err != nil {
		return exitFailure
	}
	return exitOK
}
