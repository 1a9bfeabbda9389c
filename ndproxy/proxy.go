package ndproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/ifname"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
)

// Limits bound the work and memory the proxy spends on targets it does not
// know yet (auto mode) and the pace of its own messages.
type Limits struct {
	// SourceRate and SourceBurst limit downstream probes triggered by one
	// soliciting address (per second, bucket size).
	SourceRate, SourceBurst float64
	// ProbeRate and ProbeBurst limit downstream probes in total.
	ProbeRate, ProbeBurst float64
	// MaxSources bounds the sources tracked by the per-source limiter.
	MaxSources int
	// MaxPending bounds targets being probed at once.
	MaxPending int
	// MaxNegative bounds cached "not there" answers.
	MaxNegative int
	// MaxTargets bounds learned targets per rule.
	MaxTargets int
	// MaxGroups is the most solicited-node groups joined per rule; a prefix
	// needing more turns ALLMULTI on instead.
	MaxGroups int
	// ProbeTimeout is how long a probed target has to answer downstream.
	ProbeTimeout time.Duration
	// NegativeTTL is how long a target that did not answer is not probed
	// again; at most 3 s.
	NegativeTTL time.Duration
	// Reachable is how long a target learned from our own probes is
	// answered for before we probe it again (ProbeInterval apart,
	// Unsolicited times) and then forget it.
	Reachable     time.Duration
	ProbeInterval time.Duration
	// Unsolicited is how many unsolicited NAs announce a learned target,
	// UnsolicitedInterval apart (RFC 4861 §7.2.6: at most 3).
	Unsolicited         int
	UnsolicitedInterval time.Duration
	// DADWait is how long after a downstream DAD probe the new address is
	// probed, so it is announced upstream without waiting for traffic.
	DADWait time.Duration
	// Tick is the period of housekeeping and of polling links and
	// neighbours (events from System.Watch act at once).
	Tick time.Duration
}

// DefaultLimits returns the limits used unless WithLimits is given.
func DefaultLimits() Limits {
	return Limits{
		SourceRate: 50, SourceBurst: 100,
		ProbeRate: 200, ProbeBurst: 400,
		MaxSources:          1024,
		MaxPending:          256,
		MaxNegative:         4096,
		MaxTargets:          4096,
		MaxGroups:           256,
		ProbeTimeout:        500 * time.Millisecond,
		NegativeTTL:         time.Second,
		Reachable:           30 * time.Second,
		ProbeInterval:       time.Second,
		Unsolicited:         3,
		UnsolicitedInterval: time.Second,
		DADWait:             1100 * time.Millisecond,
		Tick:                100 * time.Millisecond,
	}
}

type options struct {
	sys              System
	lim              Limits
	answerFromTarget bool
	events           <-chan struct{}
}

// Option configures a Proxy.
type Option func(*options)

// WithSystem replaces the operating system (tests pass ndproxytest.System).
func WithSystem(s System) Option { return func(o *options) { o.sys = s } }

// WithEvents makes the proxy re-read its links whenever events receives a
// value (the daemon passes a subscription of its shared watcher to links,
// addresses and neighbours) instead of calling System.Watch.
func WithEvents(events <-chan struct{}) Option { return func(o *options) { o.events = events } }

// WithLimits replaces DefaultLimits.
func WithLimits(l Limits) Option { return func(o *options) { o.lim = l } }

// WithAnswerFromTarget makes every rule send its advertisements from the
// target address instead of the upstream link-local address (some providers
// require it). It stands in until config.NDProxy carries the setting.
func WithAnswerFromTarget(on bool) Option { return func(o *options) { o.answerFromTarget = on } }

// Proxy answers Neighbor Solicitations on upstream interfaces for addresses
// that live behind downstream interfaces.
type Proxy struct {
	log  *slog.Logger
	opts options
	kick chan []ruleConfig

	readyOnce sync.Once
	readyC    chan struct{}
	// keep: SkipCleanup was called; Run leaves its routes in place.
	keep atomic.Bool

	mu      sync.Mutex
	cfg     []ruleConfig
	runners map[string]*runner
	order   []string
	// inherited holds, by rule key, routes an earlier run left that the
	// rule takes over when it starts (see adopt).
	inherited map[string][]Route
}

// Ready returns a channel that is closed once Run has started the rules of
// its first config.
func (p *Proxy) Ready() <-chan struct{} { return p.readyC }

// New validates cfg and returns a Proxy; nothing touches the system until
// Run.
func New(cfg []config.NDProxy, log *slog.Logger, opts ...Option) (*Proxy, error) {
	o := options{lim: DefaultLimits()}
	for _, f := range opts {
		f(&o)
	}
	if o.sys == nil {
		o.sys = defaultSystem()
	}
	if o.lim.NegativeTTL > 3*time.Second {
		o.lim.NegativeTTL = 3 * time.Second
	}
	if o.lim.Unsolicited > 3 {
		o.lim.Unsolicited = 3
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{log: log, opts: o, kick: make(chan []ruleConfig, 1), runners: make(map[string]*runner), readyC: make(chan struct{})}
	rc, err := p.rules(cfg)
	if err != nil {
		return nil, err
	}
	p.cfg = rc
	return p, nil
}

// Validate returns the rules of cfg the proxy cannot run, with paths
// relative to the ndproxy section ("[1].prefix"), for the daemon's one
// validation path. New and Update refuse a config with problems.
func Validate(cfg []config.NDProxy) []config.Problem {
	var ps []config.Problem
	seen := make(map[string]bool)
	for i, c := range cfg {
		at := func(field string) string { return fmt.Sprintf("[%d]%s", i, field) }
		switch {
		case c.Upstream == "" || c.Downstream == "":
			ps = append(ps, config.Problemf(at(""), "upstream and downstream interfaces are required"))
			continue
		case !ifname.Valid(c.Upstream):
			ps = append(ps, config.Problemf(at(".upstream"), "%v", ifname.Check(c.Upstream)))
			continue
		case !ifname.Valid(c.Downstream):
			ps = append(ps, config.Problemf(at(".downstream"), "%v", ifname.Check(c.Downstream)))
			continue
		case c.Upstream == c.Downstream:
			ps = append(ps, config.Problemf(at(".downstream"), "upstream and downstream are both %q", c.Upstream))
			continue
		case !c.Prefix.IsValid() || !c.Prefix.Addr().Is6() || c.Prefix.Addr().Is4In6():
			ps = append(ps, config.Problemf(at(".prefix"), "prefix %v is not an IPv6 prefix", c.Prefix))
			continue
		case c.Mode != "" && c.Mode != config.NDProxyStatic && c.Mode != config.NDProxyAuto:
			ps = append(ps, config.Problemf(at(".mode"), "mode %q is not static or auto", c.Mode))
			continue
		}
		rc := ruleConfig{NDProxy: c}
		rc.Prefix = c.Prefix.Masked()
		if seen[rc.key()] {
			ps = append(ps, config.Problemf(at(""), "%s from %s to %s is listed twice", rc.Prefix, c.Upstream, c.Downstream))
		}
		seen[rc.key()] = true
	}
	return ps
}

func (p *Proxy) rules(cfg []config.NDProxy) ([]ruleConfig, error) {
	if ps := Validate(cfg); len(ps) > 0 {
		return nil, fmt.Errorf("ndproxy%s: %s", ps[0].Path, ps[0].Msg)
	}
	var out []ruleConfig
	for _, c := range cfg {
		rc := ruleConfig{NDProxy: c, answerFromTarget: p.opts.answerFromTarget || c.AnswerFromTarget}
		rc.Prefix = c.Prefix.Masked()
		if rc.Mode == "" {
			rc.Mode = config.NDProxyStatic
		}
		out = append(out, rc)
	}
	return out, nil
}

// Update replaces the configuration of a running proxy. Rules that did not
// change keep their state; an invalid config is logged and ignored.
func (p *Proxy) Update(cfg []config.NDProxy) {
	rc, err := p.rules(cfg)
	if err != nil {
		p.log.Error("ndproxy: ignoring invalid config", "err", err)
		return
	}
	p.mu.Lock()
	p.cfg = rc
	p.mu.Unlock()
	select {
	case <-p.kick:
	default:
	}
	p.kick <- rc
}

// SkipCleanup makes Run, once its context is done, leave the routes it
// installed in place instead of removing them, so that the proxy of the
// process started next (a restart) adopts them and no route flaps. Call it
// before the context is canceled.
func (p *Proxy) SkipCleanup() { p.keep.Store(true) }

// Run proxies until ctx is done, then removes the routes and memberships it
// installed (the routes stay after SkipCleanup) and returns nil. When it
// starts it adopts the routes an earlier run left behind (a restart, or a
// crash) that its rules want and removes the others. It returns an error
// only if it cannot start.
func (p *Proxy) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if p.opts.events != nil {
			for {
				select {
				case <-ctx.Done():
					return
				case <-p.opts.events:
					p.notify()
				}
			}
		}
		if err := p.opts.sys.Watch(ctx, p.notify); err != nil && ctx.Err() == nil {
			p.log.Warn("ndproxy: watching links failed; polling only", "err", err)
		}
	})
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	p.adopt(cfg)
	p.apply(ctx, cfg)
	p.readyOnce.Do(func() { close(p.readyC) })
	for {
		select {
		case <-ctx.Done():
			p.apply(ctx, nil)
			cancel()
			wg.Wait()
			return nil
		case cfg := <-p.kick:
			p.apply(ctx, cfg)
		}
	}
}

// adopt sorts the routes that an earlier run installed and left (it
// stopped for a restart, or crashed): each one a rule of cfg would install
// now (a static rule's prefix, an auto rule's /128 of a target, out of the
// rule's downstream link) is handed to that rule, which takes it over
// instead of installing it again; the others are removed.
func (p *Proxy) adopt(cfg []ruleConfig) {
	routes, err := p.opts.sys.OwnedRoutes()
	if err != nil {
		p.log.Warn("ndproxy: cannot list the routes an earlier run left; they stay", "err", err)
		return
	}
	if len(routes) == 0 {
		return
	}
	index := make(map[string]int) // downstream name -> ifindex (0: missing)
	inherited := make(map[string][]Route)
	removed := 0
	for _, rt := range routes {
		key := ""
		for _, c := range cfg {
			i, ok := index[c.Downstream]
			if !ok {
				if l, err := p.opts.sys.Link(c.Downstream); err == nil {
					i = l.Index
				}
				index[c.Downstream] = i
			}
			if i != rt.Ifindex {
				continue
			}
			if c.Mode == config.NDProxyAuto && rt.Dst.Bits() == 128 && c.Prefix.Contains(rt.Dst.Addr()) ||
				c.Mode != config.NDProxyAuto && rt.Dst == c.Prefix {
				key = c.key()
				break
			}
		}
		if key != "" {
			inherited[key] = append(inherited[key], rt)
			continue
		}
		if err := p.opts.sys.DelRoute(rt.Ifindex, rt.Dst); err != nil {
			p.log.Warn("ndproxy: removing a route an earlier run left failed", "route", rt.Dst, "ifindex", rt.Ifindex, "err", err)
			continue
		}
		removed++
	}
	p.log.Info("ndproxy: routes of an earlier run", "adopted", len(routes)-removed, "removed", removed)
	p.mu.Lock()
	p.inherited = inherited
	p.mu.Unlock()
}

func (p *Proxy) notify() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.runners {
		select {
		case r.events <- struct{}{}:
		default:
		}
	}
}

// apply stops runners for rules that went away or changed and starts the
// new ones.
func (p *Proxy) apply(ctx context.Context, cfg []ruleConfig) {
	want := make(map[string]ruleConfig, len(cfg))
	var order []string
	for _, c := range cfg {
		want[c.key()] = c
		order = append(order, c.key())
	}
	p.mu.Lock()
	var stop []*runner
	for k, r := range p.runners {
		if c, ok := want[k]; !ok || c != r.r.cfg {
			stop = append(stop, r)
			delete(p.runners, k)
		}
	}
	p.mu.Unlock()
	for _, r := range stop {
		r.cancel()
		<-r.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range order {
		if _, ok := p.runners[k]; ok {
			continue
		}
		rl := newRule(want[k], p.opts.lim, p.log, p.opts.sys)
		rl.inherited = p.inherited[k]
		delete(p.inherited, k)
		r := newRunner(ctx, rl, &p.keep)
		p.runners[k] = r
	}
	p.order = order
}

// Status is a snapshot of the proxy for `vrouter status` and metrics.
type Status struct {
	Rules []RuleStatus `json:"rules"`
}

// RuleStatus describes one proxied prefix.
type RuleStatus struct {
	Upstream   string             `json:"upstream"`
	Downstream string             `json:"downstream"`
	Prefix     netip.Prefix       `json:"prefix"`
	Mode       config.NDProxyMode `json:"mode"`
	// Active is true while both interfaces exist and the proxy listens.
	Active bool `json:"active"`
	// Targets are the learned targets (auto mode); in static mode every
	// address of Prefix is proxied and Targets is empty.
	Targets []netip.Addr `json:"targets"`
	// Pending is the number of targets being probed downstream.
	Pending int `json:"pending"`
	// Answered counts solicited NAs sent, Defended DAD defences, Probes NS
	// sent downstream, Unsolicited unsolicited NAs sent upstream.
	Answered    uint64 `json:"answered"`
	Defended    uint64 `json:"defended"`
	Probes      uint64 `json:"probes"`
	Unsolicited uint64 `json:"unsolicited"`
	// AnsweredUnicast counts the answers to unicast NS (neighbour
	// unreachability detection by upstream nodes), included in Answered.
	AnsweredUnicast uint64 `json:"answered_unicast"`
	// Dropped counts solicitations not answered, by reason (non-zero only).
	Dropped map[string]uint64 `json:"dropped"`
}

// Status returns a snapshot of every rule.
func (p *Proxy) Status() Status {
	p.mu.Lock()
	rs := make([]*rule, 0, len(p.order))
	for _, k := range p.order {
		if r, ok := p.runners[k]; ok {
			rs = append(rs, r.r)
		}
	}
	p.mu.Unlock()
	var s Status
	for _, r := range rs {
		s.Rules = append(s.Rules, r.status())
	}
	return s
}

func (r *rule) status() RuleStatus {
	st := RuleStatus{
		Upstream: r.cfg.Upstream, Downstream: r.cfg.Downstream, Prefix: r.cfg.Prefix, Mode: r.cfg.Mode,
		Answered: r.c.answered.Load(), AnsweredUnicast: r.c.answeredUnicast.Load(), Defended: r.c.defended.Load(),
		Probes: r.c.probes.Load(), Unsolicited: r.c.unsolicited.Load(),
		Dropped: make(map[string]uint64),
	}
	for i := range r.c.dropped {
		if n := r.c.dropped[i].Load(); n > 0 {
			st.Dropped[DropReason(i).String()] = n
		}
	}
	r.mu.Lock()
	st.Active = r.active
	st.Pending = len(r.pending)
	for t := range r.learned {
		st.Targets = append(st.Targets, t)
	}
	r.mu.Unlock()
	slices.SortFunc(st.Targets, netip.Addr.Compare)
	return st
}

// runner keeps one rule's session in step with its interfaces.
type runner struct {
	r      *rule
	events chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	keep   *atomic.Bool // the Proxy's SkipCleanup
	// upWasUp: the upstream link was operationally up at the last sync of
	// the current session.
	upWasUp bool
}

func newRunner(ctx context.Context, r *rule, keep *atomic.Bool) *runner {
	ctx, cancel := context.WithCancel(ctx)
	rn := &runner{r: r, events: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), keep: keep}
	go func() {
		defer close(rn.done)
		rn.run(ctx)
	}()
	return rn
}

// session is one period during which both interfaces exist with a fixed
// index and MAC.
type session struct {
	up, down   Link
	upP, downP Port
	groups     interface{ Close() error }
	routes     map[netip.Prefix]bool // routes we installed
	wg         sync.WaitGroup
}

func (rn *runner) run(ctx context.Context) {
	r := rn.r
	var s *session
	defer func() { rn.stop(s) }()
	t := time.NewTicker(r.lim.Tick)
	defer t.Stop()
	polls := 0
	sync := func() {
		now := time.Now()
		up, err := r.sys.Link(r.cfg.Upstream)
		var down Link
		if err == nil {
			down, err = r.sys.Link(r.cfg.Downstream)
		}
		if err != nil {
			if s != nil {
				r.log.Info("ndproxy: interface gone, pausing", "err", err)
				rn.stop(s)
				s = nil
			}
			rn.upWasUp = false
			r.mu.Lock()
			if !errors.Is(err, ErrLinkNotFound) {
				r.warn(now, "link", "ndproxy: reading interfaces failed", "err", err)
			}
			r.mu.Unlock()
			return
		}
		// A MAC change (a bridge takes the lowest MAC of its ports) only
		// refreshes what we send; a new index means the link was
		// re-created and the sockets must be too.
		if s != nil && (s.up.Index != up.Index || s.down.Index != down.Index) {
			r.log.Info("ndproxy: interface re-created, restarting", "upstream_index", up.Index, "downstream_index", down.Index)
			rn.stop(s)
			s = nil
		}
		fresh := s == nil
		if fresh {
			if s, err = rn.start(up, down); err != nil {
				r.mu.Lock()
				r.warn(now, "start", "ndproxy: cannot start", "err", err)
				r.mu.Unlock()
				return
			}
			r.log.Info("ndproxy: proxying", "mode", string(r.cfg.Mode))
		} else {
			r.setLinks(up, down)
		}
		if !r.static() {
			if ns, err := r.sys.Neighbors(down.Index); err == nil {
				r.setNeighbors(ns, now)
			}
		}
		// Upstream neighbours may hold entries for our targets that went
		// stale or failed while the link was down (or this proxy was not
		// running): tell them at once (RFC 4861 §7.2.6).
		switch {
		case up.Up && fresh:
			rn.announce(s, now, "start")
		case up.Up && !rn.upWasUp:
			rn.announce(s, now, "upstream link up")
		}
		rn.upWasUp = up.Up
	}
	sync()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rn.events:
			sync()
		case <-t.C:
			if polls++; polls*int(r.lim.Tick) >= int(time.Second) {
				polls = 0
				sync()
			}
			if s != nil {
				add, del := r.tick(time.Now())
				for _, d := range add {
					installed, err := r.sys.AddRoute(s.down.Index, d)
					if err != nil {
						r.mu.Lock()
						r.warn(time.Now(), "route", "ndproxy: adding host route failed", "route", d, "err", err)
						r.mu.Unlock()
					}
					if installed {
						s.routes[d] = true
					}
					r.routed(d.Addr(), installed, err)
				}
				for _, d := range del {
					if s.routes[d] {
						delete(s.routes, d)
						if err := r.sys.DelRoute(s.down.Index, d); err != nil {
							r.log.Warn("ndproxy: removing host route failed", "route", d, "err", err)
						}
					}
				}
			}
		}
	}
}

// announce queues Limits.Unsolicited unsolicited advertisements (RFC 4861
// §7.2.6: to ff02::1, O=0 as a proxy, RetransTimer apart) for every active
// target: the learned ones in auto mode; in static mode the addresses of
// the prefix that the downstream neighbour table holds (those in use; the
// proxy cannot know which others of a static prefix exist).
func (rn *runner) announce(s *session, now time.Time, why string) {
	r := rn.r
	var inUse []netip.Addr
	if r.static() {
		ns, err := r.sys.Neighbors(s.down.Index)
		if err != nil {
			r.mu.Lock()
			r.warn(now, "neighbors", "ndproxy: reading the downstream neighbours failed; targets not announced", "err", err)
			r.mu.Unlock()
			return
		}
		inUse = ns
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	if r.static() {
		for _, a := range inUse {
			if n < r.lim.MaxTargets && r.cfg.Prefix.Contains(a) && !r.isLocal(a) {
				r.queueUnsolicited(a, now)
				n++
			}
		}
	} else {
		for t := range r.learned {
			r.queueUnsolicited(t, now)
			n++
		}
	}
	if n > 0 {
		r.log.Info("ndproxy: announcing proxied targets upstream", "reason", why, "targets", n)
	}
	r.sendUnsolicited(now)
}

// setLinks refreshes addresses of links whose identity did not change.
func (r *rule) setLinks(up, down Link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.upL, r.downL = up, down
	r.upSrc = up.LinkLocal
	r.downSrc = down.LinkLocal
	if !r.downSrc.IsValid() {
		r.downSrc = ndwire.LinkLocalEUI64(down.MAC)
	}
}

func (rn *runner) start(up, down Link) (s *session, err error) {
	r := rn.r
	s = &session{up: up, down: down, routes: make(map[netip.Prefix]bool)}
	defer func() {
		if err != nil {
			rn.stop(s)
			s = nil
		}
	}()
	if s.upP, err = r.sys.OpenPort(up.Index, ndwire.TypeNS); err != nil {
		return s, fmt.Errorf("open %s: %w", up.Name, err)
	}
	if !r.static() {
		if s.downP, err = r.sys.OpenPort(down.Index, ndwire.TypeNS, ndwire.TypeNA); err != nil {
			return s, fmt.Errorf("open %s: %w", down.Name, err)
		}
	}
	gs, all := groups(r.cfg.Prefix, r.lim.MaxGroups)
	if all {
		r.log.Warn("ndproxy: prefix too large for solicited-node groups, using ALLMULTI (not heard behind MLD snooping)", "max_groups", r.lim.MaxGroups)
	}
	if s.groups, err = r.sys.JoinGroups(up.Index, gs, all); err != nil {
		return s, fmt.Errorf("join groups on %s: %w", up.Name, err)
	}
	// Routes an earlier run left out of this downstream link are ours.
	inherited := make(map[netip.Prefix]bool, len(r.inherited))
	for _, rt := range r.inherited {
		if rt.Ifindex == down.Index {
			inherited[rt.Dst] = true
		}
	}
	r.inherited = nil
	if r.static() {
		if inherited[r.cfg.Prefix] {
			s.routes[r.cfg.Prefix] = true
		} else {
			installed, err := r.sys.AddRoute(down.Index, r.cfg.Prefix)
			if err != nil {
				return s, fmt.Errorf("route %s to %s: %w", r.cfg.Prefix, down.Name, err)
			}
			if installed {
				s.routes[r.cfg.Prefix] = true
			}
		}
	}
	r.mu.Lock()
	r.active = true
	r.up, r.down = s.upP, s.downP
	// Learned targets survive a re-created link (containers re-attach);
	// those that left age out through probes. Their routes went with the
	// old session.
	for _, l := range r.learned {
		l.route = false
	}
	if !r.static() {
		// The targets of an earlier run's routes: answered at once,
		// re-probed after Limits.Reachable and forgotten (with the route)
		// when they do not answer, as targets learned from probes are.
		now := time.Now()
		for d := range inherited {
			l, ok := r.learned[d.Addr()]
			if !ok {
				l = &learnedTarget{confirmed: now}
				r.learned[d.Addr()] = l
			}
			l.route = true
			s.routes[d] = true
		}
	}
	r.routeWork = len(r.learned) > 0
	clear(r.pending)
	clear(r.negative)
	clear(r.scheduled)
	r.unsol = r.unsol[:0]
	r.mu.Unlock()
	r.setLinks(up, down)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		rn.read(s.upP, func(b []byte, from MAC) { r.handleUpstream(b, from, time.Now()) })
	}()
	if s.downP != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			rn.read(s.downP, func(b []byte, _ MAC) { r.handleDownstream(b, time.Now()) })
		}()
	}
	return s, nil
}

func (rn *runner) read(p Port, handle func([]byte, MAC)) {
	b := make([]byte, 2048)
	for {
		n, from, err := p.ReadFrom(b)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ENETDOWN) {
				continue // reported once when the link goes down; reads resume when it is up
			}
			// Anything else repeating is logged at a bounded rate and
			// paced.
			rn.r.mu.Lock()
			rn.r.warn(time.Now(), "read", "ndproxy: read failed", "err", err)
			rn.r.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		handle(b[:n], from)
	}
}

// stop closes a session and removes what it installed.
func (rn *runner) stop(s *session) {
	if s == nil {
		return
	}
	r := rn.r
	r.mu.Lock()
	r.active = false
	r.up, r.down = nil, nil
	r.mu.Unlock()
	for _, p := range []Port{s.upP, s.downP} {
		if p != nil {
			p.Close()
		}
	}
	s.wg.Wait()
	if s.groups != nil {
		if err := s.groups.Close(); err != nil {
			r.log.Warn("ndproxy: leaving groups failed", "err", err)
		}
	}
	if rn.keep != nil && rn.keep.Load() {
		if len(s.routes) > 0 {
			r.log.Info("ndproxy: leaving routes in place for the next run", "routes", len(s.routes))
		}
		return
	}
	for d := range s.routes {
		if err := r.sys.DelRoute(s.down.Index, d); err != nil {
			r.log.Warn("ndproxy: removing route failed", "route", d, "err", err)
		}
	}
}
