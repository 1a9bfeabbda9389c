package dhcpv6

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/ifname"
)

// Defaults of the Options.
const (
	// DefaultMaxLeases bounds the lease table of one server (leases and
	// declined addresses): about 150 bytes each.
	DefaultMaxLeases = 65536
	// DefaultDeclineProbation is how long a declined address is kept from
	// every client (Kea's decline-probation-period).
	DefaultDeclineProbation = 24 * time.Hour
	// DefaultPreference is the Preference option of Advertise messages:
	// 255 lets a client Request at once (RFC 8415 §18.2.1).
	DefaultPreference = 255
)

const (
	hopCountLimit   = 8              // RFC 8415 §7.6 HOP_COUNT_LIMIT
	maxIAsPerClient = 8              // IA options served per message, per type
	maxAddrsPerIA   = 8              // addresses of an IA considered
	maxAnswer       = 65535 - 8 - 40 // a UDP datagram in an IPv6 packet without jumbogram
	batchSize       = 64             // datagrams handled per journal sync
	sweepInterval   = time.Minute
	retryListen     = time.Second
)

// Server is the DHCPv6 server of one interface. Create it with NewServer,
// run it with Run; Update, SetActive, Status and Leases may be called from
// any goroutine.
type Server struct {
	iface string
	log   *slog.Logger
	clock Clock
	pref  uint8

	conn   Conn                             // given by WithConn, else opened by Run
	listen func(iface string) (Conn, error) // opens the socket when conn is nil

	duid      dhcpv6.DUID
	duidBytes []byte
	stateDir  string
	fs        fileSystem
	maxLeases int
	probation time.Duration
	onLink    []netip.Prefix
	onLinkSet bool
	active    atomic.Bool
	running   atomic.Bool
	ready     chan struct{} // closed once Run first listens
	readyOnce sync.Once

	mu      sync.Mutex
	cfg     config.DHCPv6
	pol     *policy
	table   *table
	journal *journal // nil: leases kept in memory only
	c       counters
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: slog.Default()); the interface is
// added to it.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock leases are timed by.
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithConn makes Run serve c instead of opening the interface's socket;
// Run returns the error that ends c's reads.
func WithConn(c Conn) Option { return func(s *Server) { s.conn = c } }

// WithListen sets how Run opens the socket of the interface (default:
// ListenConn).
func WithListen(f func(iface string) (Conn, error)) Option {
	return func(s *Server) { s.listen = f }
}

// WithStateDir keeps the leases (file dhcpv6-IFACE.leases) and, unless
// WithDUID is given, the server DUID in dir. Without it leases live in
// memory only and the DUID is random for the life of the process.
func WithStateDir(dir string) Option { return func(s *Server) { s.stateDir = dir } }

// withFS sets the file system of the lease journal (tests).
func withFS(f fileSystem) Option { return func(s *Server) { s.fs = f } }

// WithDUID sets the server DUID (VirtualDUID for an HA pair).
func WithDUID(d dhcpv6.DUID) Option { return func(s *Server) { s.duid = d } }

// WithOnLink sets the prefixes of the link, which Confirm checks addresses
// against (default: the /64s of the pools and reservations).
func WithOnLink(p []netip.Prefix) Option {
	return func(s *Server) { s.onLink, s.onLinkSet = slices.Clone(p), true }
}

// WithPreference sets the Preference option of Advertise messages.
func WithPreference(p uint8) Option { return func(s *Server) { s.pref = p } }

// WithMaxLeases bounds the lease table.
func WithMaxLeases(n int) Option { return func(s *Server) { s.maxLeases = n } }

// WithDeclineProbation sets how long a declined address stays unused.
func WithDeclineProbation(d time.Duration) Option { return func(s *Server) { s.probation = d } }

// WithPassive starts the server passive (see SetActive).
func WithPassive() Option { return func(s *Server) { s.active.Store(false) } }

// NewServer returns the server of interface iface for cfg. It loads the
// leases kept in the state directory.
func NewServer(iface string, cfg config.DHCPv6, opts ...Option) (*Server, error) {
	if err := ifname.Check(iface); err != nil {
		return nil, fmt.Errorf("dhcpv6 server: %w", err)
	}
	s := &Server{
		iface: iface, clock: systemClock{}, pref: DefaultPreference, listen: ListenConn,
		maxLeases: DefaultMaxLeases, probation: DefaultDeclineProbation, fs: osFS{},
		ready: make(chan struct{}),
	}
	s.active.Store(true)
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("iface", iface)
	var onLink []netip.Prefix
	if s.onLinkSet {
		onLink = s.onLink
	}
	pol, err := compile(cfg, onLink)
	if err != nil {
		return nil, fmt.Errorf("dhcpv6 server on %s: %w", iface, err)
	}
	s.cfg, s.pol = cfg, pol
	if s.duid == nil {
		if s.stateDir != "" {
			s.duid, err = LoadOrCreateDUID(s.stateDir, rand.Reader)
			if err != nil {
				return nil, fmt.Errorf("dhcpv6 server on %s: %w", iface, err)
			}
		} else {
			var u dhcpv6.DUIDUUID
			rand.Read(u.UUID[:])
			s.duid = &u
		}
	}
	s.duidBytes = s.duid.ToBytes()
	s.table = newTable()
	if s.stateDir != "" {
		j, t, bad, err := openJournal(s.fs, filepath.Join(s.stateDir, "dhcpv6-"+iface+".leases"), s.clock.Now())
		if err != nil {
			return nil, fmt.Errorf("dhcpv6 server on %s: %w", iface, err)
		}
		if bad > 0 {
			s.log.Warn("lease journal had damaged lines; they were skipped", "lines", bad)
		}
		s.journal, s.table = j, t
	}
	return s, nil
}

// Update applies a new config (SIGHUP). Leases that no longer fit the pools
// or reservations are withdrawn (lifetimes 0) at the client's next
// exchange; the others are kept. On error the running config stays.
func (s *Server) Update(cfg config.DHCPv6) error {
	var onLink []netip.Prefix
	if s.onLinkSet {
		onLink = s.onLink
	}
	pol, err := compile(cfg, onLink)
	if err != nil {
		return fmt.Errorf("dhcpv6 server on %s: %w", s.iface, err)
	}
	s.mu.Lock()
	s.cfg, s.pol = cfg, pol
	s.mu.Unlock()
	return nil
}

// SetActive makes the server answer (true) or stay passive (false). A
// passive server answers nothing but handles every message it receives as
// if it were active: it learns the bindings that clients request, renew,
// rebind, release and decline through ff02::1:2, keeps them in its journal,
// and is ready to take over (HA Backup; see the package documentation).
func (s *Server) SetActive(active bool) {
	if s.active.Swap(active) != active {
		s.log.Info("dhcpv6 server state", "active", active)
	}
}

// Ready is closed once Run listens for the first time (the socket is
// open on the interface, or the WithConn conn is being served).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// DUID returns the server DUID.
func (s *Server) DUID() dhcpv6.DUID { return s.duid }

// Status returns the counters and the lease usage.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	st := Status{
		Interface: s.iface, Mode: string(s.cfg.Mode), Active: s.active.Load(), Running: s.running.Load(),
		ServerDUID: formatDUID(s.duidBytes), Suppressed: s.c.suppressed, Relayed: s.c.relayed,
		PoolSize: s.pol.poolSize(), Reservations: len(s.pol.reserved),
	}
	st.Received, st.Sent, st.Dropped = s.c.status()
	for _, l := range s.table.byAddr {
		if !now.Before(l.Expires) {
			continue
		}
		if l.Declined() {
			st.DeclinedAddresses++
		} else {
			st.LeasesInUse++
		}
	}
	return st
}

// Leases returns the unexpired leases and declined addresses, by address.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	out := make([]Lease, 0, s.table.len())
	for _, l := range s.table.byAddr {
		if now.Before(l.Expires) {
			c := *l
			c.DUID = slices.Clone(l.DUID)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

type inbound struct {
	b []byte
	m Meta
}

// Run serves until ctx is done, then makes the leases durable, closes the
// socket and returns nil. Socket errors make it open the socket again
// (after a second); a lease journal that cannot be written makes it stop
// answering the messages that need it (counted as store_failed) until it
// can.
func (s *Server) Run(ctx context.Context) error {
	s.running.Store(true)
	defer s.running.Store(false)
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.journal != nil {
			if err := s.journal.sync(s.table); err != nil {
				s.log.Error("final lease journal sync", "err", err)
			}
		}
	}()
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
	logged := false
	for ctx.Err() == nil {
		c := s.conn
		if c == nil {
			var err error
			c, err = s.listen(s.iface)
			if err != nil {
				if !logged {
					s.log.Warn("dhcpv6 server cannot listen yet; retrying", "err", err)
					logged = true
				}
				select {
				case <-ctx.Done():
				case <-time.After(retryListen):
				}
				continue
			}
		}
		logged = false
		// Update may change the config at any time (a reload, an HA switch).
		s.mu.Lock()
		mode := s.cfg.Mode
		s.mu.Unlock()
		s.log.Info("dhcpv6 server listening", "mode", mode, "duid", formatDUID(s.duidBytes))
		s.readyOnce.Do(func() { close(s.ready) })
		err := s.serve(ctx, c, sweep.C)
		if err == nil || s.conn != nil {
			return err
		}
		s.log.Warn("dhcpv6 socket failed; reopening", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(retryListen):
		}
	}
	return nil
}

// serve reads and answers from c until ctx is done (nil) or c fails.
func (s *Server) serve(ctx context.Context, c Conn, sweep <-chan time.Time) error {
	in := make(chan inbound, batchSize)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, m, err := c.ReadFrom(buf)
			if err != nil {
				readErr <- err
				close(in)
				return
			}
			select {
			case in <- inbound{b: slices.Clone(buf[:n]), m: m}:
			case <-ctx.Done():
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		if stop() {
			c.Close()
		}
		for range in {
		}
	}()
	var answers []answer
	for {
		select {
		case p, ok := <-in:
			if !ok {
				err := <-readErr
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			answers = answers[:0]
			answers = s.handleBatch(p, in, answers)
			s.flush(c, answers)
		case <-sweep:
			s.mu.Lock()
			s.table.expire(s.clock.Now())
			if s.journal != nil && s.journal.needsCompaction(s.table) {
				if err := s.journal.compact(s.table); err != nil {
					s.log.Error("compact lease journal", "err", err)
				}
			}
			s.mu.Unlock()
		}
	}
}

// handleBatch handles p and whatever else is already queued (up to
// batchSize datagrams) under one lock.
func (s *Server) handleBatch(p inbound, in <-chan inbound, out []answer) []answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if a, ok := s.handle(p.m, p.b, now); ok {
		out = append(out, a)
	}
	for range batchSize - 1 {
		select {
		case q, ok := <-in:
			if !ok {
				return out
			}
			if a, ok := s.handle(q.m, q.b, now); ok {
				out = append(out, a)
			}
		default:
			return out
		}
	}
	return out
}

// flush makes the batch's lease changes durable, then sends its answers:
// none that depends on a change is sent before the change is on disk.
func (s *Server) flush(c Conn, answers []answer) {
	s.mu.Lock()
	var err error
	if s.journal != nil && s.journal.pending() {
		err = s.journal.sync(s.table)
	}
	if err != nil {
		s.log.Error("lease journal", "err", err)
	}
	s.mu.Unlock()
	active := s.active.Load()
	var sent [numMsgTypes]uint64
	var storeFailed, sendFailed, suppressed uint64
	for _, a := range answers {
		switch {
		case err != nil && a.commit:
			storeFailed++
		case !active:
			suppressed++
		default:
			if werr := c.WriteTo(a.b, a.dst); werr != nil {
				sendFailed++
				continue
			}
			sent[a.typ]++
		}
	}
	s.mu.Lock()
	for i, n := range sent {
		s.c.sent[i] += n
	}
	s.c.dropped[DropStoreFailed] += storeFailed
	s.c.dropped[DropSendFailed] += sendFailed
	s.c.suppressed += suppressed
	s.mu.Unlock()
}
