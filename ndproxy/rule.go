package ndproxy

import (
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/ndproxy/internal/ndwire"
)

// DropReason says why a Neighbor Solicitation was not answered.
type DropReason uint8

// The first ndwire.NumReasons values are the RFC 4861 §7.1.1 validation
// failures of package ndwire; the rest are the proxy's own.
const (
	DropNotProxied  = DropReason(ndwire.NumReasons) + iota // target outside the prefix, or a local address
	DropNegative                                           // target recently probed downstream without an answer
	DropPending                                            // target being probed; answered if it replies
	DropRateSource                                         // per-source probe rate limit
	DropRateGlobal                                         // global probe rate limit
	DropPendingFull                                        // too many targets being probed
	DropSendError                                          // writing the answer failed
	numDropReasons
)

var dropNames = [...]string{"not_proxied", "negative", "pending", "rate_source", "rate_global", "pending_full", "send_error"}

func (r DropReason) String() string {
	if int(r) < ndwire.NumReasons {
		return ndwire.Reason(r).String()
	}
	if i := int(r) - ndwire.NumReasons; i < len(dropNames) {
		return dropNames[i]
	}
	return "unknown"
}

// ruleConfig is one proxied prefix with everything that shapes its answers.
type ruleConfig struct {
	config.NDProxy
	answerFromTarget bool
}

func (c ruleConfig) key() string {
	return c.Upstream + "|" + c.Downstream + "|" + c.Prefix.String()
}

type counters struct {
	dropped         [numDropReasons]atomic.Uint64
	answered        atomic.Uint64
	answeredUnicast atomic.Uint64
	defended        atomic.Uint64
	probes          atomic.Uint64
	unsolicited     atomic.Uint64
	learned         atomic.Uint64
}

type solicitor struct {
	addr netip.Addr // :: for a DAD probe
	mac  MAC
}

type pendingTarget struct {
	deadline   time.Time
	solicitors [4]solicitor
	n          int
}

type learnedTarget struct {
	confirmed time.Time
	lastProbe time.Time
	kernel    bool // present in the kernel neighbour table
	route     bool // we installed a host route for it
}

type unsolicitedNA struct {
	target netip.Addr
	left   int
	next   time.Time
	last   time.Time // when the last one was sent
}

// rule is the proxy for one config entry. Its handlers are called by the
// session goroutines with explicit time, so unit tests drive them directly.
type rule struct {
	cfg ruleConfig
	lim Limits
	log *slog.Logger
	sys System
	c   counters

	mu sync.Mutex
	// Session state, valid while active.
	active     bool
	up, down   Port
	upL, downL Link
	upSrc      netip.Addr // source of our NAs (unless answerFromTarget)
	downSrc    netip.Addr // source of our probes
	learned    map[netip.Addr]*learnedTarget
	pending    map[netip.Addr]*pendingTarget
	negative   map[netip.Addr]time.Time
	scheduled  map[netip.Addr]time.Time // probes to send after a downstream DAD
	unsol      []unsolicitedNA
	srcLim     *keyedLimiter
	probeLim   bucket
	buf        []byte
	warned     map[string]time.Time
	routeWork  bool // learned targets changed; routes need reconciling
	// inherited are routes an earlier run left for this rule, taken over
	// when its first session starts.
	inherited []Route
}

func newRule(cfg ruleConfig, lim Limits, log *slog.Logger, sys System) *rule {
	r := &rule{
		cfg: cfg, lim: lim, sys: sys,
		log:       log.With("upstream", cfg.Upstream, "downstream", cfg.Downstream, "prefix", cfg.Prefix.String()),
		learned:   make(map[netip.Addr]*learnedTarget),
		pending:   make(map[netip.Addr]*pendingTarget),
		negative:  make(map[netip.Addr]time.Time),
		scheduled: make(map[netip.Addr]time.Time),
		srcLim:    newKeyedLimiter(lim.SourceRate, lim.SourceBurst, lim.MaxSources),
		buf:       make([]byte, 0, 128),
		warned:    make(map[string]time.Time),
	}
	return r
}

func (r *rule) static() bool { return r.cfg.Mode != config.NDProxyAuto }

func (r *rule) drop(d DropReason) { r.c.dropped[d].Add(1) }

// warn logs at most once per 10 s per kind.
func (r *rule) warn(now time.Time, kind, msg string, args ...any) {
	if t, ok := r.warned[kind]; ok && now.Sub(t) < 10*time.Second {
		return
	}
	r.warned[kind] = now
	r.log.Warn(msg, args...)
}

// groups returns the solicited-node groups covering the prefix, or nil with
// allMulti when there are more than max of them.
func groups(p netip.Prefix, max int) (gs []netip.Addr, allMulti bool) {
	host := 128 - p.Bits()
	if host > 24 || 1<<host > max {
		return nil, true
	}
	base := p.Masked().Addr().As16()
	seen := make(map[netip.Addr]bool)
	for i := uint32(0); i < 1<<host; i++ {
		a := base
		v := uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15]) | i
		a[13], a[14], a[15] = byte(v>>16), byte(v>>8), byte(v)
		g := ndwire.SolicitedNode(netip.AddrFrom16(a))
		if !seen[g] {
			seen[g] = true
			gs = append(gs, g)
		}
	}
	return gs, false
}

// isLocal reports whether a is assigned to the upstream link (the kernel
// answers for it).
func (r *rule) isLocal(a netip.Addr) bool { return slices.Contains(r.upL.Addrs, a) }

// proxied reports whether target is answered for right now. Called with mu.
func (r *rule) proxied(t netip.Addr) bool {
	if r.static() {
		return true
	}
	_, ok := r.learned[t]
	return ok
}

// handleUpstream processes one packet from the upstream port.
func (r *rule) handleUpstream(pkt []byte, from MAC, now time.Time) {
	ns, why := ndwire.ParseNS(pkt)
	if why != ndwire.OK {
		r.drop(DropReason(why))
		return
	}
	if !r.cfg.Prefix.Contains(ns.Target) {
		r.drop(DropNotProxied)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.active || r.isLocal(ns.Target) {
		r.drop(DropNotProxied)
		return
	}
	mac := from
	if ns.HasSLLA {
		mac = ns.SLLA
	}
	if r.proxied(ns.Target) {
		if r.answer(ns.Target, ns.Src, mac, now) && !ns.Dst.IsMulticast() {
			r.c.answeredUnicast.Add(1)
		}
		return
	}
	// auto mode, target not known downstream.
	if until, ok := r.negative[ns.Target]; ok && now.Before(until) {
		r.drop(DropNegative)
		return
	}
	if p, ok := r.pending[ns.Target]; ok {
		p.add(solicitor{ns.Src, mac})
		r.drop(DropPending)
		return
	}
	key := ns.Src
	if key.IsUnspecified() {
		key = macKey(from)
	}
	if !r.srcLim.allow(key, now) {
		r.drop(DropRateSource)
		return
	}
	if len(r.pending) >= r.lim.MaxPending {
		r.drop(DropPendingFull)
		return
	}
	if !r.probeLim.allow(now, r.lim.ProbeRate, r.lim.ProbeBurst) {
		r.drop(DropRateGlobal)
		return
	}
	p := &pendingTarget{deadline: now.Add(r.lim.ProbeTimeout)}
	p.add(solicitor{ns.Src, mac})
	r.pending[ns.Target] = p
	r.probe(ns.Target, now)
	r.drop(DropPending)
}

func (p *pendingTarget) add(s solicitor) {
	for i := 0; i < p.n; i++ {
		if p.solicitors[i] == s {
			return
		}
	}
	if p.n < len(p.solicitors) {
		p.solicitors[p.n] = s
		p.n++
	}
}

// macKey turns a MAC into a rate-limit key for solicitations from ::.
func macKey(m MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 10: m[0], 11: m[1], 12: m[2], 13: m[3], 14: m[4], 15: m[5]})
}

var allNodes = netip.MustParseAddr("ff02::1")

// answer sends a solicited NA to src (S=1) or, for a DAD probe (src ::), a
// defence to ff02::1 (S=0). O is always 0 (RFC 4861 §7.2.8). Called with mu.
func (r *rule) answer(target, src netip.Addr, mac MAC, now time.Time) bool {
	flags := uint8(ndwire.FlagSolicited)
	dst, dstMAC := src, mac
	if src.IsUnspecified() {
		flags = 0
		dst, dstMAC = allNodes, ndwire.MulticastMAC(allNodes)
	}
	if r.cfg.Router {
		flags |= ndwire.FlagRouter
	}
	if !r.sendNA(target, dst, dstMAC, flags, now) {
		return false
	}
	if src.IsUnspecified() {
		r.c.defended.Add(1)
	} else {
		r.c.answered.Add(1)
	}
	return true
}

func (r *rule) sendNA(target, dst netip.Addr, dstMAC MAC, flags uint8, now time.Time) bool {
	src := r.upSrc
	if r.cfg.answerFromTarget || !src.IsValid() {
		src = target
	}
	r.buf = ndwire.AppendNA(r.buf[:0], src, dst, target, flags, r.upL.MAC)
	if err := r.up.WriteTo(r.buf, dstMAC); err != nil {
		r.drop(DropSendError)
		r.warn(now, "send-na", "ndproxy: sending neighbor advertisement failed", "err", err)
		return false
	}
	return true
}

// probe sends an NS for target downstream. Called with mu.
func (r *rule) probe(target netip.Addr, now time.Time) {
	g := ndwire.SolicitedNode(target)
	mac := r.downL.MAC
	r.buf = ndwire.AppendNS(r.buf[:0], r.downSrc, g, target, ndwire.NSOptions{SLLA: &mac})
	if err := r.down.WriteTo(r.buf, ndwire.MulticastMAC(g)); err != nil {
		r.warn(now, "send-ns", "ndproxy: sending downstream probe failed", "err", err)
		return
	}
	r.c.probes.Add(1)
}

// handleDownstream processes one packet from the downstream port: answers to
// our probes, and solicitations that show a node exists.
func (r *rule) handleDownstream(pkt []byte, now time.Time) {
	if len(pkt) <= 40 {
		return
	}
	switch pkt[40] {
	case ndwire.TypeNA:
		na, why := ndwire.ParseNA(pkt)
		if why != ndwire.OK || !r.cfg.Prefix.Contains(na.Target) {
			return
		}
		r.mu.Lock()
		r.learn(na.Target, false, now)
		r.mu.Unlock()
	case ndwire.TypeNS:
		ns, why := ndwire.ParseNS(pkt)
		if why != ndwire.OK {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case ns.Src.IsUnspecified() && r.cfg.Prefix.Contains(ns.Target):
			// A node downstream is taking the address: forget that it was
			// missing and look again once its DAD is over.
			delete(r.negative, ns.Target)
			if _, ok := r.learned[ns.Target]; !ok && len(r.scheduled) < r.lim.MaxPending {
				r.scheduled[ns.Target] = now.Add(r.lim.DADWait)
			}
		case r.cfg.Prefix.Contains(ns.Src):
			r.learn(ns.Src, false, now)
		}
	}
}

// learn records that target exists downstream. Called with mu.
func (r *rule) learn(target netip.Addr, kernel bool, now time.Time) {
	if !r.active || r.static() || r.isLocal(target) {
		return
	}
	if t, ok := r.learned[target]; ok {
		t.confirmed = now
		t.kernel = t.kernel || kernel
		return
	}
	if len(r.learned) >= r.lim.MaxTargets {
		r.warn(now, "max-targets", "ndproxy: too many proxied targets, ignoring new ones", "max", r.lim.MaxTargets)
		return
	}
	r.learned[target] = &learnedTarget{confirmed: now, kernel: kernel}
	r.c.learned.Add(1)
	r.routeWork = true
	delete(r.negative, target)
	delete(r.scheduled, target)
	if p, ok := r.pending[target]; ok {
		delete(r.pending, target)
		for _, s := range p.solicitors[:p.n] {
			r.answer(target, s.addr, s.mac, now)
		}
	}
	r.queueUnsolicited(target, now)
	r.sendUnsolicited(now)
}

// queueUnsolicited schedules Limits.Unsolicited unsolicited NAs for target,
// the first one now, or tops up the count of one already scheduled so that
// Limits.Unsolicited are sent from now on (one sent at this very instant
// counts), its next NA keeping its time so they stay
// Limits.UnsolicitedInterval apart. Called with mu.
func (r *rule) queueUnsolicited(target netip.Addr, now time.Time) {
	for i := range r.unsol {
		if u := &r.unsol[i]; u.target == target {
			want := r.lim.Unsolicited
			if u.last.Equal(now) {
				want--
			}
			u.left = max(u.left, want)
			return
		}
	}
	r.unsol = append(r.unsol, unsolicitedNA{target: target, left: r.lim.Unsolicited, next: now})
}

// sendUnsolicited sends the unsolicited NAs that are due. While the
// upstream link is down nothing is sent (nothing would arrive) and the
// queue waits: the link coming up announces every target again. Called
// with mu.
func (r *rule) sendUnsolicited(now time.Time) {
	if !r.upL.Up {
		return
	}
	keep := r.unsol[:0]
	for _, u := range r.unsol {
		if !r.proxied(u.target) {
			continue
		}
		if !now.Before(u.next) {
			flags := uint8(0)
			if r.cfg.Router {
				flags = ndwire.FlagRouter
			}
			if r.sendNA(u.target, allNodes, ndwire.MulticastMAC(allNodes), flags, now) {
				r.c.unsolicited.Add(1)
			}
			u.last = now
			u.left--
			u.next = now.Add(r.lim.UnsolicitedInterval)
		}
		if u.left > 0 {
			keep = append(keep, u)
		}
	}
	r.unsol = keep
}

// setNeighbors merges the kernel's neighbour table for downstream.
func (r *rule) setNeighbors(addrs []netip.Addr, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.static() {
		return
	}
	in := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if r.cfg.Prefix.Contains(a) {
			in[a] = true
			r.learn(a, true, now)
		}
	}
	for a, t := range r.learned {
		if t.kernel && !in[a] {
			// Left the kernel table: keep it while our own probes say
			// it is there.
			t.kernel = false
			t.confirmed = now
		}
	}
}

// tick expires pending probes, negative entries and targets that stopped
// answering, and sends what is due. It returns the routes to reconcile.
func (r *rule) tick(now time.Time) (add, del []netip.Prefix) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.active {
		return nil, nil
	}
	for t, p := range r.pending {
		if now.Before(p.deadline) {
			continue
		}
		delete(r.pending, t)
		if len(r.negative) < r.lim.MaxNegative {
			r.negative[t] = now.Add(r.lim.NegativeTTL)
		}
	}
	for t, until := range r.negative {
		if !now.Before(until) {
			delete(r.negative, t)
		}
	}
	for t, at := range r.scheduled {
		if now.Before(at) {
			continue
		}
		delete(r.scheduled, t)
		if _, ok := r.pending[t]; ok || len(r.pending) >= r.lim.MaxPending {
			continue
		}
		if r.probeLim.allow(now, r.lim.ProbeRate, r.lim.ProbeBurst) {
			r.pending[t] = &pendingTarget{deadline: now.Add(r.lim.ProbeTimeout)}
			r.probe(t, now)
		}
	}
	for t, l := range r.learned {
		if l.kernel || now.Sub(l.confirmed) < r.lim.Reachable {
			continue
		}
		if now.Sub(l.confirmed) >= r.lim.Reachable+time.Duration(r.lim.Unsolicited)*r.lim.ProbeInterval {
			delete(r.learned, t)
			if l.route {
				del = append(del, netip.PrefixFrom(t, 128))
			}
			r.log.Debug("ndproxy: target stopped answering downstream", "target", t)
			continue
		}
		if now.Sub(l.lastProbe) >= r.lim.ProbeInterval && r.probeLim.allow(now, r.lim.ProbeRate, r.lim.ProbeBurst) {
			l.lastProbe = now
			r.probe(t, now)
		}
	}
	r.sendUnsolicited(now)
	r.srcLim.prune(now)
	if r.routeWork {
		r.routeWork = false
		for t, l := range r.learned {
			if !l.route {
				add = append(add, netip.PrefixFrom(t, 128))
			}
		}
	}
	return add, del
}

// routed records the outcome of AddRoute for a learned target; a failure
// is retried on a later tick.
func (r *rule) routed(t netip.Addr, installed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.learned[t]
	switch {
	case !ok:
	case err != nil:
		r.routeWork = true
	case installed:
		l.route = true
	}
}
