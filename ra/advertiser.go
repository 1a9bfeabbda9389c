package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
	"golang.org/x/net/ipv6"
)

// Defaults of the Options.
const (
	defaultLinkPoll = time.Second
	minBackoff      = 100 * time.Millisecond
	maxBackoff      = time.Second
	// finalTimeout bounds sending the final RA after the context is done.
	finalTimeout = time.Second
	// stateMaxAge is how old a LinkState may be when an RA is built from it.
	stateMaxAge = time.Second
)

// An Advertiser sends Router Advertisements on one interface. Create it with
// NewAdvertiser and call Run once.
type Advertiser struct {
	iface    string
	log      *slog.Logger
	sys      System
	rng      *rand.Rand
	linkPoll time.Duration

	mu  sync.Mutex
	cfg config.Advertise

	updateC chan struct{} // Update happened
	notifyC chan struct{} // Notify happened

	readyOnce sync.Once
	readyC    chan struct{}
}

// An Option changes a default of NewAdvertiser.
type Option func(*Advertiser)

// WithSystem replaces the operating system (default: netlink and NDP sockets
// in the current network namespace).
func WithSystem(s System) Option { return func(a *Advertiser) { a.sys = s } }

// WithRand sets the source of the random RA intervals and reply delays; it
// must not be used elsewhere while Run runs.
func WithRand(r *rand.Rand) Option { return func(a *Advertiser) { a.rng = r } }

// WithLinkPoll sets how often a running Advertiser re-reads the link state to
// notice a link going down or losing its link-local address (default 1s).
// Notify triggers an immediate check.
func WithLinkPoll(d time.Duration) Option {
	return func(a *Advertiser) {
		if d > 0 {
			a.linkPoll = d
		}
	}
}

// NewAdvertiser returns an Advertiser for interface iface. A nil log
// discards logs.
func NewAdvertiser(iface string, cfg config.Advertise, log *slog.Logger, opts ...Option) *Advertiser {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Advertiser{
		iface:    iface,
		log:      log.With("iface", iface),
		linkPoll: defaultLinkPoll,
		cfg:      cfg,
		updateC:  make(chan struct{}, 1),
		notifyC:  make(chan struct{}, 1),
		readyC:   make(chan struct{}),
	}
	for _, o := range opts {
		o(a)
	}
	if a.sys == nil {
		a.sys = defaultSystem()
	}
	if a.rng == nil {
		a.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return a
}

// Ready returns a channel that is closed once the first RA went out.
func (a *Advertiser) Ready() <-chan struct{} { return a.readyC }

// Update replaces the advertised configuration (hot reload). No final RA is
// sent; the Advertiser re-enters the initial phase of fast RAs so hosts learn
// the change quickly. An invalid cfg (see Validate) is logged and ignored.
func (a *Advertiser) Update(cfg config.Advertise) {
	if err := Validate(cfg); err != nil {
		a.log.Error("ignoring invalid router advertisement config", "err", err)
		return
	}
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	signal(a.updateC)
}

// Notify tells the Advertiser that its link may have changed (for example
// from a netlink watcher); it re-reads the link state at once instead of
// waiting for the next poll or backoff.
func (a *Advertiser) Notify() { signal(a.notifyC) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (a *Advertiser) config() config.Advertise {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// fatalError marks errors that retrying cannot fix.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

// Run advertises until ctx is done, then sends a final RA with router
// lifetime 0 and returns nil. While the interface is not ready it waits; a
// socket error or link change makes it wait again and restart the initial
// phase. It returns an error only when advertising cannot work: an invalid
// config or no permission to open the socket.
func (a *Advertiser) Run(ctx context.Context) error {
	if err := Validate(a.config()); err != nil {
		return fmt.Errorf("ra: %s: invalid config: %w", a.iface, err)
	}
	cfg := a.config()
	s := newScheduler(a.rng, cfg.MinInterval, cfg.MaxInterval)
	for {
		conn, st, err := a.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ra: %s: %w", a.iface, err)
		}
		err = a.serve(ctx, conn, st, s)
		if cerr := conn.Close(); cerr != nil && err == nil {
			a.log.Warn("closing ndp socket", "err", cerr)
		}
		if err == nil {
			return nil
		}
		var fe fatalError
		if errors.As(err, &fe) {
			return fmt.Errorf("ra: %s: %w", a.iface, fe.err)
		}
		a.log.Warn("link changed, waiting for it to be ready again", "err", err)
	}
}

// dial waits, with bounded backoff, until the link is ready and an NDP socket
// is open on it.
func (a *Advertiser) dial(ctx context.Context) (Conn, LinkState, error) {
	delay := minBackoff
	var logged string
	for {
		conn, st, err := a.tryDial()
		if err == nil {
			a.log.Info("advertising", "addr", st.LinkLocal)
			return conn, st, nil
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, LinkState{}, err
		}
		// Log once per waiting period, and again only if the reason
		// changes in kind (not ready vs. some other error).
		kind := "waiting for link-local address"
		if !errors.Is(err, ErrLinkNotReady) {
			kind = "cannot open ndp socket, retrying"
		}
		if kind != logged {
			a.log.Info(kind, "err", err)
			logged = kind
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, LinkState{}, ctx.Err()
		case <-a.notifyC:
			t.Stop()
		case <-t.C:
			delay = min(2*delay, maxBackoff)
		}
	}
}

func (a *Advertiser) tryDial() (Conn, LinkState, error) {
	st, err := a.sys.LinkState(a.iface)
	if err != nil {
		return nil, LinkState{}, fmt.Errorf("read link state: %w", err)
	}
	if !st.Up {
		return nil, LinkState{}, fmt.Errorf("link is down: %w", ErrLinkNotReady)
	}
	if !st.LinkLocal.IsValid() {
		return nil, LinkState{}, fmt.Errorf("no usable link-local address: %w", ErrLinkNotReady)
	}
	conn, err := a.sys.Listen(a.iface)
	if err != nil {
		return nil, LinkState{}, fmt.Errorf("open ndp socket: %w", err)
	}
	return conn, st, nil
}

// inbound is a message read from the socket.
type inbound struct {
	m   ndp.Message
	cm  *ipv6.ControlMessage
	src netip.Addr
}

// serve advertises on an open socket. It returns nil after the final RA when
// ctx is done, a fatalError for config problems, and any other error when the
// socket failed or the link changed.
func (a *Advertiser) serve(ctx context.Context, conn Conn, st LinkState, s *scheduler) error {
	if ctx.Err() != nil {
		return nil
	}
	readC := make(chan inbound)
	readErrC := make(chan error, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			m, cm, src, err := conn.ReadFrom()
			if err != nil {
				readErrC <- err
				return
			}
			select {
			case readC <- inbound{m, cm, src}:
			case <-done:
				return
			}
		}
	})
	defer func() {
		close(done)
		// Wake a blocked ReadFrom; Run closes the socket afterwards.
		_ = conn.SetReadDeadline(time.Unix(1, 0))
		wg.Wait()
	}()

	// Drop a stale Update signal: this phase starts from the newest config.
	select {
	case <-a.updateC:
	default:
	}
	cfg := a.config()
	s.setIntervals(cfg.MinInterval, cfg.MaxInterval)
	s.unicast = s.unicast[:0]
	now := time.Now()
	s.restart(now)
	stateAt := now
	nextPoll := now.Add(a.linkPoll)
	advertised := false

	// refresh re-reads the link state; a change that needs a new socket is
	// an error.
	refresh := func(now time.Time) error {
		cur, err := a.sys.LinkState(a.iface)
		if err != nil {
			return fmt.Errorf("read link state: %w", err)
		}
		switch {
		case !cur.Ready():
			return fmt.Errorf("link is down or lost its link-local address: %w", ErrLinkNotReady)
		case cur.Index != st.Index:
			return fmt.Errorf("interface index changed from %d to %d", st.Index, cur.Index)
		case cur.LinkLocal != st.LinkLocal:
			return fmt.Errorf("link-local address changed from %s to %s", st.LinkLocal, cur.LinkLocal)
		}
		st, stateAt = cur, now
		nextPoll = now.Add(a.linkPoll)
		return nil
	}
	send := func(now time.Time, dst netip.Addr) error {
		if now.Sub(stateAt) >= stateMaxAge {
			if err := refresh(now); err != nil {
				return err
			}
		}
		if err := a.send(conn, dst, st, false); err != nil {
			return err
		}
		a.readyOnce.Do(func() { close(a.readyC) })
		return nil
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	var unicast []netip.Addr
	for {
		now := time.Now()
		if !now.Before(nextPoll) {
			if err := refresh(now); err != nil {
				return err
			}
		}
		if s.multicastDue(now) {
			if err := send(now, netip.IPv6LinkLocalAllNodes()); err != nil {
				return err
			}
			s.multicastSent(now)
			advertised = true
		}
		unicast = s.dueUnicast(now, unicast[:0])
		for _, dst := range unicast {
			if err := send(now, dst); err != nil {
				return err
			}
		}

		wake := s.wake()
		if nextPoll.Before(wake) {
			wake = nextPoll
		}
		timer.Reset(max(wake.Sub(now), 0))
		select {
		case <-ctx.Done():
			if advertised {
				a.sendFinal(conn, st)
			}
			return nil
		case in := <-readC:
			if src, ok := solicitation(in.m, in.cm, in.src); ok {
				s.solicited(time.Now(), src)
			}
		case err := <-readErrC:
			return fmt.Errorf("read from ndp socket: %w", err)
		case <-a.updateC:
			cfg := a.config()
			s.setIntervals(cfg.MinInterval, cfg.MaxInterval)
			s.restart(time.Now())
			a.log.Info("config updated, restarting initial advertisements")
		case <-a.notifyC:
			nextPoll = time.Now()
		case <-timer.C:
		}
	}
}

// send sends one RA built from the current config to dst.
func (a *Advertiser) send(conn Conn, dst netip.Addr, st LinkState, final bool) error {
	m, err := buildRA(a.config(), st, final)
	if err != nil {
		return fatalError{fmt.Errorf("build router advertisement: %w", err)}
	}
	if err := conn.WriteTo(m, nil, dst); err != nil {
		return fmt.Errorf("send router advertisement to %s: %w", dst, err)
	}
	return nil
}

// sendFinal sends the RFC 4861 §6.2.5 final RA (router lifetime 0). It runs
// after ctx is done, so it has its own short deadline.
func (a *Advertiser) sendFinal(conn Conn, st LinkState) {
	if err := conn.SetWriteDeadline(time.Now().Add(finalTimeout)); err != nil {
		a.log.Warn("setting write deadline for final router advertisement", "err", err)
	}
	if err := a.send(conn, netip.IPv6LinkLocalAllNodes(), st, true); err != nil {
		a.log.Error("final router advertisement not sent", "err", err)
		return
	}
	a.log.Info("sent final router advertisement")
}
