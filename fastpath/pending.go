package fastpath

import (
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the pending queue (see WithPendingQueue). Linux gives up on
// an address after MAX_MULTICAST_SOLICIT (3) solicitations RETRANS_TIMER
// (1 s) apart (RFC 4861 §10), hence 3 s.
const (
	DefaultPendingPerNeighbour = 16
	DefaultPendingTotal        = 256
	DefaultPendingTimeout      = 3 * time.Second
	// maxPendingNeighbours bounds how many distinct next hops can have
	// frames waiting at the same time.
	maxPendingNeighbours = 64
)

// pendingQueue holds frames whose next hop the kernel is still resolving,
// as the kernel's own neighbour queue does (RFC 4861 §7.2.2), so that the
// first packets of a flow are not lost. It is bounded per neighbour and in
// total; frames are dropped with DropPendingFull when a bound is reached and
// with DropPendingExpired when their neighbour is not resolved within the
// timeout; for each expired frame the sender gets an ICMPv6 Destination
// Unreachable, code 3 (address unreachable, RFC 4443 §3.1), as from the
// kernel's neighbour queue, within the engine's ICMPv6 rate limit. All frame
// storage is allocated by newPendingQueue: adding,
// flushing and expiring do not allocate.
//
// Workers add frames; a neighbour's frames leave in arrival order, before
// any later frame to that neighbour (the worker that first sees the
// neighbour resolved flushes them before it forwards its own frame, under
// the queue's lock), and the engine's pending loop flushes neighbours that
// get resolved while no new frame arrives and expires old frames.
type pendingQueue struct {
	perNeigh int
	timeout  time.Duration
	now      func() time.Time
	slotSize int

	n    atomic.Int32  // frames held; workers read it without the lock
	kick chan struct{} // wakes the pending loop after an add

	mu    sync.Mutex
	free  []int // indexes of free slots
	slots [][]byte
	lists []pendingList // lists[:active] hold frames
	act   int
	out   [][]byte // scratch for Write
	c     counters // forwarded and dropped; read by Engine.Stats

	lim  *rateLimiter // ICMPv6 errors about expired frames
	ibuf []byte       // their frame
	one  [][]byte     // scratch for their Write
}

// pendingList is one next hop's frames, oldest first.
type pendingList struct {
	key    neighKey
	frames []pendingFrame // cap perNeigh
}

type pendingFrame struct {
	slot, len, ipLen int
	port             int // egress port index
	in               int // ingress port index
	at               time.Time
}

// newPendingQueue returns a queue of total frames of up to slotSize bytes,
// at most perNeigh per neighbour, held at most timeout. total ≤ 0 returns
// nil: no queue, frames to unresolved neighbours are dropped. lim (nil: none
// sent) limits the Address Unreachable errors about expired frames.
func newPendingQueue(perNeigh, total, slotSize int, timeout time.Duration, now func() time.Time, lim *rateLimiter) *pendingQueue {
	if total <= 0 || perNeigh <= 0 {
		return nil
	}
	perNeigh = min(perNeigh, total)
	q := &pendingQueue{
		perNeigh: perNeigh, timeout: timeout, now: now, slotSize: slotSize,
		kick:  make(chan struct{}, 1),
		free:  make([]int, total),
		slots: make([][]byte, total),
		lists: make([]pendingList, min(maxPendingNeighbours, total)),
		out:   make([][]byte, 0, perNeigh),
		lim:   lim,
		ibuf:  make([]byte, maxICMPErrorFrame),
		one:   make([][]byte, 1),
	}
	back := make([]byte, total*slotSize)
	for i := range q.slots {
		q.slots[i] = back[i*slotSize : (i+1)*slotSize : (i+1)*slotSize]
		q.free[i] = total - 1 - i
	}
	for i := range q.lists {
		q.lists[i].frames = make([]pendingFrame, 0, perNeigh)
	}
	return q
}

// add holds frame (a classified frame trimmed to its IPv6 packet, not yet
// rewritten), received on port in, for next hop key, to leave through port
// j. It returns the drop reason when the frame cannot be held.
func (q *pendingQueue) add(key neighKey, j, in int, frame []byte, ipLen int) (DropReason, bool) {
	if len(frame) > q.slotSize {
		return DropPendingFull, false
	}
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.list(key)
	switch {
	case l == nil && q.act == len(q.lists):
		return DropPendingFull, false
	case l != nil && len(l.frames) == cap(l.frames):
		return DropPendingFull, false
	case len(q.free) == 0:
		return DropPendingFull, false
	}
	if l == nil {
		l = &q.lists[q.act]
		q.act++
		l.key = key
	}
	slot := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	copy(q.slots[slot], frame)
	l.frames = append(l.frames, pendingFrame{slot: slot, len: len(frame), ipLen: ipLen, port: j, in: in, at: now})
	q.n.Add(1)
	select {
	case q.kick <- struct{}{}:
	default:
	}
	return 0, true
}

// list returns key's list, nil if it has no frames. q.mu must be held.
func (q *pendingQueue) list(key neighKey) *pendingList {
	for i := range q.act {
		if q.lists[i].key == key {
			return &q.lists[i]
		}
	}
	return nil
}

// flush sends key's frames, if any, with the neighbour's MAC nb. Workers
// call it before forwarding a frame to a neighbour while the queue is not
// empty.
func (q *pendingQueue) flush(s *snapshot, key neighKey, nb *neighbour, ports []*portRef) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.act {
		if q.lists[i].key == key {
			q.send(s, i, nb, ports)
			q.remove(i)
			return
		}
	}
}

// service flushes the neighbours s has resolved and drops frames older
// than the timeout. It returns how many frames are still held.
func (q *pendingQueue) service(s *snapshot, ports []*portRef) int {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := 0; i < q.act; {
		l := &q.lists[i]
		if nb := s.neigh[l.key]; nb != nil {
			q.send(s, i, nb, ports)
			q.remove(i)
			continue
		}
		k := 0
		for _, f := range l.frames {
			if now.Sub(f.at) >= q.timeout {
				q.unreachable(s, f, ports)
				q.release(f.slot)
				q.c.dropped[DropPendingExpired]++
				continue
			}
			l.frames[k] = f
			k++
		}
		clear(l.frames[k:])
		l.frames = l.frames[:k]
		if k == 0 {
			q.remove(i)
			continue
		}
		i++
	}
	return int(q.n.Load())
}

// unreachable sends the source of the expired frame f an ICMPv6 Destination
// Unreachable (address unreachable) out of the port f arrived on, within the
// rate limit. q.mu must be held.
func (q *pendingQueue) unreachable(s *snapshot, f pendingFrame, ports []*portRef) {
	if q.lim == nil || f.in < 0 || f.in >= len(ports) {
		return
	}
	in := s.links[ports[f.in].link.Index]
	if in == nil || !in.hasSrc {
		return
	}
	if !q.lim.allow() {
		q.c.icmpLimited++
		return
	}
	frame := q.slots[f.slot][:f.len]
	src := (*[6]byte)(frame[offEthSrc : offEthSrc+6])
	m := buildICMPError(q.ibuf, src, &in.mac, &in.src, frame[offIP:ethLen+f.ipLen], icmpDstUnreach, codeAddrUnreach, 0)
	q.one[0] = m
	n := ports[f.in].send(0, q.one)
	q.one[0] = nil
	if n == 1 {
		q.c.unreach++
	}
}

// drain drops every held frame (the engine stops) as expired.
func (q *pendingQueue) drain() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.act > 0 {
		l := &q.lists[0]
		for _, f := range l.frames {
			q.release(f.slot)
			q.c.dropped[DropPendingExpired]++
		}
		l.frames = l.frames[:0]
		q.remove(0)
	}
}

// send rewrites list i's frames for nb and writes them, grouped by port in
// arrival order. q.mu must be held.
func (q *pendingQueue) send(s *snapshot, i int, nb *neighbour, ports []*portRef) {
	l := &q.lists[i]
	for len(l.frames) > 0 {
		j := l.frames[0].port
		q.out = q.out[:0]
		k := 0
		for _, f := range l.frames {
			if f.port != j {
				l.frames[k] = f
				k++
				continue
			}
			out := s.links[ports[j].link.Index]
			if out == nil {
				q.c.dropped[DropNotOwned]++
			} else {
				q.out = append(q.out, rewrite(q.slots[f.slot][:f.len], f.ipLen, &nb.mac, &out.mac))
			}
			q.release(f.slot)
		}
		l.frames = l.frames[:k]
		if len(q.out) > 0 {
			n := ports[j].send(0, q.out)
			q.c.forwarded += uint64(n)
			q.c.dropped[DropTxError] += uint64(len(q.out) - n)
			clear(q.out)
		}
	}
	if !nb.used.Load() {
		nb.used.Store(true)
	}
}

// release frees a slot. The slot's bytes stay valid until the next add,
// which needs q.mu: send's writes copy them before it returns.
func (q *pendingQueue) release(slot int) {
	q.free = append(q.free, slot)
	q.n.Add(-1)
}

// remove drops the (emptied) list i, keeping lists[:act] dense.
func (q *pendingQueue) remove(i int) {
	last := q.act - 1
	q.lists[i].frames = q.lists[i].frames[:0]
	q.lists[i], q.lists[last] = q.lists[last], q.lists[i]
	q.act--
}

// addTo adds the queue's counters and the frames it holds to s.
func (q *pendingQueue) addTo(s *Stats) {
	q.mu.Lock()
	q.c.addTo(s)
	q.mu.Unlock()
	s.Pending += uint64(max(0, q.n.Load()))
}
