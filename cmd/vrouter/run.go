package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vrouter/vrouter/daemon"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vrouter run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default /etc/vrouter/vrouter.yaml if it exists, else the embedded default)")
	socket := fs.String("socket", daemon.DefaultSocket, `status socket path ("-" = none)`)
	stateDir := fs.String("state-dir", "/var/lib/vrouter", `state that survives restarts: RA withdrawals, addresses the router added... ("-" = none)`)
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "vrouter run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "vrouter run: %v\n", err)
		return exitUsage
	}

	// SIGTERM/SIGINT stop for good (final RAs); SIGUSR2 stops for a
	// restart (the unit's RestartKillSignal): nothing is withdrawn, so the
	// next start finds everything in place and changes nothing.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopSig := make(chan os.Signal, 1)
	signal.Notify(stopSig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR2)
	defer signal.Stop(stopSig)
	go func() {
		select {
		case sig := <-stopSig:
			if sig == syscall.SIGUSR2 {
				cancel(daemon.ErrRestart)
			} else {
				cancel(nil)
			}
		case <-ctx.Done():
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()

	err = daemon.Run(ctx, daemon.Options{ConfigPath: *cfgPath, Socket: *socket, StateDir: *stateDir, Log: log, Reload: reload})
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, daemon.ErrConfig):
		fmt.Fprintf(stderr, "vrouter run: %v\n", strings.TrimPrefix(err.Error(), daemon.ErrConfig.Error()+": "))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vrouter run: %v\n", err)
		return exitFailure
	}
}

// newLogger logs structured lines to w. Under journald (JOURNAL_STREAM set)
// the time is left out: the journal adds its own.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}
