package fastpath

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// XDPPort is a Port on AF_XDP sockets in copy mode, one per receive queue of
// the interface, each with its own UMEM. The interface's XDP program
// (loadXDPProgram) redirects the frames the fast path takes into the socket
// of the queue they arrived on; the kernel copies them into the UMEM, Read
// copies them out and gives the chunks back to the fill ring. Write copies
// frames into free TX chunks of queue 0's socket and asks the kernel to send
// them with one sendto(2). Queues hands out each queue as a port of its own,
// which reads that queue and sends on it.
type XDPPort struct {
	ifindex int
	cfg     XDPConfig
	qs      []*xsk
	mm      *RingPort // XDPConfig.SendMmsg: TX only
	wakeFd  int
	closed  atomic.Bool
	pfds    []unix.PollFd

	// life is held shared by whoever uses the sockets and rings (Read,
	// the queues' Read, writes, Stats, retryTX) and exclusively by Close
	// to release them; a blocked Read holds it until Close wakes it.
	life   sync.RWMutex
	readMu sync.Mutex // Read
	next   int        // queue Read looks at first

	writeMu   sync.Mutex // SendMmsg
	txKicks   atomic.Uint64
	rxPartial atomic.Uint64
	retries   atomic.Uint64 // kicks by retryTX
	// txBusyDrops counts kicks that ended in EBUSY: the device dropped
	// a frame for want of room.
	txBusyDrops atomic.Uint64

	retry     chan struct{} // kick left frames in the TX ring
	stop      chan struct{} // closed by Close
	retryDone chan struct{} // closed when retryTX returns

	closeOnce sync.Once
}

var _ Port = (*XDPPort)(nil)

// xsk is one AF_XDP socket with its UMEM and its four rings.
type xsk struct {
	fd    int
	queue int
	umem  []byte
	fill  xskRing // u64 chunk addresses we give the kernel to receive into
	comp  xskRing // u64 addresses of chunks the kernel has sent
	rx    xskRing // xdp_desc of received frames
	tx    xskRing // xdp_desc of frames to send
	free  []uint64
	maps  [][]byte   // the rings' mappings
	txMu  sync.Mutex // the TX and completion rings, free
}

// xskRing is a single-producer single-consumer ring shared with the kernel.
type xskRing struct {
	prod, cons *uint32
	flags      *uint32
	desc       unsafe.Pointer
	mask       uint32
	size       uint32
	cached     uint32 // our side's index (producer or consumer)
}

func (r *xskRing) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.desc, uintptr(i&r.mask)*8))
}

func (r *xskRing) xdpDesc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.desc, uintptr(i&r.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

// rxQueues returns the number of receive queues of the interface.
func rxQueues(name string) int { return sysfsQueues(name, "rx") }

// txQueues returns the number of transmit queues of the interface.
func txQueues(name string) int { return sysfsQueues(name, "tx") }

// sysfsQueues counts the interface's queues of kind "rx" or "tx" in sysfs
// (at least one).
func sysfsQueues(name, kind string) int {
	m, err := filepath.Glob("/sys/class/net/" + name + "/queues/" + kind + "-*")
	if err != nil || len(m) == 0 {
		return 1
	}
	return len(m)
}

// OpenXDPPort opens AF_XDP sockets on queues 0..queues-1 of the interface
// with index ifindex. The frames arrive only once an XDP program redirects
// them to the sockets (see XDPPort.FDs).
func OpenXDPPort(ifindex, queues int, cfg XDPConfig) (_ *XDPPort, err error) {
	if cfg.FrameSize != 2048 && cfg.FrameSize != 4096 {
		return nil, fmt.Errorf("af_xdp: frame size %d: want 2048 or 4096", cfg.FrameSize)
	}
	if cfg.Frames < 64 || cfg.Frames&(cfg.Frames-1) != 0 {
		return nil, fmt.Errorf("af_xdp: %d frames: want a power of two ≥ 64", cfg.Frames)
	}
	if queues < 1 {
		return nil, fmt.Errorf("af_xdp: %d queues", queues)
	}
	// p is not the named result: a failed return sets that to nil before
	// the deferred release runs.
	p := &XDPPort{ifindex: ifindex, cfg: cfg, wakeFd: -1,
		retry: make(chan struct{}, 1), stop: make(chan struct{}), retryDone: make(chan struct{})}
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	if p.wakeFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	for q := range queues {
		s, err := openXSK(ifindex, q, cfg)
		if s != nil {
			p.qs = append(p.qs, s)
		}
		if err != nil {
			return nil, fmt.Errorf("af_xdp: queue %d: %w", q, err)
		}
		p.pfds = append(p.pfds, unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN})
	}
	p.pfds = append(p.pfds, unix.PollFd{Fd: int32(p.wakeFd), Events: unix.POLLIN})
	if cfg.SendMmsg {
		p.mm = &RingPort{ifindex: ifindex, rxFd: -1, txFd: -1, wakeFd: -1, cfg: RingConfig{SendMmsg: true, TxFrameSize: 2 * cfg.FrameSize}}
		if err := p.mm.openTX(); err != nil {
			return nil, fmt.Errorf("af_packet tx: %w", err)
		}
	}
	go p.retryTX()
	return p, nil
}

func openXSK(ifindex, queue int, cfg XDPConfig) (s *xsk, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	s = &xsk{fd: fd, queue: queue}
	s.umem, err = unix.Mmap(-1, 0, cfg.Frames*cfg.FrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return s, fmt.Errorf("umem: %w", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))), Len: uint64(len(s.umem)), Size: uint32(cfg.FrameSize)}
	// struct xdp_umem_reg grew a field (tx_metadata_len) in 6.8; older
	// kernels take the shorter layout, which a zero-valued tail matches.
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG, uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		if e == unix.ENOMEM || e == unix.EPERM {
			return s, fmt.Errorf("register %d MiB of UMEM: %w (RLIMIT_MEMLOCK too low without CAP_IPC_LOCK?)", len(s.umem)>>20, e)
		}
		return s, fmt.Errorf("register UMEM: %w", e)
	}
	rxChunks, txChunks := splitChunks(cfg.Frames)
	rxRing := cfg.Frames // a power of two with room for every receive chunk
	for _, o := range []struct{ opt, n int }{
		{unix.XDP_UMEM_FILL_RING, rxRing}, {unix.XDP_UMEM_COMPLETION_RING, txChunks},
		{unix.XDP_RX_RING, rxRing}, {unix.XDP_TX_RING, txChunks},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.n); err != nil {
			return s, fmt.Errorf("ring size (option %d): %w", o.opt, err)
		}
	}
	// In copy mode the kernel sends at most 32 frames per sendto unless
	// told otherwise (XDP_MAX_TX_SKB_BUDGET, at most the TX ring's size,
	// which 6.18 takes); kernels without the option refuse it and kick
	// loops instead.
	_ = unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, txChunks)

	var off unix.XDPMmapOffsets
	ol := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&ol)), 0); e != 0 {
		return s, fmt.Errorf("ring offsets: %w", e)
	}
	mapRing := func(r *xskRing, o unix.XDPRingOffset, pgoff int64, n int, descSize uintptr) error {
		b, err := unix.Mmap(fd, pgoff, int(o.Desc)+n*int(descSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return err
		}
		s.maps = append(s.maps, b)
		base := unsafe.Pointer(&b[0])
		r.prod = (*uint32)(unsafe.Add(base, o.Producer))
		r.cons = (*uint32)(unsafe.Add(base, o.Consumer))
		r.flags = (*uint32)(unsafe.Add(base, o.Flags))
		r.desc = unsafe.Add(base, o.Desc)
		r.size = uint32(n)
		r.mask = uint32(n - 1)
		return nil
	}
	if err := mapRing(&s.fill, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, rxRing, 8); err != nil {
		return s, fmt.Errorf("map fill ring: %w", err)
	}
	if err := mapRing(&s.comp, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, txChunks, 8); err != nil {
		return s, fmt.Errorf("map completion ring: %w", err)
	}
	if err := mapRing(&s.rx, off.Rx, unix.XDP_PGOFF_RX_RING, rxRing, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
		return s, fmt.Errorf("map rx ring: %w", err)
	}
	if err := mapRing(&s.tx, off.Tx, unix.XDP_PGOFF_TX_RING, txChunks, unsafe.Sizeof(unix.XDPDesc{})); err != nil {
		return s, fmt.Errorf("map tx ring: %w", err)
	}
	// The first rxChunks chunks receive, the rest send.
	for i := range rxChunks {
		*s.fill.addr(uint32(i)) = uint64(i * cfg.FrameSize)
	}
	s.fill.cached = uint32(rxChunks)
	atomic.StoreUint32(s.fill.prod, s.fill.cached)
	s.free = make([]uint64, 0, txChunks)
	for i := rxChunks; i < cfg.Frames; i++ {
		s.free = append(s.free, uint64(i*cfg.FrameSize))
	}
	s.rx.cached = atomic.LoadUint32(s.rx.cons)
	s.comp.cached = atomic.LoadUint32(s.comp.cons)
	s.tx.cached = atomic.LoadUint32(s.tx.prod)

	// Copy mode: the frame is copied into the UMEM at the XDP redirect and
	// out of it at the send; zero-copy needs driver support that veth and
	// virtio-net in a guest do not all have, and would save only copies
	// of a few hundred bytes.
	sa := &unix.SockaddrXDP{Flags: unix.XDP_COPY, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	if err := unix.Bind(fd, sa); err != nil {
		return s, fmt.Errorf("bind to queue %d: %w", queue, err)
	}
	return s, nil
}

// splitChunks divides a UMEM of frames chunks between receiving and
// sending. Sending needs few: in copy mode the kernel takes a batch off the
// TX ring within the send call and completes each frame once the device
// has it, so a few batches' worth (txChunksMax) keeps the TX ring fed.
// Receiving gets the rest: the RX ring must hold what arrives while the
// worker is off the CPU. On two vCPUs with veth a fixed 300 kpps kept the
// router's CPU 80-90 % busy (half of it the NAPI thread's copy of every
// skb), the worker waited out NAPI runs of 2-5 ms, and 2048 receive chunks
// (the former half of 4096) overflowed in most 3 s trials of make bench.
func splitChunks(frames int) (rx, tx int) {
	tx = min(frames/2, txChunksMax)
	return frames - tx, tx
}

// txChunksMax is the most UMEM chunks an AF_XDP socket sends from: four
// batches of DefaultBatchSize.
const txChunksMax = 4 * DefaultBatchSize

// FDs returns the sockets' descriptors, the one of queue q at index q, for
// the XDP program's socket map.
func (p *XDPPort) FDs() []int {
	fds := make([]int, len(p.qs))
	for i, s := range p.qs {
		fds[i] = s.fd
	}
	return fds
}

// Read implements Port.
func (p *XDPPort) Read(bufs [][]byte, sizes []int) (int, error) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	p.life.RLock()
	defer p.life.RUnlock()
	for {
		if p.closed.Load() {
			return 0, fmt.Errorf("af_xdp: %w", net.ErrClosed)
		}
		n := 0
		for i := range p.qs {
			s := p.qs[(p.next+i)%len(p.qs)]
			n += p.readQueue(s, bufs[n:], sizes[n:])
			if n == len(bufs) {
				break
			}
		}
		p.next++
		if n > 0 {
			return n, nil
		}
		if err := p.wait(); err != nil {
			return 0, err
		}
	}
}

// readQueue copies the frames waiting in s's RX ring, up to len(bufs), and
// gives their chunks back to the fill ring.
func (p *XDPPort) readQueue(s *xsk, bufs [][]byte, sizes []int) int {
	prod := atomic.LoadUint32(s.rx.prod)
	avail := prod - s.rx.cached
	if avail == 0 {
		return 0
	}
	n := min(int(avail), len(bufs))
	for i := range n {
		d := s.rx.xdpDesc(s.rx.cached + uint32(i))
		f := s.umem[d.Addr : d.Addr+uint64(d.Len)]
		sizes[i] = len(f)
		c := copy(bufs[i], f)
		if c == len(f) && completePartialChecksum(bufs[i][:c]) {
			p.rxPartial.Add(1)
		}
		// The chunk goes back to the fill ring at the same place in
		// line: the fill ring has room for every chunk we hold.
		*s.fill.addr(s.fill.cached + uint32(i)) = d.Addr &^ uint64(p.cfg.FrameSize-1)
	}
	s.rx.cached += uint32(n)
	atomic.StoreUint32(s.rx.cons, s.rx.cached)
	s.fill.cached += uint32(n)
	atomic.StoreUint32(s.fill.prod, s.fill.cached)
	return n
}

// wait blocks until a socket or the wake-up eventfd is readable.
func (p *XDPPort) wait() error { return waitPoll(p.pfds, &p.closed) }

// waitPoll blocks until one of pfds is readable: sockets first, the
// wake-up eventfd last (it, or closed, means the port was closed).
func waitPoll(pfds []unix.PollFd, closed *atomic.Bool) error {
	for {
		for i := range pfds {
			pfds[i].Revents = 0
		}
		_, err := unix.Poll(pfds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("af_xdp: poll: %w", err)
		}
		if pfds[len(pfds)-1].Revents != 0 || closed.Load() {
			return fmt.Errorf("af_xdp: %w", net.ErrClosed)
		}
		for _, f := range pfds[:len(pfds)-1] {
			if f.Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
				return fmt.Errorf("af_xdp: socket error (events %#x)", f.Revents)
			}
		}
		return nil
	}
}

// Write implements Port. Frames leave through queue 0's socket.
func (p *XDPPort) Write(bufs [][]byte) (int, error) { return p.write(p.qs[0], bufs) }

// write sends bufs through s, the socket of one of p's queues.
func (p *XDPPort) write(s *xsk, bufs [][]byte) (int, error) {
	p.life.RLock()
	defer p.life.RUnlock()
	if p.mm != nil {
		p.writeMu.Lock()
		defer p.writeMu.Unlock()
		if p.closed.Load() {
			return 0, fmt.Errorf("af_xdp: %w", net.ErrClosed)
		}
		return p.mm.sendMmsg(bufs)
	}
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if p.closed.Load() {
		return 0, fmt.Errorf("af_xdp: %w", net.ErrClosed)
	}
	s.reclaim()
	n := 0
	var err error
	room := s.tx.size - (s.tx.cached - atomic.LoadUint32(s.tx.cons))
	for _, b := range bufs {
		if len(b) > p.cfg.FrameSize || len(b) == 0 {
			err = fmt.Errorf("af_xdp: frame of %d bytes outside 1..%d", len(b), p.cfg.FrameSize)
			break
		}
		if len(s.free) == 0 || room == 0 {
			err = ErrQueueFull
			break
		}
		a := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		copy(s.umem[a:], b)
		d := s.tx.xdpDesc(s.tx.cached)
		d.Addr, d.Len, d.Options = a, uint32(len(b)), 0
		s.tx.cached++
		room--
		n++
	}
	if n > 0 {
		atomic.StoreUint32(s.tx.prod, s.tx.cached)
		if kerr := p.kick(s); kerr != nil && err == nil {
			err = kerr
		}
	}
	return n, err
}

// reclaim moves the chunks the kernel has sent back to the free list.
func (s *xsk) reclaim() {
	prod := atomic.LoadUint32(s.comp.prod)
	for ; s.comp.cached != prod; s.comp.cached++ {
		s.free = append(s.free, *s.comp.addr(s.comp.cached))
	}
	atomic.StoreUint32(s.comp.cons, s.comp.cached)
}

// kick asks the kernel to send what the TX ring holds. In copy mode the
// kernel builds and transmits the skbs inside sendto, a budget of them per
// call, and says EAGAIN when frames are left: when the device's queue is
// full (a virtio-net TX queue, say) it keeps the rest in the ring. kick
// retries while the kernel makes progress and otherwise leaves the rest to
// retryTX, so that the last frames of a burst do not wait for the next
// Write. s.txMu must be held.
func (p *XDPPort) kick(s *xsk) error {
	stalled := 0
	for range 256 {
		p.txKicks.Add(1)
		before := atomic.LoadUint32(s.tx.cons)
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.ENOBUFS, unix.EINTR:
		case unix.EBUSY:
			// The device dropped a frame for want of room (a veth
			// whose peer's ring is full and which has no qdisc to
			// stop its queue): every further kick now would lose one
			// more, so the rest waits for retryTX.
			p.txBusyDrops.Add(1)
			stalled = 3
		default:
			return fmt.Errorf("af_xdp: sendto: %w", e)
		}
		if stalled == 3 {
			break
		}
		cons := atomic.LoadUint32(s.tx.cons)
		if cons == s.tx.cached {
			return nil // all taken
		}
		if cons == before {
			if stalled++; stalled == 3 {
				break
			}
		}
	}
	select {
	case p.retry <- struct{}{}:
	default:
	}
	return nil
}

// retryTX kicks the TX rings every retryTXInterval while they hold frames
// the kernel has not taken, until Close.
func (p *XDPPort) retryTX() {
	defer close(p.retryDone)
	for {
		select {
		case <-p.stop:
			return
		case <-p.retry:
		}
		for left := true; left; {
			select {
			case <-p.stop:
				return
			case <-time.After(retryTXInterval):
			}
			left = false
			p.life.RLock()
			for _, s := range p.qs {
				if p.closed.Load() {
					break
				}
				s.txMu.Lock()
				if atomic.LoadUint32(s.tx.cons) != s.tx.cached {
					p.retries.Add(1)
					_, _, _ = unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
					s.reclaim()
					left = left || atomic.LoadUint32(s.tx.cons) != s.tx.cached
				}
				s.txMu.Unlock()
			}
			p.life.RUnlock()
		}
	}
}

// Queues returns a port per receive queue: the i-th reads queue i only and
// sends through queue i's socket, so that a worker per queue reads and
// sends without sharing a socket. Their Close does nothing: Close the
// XDPPort, after which their Reads and Writes fail with net.ErrClosed.
// Read the XDPPort or its queues, not both.
func (p *XDPPort) Queues() []Port {
	out := make([]Port, len(p.qs))
	for i, s := range p.qs {
		out[i] = &xdpQueue{p: p, s: s,
			pfds: []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}, {Fd: int32(p.wakeFd), Events: unix.POLLIN}}}
	}
	return out
}

// xdpQueue is one queue of an XDPPort as a Port.
type xdpQueue struct {
	p      *XDPPort
	s      *xsk
	pfds   []unix.PollFd // the socket, then the port's wake-up eventfd
	readMu sync.Mutex
}

// Read implements Port for one queue.
func (q *xdpQueue) Read(bufs [][]byte, sizes []int) (int, error) {
	q.readMu.Lock()
	defer q.readMu.Unlock()
	q.p.life.RLock()
	defer q.p.life.RUnlock()
	for {
		if q.p.closed.Load() {
			return 0, fmt.Errorf("af_xdp: %w", net.ErrClosed)
		}
		if n := q.p.readQueue(q.s, bufs, sizes); n > 0 {
			return n, nil
		}
		if err := waitPoll(q.pfds, &q.p.closed); err != nil {
			return 0, err
		}
	}
}

// Write implements Port for one queue.
func (q *xdpQueue) Write(bufs [][]byte) (int, error) { return q.p.write(q.s, bufs) }

// Close implements Port: it does nothing (see XDPPort.Queues).
func (q *xdpQueue) Close() error { return nil }

// retryTXInterval is how often retryTX kicks a TX ring the device did not
// empty.
const retryTXInterval = 200 * time.Microsecond

// XDPStats is what the kernel counted on a port's sockets.
type XDPStats struct {
	RxDropped, RxInvalid, TxInvalid, RxRingFull, FillRingEmpty, TxRingEmpty uint64
	// RxPartialChecksum counts received frames whose TCP/UDP checksum
	// the port completed (see completePartialChecksum).
	RxPartialChecksum uint64
	// TxRetries counts the kicks of frames the device did not take at
	// once (see retryTX).
	TxRetries uint64
	// TxDeviceFull counts sends in which the device dropped a frame
	// for want of room (EBUSY: a veth without a qdisc whose peer's ring
	// is full); the port then stops sending until retryTX.
	TxDeviceFull uint64
}

// Stats returns the sockets' XDP_STATISTICS, summed.
func (p *XDPPort) Stats() (XDPStats, error) {
	p.life.RLock()
	defer p.life.RUnlock()
	var st XDPStats
	if p.closed.Load() {
		return st, fmt.Errorf("af_xdp: %w", net.ErrClosed)
	}
	for _, s := range p.qs {
		var x unix.XDPStatistics
		l := uint32(unsafe.Sizeof(x))
		if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS, uintptr(unsafe.Pointer(&x)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
			return st, fmt.Errorf("af_xdp: statistics: %w", e)
		}
		st.RxDropped += x.Rx_dropped
		st.RxInvalid += x.Rx_invalid_descs
		st.TxInvalid += x.Tx_invalid_descs
		st.RxRingFull += x.Rx_ring_full
		st.FillRingEmpty += x.Rx_fill_ring_empty_descs
		st.TxRingEmpty += x.Tx_ring_empty_descs
	}
	st.RxPartialChecksum = p.rxPartial.Load()
	st.TxRetries = p.retries.Load()
	st.TxDeviceFull = p.txBusyDrops.Load()
	return st, nil
}

// RingDrops returns how many frames the kernel dropped because a receive
// ring was full (or had no chunk to receive into).
func (p *XDPPort) RingDrops() (uint64, error) {
	st, err := p.Stats()
	return st.RxDropped + st.RxRingFull, err
}

// Close implements Port.
func (p *XDPPort) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		var one [8]byte
		one[0] = 1
		_, _ = unix.Write(p.wakeFd, one[:])
		close(p.stop)
		<-p.retryDone
		p.life.Lock() // the readers woke up and left
		p.release()
		p.life.Unlock()
	})
	return nil
}

func (p *XDPPort) release() {
	var errs []error
	for _, s := range p.qs {
		if s.fd >= 0 {
			errs = append(errs, unix.Close(s.fd)) // before the UMEM goes
			s.fd = -1
		}
		for _, m := range s.maps {
			errs = append(errs, unix.Munmap(m))
		}
		s.maps = nil
		if s.umem != nil {
			errs = append(errs, unix.Munmap(s.umem))
			s.umem = nil
		}
	}
	if p.wakeFd >= 0 {
		errs = append(errs, unix.Close(p.wakeFd))
		p.wakeFd = -1
	}
	if p.mm != nil {
		p.mm.release()
	}
	_ = errors.Join(errs...)
}
