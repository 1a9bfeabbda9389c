// Command fprouter runs only the fast-path engine (no RA, no reconciler) on
// the given interfaces, for `make bench`. SIGTERM stops it; it then prints
// its counters as one JSON line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath"
)

func main() {
	ifaces := flag.String("interfaces", "", "comma-separated interfaces")
	cpus := flag.String("cpus", "", "comma-separated CPUs for the workers")
	flag.Parse()
	cfg := config.Fastpath{Enabled: true, Interfaces: strings.Split(*ifaces, ",")}
	for _, c := range strings.Split(*cpus, ",") {
		if c == "" {
			continue
		}
		n, err := strconv.Atoi(c)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fprouter: -cpus:", err)
			os.Exit(2)
		}
		cfg.CPUs = append(cfg.CPUs, n)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	e, err := fastpath.New(cfg, log, fastpath.WithReady(func() { fmt.Println("READY") }))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fprouter:", err)
		os.Exit(2)
	}
	if err := e.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fprouter:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(e.Stats())
}
