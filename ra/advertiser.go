package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vrouter/vrouter/config"
)

// Defaults of the Options.
const (
	defaultLinkPoll = time.Second
	minBackoff      = 100 * time.Millisecond
	maxBackoff      = time.Second
	// finalTimeout bounds sending each final RA after the context is done.
	finalTimeout = time.Second
	// stateMaxAge is how old a LinkState may be when an RA is built from it.
	stateMaxAge = time.Second
	// maxFinal is MAX_FINAL_RTR_ADVERTISEMENTS (RFC 4861 §10).
	maxFinal = 3
	// minReadBuf and maxReadBuf bound the read buffer, sized to the link
	// MTU: a longer message cannot arrive whole anyway.
	minReadBuf = 1280
	maxReadBuf = 1 << 16
	// otherRARate bounds how many RAs of other routers per second are
	// parsed for the consistency checks; the rest are ignored.
	otherRARate = 10
	// maxLoggedInconsistencies bounds the memory of which inconsistencies
	// were logged already; beyond it they are only counted.
	maxLoggedInconsistencies = 256
)

// An Advertiser sends Router Advertisements on one interface. Create it with
// NewAdvertiser and call Run once.
type Advertiser struct {
	iface    string
	log      *slog.Logger
	sys      System
	rng      *rand.Rand
	linkPoll time.Duration
	state    stateFile
	finals   int

	mu  sync.Mutex
	cfg config.Advertise

	updateC chan struct{} // Update happened
	notifyC chan struct{} // Notify happened

	readyOnce sync.Once
	readyC    chan struct{}

	// skipFinal: Run returns without final RAs (SkipFinal).
	skipFinal atomic.Bool

	stats stats

	// Owned by Run.
	tracker   *tracker
	saveErr   string          // the last state-file error logged
	fwdLogged int8            // 0: nothing logged, 1: logged "on", -1: logged "off"
	logged    map[string]bool // inconsistencies logged already
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
// Notify triggers an immediate check. d < 0 turns polling off: the caller
// then calls Notify on every change of the link, its addresses and its
// forwarding setting, as the daemon does from its netlink watcher.
func WithLinkPoll(d time.Duration) Option {
	return func(a *Advertiser) {
		switch {
		case d > 0:
			a.linkPoll = d
		case d < 0:
			a.linkPoll = noPoll
		}
	}
}

// noPoll stands for "never" as a poll period.
const noPoll = 100 * 365 * 24 * time.Hour

// WithStateDir sets the directory of the state file ra-IFACE.json, which
// keeps RFC 9096 withdrawals and decrementing lifetimes across restarts.
// The daemon passes DefaultStateDir; without this option (or with "") no
// state file is kept, so tests and several daemons in network namespaces of
// one machine do not share one.
func WithStateDir(dir string) Option {
	return func(a *Advertiser) {
		a.state = ""
		if dir != "" {
			a.state = stateFile(filepath.Join(dir, "ra-"+a.iface+".json"))
		}
	}
}

// WithStateFile sets the state file's path itself, for an advertiser
// whose link is not the name its state is kept under: the daemon keeps
// the state of a config interface in one file whether it is advertised on
// the interface or on an HA virtual link, so RFC 9096 withdrawals carry
// over between the two. "" keeps no state file.
func WithStateFile(path string) Option {
	return func(a *Advertiser) { a.state = stateFile(path) }
}

// WithMetrics makes m export the Advertiser's status (see NewMetrics).
func WithMetrics(m *Metrics) Option {
	return func(a *Advertiser) { m.add(a) }
}

// WithFinalAdvertisements sets how many final RAs (router lifetime 0) go out
// when Run's context is done: 1 (the default) to 3 (RFC 4861 §6.2.5
// MAX_FINAL_RTR_ADVERTISEMENTS). More than one are spaced by
// MIN_DELAY_BETWEEN_RAS (3s), which lengthens the shutdown accordingly.
func WithFinalAdvertisements(n int) Option {
	return func(a *Advertiser) { a.finals = min(max(n, 1), maxFinal) }
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
		finals:   1,
		cfg:      cfg,
		updateC:  make(chan struct{}, 1),
		notifyC:  make(chan struct{}, 1),
		readyC:   make(chan struct{}),
		logged:   make(map[string]bool),
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
	a.stats.setState(StateWaiting)
	return a
}

// Ready returns a channel that is closed once the first RA went out.
func (a *Advertiser) Ready() <-chan struct{} { return a.readyC }

// Update replaces the advertised configuration (hot reload). No final RA is
// sent; when what is advertised changes, the Advertiser re-enters the
// initial phase of fast RAs so hosts learn the change quickly, and what was
// removed is withdrawn (RFC 9096). An invalid cfg (see Validate) is logged
// and ignored.
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

// SkipFinal makes Run, once its context is done, return without sending
// the final RAs (router lifetime 0) and without withdrawing anything: for
// an interface whose advertising passes to another router that keeps
// advertising the same (HA Backup: the Active router's RAs continue from
// the same virtual link-local address, and a final RA would make hosts drop
// it as their default router). Call it before canceling Run's context.
func (a *Advertiser) SkipFinal() { a.skipFinal.Store(true) }

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

// Run advertises until ctx is done, then sends the final RA(s) with router
// lifetime 0 and returns nil. While the interface is not ready it waits; a
// socket error or link change makes it wait again and restart the initial
// phase. It returns an error only when advertising cannot work: an invalid
// config or no permission to open the socket.
func (a *Advertiser) Run(ctx context.Context) error {
	defer a.stats.setState(StateStopped)
	if err := Validate(a.config()); err != nil {
		return fmt.Errorf("ra: %s: invalid config: %w", a.iface, err)
	}
	t, err := a.state.load()
	if err != nil {
		a.log.Warn("ignoring state file: withdrawals from before the restart are lost", "err", err)
	}
	a.tracker = t
	cfg := a.config()
	s := newScheduler(a.rng, cfg.MinInterval, cfg.MaxInterval)
	for {
		a.stats.setState(StateWaiting)
		conn, st, err := a.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ra: %s: %w", a.iface, err)
		}
		a.stats.setLink(st.LinkLocal)
		a.stats.setState(StateAdvertising)
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
		a.stats.errors.Add(1)
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

// event is what the reader passes to the advertising loop.
type event struct {
	rs  netip.Addr               // a valid RS from rs (when ra is nil)
	ra  *ndp.RouterAdvertisement // an RA of another router
	src netip.Addr
}

// read reads the socket until it fails, validating and counting what
// arrives, and passes valid RSs and other routers' RAs on.
func (a *Advertiser) read(conn Conn, st LinkState, out chan<- event, errC chan<- error, done <-chan struct{}) {
	self := st.LinkLocal
	buf := make([]byte, min(max(st.MTU, minReadBuf), maxReadBuf))
	var raTokens float64 = otherRARate
	var raAt time.Time
	for {
		n, cm, src, err := conn.ReadRaw(buf)
		if err != nil {
			errC <- err
			return
		}
		var ev event
		switch kind, from, reason := classify(buf[:n], cm, src, self); kind {
		case inRS:
			a.countRS(true, 0)
			ev = event{rs: from}
		case inBadRS:
			a.countRS(false, reason)
			continue
		case inOtherRA:
			now := time.Now()
			if !raAt.IsZero() {
				raTokens = min(raTokens+now.Sub(raAt).Seconds()*otherRARate, otherRARate)
			}
			raAt = now
			if raTokens < 1 {
				continue
			}
			raTokens--
			m, err := ndp.ParseMessage(buf[:n])
			ra, ok := m.(*ndp.RouterAdvertisement)
			if err != nil || !ok {
				continue
			}
			ev = event{ra: ra, src: from}
		default:
			continue
		}
		select {
		case out <- ev:
		case <-done:
			return
		}
	}
}

// session is the state of one socket's advertising.
type session struct {
	a       *Advertiser
	conn    Conn
	st      LinkState
	stateAt time.Time
	fwd     bool
	s       *scheduler
	fp      string // what is advertised, to notice changes
}

// serve advertises on an open socket. It returns nil after the final RA when
// ctx is done, a fatalError for config problems, and any other error when the
// socket failed or the link changed.
func (a *Advertiser) serve(ctx context.Context, conn Conn, st LinkState, s *scheduler) error {
	if ctx.Err() != nil {
		return nil
	}
	evC := make(chan event)
	readErrC := make(chan error, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { a.read(conn, st, evC, readErrC, done) })
	defer func() {
		close(done)
		// Wake a blocked ReadRaw; Run closes the socket afterwards.
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
	ss := &session{a: a, conn: conn, st: st, stateAt: now, s: s}
	ss.fwd = a.forwarding()
	ss.fp = ss.fingerprint(cfg, now)
	s.restart(now)
	nextPoll := now.Add(a.linkPoll)
	advertised := false

	// refresh re-reads the link state; a change that needs a new socket is
	// an error, a change of what is advertised restarts the initial phase.
	refresh := func(now time.Time) error {
		cur, err := a.sys.LinkState(a.iface)
		if err != nil {
			return fmt.Errorf("read link state: %w", err)
		}
		switch {
		case !cur.Ready():
			return fmt.Errorf("link is down or lost its link-local address: %w", ErrLinkNotReady)
		case cur.Index != ss.st.Index:
			return fmt.Errorf("interface index changed from %d to %d", ss.st.Index, cur.Index)
		case cur.LinkLocal != ss.st.LinkLocal:
			return fmt.Errorf("link-local address changed from %s to %s", ss.st.LinkLocal, cur.LinkLocal)
		}
		ss.st, ss.stateAt = cur, now
		ss.fwd = a.forwarding()
		ss.changed(now, "link state changed")
		nextPoll = now.Add(a.linkPoll)
		return nil
	}
	send := func(now time.Time, dst netip.Addr, kind Kind) error {
		if now.Sub(ss.stateAt) >= stateMaxAge {
			if err := refresh(now); err != nil {
				return err
			}
		}
		if err := ss.send(now, dst, kind); err != nil {
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
			kind := KindUnsolicited
			if s.multicastSolicited() {
				kind = KindSolicitedMulticast
			}
			if err := send(now, netip.IPv6LinkLocalAllNodes(), kind); err != nil {
				return err
			}
			// The RA left no earlier than the write returned: counting
			// MIN_DELAY_BETWEEN_RAS from then keeps multicast RAs 3s
			// apart on the wire even when building or sending was slow.
			s.multicastSent(time.Now())
			advertised = true
		}
		unicast = s.dueUnicast(now, unicast[:0])
		for _, dst := range unicast {
			if err := send(now, dst, KindSolicitedUnicast); err != nil {
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
			if advertised && !a.skipFinal.Load() {
				ss.sendFinal()
			}
			return nil
		case ev := <-evC:
			if ev.ra != nil {
				ss.check(ev.src, ev.ra)
				continue
			}
			if s.solicited(time.Now(), ev.rs) == replyLimited {
				a.countDrop(DropRateLimited)
			}
		case err := <-readErrC:
			return fmt.Errorf("read from ndp socket: %w", err)
		case <-a.updateC:
			cfg := a.config()
			s.setIntervals(cfg.MinInterval, cfg.MaxInterval)
			ss.changed(time.Now(), "config updated")
		case <-a.notifyC:
			nextPoll = time.Now()
		case <-timer.C:
		}
	}
}

// forwarding reads whether the interface forwards; on an error it assumes
// it does (the common case for a router) and logs once.
func (a *Advertiser) forwarding() bool {
	on, err := a.sys.Forwarding(a.iface)
	if err != nil {
		if a.fwdLogged != 2 {
			a.log.Warn("cannot read forwarding state, assuming on", "err", err)
			a.fwdLogged = 2
		}
		on = true
	} else if !on && a.fwdLogged != -1 {
		a.log.Warn("ipv6 forwarding is off on the interface: advertising router lifetime 0 (RFC 4861 §6.2.5)")
		a.fwdLogged = -1
	} else if on && a.fwdLogged == -1 {
		a.log.Info("ipv6 forwarding is on again")
		a.fwdLogged = 1
	}
	a.stats.forwarding.Store(on)
	return on
}

// advert returns what an RA built now from cfg advertises.
func (ss *session) advert(cfg config.Advertise, now time.Time) *advert {
	return &advert{cfg: cfg, st: ss.st, noForwarding: !ss.fwd, now: now, expires: ss.a.tracker.Expires}
}

// fingerprint identifies what is advertised at now to hosts, apart from
// lifetimes that decrement or that a lease renewal moves, and from
// withdrawals: a prefix whose deadline passed (deprecated: preferred
// lifetime 0) changes it, a lifetime counting down does not.
func (ss *session) fingerprint(cfg config.Advertise, now time.Time) string {
	ad := ss.advert(cfg, now)
	ad.expires = nil
	ad.coarse = true
	m, err := ad.build()
	if err != nil {
		return "invalid: " + err.Error()
	}
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		return "invalid: " + err.Error()
	}
	return string(b)
}

// changed restarts the initial phase of fast RAs when what is advertised
// changed (RFC 4861 §6.2.4 allows it for "new information").
func (ss *session) changed(now time.Time, why string) {
	fp := ss.fingerprint(ss.a.config(), now)
	if fp == ss.fp {
		return
	}
	ss.fp = fp
	ss.s.restart(now)
	ss.a.log.Info(why + ": advertising the change with fast router advertisements")
}

// send sends the RA built from the current config to dst, split to the
// link MTU when needed, and records what it advertised.
func (ss *session) send(now time.Time, dst netip.Addr, kind Kind) error {
	a := ss.a
	cfg := a.config()
	dirty := a.tracker.deadlines(now, cfg, ss.st)
	m, err := ss.advert(cfg, now).build()
	if err != nil {
		return fatalError{fmt.Errorf("build router advertisement: %w", err)}
	}
	dirty = a.tracker.observe(now, items(m)) || dirty
	ws, expired := a.tracker.active(now)
	if dirty || expired {
		a.saveState()
	}
	m.Options = appendWithdrawn(m.Options, ws)
	a.stats.withdrawing.Store(int64(len(ws)))
	return ss.write(m, dst, kind, now)
}

func (ss *session) write(m *ndp.RouterAdvertisement, dst netip.Addr, kind Kind, now time.Time) error {
	parts, err := split(m, ss.st.MTU)
	if err != nil {
		return fatalError{fmt.Errorf("build router advertisement: %w", err)}
	}
	for _, p := range parts {
		if err := ss.conn.WriteTo(p, nil, dst); err != nil {
			return fmt.Errorf("send router advertisement to %s: %w", dst, err)
		}
	}
	ss.a.countSent(kind, now)
	return nil
}

// saveState writes the state file, logging a failure once per distinct
// error.
func (a *Advertiser) saveState() {
	if err := a.state.save(a.tracker); err != nil {
		if msg := err.Error(); msg != a.saveErr {
			a.log.Warn("cannot save ra state: withdrawals will not survive a restart", "err", err)
			a.saveErr = msg
		}
		return
	}
	a.saveErr = ""
}

// sendFinal sends the RFC 4861 §6.2.5 final RA(s): router lifetime 0 with
// preference medium, and zero lifetimes for routes, DNS options and PREF64.
// Like every multicast RA they keep MIN_DELAY_BETWEEN_RAS from the previous
// one, so the first may wait up to 3s. It runs after ctx is done, so each
// has its own short deadline.
func (ss *session) sendFinal() {
	a := ss.a
	for range a.finals {
		if d := time.Until(ss.s.notBefore(time.Now())); d > 0 {
			time.Sleep(d)
		}
		now := time.Now()
		if err := ss.conn.SetWriteDeadline(now.Add(finalTimeout)); err != nil {
			a.log.Warn("setting write deadline for final router advertisement", "err", err)
		}
		ad := ss.advert(a.config(), now)
		ad.final = true
		ws, _ := a.tracker.active(now)
		ad.withdrawn = ws
		m, err := ad.build()
		if err == nil {
			err = ss.write(m, netip.IPv6LinkLocalAllNodes(), KindFinal, now)
		}
		if err != nil {
			a.log.Error("final router advertisement not sent", "err", err)
			return
		}
		ss.s.last = time.Now()
	}
	a.log.Info("sent final router advertisement", "count", a.finals)
}

// check compares the RA of another router with ours (RFC 4861 §6.2.7),
// logging each inconsistent field of each router once and counting all.
func (ss *session) check(src netip.Addr, theirs *ndp.RouterAdvertisement) {
	a := ss.a
	cfg := a.config()
	ours, err := ss.advert(cfg, time.Now()).build()
	if err != nil {
		return
	}
	decrementing := func(p netip.Prefix) bool {
		if _, ok := a.tracker.Expires[p]; ok {
			return true
		}
		for _, c := range cfg.Prefixes {
			if c.Prefix.Masked() == p && (!c.ValidUntil.IsZero() || !c.PreferredUntil.IsZero()) {
				return true
			}
		}
		return false
	}
	for _, inc := range compareRAs(ours, theirs, decrementing) {
		a.stats.inconsistent[inc.field].Add(1)
		key := src.String() + " " + inc.field.String() + " " + inc.key
		if a.logged[key] || len(a.logged) >= maxLoggedInconsistencies {
			continue
		}
		a.logged[key] = true
		args := []any{"router", src, "field", inc.field.String(), "ours", inc.ours, "theirs", inc.theirs}
		if inc.key != "" {
			args = append(args, "prefix", inc.key)
		}
		a.log.Warn("another router advertises an inconsistent value (RFC 4861 §6.2.7)", args...)
	}
}
