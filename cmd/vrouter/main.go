// Command vrouter is the IPv6 router appliance: one binary with subcommands
// (DESIGN §3). main only wires; the work is in the packages.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes (DESIGN §3).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type command struct {
	name  string
	brief string
	run   func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the daemon", cmdRun},
		{"check", "validate a config file", cmdCheck},
		{"defaults", "print the embedded default config", cmdDefaults},
		{"cloudinit", "print #cloud-config user-data for a service VM", cmdCloudinit},
		{"seed", "write the user-data's vrouter files from a config drive ahead of cloud-init", cmdSeed},
		{"import-radvd", "convert a radvd.conf into a vrouter config", cmdImportRadvd},
		{"status", "show the running daemon's state", cmdStatus},
		{"version", "print version information", cmdVersion},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "vrouter: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vrouter <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.brief)
	}
}
