package daemon

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6/pdclient"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// staleValidLimit caps how long a prefix that is no longer delegated keeps
// being advertised (valid lifetime counting down, preferred 0) and its ::1
// kept on the downstream interface: RFC 4862 §5.5.3(e) makes hosts keep an
// address at least two hours whatever a Router Advertisement says, so a
// longer valid lifetime gains nothing and a shorter one is honoured by
// hosts only once two hours are left (RFC 9096 §3).
const staleValidLimit = 2 * time.Hour

// PDSpec is one DHCPv6 prefix-delegation client per upstream interface with
// a prefix_delegation section, feeding the interfaces `delegated` from it:
// the ::1 of their /64 (Facts.Addresses, which the reconciler adds, the
// DHCPv6 server's pools follow and the "::/64" advertised prefix picks) and
// the /64 advertised with lifetimes capped by the lease (Facts.Prefixes).
// opts are passed to every client (tests pass pdclient.WithListen).
func PDSpec(opts ...pdclient.Option) Spec {
	return Spec{
		Name:     "pd",
		Validate: validatePD,
		New: func(env Env) (Component, error) {
			c := newPDComponent(env, opts, time.Now)
			c.routes = pdKernelRoutes
			return c, nil
		},
	}
}

// validatePD holds the rules of prefix delegation that the config decoder
// does not (it checks from, subnet_id and their ranges): a delegated
// interface that advertises must say how, with a "::/64" prefix, or the
// hosts never learn the delegated /64.
func validatePD(c *config.Config) []config.Problem {
	var ps []config.Problem
	for _, ifc := range c.Interfaces {
		if ifc.Delegated == nil || ifc.Advertise == nil {
			continue
		}
		if _, ok := autoTemplate(ifc.Advertise); !ok {
			ps = append(ps, config.Problem{Path: "interfaces." + ifc.Name + ".advertise.prefixes",
				Msg: `a delegated interface advertises its /64 through a "::/64" prefix entry; add {prefix: "::/64"}`})
		}
	}
	return ps
}

// autoTemplate returns the "::/64" entry of adv: the flags and lifetimes
// the delegated /64 is advertised with.
func autoTemplate(adv *config.Advertise) (config.Prefix, bool) {
	for _, p := range adv.Prefixes {
		if p.Auto() && p.Prefix.Bits() == 64 {
			return p, true
		}
	}
	return config.Prefix{}, false
}

// pdStale is a prefix no longer delegated: advertised with preferred
// lifetime 0 until until (its remaining valid lifetime, at most
// staleValidLimit), and its ::1 kept until then.
type pdStale struct {
	prefix netip.Prefix
	since  time.Time // when it went (preferred lifetime 0 from then)
	until  time.Time
}

// pdUpstream is the client of one upstream interface and what it holds.
type pdUpstream struct {
	name   string
	cfg    config.PrefixDelegation
	maxID  uint64
	client *pdclient.Client
	cur    pdclient.Delegation
	stale  []pdStale
	stop   context.CancelFunc
	done   chan struct{}
	// carrier is the link's last known lower-layer state (IFF_LOWER_UP);
	// known is false until an event told it.
	carrier, known bool
}

type pdComponent struct {
	env  Env
	opts []pdclient.Option
	now  func() time.Time
	// routes makes the unreachable routes of the delegated prefixes
	// exactly its argument (pdKernelRoutes); nil in tests that do not
	// look at them.
	routes func(want []netip.Prefix) error

	mu        sync.Mutex
	cfg       *config.Config
	ups       map[string]*pdUpstream
	published map[string]bool // interfaces whose facts this component set
	lastAddrs map[string][]netip.Prefix
	lastPrefs map[string][]config.Prefix
	runCtx    context.Context
	failed    chan error
	wake      chan struct{}
	// Owned by Run: what routes was last given successfully, and the
	// last error logged.
	routed       []netip.Prefix
	routesSynced bool
	routeErr     string
}

// newPDComponent builds the clients of env.Config and publishes the
// delegations their lease files still hold, before the first apply, so a
// restart neither removes nor re-adds the delegated addresses.
func newPDComponent(env Env, opts []pdclient.Option, now func() time.Time) *pdComponent {
	c := &pdComponent{env: env, opts: opts, now: now, ups: map[string]*pdUpstream{},
		published: map[string]bool{}, wake: make(chan struct{}, 1)}
	if env.Config == nil {
		return c
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg = env.Config
	for name, w := range pdWanted(env.Config) {
		u := c.newUpstream(name, w)
		u.cur = u.client.Kept(now())
		if u.cur.IsValid() {
			env.Log.Info("delegation kept from before the restart", "iface", name, "prefix", u.cur.Prefix)
		}
		c.ups[name] = u
	}
	c.publishLocked()
	return c
}

type pdWant struct {
	cfg   config.PrefixDelegation
	maxID uint64
}

// pdWanted returns the upstream interfaces that ask for a delegation, with
// the largest subnet id carved out of each.
func pdWanted(cfg *config.Config) map[string]pdWant {
	want := map[string]pdWant{}
	for _, ifc := range cfg.Interfaces {
		if ifc.PrefixDelegation != nil {
			want[ifc.Name] = pdWant{cfg: *ifc.PrefixDelegation}
		}
	}
	for _, ifc := range cfg.Interfaces {
		if d := ifc.Delegated; d != nil {
			if w, ok := want[d.From]; ok {
				w.maxID = max(w.maxID, d.SubnetID)
				want[d.From] = w
			}
		}
	}
	return want
}

// newUpstream creates the client of name; c.mu must be held.
func (c *pdComponent) newUpstream(name string, w pdWant) *pdUpstream {
	u := &pdUpstream{name: name, cfg: w.cfg, maxID: w.maxID}
	opts := []pdclient.Option{
		pdclient.WithLogger(c.env.Log),
		pdclient.WithStateDir(c.env.StateDir),
		pdclient.WithMaxSubnetID(w.maxID),
		pdclient.WithKeep(Restarting),
		pdclient.WithNotify(func(ch pdclient.Change) { c.onChange(u, ch) }),
	}
	u.client = pdclient.New(name, w.cfg, append(opts, c.opts...)...)
	return u
}

// onChange records a Change of u's delegation and publishes the facts.
func (c *pdComponent) onChange(u *pdUpstream, ch pdclient.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ups[u.name] != u {
		return // a client replaced by a reload
	}
	if ch.Current.IsValid() && (!u.cur.IsValid() || u.cur.Prefix != ch.Current.Prefix) {
		c.env.Log.Info("prefix delegated", "iface", u.name, "prefix", ch.Current.Prefix,
			"valid_until", ch.Current.ValidUntil())
	}
	u.cur = ch.Current
	u.stale = slices.DeleteFunc(u.stale, func(s pdStale) bool { return s.prefix == u.cur.Prefix })
	for _, g := range ch.Gone {
		if g.Prefix == u.cur.Prefix {
			continue
		}
		valid := min(g.Valid, staleValidLimit)
		c.env.Log.Info("prefix no longer delegated: deprecating it", "iface", u.name, "prefix", g.Prefix,
			"valid_for", valid)
		u.stale = slices.DeleteFunc(u.stale, func(s pdStale) bool { return s.prefix == g.Prefix })
		if valid > 0 {
			u.stale = append(u.stale, pdStale{prefix: g.Prefix, since: g.Obtained, until: g.Obtained.Add(valid)})
		}
	}
	c.publishLocked()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pdFacts computes the runtime addresses and advertised prefixes of the
// delegated interfaces of cfg at now: per interface, the ::1 and /64 of the
// current delegation first, then those of the stale prefixes not yet
// expired (preferred 0, valid until their end).
func pdFacts(cfg *config.Config, ups map[string]*pdUpstream, now time.Time) (map[string][]netip.Prefix, map[string][]config.Prefix) {
	addrs := map[string][]netip.Prefix{}
	prefs := map[string][]config.Prefix{}
	for _, ifc := range cfg.Interfaces {
		d := ifc.Delegated
		if d == nil {
			continue
		}
		u := ups[d.From]
		if u == nil {
			continue
		}
		var tmpl config.Prefix
		advertise := false
		if ifc.Advertise != nil {
			tmpl, advertise = autoTemplate(ifc.Advertise)
		}
		add := func(p netip.Prefix, preferredUntil, validUntil time.Time) {
			sub, ok := pdclient.Subnet(p, d.SubnetID)
			if !ok {
				return
			}
			addrs[ifc.Name] = append(addrs[ifc.Name], netip.PrefixFrom(sub.Addr().Next(), 64))
			if advertise {
				e := tmpl
				e.Prefix, e.PreferredUntil, e.ValidUntil = sub, preferredUntil, validUntil
				prefs[ifc.Name] = append(prefs[ifc.Name], e)
			}
		}
		if u.cur.IsValid() {
			add(u.cur.Prefix, u.cur.PreferredUntil(), u.cur.ValidUntil())
		}
		for _, s := range u.stale {
			if now.Before(s.until) {
				add(s.prefix, s.since, s.until)
			}
		}
	}
	return addrs, prefs
}

// publishLocked publishes the facts of the delegated interfaces when they
// changed; c.mu must be held (Publish does not block nor call back).
func (c *pdComponent) publishLocked() {
	if c.cfg == nil {
		return
	}
	addrs, prefs := pdFacts(c.cfg, c.ups, c.now())
	if reflect.DeepEqual(addrs, c.lastAddrs) && reflect.DeepEqual(prefs, c.lastPrefs) {
		return
	}
	c.lastAddrs, c.lastPrefs = addrs, prefs
	before := c.published
	c.published = map[string]bool{}
	for name := range addrs {
		c.published[name] = true
	}
	if c.env.Publish == nil {
		return
	}
	c.env.Publish(func(f *Facts) {
		for name := range before {
			delete(f.Addresses, name)
			delete(f.Prefixes, name)
		}
		for name, a := range addrs {
			if f.Addresses == nil {
				f.Addresses = map[string][]netip.Prefix{}
			}
			f.Addresses[name] = slices.Clone(a)
		}
		for name, p := range prefs {
			if f.Prefixes == nil {
				f.Prefixes = map[string][]config.Prefix{}
			}
			f.Prefixes[name] = slices.Clone(p)
		}
	})
}

// Apply starts, restarts and stops clients to match the upstream
// interfaces of d (a client whose prefix_delegation or largest subnet id
// changed is replaced: it reads its lease file again) and republishes the
// facts for the delegated interfaces d has.
func (c *pdComponent) Apply(d Desired) error {
	want := pdWanted(d.Config)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg = d.Config
	for name, u := range c.ups {
		if w, ok := want[name]; ok && w == (pdWant{cfg: u.cfg, maxID: u.maxID}) {
			continue
		}
		if u.stop != nil {
			u.stop()
		}
		delete(c.ups, name)
	}
	for name, w := range want {
		if _, ok := c.ups[name]; ok {
			continue
		}
		u := c.newUpstream(name, w)
		u.cur = u.client.Kept(c.now())
		c.ups[name] = u
		if c.runCtx != nil {
			c.start(u)
		}
	}
	c.publishLocked()
	return nil
}

// start runs u's client under c.runCtx; c.mu must be held.
func (c *pdComponent) start(u *pdUpstream) {
	ctx, cancel := context.WithCancelCause(c.runCtx)
	u.stop = func() { cancel(context.Canceled) }
	u.done = make(chan struct{})
	failed, done, client := c.failed, u.done, u.client
	go func() {
		defer close(done)
		if err := client.Run(ctx); err != nil && ctx.Err() == nil {
			select {
			case failed <- err:
			default:
			}
		}
	}()
}

// Run runs the clients until ctx is done, and drops stale prefixes when
// their valid lifetime ends. It is ready at once: waiting for a delegation
// is a state shown in the status, not a failure. A client that fails
// (no permission for port 546, its interface deleted) fails the
// component, and the supervisor starts it again.
func (c *pdComponent) Run(ctx context.Context, ready func()) error {
	c.mu.Lock()
	c.runCtx = ctx
	c.failed = make(chan error, 1)
	failed := c.failed
	for _, u := range c.ups {
		c.start(u)
	}
	c.mu.Unlock()
	var links <-chan struct{}
	var sub *netwatch.Subscription
	if c.env.Watcher != nil {
		sub = c.env.Watcher.Subscribe(netwatch.Links, 64)
		defer sub.Close()
		links = sub.C()
	}
	ready()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		next := c.nextExpiry()
		want := c.delegatedPrefixes()
		c.mu.Unlock()
		failedRoutes := !c.syncRoutes(want)
		switch {
		case failedRoutes:
			timer.Reset(5 * time.Second)
		case next.IsZero():
			timer.Reset(time.Hour)
		default:
			timer.Reset(max(next.Sub(c.now()), 0))
		}
		select {
		case <-ctx.Done():
			c.stopAll()
			if !Restarting(ctx) {
				c.syncRoutes(nil)
			}
			return nil
		case err := <-failed:
			c.stopAll()
			return err
		case <-c.wake:
		case <-links:
			c.linkEvents(sub.Events())
		case <-timer.C:
			c.mu.Lock()
			now := c.now()
			for _, u := range c.ups {
				u.stale = slices.DeleteFunc(u.stale, func(s pdStale) bool { return !now.Before(s.until) })
			}
			c.publishLocked()
			c.mu.Unlock()
		}
	}
}

// linkEvents restarts the client of an upstream link whose carrier came
// back: RFC 8415 §18.2.12 has a client that may have moved to another link
// confirm its delegation (Run starts with a Rebind when it holds one), and
// one without a delegation solicits at once instead of at the end of a
// retransmission timeout that grew while the link was down (up to
// SOL_MAX_RT, an hour).
func (c *pdComponent) linkEvents(evs []netwatch.Event) {
	var restart []*pdUpstream
	c.mu.Lock()
	for _, ev := range evs {
		name, up, ok := linkCarrier(ev.Msg)
		if !ok || ev.Deleted {
			continue
		}
		u := c.ups[name]
		if u == nil {
			continue
		}
		if up && u.known && !u.carrier && u.stop != nil && !slices.Contains(restart, u) {
			restart = append(restart, u)
		}
		u.carrier, u.known = up, true
	}
	c.mu.Unlock()
	for _, u := range restart {
		c.env.Log.Info("upstream link up: asking for the delegation again", "iface", u.name)
		c.mu.Lock()
		stop, done := u.stop, u.done
		c.mu.Unlock()
		stop()
		<-done
		c.mu.Lock()
		if c.runCtx != nil && c.ups[u.name] == u {
			c.start(u)
		}
		c.mu.Unlock()
	}
}

// delegatedPrefixes are the prefixes held, current and stale, in a stable
// order; c.mu must be held.
func (c *pdComponent) delegatedPrefixes() []netip.Prefix {
	var ps []netip.Prefix
	for _, u := range c.ups {
		if u.cur.IsValid() {
			ps = append(ps, u.cur.Prefix)
		}
		for _, s := range u.stale {
			ps = append(ps, s.prefix)
		}
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return slices.Compact(ps)
}

// syncRoutes gives want to c.routes when it changed, and reports whether
// the routes are as wanted (an error is logged once until it changes).
func (c *pdComponent) syncRoutes(want []netip.Prefix) bool {
	if c.routes == nil || (c.routesSynced && slices.Equal(want, c.routed)) {
		return true
	}
	if err := c.routes(want); err != nil {
		if err.Error() != c.routeErr {
			c.env.Log.Warn("unreachable routes of the delegated prefixes", "err", err)
			c.routeErr = err.Error()
		}
		return false
	}
	c.routeErr, c.routesSynced = "", true
	c.routed = slices.Clone(want)
	return true
}

// nextExpiry is the earliest end of a stale prefix; c.mu must be held.
func (c *pdComponent) nextExpiry() time.Time {
	var at time.Time
	for _, u := range c.ups {
		for _, s := range u.stale {
			if at.IsZero() || s.until.Before(at) {
				at = s.until
			}
		}
	}
	return at
}

// stopAll stops every client and waits for them (a Release, when the
// config asks for one and this is no restart, is bounded by the client's
// release timeout).
func (c *pdComponent) stopAll() {
	c.mu.Lock()
	var dones []chan struct{}
	for _, u := range c.ups {
		if u.stop != nil {
			u.stop()
			dones = append(dones, u.done)
			u.stop = nil
		}
	}
	c.runCtx = nil
	c.mu.Unlock()
	deadline := time.After(shutdownTimeout)
	for _, d := range dones {
		select {
		case <-d:
		case <-deadline:
			c.env.Log.Warn("prefix delegation clients did not stop in time", "timeout", shutdownTimeout)
			return
		}
	}
}

// DelegatedStatus is the /64 a downstream interface takes from a delegated
// prefix.
type DelegatedStatus struct {
	From     string `json:"from"`
	SubnetID uint64 `json:"subnet_id"`
	// Prefix is the /64 in use; absent while From waits for a delegation.
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Deprecated are the /64s of prefixes no longer delegated, still
	// advertised with preferred lifetime 0 until their valid lifetime ends.
	Deprecated []netip.Prefix `json:"deprecated,omitempty"`
}

func (c *pdComponent) Status(st *Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg == nil {
		return
	}
	now := c.now()
	for i := range st.Interfaces {
		is := &st.Interfaces[i]
		if u, ok := c.ups[is.Name]; ok {
			s := u.client.Status()
			is.PrefixDelegation = &s
		}
		ifc := c.cfg.Interface(is.Name)
		if ifc == nil || ifc.Delegated == nil {
			continue
		}
		ds := &DelegatedStatus{From: ifc.Delegated.From, SubnetID: ifc.Delegated.SubnetID}
		if u, ok := c.ups[ifc.Delegated.From]; ok {
			if u.cur.IsValid() {
				ds.Prefix, _ = pdclient.Subnet(u.cur.Prefix, ifc.Delegated.SubnetID)
			}
			for _, s := range u.stale {
				if sub, ok := pdclient.Subnet(s.prefix, ifc.Delegated.SubnetID); ok && now.Before(s.until) {
					ds.Deprecated = append(ds.Deprecated, sub)
				}
			}
		}
		is.Delegated = ds
	}
}

// Prefix delegation metrics, from the status on scrape. Labels are
// bounded: interface names from the config, message types and refusal
// reasons from the client's enums.
var (
	pdBound      = metricDesc("pd", "bound", "1 while the upstream interface holds a delegated prefix.", "iface")
	pdSent       = metricDesc("pd", "messages_sent_total", "Messages sent, by type (solicit, request, renew, rebind, release), retransmissions included.", "iface", "type")
	pdReceived   = metricDesc("pd", "messages_received_total", "Advertise and Reply messages acted upon, by type.", "iface", "type")
	pdRefused    = metricDesc("pd", "refused_total", "Messages and prefixes refused, by reason.", "iface", "reason")
	pdDelegated  = metricDesc("pd", "delegations_total", "Times a new prefix was delegated.", "iface")
	pdExpired    = metricDesc("pd", "expired_total", "Times a delegation expired without being extended.", "iface")
	pdSendErrors = metricDesc("pd", "send_errors_total", "Datagrams the socket did not take.", "iface")
	pdValid      = metricDesc("pd", "valid_seconds", "Seconds left of the delegated prefix's valid lifetime (absent without one or when infinite).", "iface")
)

// writePDMetrics sends the metrics of one client's status.
func writePDMetrics(ch chan<- prometheus.Metric, s pdclient.Status, now time.Time) {
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(pdBound, g, b2f(s.Prefix.IsValid()), s.Interface)
	types := make([]string, 0, len(s.Sent))
	for typ := range s.Sent {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		ch <- prometheus.MustNewConstMetric(pdSent, ctr, float64(s.Sent[typ]), s.Interface, typ)
	}
	for typ, n := range s.Received {
		ch <- prometheus.MustNewConstMetric(pdReceived, ctr, float64(n), s.Interface, typ)
	}
	for _, r := range pdclient.Refusals() {
		ch <- prometheus.MustNewConstMetric(pdRefused, ctr, float64(s.Refused[r]), s.Interface, r.String())
	}
	ch <- prometheus.MustNewConstMetric(pdDelegated, ctr, float64(s.Delegations), s.Interface)
	ch <- prometheus.MustNewConstMetric(pdExpired, ctr, float64(s.Expired), s.Interface)
	ch <- prometheus.MustNewConstMetric(pdSendErrors, ctr, float64(s.SendErrors), s.Interface)
	if s.Prefix.IsValid() && !s.Valid.IsZero() {
		ch <- prometheus.MustNewConstMetric(pdValid, g, max(s.Valid.Sub(now).Seconds(), 0), s.Interface)
	}
}
