package daemon

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

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

// fastpathRunner supervises the fast-path engine: it restarts it with
// backoff when Run fails (an interface missing, say) and replaces it when
// the config changes.
type fastpathRunner struct {
	log *slog.Logger

	mu      sync.Mutex
	cfg     config.Fastpath
	engine  *fastpath.Engine
	running bool
	stop    context.CancelFunc
	done    chan struct{}
}

const (
	fastpathRetryMin = time.Second
	fastpathRetryMax = 30 * time.Second
)

// set makes cfg the fast path's config, (re)starting or stopping the engine
// as needed. ctx bounds the engine's life.
func (f *fastpathRunner) set(ctx context.Context, cfg config.Fastpath) {
	f.mu.Lock()
	same := f.done != nil && reflect.DeepEqual(f.cfg, cfg)
	f.mu.Unlock()
	if same {
		return
	}
	f.shutdown()
	if !cfg.Enabled {
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	f.mu.Lock()
	f.cfg, f.stop, f.done = cfg, cancel, done
	f.mu.Unlock()
	go func() {
		defer close(done)
		f.supervise(rctx, cfg)
	}()
}

func (f *fastpathRunner) supervise(ctx context.Context, cfg config.Fastpath) {
	backoff := fastpathRetryMin
	var lastErr string
	for {
		e, err := fastpath.New(cfg, f.log, fastpath.WithReady(func() {
			f.mu.Lock()
			f.running = true
			f.mu.Unlock()
			f.log.Info("fast path forwarding", "interfaces", cfg.Interfaces)
		}))
		if err == nil {
			f.mu.Lock()
			f.engine = e
			f.mu.Unlock()
			err = e.Run(ctx)
			f.mu.Lock()
			f.running = false
			f.mu.Unlock()
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = fastpathRetryMin
		} else if msg := err.Error(); msg != lastErr {
			f.log.Error("fast path stopped; the kernel forwards meanwhile", "err", err, "retry", backoff)
			lastErr = msg
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, fastpathRetryMax)
	}
}

// shutdown stops the engine and waits until it has undone its setup.
func (f *fastpathRunner) shutdown() {
	f.mu.Lock()
	stop, done := f.stop, f.done
	f.stop, f.done, f.engine = nil, nil, nil
	f.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func (f *fastpathRunner) status() *FastpathStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done == nil {
		return nil
	}
	st := &FastpathStatus{Running: f.running, Interfaces: f.cfg.Interfaces}
	if f.engine == nil {
		return st
	}
	for _, p := range f.engine.Ports() {
		if p.IO == "" {
			continue
		}
		if st.IO == nil {
			st.IO = map[string]string{}
		}
		st.IO[p.Interface] = p.IO
		if p.Claim != "" {
			st.IO[p.Interface] += " (" + p.Claim + ")"
		}
	}
	s := f.engine.Stats()
	st.Received, st.Forwarded = s.Received, s.Forwarded
	st.PacketTooBig, st.Unreachable, st.ICMPRateLimited = s.PacketTooBig, s.Unreachable, s.ICMPRateLimited
	st.RxRingDropped = s.RxRingDropped
	for r, n := range s.ToKernel {
		if n != 0 {
			if st.ToKernel == nil {
				st.ToKernel = map[string]uint64{}
			}
			st.ToKernel[fastpath.KernelReason(r).String()] = n
		}
	}
	for r, n := range s.Dropped {
		if n != 0 {
			if st.Dropped == nil {
				st.Dropped = map[string]uint64{}
			}
			st.Dropped[fastpath.DropReason(r).String()] = n
		}
	}
	return st
}
