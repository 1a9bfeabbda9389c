package fastpath

import (
	"fmt"
	"sync"
	"time"
)

// maxFrame is the receive buffer size per frame: the largest MTU of a
// service VM's virtio or veth links plus the Ethernet header. Longer frames
// are cut (and answered with Packet Too Big when the fast path takes them).
const maxFrame = 9216 + ethLen

// worker reads one queue of an ingress port and forwards what it reads,
// sending on its own queue of each egress port.
type worker struct {
	e       *Engine
	in      int // ingress port
	q       int // queue of the ingress port; the queue it sends on
	ports   []*portRef
	resolve chan<- NeighbourRef

	bufs   [][]byte
	sizes  []int
	out    [][][]byte // out[j]: frames for port j
	icmp   [][]byte   // ICMPv6 errors for the ingress port
	ibufs  [][]byte   // storage for icmp
	lim    *rateLimiter
	last   NeighbourRef // last resolution request, to not repeat it per packet
	lastAt time.Time    // when it was made: repeated after resolveRepeat
	c      counters     // this batch
	// flushedKey is the neighbour whose held frames this batch flushed
	// last (when flushed).
	flushedKey neighKey
	flushed    bool

	mu     sync.Mutex
	shared counters // published after each batch
}

func newWorker(e *Engine, in, q int, ports []*portRef, resolve chan<- NeighbourRef) *worker {
	w := &worker{
		e: e, in: in, q: q, ports: ports, resolve: resolve,
		bufs:  make([][]byte, e.batch),
		sizes: make([]int, e.batch),
		out:   make([][][]byte, len(ports)),
		icmp:  make([][]byte, 0, e.batch),
		ibufs: make([][]byte, e.batch),
		lim:   newRateLimiter(e.now, e.icmpRate, e.icmpBurst),
	}
	// One backing array per kind keeps a batch's buffers together.
	back := make([]byte, e.batch*maxFrame)
	iback := make([]byte, e.batch*maxICMPErrorFrame)
	for i := range w.bufs {
		w.bufs[i] = back[i*maxFrame : (i+1)*maxFrame : (i+1)*maxFrame]
		w.ibufs[i] = iback[i*maxICMPErrorFrame : (i+1)*maxICMPErrorFrame : (i+1)*maxICMPErrorFrame]
	}
	for j := range w.out {
		w.out[j] = make([][]byte, 0, e.batch)
	}
	return w
}

// run forwards until the ingress port is closed.
func (w *worker) run(cpus []int) error {
	unpin, err := pinThread(cpus)
	if err != nil {
		return fmt.Errorf("pin to CPUs %v: %w", cpus, err)
	}
	defer unpin()
	p := w.ports[w.in].queues[w.q]
	for {
		n, err := p.Read(w.bufs, w.sizes)
		if err != nil {
			if isClosed(err) {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		w.batch(n)
	}
}

// batch processes the first n frames of w.bufs and sends the results.
func (w *worker) batch(n int) {
	s := w.e.tables.cur.Load()
	w.flushed = false
	for i := 0; i < n; i++ {
		size := w.sizes[i]
		frame := w.bufs[i][:min(size, len(w.bufs[i]))]
		w.process(s, frame, size)
	}
	w.flush()
}

// process handles one frame.
func (w *worker) process(s *snapshot, frame []byte, wireLen int) {
	w.c.received++
	in := &w.ports[w.in].link
	inState := s.links[in.Index]
	if inState == nil {
		w.c.toKernel[KernelNotIPv6]++ // link not known yet: leave it alone
		return
	}
	if wireLen > ethLen+inState.MTU {
		// Merged by GRO (or sent with TSO by a veth peer): the claim
		// leaves such frames to the kernel, which segments them.
		w.c.toKernel[KernelOversize]++
		return
	}
	cl := classify(frame, wireLen, &inState.mac, s.local)
	switch cl.Action {
	case ActionKernel:
		w.c.toKernel[cl.Kernel]++
		return
	case ActionDrop:
		if cl.Drop == DropCaptureShort {
			// Too long for our buffer: only Packet Too Big can help.
			w.sendError(inState, frame, icmpPacketTooBig, 0, uint32(w.egressMTU(s, frame)))
		}
		w.c.dropped[cl.Drop]++
		return
	}

	dst := (*[16]byte)(frame[offDst : offDst+16])
	r := s.fib.lookup(dst)
	if r == nil {
		w.sendError(inState, frame, icmpDstUnreach, codeNoRoute, 0)
		w.c.dropped[DropNoRoute]++
		return
	}
	switch r.Type {
	case RouteUnicast:
	case RouteUnreachable:
		w.sendError(inState, frame, icmpDstUnreach, codeNoRoute, 0)
		w.c.dropped[DropReject]++
		return
	case RouteProhibit:
		w.sendError(inState, frame, icmpDstUnreach, codeAdminProhibit, 0)
		w.c.dropped[DropReject]++
		return
	default:
		w.c.dropped[DropReject]++
		return
	}
	j := w.portIndex(r.Link)
	out := s.links[r.Link]
	if j < 0 || out == nil {
		w.c.dropped[DropNotOwned]++
		return
	}
	if mtu := routeMTU(r, out); mtu > 0 && cl.IPLen > mtu {
		w.sendError(inState, frame, icmpPacketTooBig, 0, uint32(mtu))
		w.c.dropped[DropTooBig]++
		return
	}
	nh := dst
	if r.Gateway.IsValid() {
		nh = &r.gw
	}
	key := neighKey{r.Link, *nh}
	nb := s.neigh[key]
	if nb == nil {
		w.requestResolve(r.Link, nh)
		w.hold(key, j, frame[:ethLen+cl.IPLen], cl.IPLen)
		return
	}
	if !nb.used.Load() {
		nb.used.Store(true)
	}
	if q := w.e.pending; q != nil && q.n.Load() > 0 && (!w.flushed || w.flushedKey != key) {
		// Frames held for this neighbour leave first, in order. Checked
		// once per neighbour and batch, and only while frames are held.
		q.flush(s, key, nb, w.ports)
		w.flushed, w.flushedKey = true, key
	}
	w.out[j] = append(w.out[j], rewrite(frame, cl.IPLen, &nb.mac, &out.mac))
}

// hold queues a frame whose next hop is not resolved yet.
func (w *worker) hold(key neighKey, j int, frame []byte, ipLen int) {
	q := w.e.pending
	if q == nil {
		w.c.dropped[DropNoNeighbour]++
		return
	}
	if reason, ok := q.add(key, j, w.in, frame, ipLen); !ok {
		w.c.dropped[reason]++
		return
	}
	w.c.queued++
}

func routeMTU(r *fibEntry, out *linkState) int {
	mtu := out.MTU
	if r.MTU > 0 && (mtu <= 0 || r.MTU < mtu) {
		mtu = r.MTU
	}
	return mtu
}

// egressMTU is the MTU toward the frame's destination, for a frame cut to
// the receive buffer: at most what the buffer holds.
func (w *worker) egressMTU(s *snapshot, frame []byte) int {
	mtu := maxFrame - ethLen
	if r := s.fib.lookup((*[16]byte)(frame[offDst : offDst+16])); r != nil {
		if out := s.links[r.Link]; out != nil {
			if m := routeMTU(r, out); m > 0 && m < mtu {
				mtu = m
			}
		}
	}
	return max(mtu, minIPv6MTU)
}

func (w *worker) portIndex(link int) int {
	for j, p := range w.ports {
		if p.link.Index == link {
			return j
		}
	}
	return -1
}

// requestResolve asks the system to have the kernel resolve a next hop. The
// same next hop is asked again only after resolveRepeat: a neighbour that
// was resolved once and lost (link down flushes the table) must be asked
// for again, but not for every packet.
func (w *worker) requestResolve(link int, addr *[16]byte) {
	ref := NeighbourRef{Link: link}
	now := w.e.now()
	if w.last.Link == link && w.last.Addr.IsValid() && w.last.Addr.As16() == *addr && now.Sub(w.lastAt) < resolveRepeat {
		return
	}
	ref.Addr = addrFrom16(addr)
	select {
	case w.resolve <- ref:
		w.last, w.lastAt = ref, now
	default:
	}
}

// resolveRepeat is how long a worker waits before it asks for the same
// unresolved next hop again (Linux retransmits solicitations every second).
const resolveRepeat = time.Second

// sendError queues an ICMPv6 error about frame back out of the ingress port,
// to the frame's Ethernet source, within the rate limit.
func (w *worker) sendError(in *linkState, frame []byte, typ, code uint8, param uint32) {
	if !in.hasSrc || len(w.icmp) == cap(w.icmp) {
		return
	}
	if !w.lim.allow() {
		w.c.icmpLimited++
		return
	}
	ipEnd := len(frame)
	if l := ethLen + ipv6HdrLen + int(frame[offPayLen])<<8 + int(frame[offPayLen+1]); l < ipEnd {
		ipEnd = l
	}
	buf := w.ibufs[len(w.icmp)]
	src := (*[6]byte)(frame[offEthSrc : offEthSrc+6])
	w.icmp = append(w.icmp, buildICMPError(buf, src, &in.mac, &in.src, frame[offIP:ipEnd], typ, code, param))
	if typ == icmpPacketTooBig {
		w.c.ptb++
	} else {
		w.c.unreach++
	}
}

// flush writes the queued frames and publishes the batch's counters.
func (w *worker) flush() {
	for j, q := range w.out {
		if len(q) == 0 {
			continue
		}
		n := w.write(j, q)
		w.c.forwarded += uint64(n)
		w.c.dropped[DropTxError] += uint64(len(q) - n)
		clear(q)
		w.out[j] = q[:0]
	}
	if len(w.icmp) > 0 {
		w.write(w.in, w.icmp) // not forwarded frames: not counted
		clear(w.icmp)
		w.icmp = w.icmp[:0]
	}
	w.mu.Lock()
	addCounters(&w.shared, &w.c)
	w.mu.Unlock()
	w.c = counters{}
}

func (w *worker) write(j int, q [][]byte) int { return w.ports[j].send(w.q, q) }

func addCounters(dst, src *counters) {
	dst.received += src.received
	dst.forwarded += src.forwarded
	dst.queued += src.queued
	for i := range src.toKernel {
		dst.toKernel[i] += src.toKernel[i]
	}
	for i := range src.dropped {
		dst.dropped[i] += src.dropped[i]
	}
	dst.ptb += src.ptb
	dst.unreach += src.unreach
	dst.icmpLimited += src.icmpLimited
}
