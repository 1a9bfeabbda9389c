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

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/metrics"
	"github.com/vrouter/vrouter/ra"
	"github.com/vrouter/vrouter/router"
)

// Options configure Run. The fields after Reload are seams: their zero
// values are the real systems, and tests replace them with fakes.
type Options struct {
	// ConfigPath is the config file. Empty means config.DefaultPath when it
	// exists and the embedded default otherwise (DESIGN §3).
	ConfigPath string
	// Socket is the status socket path; empty means DefaultSocket, "-" none.
	Socket string
	// StateDir keeps the components' state files (RFC 9096 withdrawals
	// across restarts, DHCPv6 leases); empty means ra.DefaultStateDir, "-"
	// none.
	StateDir string
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Reload receives a value for every SIGHUP.
	Reload <-chan struct{}

	// Specs are the components, in the order they are applied and shown;
	// nil means DefaultSpecs().
	Specs []Spec
	// NetSource is the kernel's change notifications; nil means
	// netwatch.Netlink{}.
	NetSource netwatch.Source
	// CheckPrivileges fails when the daemon cannot do its work; nil means
	// router.CheckPrivileges.
	CheckPrivileges func() error
	// Notify speaks the systemd notify protocol; nil means sd_notify on
	// $NOTIFY_SOCKET.
	Notify func(state string) error
	// Ready, when not nil, is called once every component is ready (tests
	// wait on it; systemd is told READY=1 earlier, once all started).
	Ready func()

	// started is called with the daemon once its components are built
	// (tests read its snapshot and publish facts).
	started func(*daemon)
}

// DefaultSpecs are the components of `vrouter run` on the real system.
func DefaultSpecs() []Spec {
	return []Spec{RouterSpec(router.LinuxOS()), RASpec(), NDProxySpec(), FastpathSpec(), DHCPv6Spec(), PDSpec(), HASpec(nil)}
}

// ErrConfig wraps a config that cannot be loaded at start.
var ErrConfig = errors.New("config error")

// ErrRestart is the cause (context.Cause) with which the context given to
// Run is canceled to stop for a restart rather than for good (`vrouter run`
// on SIGUSR2, the unit's RestartKillSignal). Components then leave what
// they serve in place for the next start instead of withdrawing it: no
// final RA (hosts keep their default route through the restart), the NDP
// proxy's routes stay for its successor to adopt. Addresses and sysctls
// stay on any stop.
var ErrRestart = errors.New("stopping for a restart")

// Restarting reports whether ctx was canceled for a restart (ErrRestart).
func Restarting(ctx context.Context) bool { return errors.Is(context.Cause(ctx), ErrRestart) }

// component is one built component and its supervisor.
type component struct {
	name string
	comp Component
	sup  *Supervisor
}

type daemon struct {
	log     *slog.Logger
	opts    Options
	specs   []Spec
	started time.Time
	watcher *netwatch.Watcher
	comps   []component
	factsC  chan struct{} // a fact changed

	mu       sync.Mutex // guards the fields below
	cfg      *config.Config
	facts    Facts
	reloaded time.Time
}

// Run runs the daemon until ctx is done, then stops every component (the
// advertisers send their final RAs, unless ctx was canceled with cause
// ErrRestart) and returns nil. It returns an error
// when it cannot start: missing privileges (naming the capability), or a
// bad config (wrapping ErrConfig).
func Run(ctx context.Context, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Specs == nil {
		opts.Specs = DefaultSpecs()
	}
	if opts.NetSource == nil {
		opts.NetSource = netwatch.Netlink{}
	}
	if opts.CheckPrivileges == nil {
		opts.CheckPrivileges = router.CheckPrivileges
	}
	if opts.Notify == nil {
		opts.Notify = notify
	}
	cfg, err := loadConfig(opts.ConfigPath, opts.Specs)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := opts.CheckPrivileges(); err != nil {
		return err
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
			log.Warn("state directory unusable: state will not survive a restart", "dir", stateDir, "err", err)
			stateDir = ""
		}
	}

	d := &daemon{log: log, opts: opts, specs: opts.Specs, started: time.Now(), cfg: cfg, factsC: make(chan struct{}, 1)}
	// One of an HA pair starts in standby: nothing is served before the
	// HA component says the router is Active.
	d.facts.Standby = cfg.HA != nil
	// The watcher subscribes before anything is applied, so no change in
	// between is missed.
	d.watcher = netwatch.New(opts.NetSource, log.With("component", "netwatch"))
	if err := d.watcher.Start(ctx); err != nil {
		return err
	}
	for _, s := range opts.Specs {
		clog := log.With("component", s.Name)
		c, err := s.New(Env{Log: clog, StateDir: stateDir, Config: cfg, Watcher: d.watcher, Publish: d.publish})
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		d.comps = append(d.comps, component{name: s.Name, comp: c, sup: NewSupervisor(s.Name, c, clog)})
	}

	if opts.started != nil {
		opts.started(d)
	}
	log.Info("starting", "config", cfg.Source, "interfaces", len(cfg.Interfaces))
	d.apply()
	var wg sync.WaitGroup
	for _, c := range d.comps {
		wg.Go(func() { c.sup.Run(ctx) })
	}
	if opts.Ready != nil {
		go func() {
			for _, c := range d.comps {
				select {
				case <-c.sup.Ready():
				case <-ctx.Done():
					return
				}
			}
			opts.Ready()
		}()
	}

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
	if cfg.Metrics.Listen != "" {
		reg := metrics.NewRegistry()
		reg.MustRegister(newCollector(d.snapshot))
		if addr, err := metrics.Serve(ctx, cfg.Metrics.Listen, reg, log.With("component", "metrics")); err != nil {
			log.Error("metrics disabled", "err", err)
		} else {
			log.Info("serving metrics", "addr", addr.String())
		}
	}

	if err := opts.Notify("READY=1\nSTATUS=" + d.statusLine()); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	log.Info("ready", "config", cfg.Source)

	for {
		select {
		case <-ctx.Done():
			_ = opts.Notify("STOPPING=1")
			if Restarting(ctx) {
				log.Info("stopping for a restart: leaving advertisements, routes and addresses in place")
			} else {
				log.Info("shutting down: sending final router advertisements")
			}
			wg.Wait()
			log.Info("stopped")
			return nil
		case <-opts.Reload:
			d.reload()
		case <-d.factsC:
			d.apply()
		}
	}
}

// publish changes the facts and has the main loop re-apply the desired
// state (Env.Publish).
func (d *daemon) publish(update func(*Facts)) {
	d.mu.Lock()
	f := d.facts.Clone()
	update(&f)
	d.facts = f
	d.mu.Unlock()
	select {
	case d.factsC <- struct{}{}:
	default:
	}
}

// apply applies the desired state of the current config and facts to
// every component, in order.
func (d *daemon) apply() {
	d.mu.Lock()
	desired := Effective(d.cfg, d.facts)
	d.mu.Unlock()
	for _, c := range d.comps {
		if err := c.comp.Apply(desired); err != nil {
			d.log.Error("component refused the configuration", "component", c.name, "err", err)
		}
	}
}

// reload re-reads the config. A bad config is logged, problem by problem,
// and the running one kept; a good one is applied without final RAs.
func (d *daemon) reload() {
	_ = d.opts.Notify("RELOADING=1")
	defer func() { _ = d.opts.Notify("READY=1\nSTATUS=" + d.statusLine()) }()
	cfg, err := loadConfig(d.opts.ConfigPath, d.specs)
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
	d.mu.Lock()
	d.cfg = cfg
	d.reloaded = time.Now()
	d.mu.Unlock()
	d.apply()
}

func (d *daemon) snapshot() Status {
	d.mu.Lock()
	cfg := d.cfg
	st := Status{Config: cfg.Source, Started: d.started, Reloaded: d.reloaded, Forwarding: cfg.Forwarding}
	d.mu.Unlock()
	for _, ifc := range cfg.Interfaces {
		st.Interfaces = append(st.Interfaces, InterfaceStatus{Name: ifc.Name, Role: string(ifc.Role), Advertise: ifc.Advertise != nil})
	}
	sort.Slice(st.Interfaces, func(i, j int) bool { return st.Interfaces[i].Name < st.Interfaces[j].Name })
	for _, c := range d.comps {
		c.comp.Status(&st)
		st.Components = append(st.Components, c.sup.Status())
	}
	ws := d.watcher.Status()
	st.Watcher = &ws
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
