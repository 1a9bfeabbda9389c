package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/netwatch"
	"github.com/vrouter/vrouter/ra"
)

// shutdownTimeout bounds how long the RA component waits for the
// advertisers' final RAs.
const shutdownTimeout = 5 * time.Second

// RASpec is one Router Advertisement advertiser per advertising interface;
// opts are passed to every advertiser (tests pass ra.WithSystem).
func RASpec(opts ...ra.Option) Spec {
	return Spec{
		Name:     "ra",
		Validate: validateRA,
		New: func(env Env) (Component, error) {
			return &raComponent{env: env, opts: opts, adv: map[string]*advertiser{}}, nil
		},
	}
}

func validateRA(c *config.Config) []config.Problem {
	var ps []config.Problem
	for _, ifc := range c.Interfaces {
		if ifc.Advertise != nil {
			ps = append(ps, config.Under("interfaces."+ifc.Name+".advertise", ra.Problems(*ifc.Advertise))...)
		}
	}
	return ps
}

type advertiser struct {
	a    *ra.Advertiser
	link string // the link it advertises on
	stop context.CancelFunc
	done chan struct{}
	err  error // Run's error, once done is closed
}

// raWant is one interface that should advertise.
type raWant struct {
	link string
	cfg  config.Advertise
}

type raComponent struct {
	env  Env
	opts []ra.Option

	mu   sync.Mutex
	want map[string]raWant // by config interface name; nil while standby
	// haPair: the config has an ha section; the advertisers then stop
	// without final RA on any stop (see Run).
	haPair bool
	adv    map[string]*advertiser
	runCtx context.Context // while Run runs
	failed chan error      // an advertiser that failed
}

// Apply starts, updates and stops advertisers to match d. An interface
// that no longer advertises gets its final RA; in standby, or when the
// link it is served on changes (HA), advertisers stop without it.
func (c *raComponent) Apply(d Desired) error {
	want := map[string]raWant{}
	if !d.Facts.Standby {
		for _, ifc := range d.Config.Interfaces {
			if ifc.Advertise != nil {
				want[ifc.Name] = raWant{link: d.Facts.Link(ifc.Name), cfg: *ifc.Advertise}
			}
		}
	}
	c.mu.Lock()
	c.want = want
	c.haPair = d.Config.HA != nil
	c.mu.Unlock()
	c.sync(d.Facts.Standby)
	return nil
}

// sync makes the running advertisers match c.want (only while Run runs).
func (c *raComponent) sync(standby bool) {
	c.mu.Lock()
	if c.runCtx == nil {
		c.mu.Unlock()
		return
	}
	var stopping []*advertiser
	for name, a := range c.adv {
		w, ok := c.want[name]
		if ok && w.link == a.link {
			a.a.Update(w.cfg)
			continue
		}
		switch {
		case standby:
			c.env.Log.Info("standby: advertiser stops without final RA", "iface", name)
			a.a.SkipFinal()
		case ok:
			c.env.Log.Info("interface served on another link: advertiser moves without final RA", "iface", name, "from", a.link, "to", w.link)
			a.a.SkipFinal()
		default:
			c.env.Log.Info("interface no longer advertises", "iface", name)
		}
		a.stop()
		stopping = append(stopping, a)
		delete(c.adv, name)
	}
	c.mu.Unlock()
	// An advertiser saves its state file on the way out: the next one of
	// the same interface (on another link) reads it.
	for _, a := range stopping {
		<-a.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runCtx == nil {
		return
	}
	for name, w := range c.want {
		if _, ok := c.adv[name]; !ok {
			c.adv[name] = c.start(name, w)
		}
	}
}

// start runs an advertiser for interface name; c.mu must be held.
func (c *raComponent) start(name string, w raWant) *advertiser {
	// Not canceled with runCtx: Run's stopAll decides whether the final RA
	// goes out (SkipFinal) before it cancels, which a context derived from
	// runCtx would race (a restart sending a final RA).
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.runCtx))
	// The state file is named after the config interface, not the link
	// served on, so withdrawals carry over to and from an HA virtual link.
	state := ""
	if c.env.StateDir != "" {
		state = filepath.Join(c.env.StateDir, "ra-"+name+".json")
	}
	opts := append([]ra.Option{ra.WithStateFile(state), ra.WithLinkPoll(-1)}, c.opts...)
	a := &advertiser{
		a:    ra.NewAdvertiser(w.link, w.cfg, c.env.Log, opts...),
		link: w.link,
		stop: cancel,
		done: make(chan struct{}),
	}
	failed := c.failed
	go func() {
		defer close(a.done)
		if a.err = a.a.Run(ctx); a.err != nil && ctx.Err() == nil {
			select {
			case failed <- fmt.Errorf("%s: %w", name, a.err):
			default:
			}
		}
	}()
	return a
}

// Run advertises until ctx is done, then lets every advertiser send its
// final RA (at most shutdownTimeout), or none when the daemon stops for a
// restart (Restarting): hosts keep the default route and prefixes they have
// until the next process advertises again. One of an HA pair never sends a
// final RA: the peer takes over the virtual link-local and MAC after
// Skew_Time, and a router lifetime of 0 from that same address would make
// the hosts drop the default route the peer is about to serve (RFC 4861
// §6.3.4) until its next RA. It wakes the advertisers on every
// change of links, addresses and forwarding, so they do not poll. An
// advertiser that fails (no permission for its socket) fails the
// component: the others stop without final RA and the supervisor starts
// them again.
func (c *raComponent) Run(ctx context.Context, ready func()) error {
	sub := c.env.Watcher.Subscribe(netwatch.Links|netwatch.Addrs|netwatch.Netconfs, 0)
	defer sub.Close()
	c.mu.Lock()
	c.runCtx = ctx
	c.failed = make(chan error, 1)
	failed := c.failed
	c.mu.Unlock()
	c.sync(false)
	ready()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			silent := Restarting(ctx) || c.haPair
			c.mu.Unlock()
			c.stopAll(silent)
			return nil
		case err := <-failed:
			c.stopAll(true)
			return err
		case <-sub.C():
			c.mu.Lock()
			for _, a := range c.adv {
				a.a.Notify()
			}
			c.mu.Unlock()
		}
	}
}

// stopAll stops every advertiser (with final RAs unless silent) and waits
// for them, at most shutdownTimeout.
func (c *raComponent) stopAll(silent bool) {
	c.mu.Lock()
	all := make([]*advertiser, 0, len(c.adv))
	for name, a := range c.adv {
		if silent {
			a.a.SkipFinal()
		}
		a.stop()
		all = append(all, a)
		delete(c.adv, name)
	}
	c.runCtx = nil
	c.mu.Unlock()
	deadline := time.After(shutdownTimeout)
	var errs []error
	for _, a := range all {
		select {
		case <-a.done:
			errs = append(errs, a.err)
		case <-deadline:
			c.env.Log.Warn("advertisers did not stop in time", "timeout", shutdownTimeout)
			return
		}
	}
	if err := errors.Join(errs...); err != nil && !silent {
		c.env.Log.Warn("advertiser stopped with an error", "err", err)
	}
}

func (c *raComponent) Status(st *Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range st.Interfaces {
		is := &st.Interfaces[i]
		a, ok := c.adv[is.Name]
		if !ok {
			continue
		}
		select {
		case <-a.a.Ready():
			is.Advertising = true
		default:
		}
		rs := a.a.Status()
		is.RA = &rs
	}
}
