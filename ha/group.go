package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vrouter/vrouter/config"
)

// linkPoll is how often a Group re-reads its links besides the change
// notifications, as a safety net.
const linkPoll = time.Second

// reopenDelay is how long a Group waits before opening a port again after
// the port failed.
const reopenDelay = time.Second

// Group is the VRRPv3 virtual router of one vrouter: one instance per HA
// interface, all in the same state (see the package doc for the rule).
// Create it with New, run it with Run; Status and State may be called at
// any time from any goroutine.
type Group struct {
	p       params
	addrs   [][]netip.Prefix // virtual addresses per instance
	sys     System
	log     *slog.Logger
	metrics *Metrics
	notify  func(Transition)
	rng     *rand.Rand
	started atomic.Bool

	mu    sync.Mutex // guards m for Status
	m     *machine
	stats []instStats
	trans [numStates][numStates]atomic.Uint64

	// owned by Run
	ports []*port
}

// port is an open Port of one instance.
type port struct {
	Port
	spec PortSpec
	done chan struct{} // closed when the port is closed
	// what the last adverts said, to log each difference once
	addrNote, intervalNote string
	ownerNoted             bool
}

// Option configures a Group.
type Option func(*Group)

// WithSystem replaces the operating system (default: NewLinuxSystem).
func WithSystem(s System) Option { return func(g *Group) { g.sys = s } }

// WithMetrics counts into m (see NewMetrics).
func WithMetrics(m *Metrics) Option { return func(g *Group) { g.metrics = m } }

// WithRand sets the randomness of the tie-break hold (default: seeded
// from the runtime's random source).
func WithRand(r *rand.Rand) Option { return func(g *Group) { g.rng = r } }

// OnTransition calls f after every state change: on becoming Active once
// the virtual links are up with their addresses and the first adverts and
// NAs are out, on leaving Active before the virtual links go down. f runs
// on the Group's goroutine and must return quickly (hand the work off);
// it may call Status.
func OnTransition(f func(Transition)) Option { return func(g *Group) { g.notify = f } }

// New validates cfg and returns its Group.
func New(cfg *config.HA, log *slog.Logger, opts ...Option) (*Group, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	g := &Group{
		p: params{
			vrid:     cfg.VRID,
			priority: cfg.Priority,
			interval: cfg.AdvertInterval,
			preempt:  cfg.Preempt,
		},
		log: log.With("vrid", cfg.VRID),
	}
	for _, in := range cfg.Interfaces {
		g.p.names = append(g.p.names, in.Name)
		g.addrs = append(g.addrs, slices.Clone(in.VirtualAddresses))
	}
	for _, o := range opts {
		o(g)
	}
	if g.sys == nil {
		g.sys = NewLinuxSystem(g.log)
	}
	if g.rng == nil {
		g.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	g.m = newMachine(g.p, g.rng)
	g.stats = make([]instStats, len(cfg.Interfaces))
	g.ports = make([]*port, len(cfg.Interfaces))
	return g, nil
}

// Validate checks cfg as this package needs it (RFC 9568 §5.2, §6.1): it
// is Problems joined, each message after its field path.
func Validate(cfg *config.HA) error {
	var errs []error
	for _, p := range Problems(cfg) {
		if p.Path == "" {
			errs = append(errs, errors.New(p.Msg))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", p.Path, p.Msg))
	}
	return errors.Join(errs...)
}

// Problems returns what Validate reports, each with the path of the field
// at fault relative to the ha section, for the daemon's one validation
// path (config.Under, Config.Errors). A nil cfg is one problem at "".
func Problems(cfg *config.HA) []config.Problem {
	if cfg == nil {
		return []config.Problem{{Msg: "ha: no configuration"}}
	}
	var ps []config.Problem
	if cfg.VRID == 0 {
		ps = append(ps, config.Problemf("vrid", "0 is not a virtual router id (1..255)"))
	}
	if cfg.Priority == 0 {
		ps = append(ps, config.Problemf("priority", "0 is reserved for a stopping router (1..255)"))
	}
	if d := cfg.AdvertInterval; d < Centisecond || d > MaxInterval || d%Centisecond != 0 {
		ps = append(ps, config.Problemf("advert_interval", "%v is not a multiple of 10ms within 10ms..40.95s", d))
	}
	if len(cfg.Interfaces) == 0 {
		ps = append(ps, config.Problemf("interfaces", "none"))
	}
	seen := map[string]bool{}
	for _, in := range cfg.Interfaces {
		at := "interfaces." + in.Name
		switch {
		case in.Name == "":
			ps = append(ps, config.Problemf("interfaces", "empty interface name"))
		case seen[in.Name]:
			ps = append(ps, config.Problemf(at, "named twice"))
		}
		seen[in.Name] = true
		if len(in.VirtualAddresses) == 0 || len(in.VirtualAddresses) > 255 {
			ps = append(ps, config.Problemf(at+".virtual_addresses", "%d addresses (1..255)", len(in.VirtualAddresses)))
			continue
		}
		for i, a := range in.VirtualAddresses {
			ip := a.Addr()
			path := fmt.Sprintf("%s.virtual_addresses[%d]", at, i)
			switch {
			case !a.IsValid() || !ip.Is6() || ip.Is4In6() || ip.Zone() != "":
				ps = append(ps, config.Problemf(path, "%v is not an IPv6 prefix without zone", a))
			case i == 0 && !ip.IsLinkLocalUnicast():
				ps = append(ps, config.Problemf(path, "%v is not link-local (RFC 9568 §5.2.9)", ip))
			case !ip.IsLinkLocalUnicast() && !ip.IsGlobalUnicast():
				ps = append(ps, config.Problemf(path, "%v is not a unicast address", ip))
			}
		}
	}
	return ps
}

// State is the Group's current state.
func (g *Group) State() State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m.state
}

// Run runs the virtual router until ctx is done, then sends priority 0 if
// it was Active, removes the virtual links and returns nil. After a
// priority 0 it keeps each virtual link up with its addresses, sending
// nothing more, until the peer advertises as Active on its link, or for
// at most the peer's longest Active_Down_Interval capped at one second,
// so that what hosts send to the virtual MAC during the peer's Skew_Time
// is still forwarded. Run may be called once.
func (g *Group) Run(ctx context.Context) error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("ha: Run called twice")
	}
	changes, err := g.sys.Changes(ctx)
	if err != nil {
		return fmt.Errorf("ha: watch links: %w", err)
	}
	events := make(chan event, 16)
	var readers sync.WaitGroup
	defer func() {
		for i := range g.ports {
			g.closePort(i)
		}
		readers.Wait()
	}()

	g.syncLinks(events, &readers)
	g.run(func(now time.Time) []step { return g.m.start(now) })

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	poll := time.NewTicker(linkPoll)
	defer poll.Stop()
	for {
		g.mu.Lock()
		next := g.m.next()
		g.mu.Unlock()
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			g.run(g.m.stop)
			g.drain(events)
			return nil
		case _, ok := <-changes:
			if !ok {
				changes = nil
			}
			g.syncLinks(events, &readers)
		case <-poll.C:
			g.syncLinks(events, &readers)
		case ev := <-events:
			g.handle(ev)
		case <-timer.C:
			g.run(g.m.tick)
		}
	}
}

// drain runs after a clean stop from Active while the virtual links stay
// up (machine.stop): it feeds the state machine the advertisements heard
// and its timeout, and nothing else (no link changes, no new ports),
// until no virtual link is left up.
func (g *Group) drain(events <-chan event) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		g.mu.Lock()
		draining, next := g.m.draining(), g.m.next()
		g.mu.Unlock()
		if !draining {
			return
		}
		timer.Reset(time.Until(next))
		select {
		case ev := <-events:
			g.handle(ev)
		case <-timer.C:
			g.run(g.m.tick)
		}
	}
}

// run feeds the state machine at the current time and carries out what it
// asks for.
func (g *Group) run(f func(now time.Time) []step) {
	g.mu.Lock()
	steps := f(time.Now())
	g.mu.Unlock()
	g.exec(steps)
}

// event is a valid advertisement read on an instance, or a read error.
type event struct {
	inst int
	p    *port
	adv  Advert
	src  netip.Addr
	err  error
}

// syncLinks re-reads every HA link, opens and closes ports, and tells the
// state machine which links are usable.
//
// Each link's state is timed when it has been read, not when syncLinks
// began: reading, opening and refreshing the links before it can take
// milliseconds (more on a loaded machine), and a transition stamped with
// the earlier time would claim to precede the change that caused it.
func (g *Group) syncLinks(events chan<- event, readers *sync.WaitGroup) {
	for i, name := range g.p.names {
		l, err := g.sys.Link(name)
		now := time.Now()
		p := g.ports[i]
		if p != nil && (err != nil || l.Index != p.spec.Index) {
			// Gone or recreated: its virtual link went with it, so
			// the instance is down until a new port is open.
			g.closePort(i)
			p = nil
			g.mu.Lock()
			g.stats[i].setLink(false, netip.Addr{}, nil)
			steps := g.m.setLink(i, false, netip.Addr{}, now)
			g.mu.Unlock()
			g.exec(steps)
		}
		if p == nil && err == nil && !now.Before(g.stats[i].retryAt()) {
			p, err = g.openPort(i, l.Index)
			if err == nil {
				readers.Add(1)
				go g.read(i, p, events, readers)
			}
		}
		g.stats[i].linkErr(g.log, name, err)
		if p != nil && err == nil {
			if r, ok := p.Port.(Refresher); ok {
				g.stats[i].refreshed(g.log, name, r.Refresh())
			}
		}
		up := err == nil && p != nil && l.Usable()
		g.mu.Lock()
		g.stats[i].setLink(up, l.LinkLocal, p)
		steps := g.m.setLink(i, up, l.LinkLocal, time.Now())
		g.mu.Unlock()
		g.exec(steps)
	}
}

func (g *Group) openPort(i, index int) (*port, error) {
	spec := PortSpec{
		Interface:   g.p.names[i],
		Index:       index,
		VRID:        g.p.vrid,
		VirtualLink: VirtualLinkName(g.p.vrid, index),
		VirtualMAC:  VirtualMAC(g.p.vrid),
		Addresses:   g.addrs[i],
		Interval:    g.p.interval,
	}
	pp, err := g.sys.Open(spec)
	if err != nil {
		g.stats[i].failed(time.Now().Add(reopenDelay))
		return nil, fmt.Errorf("open VRRP port: %w", err)
	}
	p := &port{Port: pp, spec: spec, done: make(chan struct{})}
	g.ports[i] = p
	return p, nil
}

func (g *Group) closePort(i int) {
	p := g.ports[i]
	if p == nil {
		return
	}
	g.ports[i] = nil
	close(p.done)
	if err := p.Close(); err != nil {
		g.log.Warn("close VRRP port", "iface", p.spec.Interface, "err", err)
	}
}

// read validates the packets of one port and hands the valid
// advertisements to Run.
func (g *Group) read(i int, p *port, events chan<- event, readers *sync.WaitGroup) {
	defer readers.Done()
	st := &g.stats[i]
	buf := make([]byte, 1500)
	for {
		pkt, err := p.ReadPacket(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				select {
				case events <- event{inst: i, p: p, err: err}:
				case <-p.done:
				}
			}
			return
		}
		a, reason, ok := receive(pkt, g.p.vrid)
		if !ok {
			st.dropped[reason].Add(1)
			if g.metrics != nil {
				g.metrics.dropped.WithLabelValues(g.p.names[i], reason.String()).Inc()
			}
			continue
		}
		st.received.Add(1)
		if g.metrics != nil {
			g.metrics.received.WithLabelValues(g.p.names[i]).Inc()
		}
		select {
		case events <- event{inst: i, p: p, adv: a, src: pkt.Src.WithZone("")}:
		case <-p.done:
			return
		}
	}
}

// handle processes an event of Run.
func (g *Group) handle(ev event) {
	if g.ports[ev.inst] != ev.p {
		return // from a port closed since
	}
	if ev.err != nil {
		g.log.Warn("VRRP socket failed; reopening", "iface", g.p.names[ev.inst], "err", ev.err)
		g.fail(ev.inst)
		return
	}
	g.note(ev.p, ev.adv, ev.src)
	g.mu.Lock()
	steps := g.m.advert(ev.inst, ev.adv, ev.src, time.Now())
	g.mu.Unlock()
	g.exec(steps)
}

// fail closes the port of instance i after an error, so it is reopened
// (and its virtual link recreated) after reopenDelay.
func (g *Group) fail(i int) {
	g.closePort(i)
	g.stats[i].failed(time.Now().Add(reopenDelay))
	g.mu.Lock()
	g.stats[i].setLink(false, netip.Addr{}, nil)
	steps := g.m.setLink(i, false, netip.Addr{}, time.Now())
	g.mu.Unlock()
	g.exec(steps)
}

// note logs, once per change, an advertisement whose addresses or interval
// differ from ours (RFC 9568 §7.1: processed all the same).
func (g *Group) note(p *port, a Advert, src netip.Addr) {
	if a.Priority == 0 {
		return
	}
	theirs := slices.Clone(a.Addresses)
	slices.SortFunc(theirs, netip.Addr.Compare)
	theirs = slices.Compact(theirs)
	ours := make([]netip.Addr, 0, len(p.spec.Addresses))
	for _, pf := range p.spec.Addresses {
		ours = append(ours, pf.Addr())
	}
	slices.SortFunc(ours, netip.Addr.Compare)
	ours = slices.Compact(ours)
	note := ""
	if !slices.Equal(ours, theirs) {
		note = fmt.Sprint(a.Addresses)
	}
	if note != p.addrNote {
		p.addrNote = note
		if note != "" {
			g.log.Warn("advertisement with other virtual addresses (misconfiguration?)",
				"iface", p.spec.Interface, "from", src, "theirs", a.Addresses, "ours", ours)
		}
	}
	note = ""
	if a.IntervalDuration() != g.p.interval {
		note = a.IntervalDuration().String()
	}
	if note != p.intervalNote {
		p.intervalNote = note
		if note != "" {
			g.log.Warn("advertisement with another interval; adopting it while Backup",
				"iface", p.spec.Interface, "from", src, "theirs", a.IntervalDuration(), "ours", g.p.interval)
		}
	}
	if g.p.priority == 255 && !p.ownerNoted {
		// RFC 9568 §7.1 (erratum 8298): logged, then processed.
		p.ownerNoted = true
		g.log.Warn("advertisement for addresses we own (priority 255): another owner?", "iface", p.spec.Interface, "from", src, "priority", a.Priority)
	}
}

// exec carries out the steps of the state machine in order.
func (g *Group) exec(steps []step) {
	var failed []int
	for _, s := range steps {
		switch s.kind {
		case stepActivate:
			for i, p := range g.ports {
				if p == nil {
					continue
				}
				if err := p.Activate(); err != nil {
					g.log.Error("activate virtual link", "iface", g.p.names[i], "link", p.spec.VirtualLink, "err", err)
					failed = append(failed, i)
				}
			}
		case stepDeactivate:
			for i, p := range g.ports {
				if p == nil {
					continue
				}
				if err := p.Deactivate(); err != nil {
					g.log.Error("deactivate virtual link", "iface", g.p.names[i], "link", p.spec.VirtualLink, "err", err)
				}
			}
		case stepRelease:
			if p := g.ports[s.inst]; p != nil {
				if err := p.Deactivate(); err != nil {
					g.log.Error("deactivate virtual link", "iface", g.p.names[s.inst], "link", p.spec.VirtualLink, "err", err)
				}
			}
		case stepAdvert:
			g.sendAdvert(s.inst, s.prio)
		case stepNA:
			g.sendNAs(s.inst)
		case stepTransition:
			g.transitioned(s.tr)
		}
	}
	for _, i := range failed {
		g.fail(i)
	}
}

func (g *Group) sendAdvert(i int, prio uint8) {
	p := g.ports[i]
	if p == nil {
		return
	}
	g.mu.Lock()
	src := g.m.inst[i].primary
	g.mu.Unlock()
	a := Advert{VRID: g.p.vrid, Priority: prio, Interval: uint16(g.p.interval / Centisecond)}
	for _, pf := range p.spec.Addresses {
		a.Addresses = append(a.Addresses, pf.Addr())
	}
	b, err := a.Append(nil, src, AllRouters)
	if err == nil {
		err = p.SendAdvert(b, src)
	}
	g.stats[i].sent(g.log, g.metrics, g.p.names[i], prio, err)
}

func (g *Group) sendNAs(i int) {
	p := g.ports[i]
	if p == nil {
		return
	}
	for _, pf := range p.spec.Addresses {
		b, err := neighborAdvert(pf.Addr(), p.spec.VirtualMAC)
		if err == nil {
			err = p.SendNA(b)
		}
		g.stats[i].naSent(g.log, g.p.names[i], pf.Addr(), err)
	}
}

func (g *Group) transitioned(tr Transition) {
	g.trans[stateIndex(tr.From)][stateIndex(tr.To)].Add(1)
	if g.metrics != nil {
		g.metrics.transitions.WithLabelValues(string(tr.From), string(tr.To)).Inc()
		for _, s := range []State{StateInitialize, StateBackup, StateActive} {
			v := 0.0
			if s == tr.To {
				v = 1
			}
			g.metrics.state.WithLabelValues(string(s)).Set(v)
		}
	}
	level := slog.LevelInfo
	if tr.To != StateActive && tr.From == StateActive {
		level = slog.LevelWarn
	}
	g.log.Log(context.Background(), level, "VRRP state change", "from", tr.From, "to", tr.To, "reason", tr.Reason)
	if g.notify != nil {
		g.notify(tr)
	}
}
