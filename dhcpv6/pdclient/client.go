package pdclient

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vrouter/vrouter/config"
	vdhcp "github.com/vrouter/vrouter/dhcpv6"
)

// Defaults of the Options and limits of Run.
const (
	defaultReleaseTimeout = 3 * time.Second
	// refusalLogEvery bounds the log lines of one refusal reason: a flood
	// of bad messages is counted, not logged line by line.
	refusalLogEvery = time.Minute
	// Back-off of opening the socket while the interface is missing.
	minListenBackoff = time.Second
	maxListenBackoff = 30 * time.Second
	readBuffer       = 1 << 16
)

// A Client asks the upstream link for a delegated prefix and keeps it: the
// requesting-router side of DHCPv6 prefix delegation (RFC 8415). Create it
// with New and call Run once.
type Client struct {
	iface       string
	cfg         config.PrefixDelegation
	log         *slog.Logger
	conn        Conn
	stateDir    string
	lease       leaseFile
	duid        []byte
	rng         *mrand.Rand
	maxSubnetID uint64
	notify      func(Change)
	releaseWait time.Duration
	listenFn    func(iface string) (Conn, error) // Listen; tests replace it
	keep        func(ctx context.Context) bool   // no Release when true at stop

	stats stats

	// Owned by Run.
	cur        Conn
	clientID   dhcpv6.DUID
	iaid       [4]byte
	bind       *binding
	hint       netip.Prefix
	ex         *exchange
	solMaxRT   time.Duration
	backoff    time.Duration // the wait before the next Solicit after a failed attempt; 0 after a success
	logged     [numRefusals]time.Time
	suppressed [numRefusals]int
	saveErr    string
	sendErr    time.Time // when a send error was last logged
	fatal      error     // ends Run after the event at hand
}

// binding is the delegation the client holds and where it came from.
type binding struct {
	Delegation
	t1, t2   time.Duration // as the client applies them (RFC 8415 §21.21)
	serverID []byte
	server   netip.Addr
	unicast  netip.Addr // from a Server Unicast option; invalid: multicast
}

func (b *binding) renewAt() time.Time  { return until(b.Obtained, b.t1) }
func (b *binding) rebindAt() time.Time { return until(b.Obtained, b.t2) }

// An Option changes a default of New.
type Option func(*Client)

// WithLogger sets the logger (default: none); the client adds "iface".
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithConn sets the socket of the first Run (default: Listen(iface) when Run
// starts, retried until the interface exists). Run closes it when it
// returns; a later Run opens its own.
func WithConn(conn Conn) Option { return func(c *Client) { c.conn = conn } }

// WithListen sets how Run opens its socket when WithConn gave none (default
// Listen): the daemon's tests give every Run of a supervised client a socket
// to a scripted server.
func WithListen(fn func(iface string) (Conn, error)) Option {
	return func(c *Client) {
		if fn != nil {
			c.listenFn = fn
		}
	}
}

// WithStateDir sets the directory of the lease file pd-IFACE.json and of the
// node's DUID (dhcpv6.LoadOrCreateDUID, shared with the DHCPv6 server).
// Without it (or with "") nothing is kept: the DUID is new at every start
// and a restart solicits from scratch.
func WithStateDir(dir string) Option {
	return func(c *Client) {
		c.stateDir = dir
		c.lease = ""
		if dir != "" {
			c.lease = leaseFile(filepath.Join(dir, "pd-"+c.iface+".json"))
		}
	}
}

// WithDUID sets the client's DUID (RFC 8415 §11), as its bytes on the wire.
func WithDUID(duid []byte) Option {
	return func(c *Client) { c.duid = append([]byte(nil), duid...) }
}

// WithRand sets the source of the retransmission jitter, the delay of the
// first Solicit and the transaction ids; it must not be used elsewhere while
// Run runs.
func WithRand(r *mrand.Rand) Option { return func(c *Client) { c.rng = r } }

// WithMaxSubnetID sets the largest subnet id the consumers carve out of the
// delegated prefix (DESIGN §4.2 subnet_id): a prefix too long to hold it is
// refused (RefusedPrefixTooLong). Default 0: any prefix up to /64.
func WithMaxSubnetID(id uint64) Option { return func(c *Client) { c.maxSubnetID = id } }

// WithNotify sets the function told of every Change of the delegation. It is
// called from Run's goroutine, in order, and must not block for long; it may
// call Current and Status.
func WithNotify(fn func(Change)) Option { return func(c *Client) { c.notify = fn } }

// WithReleaseTimeout bounds how long Run waits for the Reply to its Release
// when it stops with cfg.ReleaseOnStop (default 3s).
func WithReleaseTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.releaseWait = d
		}
	}
}

// WithKeep sets a test made when Run's ctx ends: when it returns true the
// delegation is kept (no Release) even with release_on_stop, as a restart of
// the daemon (SIGUSR2) wants.
func WithKeep(fn func(ctx context.Context) bool) Option { return func(c *Client) { c.keep = fn } }

// New returns a client for upstream interface iface.
func New(iface string, cfg config.PrefixDelegation, opts ...Option) *Client {
	c := &Client{
		iface:       iface,
		cfg:         cfg,
		releaseWait: defaultReleaseTimeout,
		solMaxRT:    solMaxRT,
		iaid:        defaultIAID(iface),
		listenFn:    Listen,
	}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("iface", iface)
	if c.rng == nil {
		var seed [16]byte
		_, _ = rand.Read(seed[:])
		c.rng = mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	c.stats.state = StateWaiting
	c.stats.sent = make(map[string]uint64)
	c.stats.received = make(map[string]uint64)
	return c
}

type packet struct {
	b   []byte
	src netip.AddrPort
}

// Run asks for a delegation and keeps it until ctx is done; then it sends a
// Release if the config says so, closes the socket and returns nil. It
// returns an error only when it cannot go on: a DUID given by WithDUID that
// does not parse, no permission to bind port 546, a socket that fails to
// read, or an interface that is gone (ErrInterfaceGone). Run may be called again
// after it returned (a supervisor restarting a failed component): it goes
// on from the delegation it held, confirming it with a Rebind, or else from
// the lease file. Only one Run at a time.
func (c *Client) Run(ctx context.Context) error {
	defer c.setState(StateStopped)
	if c.duid == nil {
		d, err := c.nodeDUID()
		if err != nil {
			return fmt.Errorf("dhcpv6 prefix delegation on %s: %w", c.iface, err)
		}
		c.duid = d.ToBytes()
	}
	id, err := dhcpv6.DUIDFromBytes(c.duid)
	if err != nil {
		return fmt.Errorf("dhcpv6 prefix delegation on %s: duid %x: %w", c.iface, c.duid, err)
	}
	c.clientID = id

	conn := c.conn
	c.conn = nil // closed below: a later Run opens its own
	if conn == nil {
		var err error
		if conn, err = c.listen(ctx); conn == nil {
			return err
		}
	}
	c.cur = conn
	defer conn.Close()
	pkts := make(chan packet, 16)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go read(conn, pkts, readErr, done)

	c.fatal = nil
	c.start(time.Now())
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.syncStatus()
		if at := c.nextEvent(); at.IsZero() {
			timer.Reset(time.Hour)
		} else {
			timer.Reset(max(time.Until(at), 0))
		}
		select {
		case <-ctx.Done():
			if c.keep == nil || !c.keep(ctx) {
				c.stop(pkts, readErr)
			}
			return nil
		case p := <-pkts:
			c.receive(time.Now(), p.b, p.src)
		case err := <-readErr:
			return fmt.Errorf("dhcpv6 prefix delegation on %s: read: %w", c.iface, err)
		case <-timer.C:
			c.tick(time.Now())
		}
		if err := c.fatal; err != nil {
			c.fatal = nil
			return err
		}
	}
}

// nodeDUID is the node's DUID, shared with the DHCPv6 server (RFC 8415 §11),
// kept in the state dir; without one, or when it cannot be kept, a DUID of
// this client's life: better than no delegation, though the server may
// delegate another prefix after a restart.
func (c *Client) nodeDUID() (dhcpv6.DUID, error) {
	if c.stateDir != "" {
		d, err := vdhcp.LoadOrCreateDUID(c.stateDir, rand.Reader)
		if err == nil {
			return d, nil
		}
		c.log.Warn("cannot keep the DUID; using one for this run only", "err", err)
	}
	return randomDUID()
}

// listen opens the socket, retrying with back-off while the interface does
// not exist; nil and no error when ctx is done first, an error when retrying
// cannot help (no permission to bind the port).
func (c *Client) listen(ctx context.Context) (Conn, error) {
	wait := minListenBackoff
	for n := 0; ; n++ {
		conn, err := c.listenFn(c.iface)
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w (binding UDP port %d needs CAP_NET_BIND_SERVICE)", err, ClientPort)
		}
		if n == 0 {
			c.log.Warn("cannot open the dhcpv6 client socket yet; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
		wait = min(2*wait, maxListenBackoff)
	}
}

func read(conn Conn, out chan<- packet, errC chan<- error, done <-chan struct{}) {
	buf := make([]byte, readBuffer)
	for {
		n, src, err := conn.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				select {
				case errC <- err:
				default:
				}
			}
			return
		}
		select {
		case out <- packet{b: append([]byte(nil), buf[:n]...), src: src}:
		case <-done:
			return
		}
	}
}

// start takes up the delegation of a previous Run of this Client, or else
// the lease kept in the state dir: a still-valid one is used at once and
// confirmed with a Rebind (RFC 8415 §18.2.12); an expired or released one is
// the hint of the first Solicit.
func (c *Client) start(now time.Time) {
	c.ex, c.backoff = nil, 0
	if c.bind == nil {
		c.hint = netip.Prefix{}
		if c.cfg.Length > 0 {
			c.hint = netip.PrefixFrom(netip.IPv6Unspecified(), c.cfg.Length)
		}
		c.loadLease(now)
	}
	if b := c.bind; b != nil {
		if v := b.ValidUntil(); !v.IsZero() && !now.Before(v) {
			c.expire(now)
			return
		}
		c.startRebind(now, true)
		return
	}
	c.log.Info("waiting for a delegation", "hint", c.hint)
	c.startSolicit(now, time.Duration(c.rng.Float64()*float64(solMaxDelay)))
}

// loadLease reads the lease file: its IAID, its prefix as the hint, and its
// delegation if still valid, published at once.
func (c *Client) loadLease(now time.Time) {
	doc, err := c.lease.load()
	if err != nil {
		c.log.Warn("ignoring the lease file", "err", err)
	}
	if doc == nil {
		return
	}
	c.iaid, _ = parseIAID(doc.IAID)
	if c.cfg.Length == 0 || c.cfg.Length == doc.Prefix.Bits() {
		c.hint = doc.Prefix.Masked()
	}
	d, ok := c.usable(doc, now)
	if !ok {
		return
	}
	sid, _ := hex.DecodeString(doc.ServerID)
	c.bind = &binding{Delegation: d, t1: fromSeconds(doc.T1), t2: fromSeconds(doc.T2),
		serverID: sid, server: doc.Server, unicast: doc.Unicast}
	c.log.Info("using the delegation kept from before the restart", "prefix", d.Prefix,
		"valid_until", d.ValidUntil())
	c.publish(Change{Current: d})
}

// Kept returns the delegation of the lease file that is still valid at now
// (the zero Delegation when there is none, it expired or was released), as
// Run will take it up when it starts. It reads the file and changes
// nothing, so a consumer can act on the delegation before Run starts (the
// daemon publishes its addresses before the first apply, so a restart
// neither removes nor re-adds them).
func (c *Client) Kept(now time.Time) Delegation {
	doc, err := c.lease.load()
	if err != nil || doc == nil {
		return Delegation{}
	}
	d, _ := c.usable(doc, now)
	return d
}

// usable returns the delegation of a lease file if it can be used at now:
// not released, still valid, and a prefix the consumers can carve.
func (c *Client) usable(doc *leaseDoc, now time.Time) (Delegation, bool) {
	d := Delegation{Prefix: doc.Prefix.Masked(), Preferred: fromSeconds(doc.Preferred),
		Valid: fromSeconds(doc.Valid), Obtained: doc.Obtained}
	if _, valid := d.Remaining(now); doc.Released || valid == 0 || c.fits(d.Prefix) != nil {
		return Delegation{}, false
	}
	return d, true
}

// stop ends Run: a Release first when the config asks for it.
func (c *Client) stop(pkts <-chan packet, readErr <-chan error) {
	if !c.cfg.ReleaseOnStop || c.bind == nil {
		return
	}
	now := time.Now()
	c.newExchange(now, kindRelease, params{irt: relTimeout, mrc: relMaxRC})
	c.transmit(now)
	deadline := time.NewTimer(c.releaseWait)
	defer deadline.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for c.ex != nil && c.ex.kind == kindRelease {
		timer.Reset(max(time.Until(c.ex.next), 0))
		select {
		case p := <-pkts:
			c.receive(time.Now(), p.b, p.src)
		case <-timer.C:
			c.tick(time.Now())
		case <-deadline.C:
			c.ex = nil
		case <-readErr:
			c.ex = nil
		}
	}
	old := c.bind
	if old == nil { // expired while releasing
		return
	}
	c.bind = nil
	now = time.Now()
	c.save(old, true)
	c.log.Info("delegation released", "prefix", old.Prefix)
	c.publish(Change{Gone: []Delegation{{Prefix: old.Prefix, Obtained: now}}})
}

// nextEvent is when tick has something to do; zero: nothing.
func (c *Client) nextEvent() time.Time {
	var at time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if c.ex != nil {
		earliest(c.ex.next)
	}
	if c.bind != nil {
		earliest(c.bind.ValidUntil())
		if c.ex == nil {
			earliest(c.bind.renewAt())
			earliest(c.bind.rebindAt())
		}
	}
	return at
}

// tick handles the timers: expiry, retransmission, T1 and T2.
func (c *Client) tick(now time.Time) {
	if c.bind != nil {
		if v := c.bind.ValidUntil(); !v.IsZero() && !now.Before(v) {
			c.expire(now)
			return
		}
	}
	if ex := c.ex; ex != nil {
		if now.Before(ex.next) {
			return
		}
		if ex.kind == kindSolicit && len(ex.offers) > 0 {
			c.request(now, best(ex.offers))
			return
		}
		if (ex.p.mrc > 0 && ex.count >= ex.p.mrc) || (!ex.deadline.IsZero() && !now.Before(ex.deadline)) {
			c.fail(now)
			return
		}
		c.transmit(now)
		return
	}
	if c.bind != nil {
		c.resume(now)
	}
}

// resume starts what the bound schedule asks for at now: Rebind past T2,
// Renew past T1, nothing before.
func (c *Client) resume(now time.Time) {
	c.ex = nil
	if t := c.bind.rebindAt(); !t.IsZero() && !now.Before(t) {
		c.startRebind(now, false)
	} else if t := c.bind.renewAt(); !t.IsZero() && !now.Before(t) {
		c.startRenew(now)
	}
}

// fail ends an exchange that got no usable answer in time (RFC 8415 §15).
func (c *Client) fail(now time.Time) {
	ex := c.ex
	c.ex = nil
	switch ex.kind {
	case kindRequest:
		if c.bind != nil {
			c.resume(now)
			return
		}
		c.log.Info("no reply to the request; soliciting again")
		c.solicitAgain(now)
	case kindRenew:
		c.log.Info("no reply to the renew; rebinding", "prefix", c.bind.Prefix)
		c.startRebind(now, false)
	case kindRebind:
		if ex.confirm {
			c.resume(now)
		}
		// Otherwise the deadline is the expiry, which tick handles first.
	}
}

func (c *Client) expire(now time.Time) {
	old := c.bind
	c.bind = nil
	c.ex = nil
	c.stats.mu.Lock()
	c.stats.expired++
	c.stats.mu.Unlock()
	c.log.Warn("delegation expired; waiting for a delegation", "prefix", old.Prefix)
	c.publish(Change{Gone: []Delegation{{Prefix: old.Prefix, Obtained: now}}})
	c.startSolicit(now, time.Duration(c.rng.Float64()*float64(solMaxDelay)))
}

// solicitAgain starts a Solicit after an attempt that failed (a Request
// unanswered or refused), waiting longer after each such failure so that a
// server that keeps offering what it then refuses is not hammered.
func (c *Client) solicitAgain(now time.Time) {
	if c.backoff == 0 {
		c.backoff = firstRT(solTimeout, positiveJitter(c.rng))
	} else {
		c.backoff = nextRT(c.backoff, c.solMaxRT, jitter(c.rng))
	}
	c.startSolicit(now, c.backoff)
}

func (c *Client) startSolicit(now time.Time, delay time.Duration) {
	ex := c.newExchange(now, kindSolicit, params{irt: solTimeout, mrt: c.solMaxRT})
	ex.next = now.Add(delay)
	if c.hint.IsValid() {
		ex.prefixes = []netip.Prefix{c.hint}
	}
}

func (c *Client) request(now time.Time, o offer) {
	ex := c.newExchange(now, kindRequest, params{irt: reqTimeout, mrt: reqMaxRT, mrc: reqMaxRC})
	ex.serverID = o.serverID
	ex.prefixes = o.prefixes
	c.log.Info("requesting", "prefixes", o.prefixes, "server", o.src, "preference", o.pref)
	c.transmit(now)
}

func (c *Client) startRenew(now time.Time) {
	ex := c.newExchange(now, kindRenew, params{irt: renTimeout, mrt: renMaxRT})
	ex.deadline = firstOf(c.bind.rebindAt(), c.bind.ValidUntil())
	ex.serverID = c.bind.serverID
	ex.unicast = c.bind.unicast
	ex.prefixes = []netip.Prefix{c.bind.Prefix}
	c.transmit(now)
}

// startRebind asks any server to extend the delegation; confirm is the
// Rebind after a restart, with the Confirm parameters (RFC 8415 §18.2.12).
func (c *Client) startRebind(now time.Time, confirm bool) {
	p := params{irt: rebTimeout, mrt: rebMaxRT}
	if confirm {
		p = params{irt: cnfTimeout, mrt: cnfMaxRT, mrd: cnfMaxRD}
	}
	ex := c.newExchange(now, kindRebind, p)
	ex.confirm = confirm
	ex.deadline = c.bind.ValidUntil()
	if confirm {
		ex.deadline = firstOf(now.Add(cnfMaxRD), ex.deadline)
	}
	ex.prefixes = []netip.Prefix{c.bind.Prefix}
	c.transmit(now)
}

func firstOf(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// newExchange makes ex the exchange in progress, with a new transaction id;
// it is first sent at ex.next (now unless changed).
func (c *Client) newExchange(now time.Time, k kind, p params) *exchange {
	ex := &exchange{kind: k, p: p, next: now}
	v := c.rng.Uint32()
	ex.xid = dhcpv6.TransactionID{byte(v >> 16), byte(v >> 8), byte(v)}
	if c.bind != nil && k == kindRelease {
		ex.serverID = c.bind.serverID
		ex.unicast = c.bind.unicast
		ex.prefixes = []netip.Prefix{c.bind.Prefix}
	}
	c.ex = ex
	return ex
}

// transmit sends the exchange's message and schedules its retransmission
// (RFC 8415 §15).
func (c *Client) transmit(now time.Time) {
	ex := c.ex
	if ex.count == 0 {
		ex.start = now
		rnd := jitter(c.rng)
		if ex.kind == kindSolicit {
			rnd = positiveJitter(c.rng)
		}
		ex.rt = firstRT(ex.p.irt, rnd)
		if ex.p.mrd > 0 {
			ex.deadline = firstOf(ex.deadline, now.Add(ex.p.mrd))
		}
	} else {
		ex.rt = nextRT(ex.rt, ex.p.mrt, jitter(c.rng))
	}
	ex.count++
	ex.next = now.Add(ex.rt)
	if !ex.deadline.IsZero() && ex.next.After(ex.deadline) {
		ex.next = ex.deadline
	}
	dst := netip.AddrPortFrom(AllServers, ServerPort)
	if ex.unicast.IsValid() && !ex.multicast {
		dst = netip.AddrPortFrom(ex.unicast, ServerPort)
	}
	b := c.build(ex, now).ToBytes()
	c.stats.mu.Lock()
	c.stats.sent[ex.kind.String()]++
	c.stats.mu.Unlock()
	if err := c.cur.WriteTo(b, dst); err != nil {
		if errors.Is(err, ErrInterfaceGone) && c.fatal == nil {
			c.fatal = fmt.Errorf("dhcpv6 prefix delegation on %s: %w", c.iface, err)
		}
		c.stats.mu.Lock()
		c.stats.sendErrors++
		c.stats.mu.Unlock()
		if c.sendErr.IsZero() || now.Sub(c.sendErr) >= refusalLogEvery {
			c.sendErr = now
			c.log.Warn("cannot send", "message", ex.kind.String(), "dst", dst, "err", err)
		}
	}
}

// build makes the message of ex: Client Identifier, Elapsed Time, the Server
// Identifier where the message names its server, an Option Request for
// SOL_MAX_RT (RFC 8415 §18.2), and our IA_PD with the prefixes asked for
// (lifetimes 0, as clients send them, §21.22).
func (c *Client) build(ex *exchange, now time.Time) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: ex.kind.messageType(), TransactionID: ex.xid}
	m.AddOption(dhcpv6.OptClientID(c.clientID))
	if ex.kind == kindRequest || ex.kind == kindRenew || ex.kind == kindRelease {
		if sid, err := dhcpv6.DUIDFromBytes(ex.serverID); err == nil {
			m.AddOption(dhcpv6.OptServerID(sid))
		}
	}
	elapsed := min(now.Sub(ex.start), 0xffff*10*time.Millisecond)
	m.AddOption(dhcpv6.OptElapsedTime(elapsed))
	if ex.kind != kindRelease {
		m.AddOption(dhcpv6.OptRequestedOption(dhcpv6.OptionSolMaxRT))
	}
	ia := &dhcpv6.OptIAPD{IaId: c.iaid}
	for _, p := range ex.prefixes {
		ia.Options.Add(&dhcpv6.OptIAPrefix{Prefix: &net.IPNet{
			IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)}})
	}
	m.AddOption(ia)
	return m
}

// publish makes ch the state consumers see, then tells them.
func (c *Client) publish(ch Change) {
	c.syncStatus()
	if c.notify != nil {
		c.notify(ch)
	}
}

// syncStatus copies Run's state to what Status reports.
func (c *Client) syncStatus() {
	s := &c.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.exchange = StateWaiting, ""
	s.current, s.t1, s.t2, s.server, s.serverID = Delegation{}, time.Time{}, time.Time{}, netip.Addr{}, nil
	s.hint = c.hint
	if c.ex != nil {
		s.exchange = c.ex.kind.String()
	}
	if b := c.bind; b != nil {
		s.current, s.server, s.serverID = b.Delegation, b.server, b.serverID
		s.t1, s.t2 = b.renewAt(), b.rebindAt()
		s.state = StateBound
		if c.ex != nil {
			switch c.ex.kind {
			case kindRenew, kindRequest, kindSolicit:
				s.state = StateRenewing
			case kindRebind:
				s.state = StateRebinding
			}
		}
	}
}

func (c *Client) setState(st State) {
	c.stats.mu.Lock()
	c.stats.state = st
	c.stats.mu.Unlock()
}

// save keeps the lease (released: only as a hint); a failure is logged once
// until it changes.
func (c *Client) save(b *binding, released bool) {
	doc := &leaseDoc{
		Interface: c.iface, IAID: hex.EncodeToString(c.iaid[:]), Prefix: b.Prefix,
		Preferred: seconds(b.Preferred), Valid: seconds(b.Valid), T1: seconds(b.t1), T2: seconds(b.t2),
		Obtained: b.Obtained, ServerID: hex.EncodeToString(b.serverID), Server: b.server,
		Unicast: b.unicast, Released: released,
	}
	err := c.lease.save(doc)
	switch {
	case err != nil && err.Error() != c.saveErr:
		c.saveErr = err.Error()
		c.log.Warn("cannot keep the lease", "err", err)
	case err == nil && c.saveErr != "":
		c.saveErr = ""
		c.log.Info("lease kept again")
	}
}
