package fastpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/internal/ifname"
	"github.com/vrouter/vrouter/internal/netwatch"
)

// System is the engine's boundary to the operating system. The Linux
// implementation uses AF_PACKET rings, netlink and tc; fastpathtest has a
// fake with channel ports.
type System interface {
	// OpenPort opens the fast-path port of the interface named name and
	// returns the link it belongs to.
	OpenPort(name string) (Port, Link, error)

	// Run fills t from the kernel (routes, neighbours, local addresses,
	// links) and keeps it current, makes the kernel stop forwarding what the
	// fast path forwards on links, asks the kernel to resolve the neighbours
	// received on resolve, and calls ready once t holds a full first view
	// and the kernel is kept from forwarding. It undoes what it set up and
	// returns when ctx is done (nil), or earlier with an error.
	Run(ctx context.Context, links []Link, t *Tables, resolve <-chan NeighbourRef, ready func()) error
}

// systemCounter is implemented by a System that handles frames before (or
// instead of) the workers: the AF_XDP claim programs count what they leave
// to the kernel, the XDP tier everything it sees.
type systemCounter interface {
	// addSystemCounts adds what the System counted so far to into.
	addSystemCounts(into *Stats)
}

// sendOnlyPort is implemented by a Port that receives nothing (an
// interface on the XDP tier, where the kernel forwards): the engine runs
// no worker for it, but sends out of it.
type sendOnlyPort interface {
	sendOnly()
}

// PortInfo says how the fast path runs on one interface.
type PortInfo struct {
	Interface string
	// IO is config.FastpathIOAFXDP or config.FastpathIOPacket ("" for a
	// System that does not say).
	IO string
	// Claim is how the kernel is kept from forwarding what the fast path
	// forwards: "xdp-native" or "xdp-generic" (AF_XDP), "tc-ingress"
	// (AF_PACKET); "" before Run has claimed the interface.
	Claim string
}

// portInformer is implemented by a System that can say how it runs each
// port.
type portInformer interface {
	portInfo() []PortInfo
}

// Ports returns how the fast path runs on each configured interface, in
// config order.
func (e *Engine) Ports() []PortInfo {
	var known []PortInfo
	if pi, ok := e.sys.(portInformer); ok {
		known = pi.portInfo()
	}
	out := make([]PortInfo, 0, len(e.cfg.Interfaces))
	for _, name := range e.cfg.Interfaces {
		p := PortInfo{Interface: name}
		for _, k := range known {
			if k.Interface == name {
				p = k
			}
		}
		out = append(out, p)
	}
	return out
}

// ringDropper is implemented by ports that can say how many frames the
// kernel dropped for want of room in their receive ring, since they were
// opened.
type ringDropper interface {
	RingDrops() (uint64, error)
}

// Option configures an Engine.
type Option func(*Engine)

// WithSystem replaces the operating system (for tests).
func WithSystem(s System) Option { return func(e *Engine) { e.sys = s } }

// WithClock sets the clock used to rate-limit ICMPv6 errors.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithReady sets a function Run calls once the engine forwards (tables
// synced, ingress claimed, workers started).
func WithReady(f func()) Option { return func(e *Engine) { e.ready = f } }

// WithBatchSize sets how many frames a worker reads at once (default
// DefaultBatchSize).
func WithBatchSize(n int) Option { return func(e *Engine) { e.batch = n } }

// WithICMPRate sets the ICMPv6 error rate limit per interface (default 1000
// per second, bursts of 50).
func WithICMPRate(perSec, burst int) Option {
	return func(e *Engine) { e.icmpRate, e.icmpBurst = perSec, burst }
}

// WithPendingQueue sizes the queue of frames waiting for their next hop to
// be resolved: at most perNeighbour frames per next hop and total frames in
// all, each held at most timeout (defaults DefaultPendingPerNeighbour,
// DefaultPendingTotal, DefaultPendingTimeout). total 0 disables the queue:
// such frames are then dropped (DropNoNeighbour) while the kernel resolves.
func WithPendingQueue(perNeighbour, total int, timeout time.Duration) Option {
	return func(e *Engine) { e.pendPer, e.pendTotal, e.pendTimeout = perNeighbour, total, timeout }
}

// WithThreadedNAPI sets whether Run moves the kernel's receive processing
// of the fast-path interfaces into NAPI kernel threads pinned to the
// configured CPUs (see the package doc, "Receive livelock"). The default
// is on when the config names CPUs, off otherwise.
func WithThreadedNAPI(on bool) Option {
	return func(e *Engine) { e.threadedNAPI, e.threadedSet = on, true }
}

// WithRingConfig sets the AF_PACKET ring sizes and the TX method of the
// ports (default DefaultRingConfig).
func WithRingConfig(c RingConfig) Option { return func(e *Engine) { e.ring = &c } }

// WithXDPConfig sets the AF_XDP ports' UMEM sizes and TX method (default
// DefaultXDPConfig).
func WithXDPConfig(c XDPConfig) Option { return func(e *Engine) { e.xdp = &c } }

// Watcher is the source of kernel change events the Linux System keeps its
// tables current with; *netwatch.Watcher implements it.
type Watcher interface {
	Subscribe(kinds netwatch.Kinds, queue int) *netwatch.Subscription
}

// watcherSetter is implemented by a System that takes its events from a
// Watcher.
type watcherSetter interface{ setWatcher(Watcher) }

// WithWatcher makes the engine's Linux System take kernel changes from w,
// the daemon's shared watcher, instead of opening a watcher of its own for
// each Run.
func WithWatcher(w Watcher) Option { return func(e *Engine) { e.watcher = w } }

// WithNAPINice sets the nice value (-20..19) Run gives the NAPI threads of
// the fast-path interfaces when it sets up threaded NAPI (default
// DefaultNAPINice).
func WithNAPINice(nice int) Option { return func(e *Engine) { e.napiNice = nice } }

// WithTierNAPINice sets the nice value (-20..19) Run gives the NAPI
// threads of the interfaces on the XDP tier when it sets up threaded NAPI
// (default DefaultTierNAPINice). Like pinning the threads to the CPUs,
// a nice value below 0 needs CAP_SYS_NICE.
func WithTierNAPINice(nice int) Option { return func(e *Engine) { e.tierNAPINice = nice } }

// DefaultTierNAPINice is the default nice value of the XDP tier's NAPI
// threads. The tier forwards inside them, with no worker to share the CPU
// with; at nice 0 every other runnable process on the CPU would take half
// of it, where the kernel's own forwarding, in softirqs, preempts them. At
// -10 a NAPI thread gets ~90 % of a CPU it shares with one busy process
// and the process keeps the rest (bench/report, issue 11: with a CPU hog
// on the router's CPU the tier delivered 136–142 kpps at nice 0 and
// 312–320 kpps at -10).
const DefaultTierNAPINice = -10

// DefaultBatchSize is how many frames a worker reads, and sends with one
// system call, at most. A read does not wait for a full batch.
const DefaultBatchSize = 256

// DefaultNAPINice is the NAPI threads' default nice value: the same as the
// workers', so the scheduler shares the CPU evenly between receive
// processing and forwarding (see the package doc, "Receive livelock").
const DefaultNAPINice = 0

// Engine forwards IPv6 between the configured interfaces.
type Engine struct {
	cfg       config.Fastpath
	log       *slog.Logger
	sys       System
	now       func() time.Time
	batch     int
	icmpRate  int
	icmpBurst int
	tables    *Tables
	ready     func()

	pendPer, pendTotal int
	pendTimeout        time.Duration
	pending            *pendingQueue // nil: no queue; set by Run
	threadedNAPI       bool
	threadedSet        bool // WithThreadedNAPI given
	napiNice           int
	tierNAPINice       int
	ring               *RingConfig // nil: DefaultRingConfig
	xdp                *XDPConfig  // nil: DefaultXDPConfig
	watcher            Watcher     // nil: the System's own

	mu        sync.Mutex
	running   bool
	workers   []*worker
	ports     []*portRef // of the current Run, for ring drops
	ringFinal uint64     // ring drops of ports already closed
}

// ringDrops returns the receive-ring drops of the ports, closed ones
// included. e.mu must be held.
func (e *Engine) ringDrops() uint64 {
	n := e.ringFinal
	for _, p := range e.ports {
		if rd, ok := p.Port.(ringDropper); ok {
			if d, err := rd.RingDrops(); err == nil {
				n += d
			}
		}
	}
	return n
}

// MaxCPU bounds the CPU numbers of fastpath.cpus: the affinity masks the
// workers and threaded NAPI are pinned with hold CPUs 0 to MaxCPU-1.
const MaxCPU = 1024

// Validate returns what keeps New from accepting cfg, with paths relative
// to the fastpath section ("cpus[1]"), for the daemon's one validation
// path; nothing when the fast path is not enabled.
func Validate(cfg config.Fastpath) []config.Problem {
	if !cfg.Enabled {
		return nil
	}
	return problems(cfg)
}

// problems is Validate whether or not cfg is enabled (New takes a config
// that is not, for tools that run the engine on their own).
func problems(cfg config.Fastpath) []config.Problem {
	var ps []config.Problem
	if len(cfg.Interfaces) == 0 {
		ps = append(ps, config.Problemf("interfaces", "no interfaces configured"))
	}
	seen := map[string]bool{}
	for i, name := range cfg.Interfaces {
		if !ifname.Valid(name) {
			ps = append(ps, config.Problemf(fmt.Sprintf("interfaces[%d]", i), "bad interface name %q", name))
		} else if seen[name] {
			ps = append(ps, config.Problemf(fmt.Sprintf("interfaces[%d]", i), "interface %q listed twice", name))
		}
		seen[name] = true
	}
	for i, c := range cfg.CPUs {
		if c < 0 || c >= MaxCPU {
			ps = append(ps, config.Problemf(fmt.Sprintf("cpus[%d]", i), "bad CPU number %d (0 to %d)", c, MaxCPU-1))
		}
	}
	return ps
}

// New returns an engine for cfg. It checks the config but opens nothing: Run
// does.
func New(cfg config.Fastpath, log *slog.Logger, opts ...Option) (*Engine, error) {
	if ps := problems(cfg); len(ps) > 0 {
		return nil, fmt.Errorf("fastpath: %s", ps[0].Msg)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, log: log, now: time.Now, batch: DefaultBatchSize, icmpRate: 1000, icmpBurst: 50, tables: NewTables(),
		pendPer: DefaultPendingPerNeighbour, pendTotal: DefaultPendingTotal, pendTimeout: DefaultPendingTimeout,
		napiNice: DefaultNAPINice, tierNAPINice: DefaultTierNAPINice}
	for _, o := range opts {
		o(e)
	}
	if !e.threadedSet {
		e.threadedNAPI = len(cfg.CPUs) > 0
	}
	if e.batch < 1 {
		return nil, fmt.Errorf("fastpath: batch size %d < 1", e.batch)
	}
	if e.pendTotal < 0 || e.pendPer < 0 || (e.pendTotal > 0 && (e.pendPer == 0 || e.pendTimeout <= 0)) {
		return nil, fmt.Errorf("fastpath: pending queue %d per neighbour, %d in all, timeout %v: want all positive, or 0 in all", e.pendPer, e.pendTotal, e.pendTimeout)
	}
	if e.napiNice < -20 || e.napiNice > 19 {
		return nil, fmt.Errorf("fastpath: NAPI nice %d outside -20..19", e.napiNice)
	}
	if e.tierNAPINice < -20 || e.tierNAPINice > 19 {
		return nil, fmt.Errorf("fastpath: XDP tier NAPI nice %d outside -20..19", e.tierNAPINice)
	}
	if e.sys == nil {
		s, err := newOSSystem(log, cfg.IO, cfg.CPUs, e.threadedNAPI, [2]int{e.napiNice, e.tierNAPINice}, e.ring, e.xdp)
		if err != nil {
			return nil, err
		}
		if ws, ok := s.(watcherSetter); ok && e.watcher != nil {
			ws.setWatcher(e.watcher)
		}
		e.sys = s
	}
	return e, nil
}

// Tables returns the engine's forwarding state (for status output and tests).
func (e *Engine) Tables() *Tables { return e.tables }

// Run opens the ports, syncs the tables, claims the ingress of the interfaces
// and forwards until ctx is done. It returns nil on a clean shutdown, after
// undoing what it set up. Run may be called once at a time.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("fastpath: engine already running")
	}
	e.running = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running = false
		e.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ports := make([]*portRef, 0, len(e.cfg.Interfaces))
	defer func() {
		for _, p := range ports {
			p.Close()
		}
	}()
	links := make([]Link, 0, len(e.cfg.Interfaces))
	for _, name := range e.cfg.Interfaces {
		p, l, err := e.sys.OpenPort(name)
		if err != nil {
			return fmt.Errorf("fastpath: %s: %w", name, err)
		}
		ports = append(ports, newPortRef(p, l))
		links = append(links, l)
		e.tables.SetLink(l)
	}
	e.tables.Commit()

	resolve := make(chan NeighbourRef, 256)
	ready := make(chan struct{})
	var readyOnce sync.Once
	sysErr := make(chan error, 1)
	go func() {
		sysErr <- e.sys.Run(ctx, links, e.tables, resolve, func() { readyOnce.Do(func() { close(ready) }) })
	}()
	select {
	case <-ready:
	case err := <-sysErr:
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("fastpath: %w", err)
	}

	// The pending queue holds frames of up to the largest MTU at start
	// (a link's MTU raised later: larger frames are not held).
	mtu := minIPv6MTU
	for _, l := range links {
		mtu = max(mtu, l.MTU)
	}
	// A worker per receive queue of each port; ports that receive
	// nothing (the XDP tier's, where the kernel forwards) get none, and
	// without a worker nothing is held either.
	type rx struct{ port, queue int }
	var receiving []rx
	for i, p := range ports {
		if _, ok := p.Port.(sendOnlyPort); ok {
			continue
		}
		for q := range p.queues {
			receiving = append(receiving, rx{i, q})
		}
	}
	var pq *pendingQueue
	if len(receiving) > 0 {
		pq = newPendingQueue(e.pendPer, e.pendTotal, min(ethLen+mtu, maxFrame), e.pendTimeout, e.now, newRateLimiter(e.now, e.icmpRate, e.icmpBurst))
	}
	ws := make([]*worker, len(receiving))
	e.mu.Lock()
	if pq != nil {
		e.pending = pq // before the workers read it
	}
	for j, r := range receiving {
		ws[j] = newWorker(e, r.port, r.queue, ports, resolve)
	}
	e.workers = append(e.workers, ws...)
	e.ports = ports
	e.mu.Unlock()
	e.log.Info("fast path running", "interfaces", e.cfg.Interfaces, "cpus", e.cfg.CPUs)
	if e.ready != nil {
		e.ready()
	}

	workErr := make(chan error, len(ws))
	var wg sync.WaitGroup
	if pq != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.servePending(ctx, pq, ports)
		}()
	}
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.run(workerCPUs(e.cfg.CPUs, len(w.ports[w.in].queues), w.q)); err != nil {
				workErr <- fmt.Errorf("fastpath: %s queue %d: %w", w.ports[w.in].link.Name, w.q, err)
				cancel()
			}
		}()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-sysErr:
		sysErr <- err // for the wait below
		cancel()
	}
	e.mu.Lock()
	e.ringFinal = e.ringDrops()
	e.ports = nil
	e.mu.Unlock()
	for _, p := range ports {
		p.Close() // wakes the workers' reads
	}
	wg.Wait()
	if pq != nil {
		pq.drain()
	}
	close(workErr)
	if err2 := <-sysErr; err == nil {
		err = err2
	}
	for werr := range workErr {
		err = errors.Join(err, werr)
	}
	if err != nil {
		return fmt.Errorf("fastpath: %w", err)
	}
	e.log.Info("fast path stopped")
	return nil
}

// Stats returns the counters since New.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	ws := e.workers
	pq := e.pending
	ring := e.ringDrops()
	e.mu.Unlock()
	var s Stats
	for _, w := range ws {
		w.mu.Lock()
		w.shared.addTo(&s)
		w.mu.Unlock()
	}
	if pq != nil {
		pq.addTo(&s)
	}
	s.RxRingDropped = ring
	if sc, ok := e.sys.(systemCounter); ok {
		sc.addSystemCounts(&s)
	}
	return s
}

// servePending sends held frames once the kernel resolved their next hop
// (the tables say so) even when no further frame to that neighbour arrives,
// and expires frames older than the timeout. It returns when ctx is done.
func (e *Engine) servePending(ctx context.Context, q *pendingQueue, ports []*portRef) {
	changed := e.tables.neighbourChanges()
	// While frames are held, look at them often enough that a resolution
	// the worker missed (it read an older snapshot) costs little delay and
	// the timeout is kept to within a tenth.
	tick := time.NewTicker(max(time.Millisecond, min(20*time.Millisecond, q.timeout/10)))
	defer tick.Stop()
	held := 0
	for {
		var tc <-chan time.Time
		if held > 0 {
			tc = tick.C
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-q.kick:
		case <-tc:
		}
		held = q.service(e.tables.cur.Load(), ports)
	}
}

type portRef struct {
	Port
	link   Link
	queues []*queueRef // one per queue a worker reads (see queueSplitter), at least one
	tx     int         // queues[:tx] are sent on (see txQueuer)
	once   sync.Once
}

// queueRef is one queue of a port, with the lock that serialises the
// writers sending on it.
type queueRef struct {
	Port
	txMu sync.Mutex
}

// queueSplitter is implemented by a Port with several receive queues that
// it can hand out as ports of their own: each reads one queue and sends on
// the same queue (see XDPPort.Queues). The engine then runs a worker per
// queue, which sends on its own queue of every egress port.
type queueSplitter interface {
	Queues() []Port
}

// txQueuer is implemented by a queueSplitter whose first TxQueues queues
// only are sent on: the others only receive (an AF_XDP port of a
// virtio-net whose extra receive queues came with XDP).
type txQueuer interface {
	TxQueues() int
}

func newPortRef(p Port, l Link) *portRef {
	r := &portRef{Port: p, link: l}
	if qs, ok := p.(queueSplitter); ok {
		for _, q := range qs.Queues() {
			r.queues = append(r.queues, &queueRef{Port: q})
		}
	}
	if len(r.queues) == 0 {
		r.queues = []*queueRef{{Port: p}}
	}
	r.tx = len(r.queues)
	if tq, ok := p.(txQueuer); ok {
		r.tx = min(max(tq.TxQueues(), 1), r.tx)
	}
	return r
}

// send writes frames on queue q of the port (modulo the queues it sends
// on) and returns how many it queued.
func (p *portRef) send(q int, frames [][]byte) int {
	r := p.queues[q%p.tx]
	r.txMu.Lock()
	n, _ := r.Write(frames) // errors are counted by the callers as tx-error drops
	r.txMu.Unlock()
	return n
}

func (p *portRef) Close() {
	p.once.Do(func() { _ = p.Port.Close() })
}

// workerCPUs returns the CPUs the worker of queue q of a port with queues
// queues runs on: with several queues and CPUs, queue q's own CPU (the q-th,
// round-robin), so that the queues' workers run side by side; else all the
// configured CPUs.
func workerCPUs(cpus []int, queues, q int) []int {
	if queues < 2 || len(cpus) < 2 {
		return cpus
	}
	return cpus[q%len(cpus) : q%len(cpus)+1]
}

// isClosed reports whether err says the port was closed.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
