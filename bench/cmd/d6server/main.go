// Command d6server runs only the DHCPv6 server of package dhcpv6 on one
// interface (no RA, no reconciler). `make bench-dhcpv6` measures `vrouter
// run`; it uses d6server to read a state directory's leases as a restart
// loads them (-leases), and as the server d6server to profile package
// dhcpv6 alone (-cpuprofile, -trace). The config is the dhcpv6 section of
// one interface, as JSON (config.DHCPv6). SIGTERM or SIGINT stops it; it then prints its
// Status as one JSON line. With -leases it only loads the state directory,
// prints the unexpired leases as JSON lines and exits: what a restart would
// serve.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6"
)

func main() {
	iface := flag.String("iface", "", "interface to serve")
	state := flag.String("state", "", "state directory (leases, DUID)")
	cfgJSON := flag.String("config", "", "the interface's dhcpv6 section as JSON (config.DHCPv6)")
	cpuprofile := flag.String("cpuprofile", "", "write a pprof CPU profile of the run to this file")
	traceFile := flag.String("trace", "", "write a runtime/trace execution trace of the run to this file")
	leases := flag.Bool("leases", false, "print the leases a restart would load, one JSON line each, and exit")
	flag.Parse()
	if *iface == "" || *state == "" || *cfgJSON == "" {
		fmt.Fprintln(os.Stderr, "d6server: -iface, -state and -config are required")
		os.Exit(2)
	}
	var cfg config.DHCPv6
	if err := json.Unmarshal([]byte(*cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "d6server: -config:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := dhcpv6.NewServer(*iface, cfg, dhcpv6.WithStateDir(*state), dhcpv6.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "d6server:", err)
		os.Exit(1)
	}
	if *leases {
		enc := json.NewEncoder(os.Stdout)
		for _, l := range s.Leases() {
			if err := enc.Encode(l); err != nil {
				fmt.Fprintln(os.Stderr, "d6server:", err)
				os.Exit(1)
			}
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "d6server:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "d6server:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "d6server:", err)
			os.Exit(1)
		}
		if err := trace.Start(f); err != nil {
			fmt.Fprintln(os.Stderr, "d6server:", err)
			os.Exit(1)
		}
		defer func() {
			trace.Stop()
			f.Close()
		}()
	}
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "d6server:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(s.Status())
}
