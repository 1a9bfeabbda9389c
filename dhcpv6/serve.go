package dhcpv6

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// How a server serves a socket: three goroutines.
//
//   - The reader reads datagrams into a channel.
//   - The handler takes up to batchSize datagrams at a time and handles
//     them under s.mu. An answer that depends on a lease change waits in
//     s.waiting for the journal; the others are sent at once.
//   - The syncer writes the records that accumulated since its last pass
//     with one fdatasync (group commit) and then sends the answers that
//     waited for them. The handler goes on handling while the disk syncs,
//     so a slow sync makes the next group larger instead of stalling the
//     server (and filling the socket buffer).
const maxWaiting = 8192 // answers waiting for the journal before the handler waits too

type inbound struct {
	b []byte
	m Meta
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
	in := make(chan inbound, batchSize)
	readErr := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		err := read(c, func(b []byte, m Meta) bool {
			select {
			case in <- inbound{b: slices.Clone(b), m: m}:
				return true
			case <-ctx.Done():
				return false
			}
		})
		readErr <- err
		close(in)
	}()
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
		case p, ok := <-in:
			if !ok {
				err := <-readErr
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			// Back-pressure: while the disk is far behind, the
			// socket buffer absorbs the load.
			for s.waitingLen() >= maxWaiting {
				select {
				case <-progress:
				case <-ctx.Done():
					return nil
				}
			}
			batch = append(batch[:0], p)
		more:
			for len(batch) < batchSize {
				select {
				case q, ok := <-in:
					if !ok {
						break more
					}
					batch = append(batch, q)
				default:
					break more
				}
			}
			direct = s.handleBatch(batch, direct[:0])
			clear(batch)
			s.send(c, direct, nil)
			clear(direct)
			if s.waitingLen() > 0 {
				signal(kick)
			}
		case <-sweep:
			s.mu.Lock()
			s.table.expire(s.clock.Now())
			compact := s.journal != nil && s.journal.needsCompaction(s.table)
			s.compactDue = s.compactDue || compact
			s.mu.Unlock()
			if compact {
				signal(kick)
			}
		}
	}
}

// readSlots is how many datagrams a batchConn reads at once.
const readSlots = 32

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
func (s *Server) handleBatch(batch []inbound, direct []answer) []answer {
	s.mu.Lock()
	defer s.mu.Unlock()
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
