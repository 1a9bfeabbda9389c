package dhcpv6

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
)

// How a server serves a socket: three goroutines.
//
//   - The reader waits for datagrams and puts them in a queue of two
//     classes: messages that continue an exchange this server answered
//     (Request, Renew, Rebind, Release, Decline) and those that start one
//     (Solicit, Confirm, Information-request).
//   - The handler first reads, without waiting, whatever the socket holds
//     into the same queue, then takes up to batchSize datagrams (the first
//     class first) and handles them under s.mu. An answer that depends on
//     a lease change waits in s.waiting for the journal; the others are
//     sent at once.
//   - The syncer writes the records that accumulated since its last pass
//     with one fdatasync (group commit) and then sends the answers that
//     waited for them. The handler goes on handling while the disk syncs,
//     so a slow sync makes the next group larger instead of stalling the
//     server.
//
// Under overload the queue, not the kernel's socket buffer, is where
// datagrams are dropped, and it drops those that start an exchange first,
// the oldest first (their clients have probably retransmitted or given up
// already): the server finishes the exchanges it started instead of
// advertising to clients whose Requests it would then drop, so its
// delivered exchanges stay near its peak. Because the handler empties the
// socket between batches, the socket buffer only absorbs what comes while
// one batch is handled, or while a garbage collection holds the process.
const (
	queueContinue = 4096 // queued datagrams that continue an exchange
	queueStart    = 1024 // ...and that start one: some 50 ms of work at the peak
	maxWaiting    = 8192 // answers waiting for the journal before the handler waits too
	drainMax      = queueContinue + queueStart
)

type inbound struct {
	b []byte
	m Meta
}

// ring is a bounded FIFO that drops its oldest item when full.
type ring struct {
	buf     []inbound
	head, n int
}

// push appends x and reports whether the oldest item was dropped for it.
func (r *ring) push(x inbound) bool {
	if r.n == len(r.buf) {
		r.buf[r.head] = x
		r.head = (r.head + 1) % len(r.buf)
		return true
	}
	r.buf[(r.head+r.n)%len(r.buf)] = x
	r.n++
	return false
}

func (r *ring) pop() inbound {
	x := r.buf[r.head]
	r.buf[r.head] = inbound{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return x
}

// queue is what the reader hands the handler.
type queue struct {
	mu       sync.Mutex
	cont     ring // continue an exchange
	start    ring // start one
	overflow uint64
	err      error         // the read error that ended the reader
	wake     chan struct{} // one token: something to take
}

func newQueue(cont, start int) *queue {
	return &queue{cont: ring{buf: make([]inbound, cont)}, start: ring{buf: make([]inbound, start)}, wake: make(chan struct{}, 1)}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) push(x inbound) {
	r := &q.start
	if continues(x.b) {
		r = &q.cont
	}
	q.mu.Lock()
	if r.push(x) {
		q.overflow++
	}
	q.mu.Unlock()
	q.signal()
}

func (q *queue) fail(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	q.signal()
}

// take appends up to max queued datagrams to out, those that continue an
// exchange first. It also returns the datagrams dropped for room since the
// last take and, once the queue is empty, the reader's error.
func (q *queue) take(out []inbound, max int) ([]inbound, uint64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(out) < max && q.cont.n > 0 {
		out = append(out, q.cont.pop())
	}
	for len(out) < max && q.start.n > 0 {
		out = append(out, q.start.pop())
	}
	dropped := q.overflow
	q.overflow = 0
	var err error
	if q.cont.n == 0 && q.start.n == 0 {
		err = q.err
	}
	return out, dropped, err
}

// continues reports whether datagram b continues an exchange the server
// answered (for a Relay-forward: the message it relays). Anything it cannot
// tell, malformed or not, starts one.
func continues(b []byte) bool {
	for range hopCountLimit + 1 {
		if len(b) == 0 {
			return false
		}
		switch dhcpv6.MessageType(b[0]) {
		case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind,
			dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline:
			return true
		case dhcpv6.MessageTypeRelayForward:
			b = relayedMessage(b)
		default:
			return false
		}
	}
	return false
}

// relayedMessage returns the Relay Message option of Relay-forward b
// (RFC 8415 §9: type, hop count, link and peer addresses, options), nil
// when there is none.
func relayedMessage(b []byte) []byte {
	const hdr = 34
	if len(b) < hdr {
		return nil
	}
	for o := b[hdr:]; len(o) >= 4; {
		code, n := binary.BigEndian.Uint16(o), int(binary.BigEndian.Uint16(o[2:]))
		if len(o) < 4+n {
			return nil
		}
		if dhcpv6.OptionCode(code) == dhcpv6.OptionRelayMsg {
			return o[4 : 4+n]
		}
		o = o[4+n:]
	}
	return nil
}

// serve reads and answers from c until ctx is done (nil) or c fails.
func (s *Server) serve(ctx context.Context, c Conn, sweep <-chan time.Time) error {
	s.mu.Lock()
	s.cur = c
	s.learnMACs()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
	}()
	q := newQueue(queueContinue, queueStart)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		err := read(c, func(b []byte, m Meta) bool {
			q.push(inbound{b: slices.Clone(b), m: m})
			return ctx.Err() == nil
		})
		if err == nil {
			err = ctx.Err()
		}
		q.fail(err)
	}()
	bc, _ := c.(batchConn)
	var drain *drainer
	if bc != nil {
		drain = newDrainer(bc)
	}
	stopRead := context.AfterFunc(ctx, func() { c.Close() })
	kick, progress := make(chan struct{}, 1), make(chan struct{}, 1)
	stopSync, syncDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(syncDone)
		s.syncLoop(c, kick, progress, stopSync)
	}()
	defer func() {
		if stopRead() {
			c.Close()
		}
		<-readerDone
		close(stopSync)
		<-syncDone
	}()
	var batch []inbound
	var direct []answer
	for {
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil
		case <-sweep:
			s.mu.Lock()
			s.table.expire(s.clock.Now())
			compact := s.journal != nil && s.journal.needsCompaction(s.table)
			s.compactDue = s.compactDue || compact
			s.mu.Unlock()
			if compact {
				signal(kick)
			}
			continue
		}
		for {
			if drain != nil {
				drain.into(q)
			}
			var dropped uint64
			var err error
			batch, dropped, err = q.take(batch[:0], batchSize)
			if len(batch) == 0 {
				if dropped > 0 {
					s.mu.Lock()
					s.c.dropped[DropOverload] += dropped
					s.mu.Unlock()
				}
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				break
			}
			// Back-pressure: while the disk is far behind, the
			// queue (and its drop policy) absorbs the load.
			for s.waitingLen() >= maxWaiting {
				select {
				case <-progress:
				case <-ctx.Done():
					return nil
				}
			}
			direct = s.handleBatch(batch, dropped, direct[:0])
			clear(batch)
			s.send(c, direct, nil)
			clear(direct)
			if s.waitingLen() > 0 {
				signal(kick)
			}
		}
	}
}

// readSlots is how many datagrams a batchConn reads at once (each into a
// buffer that holds any datagram).
const readSlots = 8

// read reads c and hands each datagram to push until c fails (its error)
// or push returns false (nil). The datagram's bytes are push's only during
// the call.
func read(c Conn, push func([]byte, Meta) bool) error {
	bc, ok := c.(batchConn)
	if !ok {
		buf := make([]byte, 65536)
		for {
			n, m, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			if !push(buf[:n], m) {
				return nil
			}
		}
	}
	// Buffers for any datagram; only the pages a datagram touches count
	// in the process's memory.
	bufs := make([][]byte, readSlots)
	for i := range bufs {
		bufs[i] = make([]byte, 65536)
	}
	ns, ms := make([]int, readSlots), make([]Meta, readSlots)
	for {
		n, err := bc.ReadBatch(bufs, ns, ms, true)
		if err != nil {
			return err
		}
		for i := range n {
			if !push(bufs[i][:ns[i]], ms[i]) {
				return nil
			}
		}
	}
}

// drainer reads what a batchConn's socket holds without waiting.
type drainer struct {
	c    batchConn
	bufs [][]byte
	ns   []int
	ms   []Meta
}

func newDrainer(c batchConn) *drainer {
	d := &drainer{c: c, ns: make([]int, readSlots), ms: make([]Meta, readSlots)}
	for range readSlots {
		d.bufs = append(d.bufs, make([]byte, 65536))
	}
	return d
}

// into moves the datagrams queued in the socket into q, up to drainMax
// (then the socket's buffer holds the rest). A read error is left to the
// reader, which meets it too.
func (d *drainer) into(q *queue) {
	for got := 0; got < drainMax; {
		n, err := d.c.ReadBatch(d.bufs, d.ns, d.ms, false)
		if err != nil || n == 0 {
			return
		}
		for i := range n {
			q.push(inbound{b: slices.Clone(d.bufs[i][:d.ns[i]]), m: d.ms[i]})
		}
		got += n
	}
}

// learnMACs tells the conn whether the frames' MACs are needed: only
// reservations by MAC use them. s.mu is held.
func (s *Server) learnMACs() {
	if ml, ok := s.cur.(macLearner); ok {
		ml.LearnMACs(len(s.pol.byMAC) > 0)
	}
}

func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (s *Server) waitingLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}

// handleBatch handles batch under one lock. Answers that depend on a lease
// change go to s.waiting, the others are appended to direct.
func (s *Server) handleBatch(batch []inbound, overflow uint64, direct []answer) []answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.dropped[DropOverload] += overflow
	now := s.clock.Now()
	for _, p := range batch {
		a, ok := s.handle(p.m, p.b, now)
		switch {
		case !ok:
		case a.commit && s.journal != nil:
			s.waiting = append(s.waiting, a)
		default:
			direct = append(direct, a)
		}
	}
	return direct
}

// syncLoop makes the journal durable and sends the answers that waited for
// it, each time it is kicked, until stop; it then syncs what is pending
// without sending (the socket is closing).
func (s *Server) syncLoop(c Conn, kick <-chan struct{}, progress chan<- struct{}, stop <-chan struct{}) {
	for {
		select {
		case <-kick:
			s.syncOnce(c)
			signal(progress)
		case <-stop:
			s.syncOnce(nil)
			return
		}
	}
}

// syncOnce takes the answers waiting and the journal's pending work, does
// the work outside s.mu and sends the answers to c (nil: drops them) if
// it succeeded; they are counted as store_failed if not.
func (s *Server) syncOnce(c Conn) {
	s.mu.Lock()
	if s.journal == nil {
		s.mu.Unlock()
		return
	}
	ans := s.waiting
	s.waiting = s.spareWaiting[:0]
	s.spareWaiting = nil
	job := s.journal.take(s.table, s.compactDue)
	s.compactDue = false
	s.mu.Unlock()
	err := s.journal.commit(job)
	s.mu.Lock()
	s.journal.finish(job, err)
	switch {
	case err != nil && !s.storeFailing:
		s.log.Error("lease journal", "err", err)
	case err == nil && s.storeFailing:
		s.log.Info("lease journal written again")
	}
	s.storeFailing = err != nil
	s.mu.Unlock()
	if c != nil {
		s.send(c, ans, err)
	}
	clear(ans)
	s.mu.Lock()
	if s.spareWaiting == nil && cap(ans) <= maxWaiting {
		s.spareWaiting = ans[:0]
	}
	s.mu.Unlock()
}

// send sends answers (none when the server is passive). storeErr is the
// outcome of the journal sync they waited for: when it failed, those that
// depend on a lease change are counted as store_failed and not sent.
func (s *Server) send(c Conn, answers []answer, storeErr error) {
	if len(answers) == 0 {
		return
	}
	active := s.active.Load()
	var sent [numMsgTypes]uint64
	var storeFailed, sendFailed, suppressed uint64
	bc, batch := c.(batchConn)
	var bs [][]byte
	var dsts []netip.AddrPort
	var types []uint8
	for _, a := range answers {
		switch {
		case storeErr != nil && a.commit:
			storeFailed++
		case !active:
			suppressed++
		case batch:
			bs, dsts, types = append(bs, a.b), append(dsts, a.dst), append(types, a.typ)
		default:
			if werr := c.WriteTo(a.b, a.dst); werr != nil {
				sendFailed++
				continue
			}
			sent[a.typ]++
		}
	}
	for len(bs) > 0 {
		n, err := bc.WriteBatch(bs, dsts)
		for _, t := range types[:n] {
			sent[t]++
		}
		if err != nil || n == 0 {
			sendFailed++ // the datagram at n; the others are tried again
			n++
		}
		bs, dsts, types = bs[n:], dsts[n:], types[n:]
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
