package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/metrics"
	"github.com/vrouter/vrouter/ndproxy"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/router"
)

// shutdownTimeout bounds how long Run waits for the advertisers' final RAs.
const shutdownTimeout = 5 * time.Second

// Options configure Run.
type Options struct {
	// ConfigPath is the config file. Empty means config.DefaultPath when it
	// exists and the embedded default otherwise (DESIGN §3).
	ConfigPath string
	// Socket is the status socket path; empty means DefaultSocket, "-" none.
	Socket string
	// StateDir keeps the advertisers' state files (RFC 9096 withdrawals
	// across restarts); empty means ra.DefaultStateDir, "-" none.
	StateDir string
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Reload receives a value for every SIGHUP.
	Reload <-chan struct{}
}

// ErrConfig wraps a config that cannot be loaded at start.
var ErrConfig = errors.New("config error")

// Run runs the daemon until ctx is done, then sends the final RAs and
// returns nil. It returns an error when it cannot start: missing privileges
// (naming the capability), or a bad config (wrapping ErrConfig).
func Run(ctx context.Context, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := router.CheckPrivileges(); err != nil {
		return err
	}
	proxy, err := ndproxy.New(cfg.NDProxy, log.With("component", "ndproxy"))
	if err != nil {
		return fmt.Errorf("%w: %s: ndproxy: %w", ErrConfig, cfg.Source, err)
	}

	stateDir := opts.StateDir
	switch stateDir {
	case "":
		stateDir = ra.DefaultStateDir
	case "-":
		stateDir = ""
	}
	if stateDir != "" {
		if err := os.MkdirAll(stateDir, 0o750); err != nil {
			log.Warn("state directory unusable: withdrawals will not survive a restart", "dir", stateDir, "err", err)
			stateDir = ""
		}
	}
	// The registry exists only when metrics are served (changing
	// metrics.listen needs a restart).
	var reg *prometheus.Registry
	if cfg.Metrics.Listen != "" {
		reg = metrics.NewRegistry()
	}

	d := &daemon{
		log:      log,
		stateDir: stateDir,
		started:  time.Now(),
		adv:      make(map[string]*advertiser),
		recEv:    make(chan struct{}, 1),
		proxy:    proxy,
	}
	// The watcher starts before the first Apply so no change in between is
	// missed (router.Run's contract).
	events, err := router.Watch(ctx, log.With("component", "watch"))
	if err != nil {
		return fmt.Errorf("netlink watch: %w", err)
	}
	d.rec = router.New(router.LinuxOS(), log.With("component", "router"))

	log.Info("starting", "config", cfg.Source, "interfaces", len(cfg.Interfaces))
	if err := d.rec.Apply(ctx, cfg); err != nil {
		log.Warn("initial configuration incomplete; will keep trying", "err", err)
	}
	d.setConfig(cfg)

	var wg sync.WaitGroup
	wg.Go(func() { _ = d.rec.Run(ctx, d.recEv) })
	wg.Go(func() { d.fanOut(ctx, events) })
	wg.Go(func() {
		if err := proxy.Run(ctx); err != nil {
			log.Error("ndp proxy stopped", "err", err)
		}
	})

	advCtx, stopAdv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdv()
	d.advCtx = advCtx
	if reg != nil {
		d.raMetrics = ra.NewMetrics(reg)
	}
	d.syncAdvertisers(cfg)
	d.fp = &fastpathRunner{log: log.With("component", "fastpath")}
	d.fp.set(ctx, cfg.Fastpath)

	if opts.Socket != "-" {
		path := opts.Socket
		if path == "" {
			path = DefaultSocket
		}
		if l, err := listenStatus(path); err != nil {
			log.Warn("status socket disabled", "err", err)
		} else {
			go serveStatus(l, d.snapshot)
			defer func() { l.Close(); os.Remove(path) }()
		}
	}

	// Metrics: opt-in, bound at start (changing metrics.listen needs a
	// restart). A port in use is logged, not fatal: routing matters more.
	if reg != nil {
		reg.MustRegister(newCollector(d.snapshot))
		if addr, err := metrics.Serve(ctx, cfg.Metrics.Listen, reg, log.With("component", "metrics")); err != nil {
			log.Error("metrics disabled", "err", err)
		} else {
			log.Info("serving metrics", "addr", addr.String())
		}
	}

	if err := notify("READY=1\nSTATUS=" + d.statusLine()); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	log.Info("ready", "config", cfg.Source)

	for {
		select {
		case <-ctx.Done():
			_ = notify("STOPPING=1")
			log.Info("shutting down: sending final router advertisements")
			d.stopAll(shutdownTimeout)
			d.fp.shutdown()
			wg.Wait()
			log.Info("stopped")
			return nil
		case <-opts.Reload:
			d.reload(ctx, opts.ConfigPath)
		}
	}
}

type advertiser struct {
	a    *ra.Advertiser
	stop context.CancelFunc
	done chan struct{}
}

type daemon struct {
	log     *slog.Logger
	rec     *router.Reconciler
	recEv   chan struct{}
	advCtx  context.Context
	started time.Time
	fp      *fastpathRunner
	proxy   *ndproxy.Proxy

	stateDir  string
	raMetrics *ra.Metrics // nil when metrics are off

	mu       sync.Mutex // guards the fields below
	cfg      *config.Config
	reloaded time.Time
	adv      map[string]*advertiser
}

func (d *daemon) setConfig(cfg *config.Config) {
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
}

// fanOut passes every netlink event to the reconciler (coalesced) and wakes
// the advertisers so they notice link changes at once.
func (d *daemon) fanOut(ctx context.Context, events <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				close(d.recEv)
				return
			}
			select {
			case d.recEv <- struct{}{}:
			default:
			}
			d.mu.Lock()
			for _, a := range d.adv {
				a.a.Notify()
			}
			d.mu.Unlock()
		}
	}
}

// syncAdvertisers starts, updates and stops advertisers to match cfg. An
// interface that no longer advertises gets its final RA.
func (d *daemon) syncAdvertisers(cfg *config.Config) {
	want := map[string]config.Advertise{}
	for _, ifc := range cfg.Interfaces {
		if ifc.Advertise != nil {
			want[ifc.Name] = *ifc.Advertise
		}
	}
	d.mu.Lock()
	var stopping []*advertiser
	for name, a := range d.adv {
		if _, ok := want[name]; !ok {
			d.log.Info("interface no longer advertises", "iface", name)
			a.stop()
			stopping = append(stopping, a)
			delete(d.adv, name)
		}
	}
	for name, ac := range want {
		if a, ok := d.adv[name]; ok {
			a.a.Update(ac)
			continue
		}
		ctx, cancel := context.WithCancel(d.advCtx)
		opts := []ra.Option{ra.WithStateDir(d.stateDir)}
		if d.raMetrics != nil {
			opts = append(opts, ra.WithMetrics(d.raMetrics))
		}
		a := &advertiser{
			a:    ra.NewAdvertiser(name, ac, d.log.With("component", "ra"), opts...),
			stop: cancel,
			done: make(chan struct{}),
		}
		d.adv[name] = a
		go func() {
			defer close(a.done)
			if err := a.a.Run(ctx); err != nil {
				d.log.Error("advertiser stopped", "iface", name, "err", err)
			}
		}()
	}
	d.mu.Unlock()
	for _, a := range stopping {
		<-a.done
	}
}

// stopAll stops every advertiser (each sends its final RA) and waits for
// them, at most timeout.
func (d *daemon) stopAll(timeout time.Duration) {
	d.mu.Lock()
	all := make([]*advertiser, 0, len(d.adv))
	for _, a := range d.adv {
		a.stop()
		all = append(all, a)
	}
	d.mu.Unlock()
	deadline := time.After(timeout)
	for _, a := range all {
		select {
		case <-a.done:
		case <-deadline:
			d.log.Warn("advertisers did not stop in time", "timeout", timeout)
			return
		}
	}
}

// reload re-reads the config. A bad config is logged, problem by problem,
// and the running one kept; a good one is applied without final RAs.
func (d *daemon) reload(ctx context.Context, path string) {
	_ = notify("RELOADING=1")
	defer func() { _ = notify("READY=1\nSTATUS=" + d.statusLine()) }()
	cfg, err := LoadConfig(path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				d.log.Error("reload rejected: keeping the running config", "problem", e.Error())
			}
		} else {
			d.log.Error("reload rejected: keeping the running config", "err", err)
		}
		return
	}
	d.log.Info("reloading", "config", cfg.Source)
	if err := d.rec.Apply(ctx, cfg); err != nil {
		d.log.Warn("reload: configuration incomplete; will keep trying", "err", err)
	}
	d.mu.Lock()
	d.cfg = cfg
	d.reloaded = time.Now()
	d.mu.Unlock()
	d.syncAdvertisers(cfg)
	d.proxy.Update(cfg.NDProxy)
	d.fp.set(ctx, cfg.Fastpath)
}

func (d *daemon) snapshot() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Status{Config: d.cfg.Source, Started: d.started, Reloaded: d.reloaded, Forwarding: d.cfg.Forwarding}
	for _, ifc := range d.cfg.Interfaces {
		is := InterfaceStatus{Name: ifc.Name, Role: string(ifc.Role), Configured: d.rec.Configured(ifc.Name), Advertise: ifc.Advertise != nil}
		if a, ok := d.adv[ifc.Name]; ok {
			select {
			case <-a.a.Ready():
				is.Advertising = true
			default:
			}
			rs := a.a.Status()
			is.RA = &rs
		}
		st.Interfaces = append(st.Interfaces, is)
	}
	sort.Slice(st.Interfaces, func(i, j int) bool { return st.Interfaces[i].Name < st.Interfaces[j].Name })
	if d.fp != nil {
		st.Fastpath = d.fp.status()
	}
	if d.proxy != nil {
		st.NDProxy = d.proxy.Status().Rules
	}
	return st
}

func (d *daemon) statusLine() string {
	st := d.snapshot()
	n := 0
	for _, i := range st.Interfaces {
		if i.Configured {
			n++
		}
	}
	return fmt.Sprintf("%d/%d interfaces configured", n, len(st.Interfaces))
}
