package daemon

import (
	"context"
	"errors"
	"reflect"
	"sync"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/fastpath"
)

// FastpathStatus is the fast path's part of `vrouter status`.
type FastpathStatus struct {
	Running         bool              `json:"running"`
	Interfaces      []string          `json:"interfaces"`
	Received        uint64            `json:"received"`
	Forwarded       uint64            `json:"forwarded"`
	ToKernel        map[string]uint64 `json:"to_kernel,omitempty"`
	Dropped         map[string]uint64 `json:"dropped,omitempty"`
	PacketTooBig    uint64            `json:"packet_too_big_sent"`
	Unreachable     uint64            `json:"unreachable_sent"`
	ICMPRateLimited uint64            `json:"icmp_rate_limited"`
	// RxRingDropped counts frames the kernel dropped because a fast-path
	// receive ring was full.
	RxRingDropped uint64 `json:"rx_ring_dropped"`
	// IO says per interface how the fast path runs there:
	// "af_xdp (xdp-native)", "af_packet (tc-ingress)", ...
	IO map[string]string `json:"io,omitempty"`
}

// FastpathSpec is the fast-path engine; opts are passed to fastpath.New
// (tests pass fastpath.WithSystem).
func FastpathSpec(opts ...fastpath.Option) Spec {
	return Spec{
		Name: "fastpath",
		Validate: func(c *config.Config) []config.Problem {
			return config.Under("fastpath", fastpath.Validate(c.Fastpath))
		},
		New: func(env Env) (Component, error) {
			return &fastpathComponent{env: env, opts: opts, changed: make(chan struct{}, 1)}, nil
		},
	}
}

// fastpathComponent runs the engine of the current config and replaces it
// when the config changes; the kernel forwards whenever it does not run.
type fastpathComponent struct {
	env     Env
	opts    []fastpath.Option
	changed chan struct{}

	mu      sync.Mutex
	cfg     config.Fastpath
	engine  *fastpath.Engine
	running bool
}

func (c *fastpathComponent) Apply(d Desired) error {
	c.mu.Lock()
	same := reflect.DeepEqual(c.cfg, d.Config.Fastpath)
	c.cfg = d.Config.Fastpath
	c.mu.Unlock()
	if !same {
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}
	return nil
}

// Run runs an engine for the current config until ctx is done, starting a
// new one when the config changes. An engine that stops with an error
// (an interface missing, say) fails the component, and the supervisor
// starts it again with back-off; meanwhile the kernel forwards.
func (c *fastpathComponent) Run(ctx context.Context, ready func()) error {
	for {
		// The config read below is the newest: a change signalled before
		// it (the Apply before the first Run) needs no restart.
		select {
		case <-c.changed:
		default:
		}
		c.mu.Lock()
		cfg := c.cfg
		c.mu.Unlock()
		if !cfg.Enabled {
			ready()
			select {
			case <-ctx.Done():
				return nil
			case <-c.changed:
				continue
			}
		}
		opts := append([]fastpath.Option{fastpath.WithWatcher(c.env.Watcher), fastpath.WithReady(func() {
			c.setRunning(true)
			c.env.Log.Info("fast path forwarding", "interfaces", cfg.Interfaces)
			ready()
		})}, c.opts...)
		e, err := fastpath.New(cfg, c.env.Log, opts...)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.engine = e
		c.mu.Unlock()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(rctx) }()
		select {
		case err = <-done:
		case <-c.changed:
			c.env.Log.Info("fast path config changed; restarting the engine")
			cancel()
			err = <-done
			c.setRunning(false)
			if err != nil {
				c.env.Log.Warn("fast path engine stopped with an error", "err", err)
			}
			continue
		case <-ctx.Done():
			cancel()
			err = <-done
		}
		cancel()
		c.setRunning(false)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("fast path engine stopped")
		}
		return err
	}
}

func (c *fastpathComponent) setRunning(on bool) {
	c.mu.Lock()
	c.running = on
	c.mu.Unlock()
}

func (c *fastpathComponent) Status(st *Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cfg.Enabled {
		return
	}
	fs := &FastpathStatus{Running: c.running, Interfaces: c.cfg.Interfaces}
	st.Fastpath = fs
	if c.engine == nil {
		return
	}
	for _, p := range c.engine.Ports() {
		if p.IO == "" {
			continue
		}
		if fs.IO == nil {
			fs.IO = map[string]string{}
		}
		fs.IO[p.Interface] = p.IO
		if p.Claim != "" {
			fs.IO[p.Interface] += " (" + p.Claim + ")"
		}
	}
	s := c.engine.Stats()
	fs.Received, fs.Forwarded = s.Received, s.Forwarded
	fs.PacketTooBig, fs.Unreachable, fs.ICMPRateLimited = s.PacketTooBig, s.Unreachable, s.ICMPRateLimited
	fs.RxRingDropped = s.RxRingDropped
	for r, n := range s.ToKernel {
		if n != 0 {
			if fs.ToKernel == nil {
				fs.ToKernel = map[string]uint64{}
			}
			fs.ToKernel[fastpath.KernelReason(r).String()] = n
		}
	}
	for r, n := range s.Dropped {
		if n != 0 {
			if fs.Dropped == nil {
				fs.Dropped = map[string]uint64{}
			}
			fs.Dropped[fastpath.DropReason(r).String()] = n
		}
	}
}
