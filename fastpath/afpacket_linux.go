package fastpath

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets in the TPACKET_V3 block descriptor and packet header, and the
// TPACKET_V2 TX frame header (linux/if_packet.h).
const (
	blkStatus      = 8
	blkNumPkts     = 12
	blkFirstPkt    = 16
	v3NextOffset   = 0
	v3Snaplen      = 12
	v3Len          = 16
	v3Status       = 20
	v3Mac          = 24
	v2Status       = 0
	v2Len          = 4
	v2Data         = 32 // TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)
	tpStatusKernel = 0
	tpStatusUser   = 1
	tpStatusAvail  = 0
	tpStatusSendRq = 1
	tpStatusWrong  = 4
	// TP_STATUS_CSUMNOTREADY: the frame's transport checksum is left to
	// offload (see completeChecksum).
	tpStatusCsumNotReady = 1 << 3
)

// RingPort is a Port on an interface: a TPACKET_V3 RX ring socket bound to
// ETH_P_ALL with PACKET_IGNORE_OUTGOING and a BPF filter for IPv6 frames, and
// a TPACKET_V2 TX ring socket with PACKET_QDISC_BYPASS that sends a batch
// with one sendto.
type RingPort struct {
	ifindex int
	rxFd    int
	txFd    int
	wakeFd  int // eventfd: Close wakes a blocked Read
	rx      []byte
	tx      []byte
	cfg     RingConfig
	closed  atomic.Bool

	readMu sync.Mutex // held by Read; Close waits for it
	cur    int        // current RX block
	left   int        // packets left in the current block (0: not held)
	off    int        // offset of the next packet in the current block

	writeMu sync.Mutex
	txHead  int
	iov     []unix.Iovec   // SendMmsg: one per frame of a Write
	msgs    []unix.Mmsghdr // SendMmsg: one per frame of a Write
	txErrs  atomic.Uint64
	txBusy  atomic.Uint64 // sends that found the device's queue full (and waited)
	txStuck atomic.Bool   // the last wait for the device ended without progress
	// mmsg sends msgs with sendmmsg(2) on fd without blocking (nil:
	// sendmmsg; tests replace it).
	mmsg func(fd int, msgs []unix.Mmsghdr) (int, unix.Errno)
	// now and pause are the clock of sendMmsg's wait for a full device
	// (nil: time.Now and time.Sleep; tests replace them, so that a
	// loaded machine's oversleeping does not decide what a test sees).
	now    func() time.Time
	pause  func(time.Duration)
	rxCut  atomic.Uint64
	statMu sync.Mutex // RingDrops; Close holds it to release
	drops  uint64     // RX ring drops so far; under statMu

	closeOnce sync.Once
}

var _ Port = (*RingPort)(nil)

// OpenRingPort opens a RingPort on the interface with index ifindex.
func OpenRingPort(ifindex int, cfg RingConfig) (p *RingPort, err error) {
	p = &RingPort{ifindex: ifindex, rxFd: -1, txFd: -1, wakeFd: -1, cfg: cfg}
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	if p.wakeFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := p.openRX(); err != nil {
		return nil, fmt.Errorf("rx ring: %w", err)
	}
	if err := p.openTX(); err != nil {
		return nil, fmt.Errorf("tx ring: %w", err)
	}
	return p, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (p *RingPort) openRX() error {
	// Protocol 0 until the ring is ready: nothing is queued before bind.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	p.rxFd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("PACKET_VERSION: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
	}
	// ldh [12]; jeq #0x86dd, accept, drop
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: etherTypeIP6},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(p.cfg.BlockSize),
		Block_nr:       uint32(p.cfg.BlockNr),
		Frame_size:     uint32(p.cfg.BlockSize), // V3 frames are variable; must divide the block
		Frame_nr:       uint32(p.cfg.BlockNr),
		Retire_blk_tov: uint32(p.cfg.RetireMs),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING %+v: %w", req, err)
	}
	p.rx, err = unix.Mmap(fd, 0, p.cfg.BlockSize*p.cfg.BlockNr, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

func (p *RingPort) openTX() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	p.txFd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fmt.Errorf("PACKET_VERSION: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
	}
	setSendBuffer(fd)
	if p.cfg.SendMmsg {
		p.cfg.TxFrames = 0
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: p.ifindex}); err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		return nil
	}
	// Skip malformed frames instead of stopping the ring at them.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return fmt.Errorf("PACKET_LOSS: %w", err)
	}
	perBlock := max(1, unix.Getpagesize()*4/p.cfg.TxFrameSize)
	blockSize := perBlock * p.cfg.TxFrameSize
	blocks := (p.cfg.TxFrames + perBlock - 1) / perBlock
	p.cfg.TxFrames = blocks * perBlock
	req := unix.TpacketReq{
		Block_size: uint32(blockSize),
		Block_nr:   uint32(blocks),
		Frame_size: uint32(p.cfg.TxFrameSize),
		Frame_nr:   uint32(p.cfg.TxFrames),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_TX_RING %+v: %w", req, err)
	}
	p.tx, err = unix.Mmap(fd, 0, blockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: p.ifindex}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

func u32at(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// Read implements Port.
func (p *RingPort) Read(bufs [][]byte, sizes []int) (int, error) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	n := 0
	for {
		if p.closed.Load() {
			return 0, fmt.Errorf("af_packet: %w", net.ErrClosed)
		}
		blk := p.rx[p.cur*p.cfg.BlockSize : (p.cur+1)*p.cfg.BlockSize]
		if p.left == 0 {
			if atomic.LoadUint32(u32at(blk, blkStatus))&tpStatusUser == 0 {
				if n > 0 {
					return n, nil
				}
				if err := p.wait(); err != nil {
					return 0, err
				}
				continue
			}
			p.left = int(atomic.LoadUint32(u32at(blk, blkNumPkts)))
			p.off = int(*u32at(blk, blkFirstPkt))
			if p.left == 0 {
				p.releaseBlock(blk)
				continue
			}
		}
		for p.left > 0 && n < len(bufs) {
			h := blk[p.off:]
			snap := int(*u32at(h, v3Snaplen))
			mac := int(*(*uint16)(unsafe.Pointer(&h[v3Mac])))
			wire := int(*u32at(h, v3Len))
			if snap >= wire || snap >= len(bufs[n]) {
				sizes[n] = wire
				c := copy(bufs[n], blk[p.off+mac:p.off+mac+snap])
				if *u32at(h, v3Status)&tpStatusCsumNotReady != 0 && c == wire {
					completeChecksum(bufs[n][:c])
				}
				n++
			} else {
				p.rxCut.Add(1) // longer than a ring block: cannot be forwarded
			}
			p.left--
			p.off += int(*u32at(h, v3NextOffset))
		}
		if p.left == 0 {
			p.releaseBlock(blk)
		}
		if n == len(bufs) {
			return n, nil
		}
	}
}

func (p *RingPort) releaseBlock(blk []byte) {
	atomic.StoreUint32(u32at(blk, blkStatus), tpStatusKernel)
	p.left = 0
	p.cur = (p.cur + 1) % p.cfg.BlockNr
}

// wait blocks until the RX socket or the wake-up eventfd is readable.
func (p *RingPort) wait() error {
	fds := []unix.PollFd{{Fd: int32(p.rxFd), Events: unix.POLLIN | unix.POLLERR}, {Fd: int32(p.wakeFd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("af_packet: poll: %w", err)
		}
		if fds[1].Revents != 0 || p.closed.Load() {
			return fmt.Errorf("af_packet: %w", net.ErrClosed)
		}
		return nil
	}
}

// Write implements Port.
func (p *RingPort) Write(bufs [][]byte) (int, error) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if p.closed.Load() {
		return 0, fmt.Errorf("af_packet: %w", net.ErrClosed)
	}
	if p.cfg.SendMmsg {
		return p.sendMmsg(bufs)
	}
	fs := p.cfg.TxFrameSize
	n := 0
	var err error
	for _, b := range bufs {
		if len(b) > fs-v2Data {
			err = fmt.Errorf("af_packet: frame of %d bytes exceeds the TX frame size %d", len(b), fs-v2Data)
			break
		}
		f := p.tx[p.txHead*fs : (p.txHead+1)*fs]
		st := atomic.LoadUint32(u32at(f, v2Status))
		if st == tpStatusWrong {
			p.txErrs.Add(1)
		} else if st != tpStatusAvail {
			err = ErrQueueFull
			break
		}
		copy(f[v2Data:], b)
		*u32at(f, v2Len) = uint32(len(b))
		atomic.StoreUint32(u32at(f, v2Status), tpStatusSendRq)
		p.txHead = (p.txHead + 1) % p.cfg.TxFrames
		n++
	}
	if n > 0 {
		if serr := p.kick(); serr != nil && err == nil {
			err = serr
		}
	}
	return n, err
}

// sendmmsg is RingPort.mmsg's default: sendmmsg(2) with MSG_DONTWAIT.
func sendmmsg(fd int, msgs []unix.Mmsghdr) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return int(r), e
}

// sendMmsg sends bufs with sendmmsg(2) on the TX socket (bound to the
// interface, so the messages need no address).
func (p *RingPort) sendMmsg(bufs [][]byte) (int, error) {
	if len(bufs) > len(p.msgs) {
		p.iov = make([]unix.Iovec, len(bufs))
		p.msgs = make([]unix.Mmsghdr, len(bufs))
	}
	var err error
	m := 0
	for _, b := range bufs {
		if len(b) > p.cfg.TxFrameSize-v2Data || len(b) == 0 {
			err = fmt.Errorf("af_packet: frame of %d bytes outside 1..%d", len(b), p.cfg.TxFrameSize-v2Data)
			break
		}
		p.iov[m].Base = &b[0]
		p.iov[m].SetLen(len(b))
		p.msgs[m].Hdr.Iov = &p.iov[m]
		p.msgs[m].Hdr.SetIovlen(1)
		m++
	}
	send, now, pause := p.mmsg, p.now, p.pause
	if send == nil {
		send = sendmmsg
	}
	if now == nil {
		now = time.Now
	}
	if pause == nil {
		pause = time.Sleep
	}
	n := 0
	var busySince time.Time
	for n < m {
		r, e := send(p.txFd, p.msgs[n:m])
		if e == unix.EINTR {
			continue
		}
		if e == unix.EAGAIN || e == unix.ENOBUFS {
			// The device's queue is full (a stopped queue or a full
			// veth peer ring says ENOBUFS, a full send buffer EAGAIN):
			// the device drains it at its own pace, so wait a little
			// and send the rest, as a qdisc would, for at most
			// txBusyWait without progress. A port that stayed full that
			// long (a link down says ENOBUFS too) fails at once until it
			// takes a frame again, so that it does not hold up a worker's
			// other ports batch after batch.
			t := now()
			if busySince.IsZero() {
				busySince = t
				p.txBusy.Add(1)
			}
			if p.txStuck.Load() || t.Sub(busySince) >= txBusyWait || p.closed.Load() {
				p.txStuck.Store(true)
				err = ErrQueueFull
				break
			}
			pause(txBusyPause)
			continue
		}
		if e != 0 {
			err = fmt.Errorf("af_packet: sendmmsg: %w", e)
			break
		}
		n += r
		busySince = time.Time{}
		if r > 0 {
			p.txStuck.Store(false)
		}
	}
	clear(p.iov[:m]) // retain no caller buffer
	return n, err
}

// A send that finds the device's queue full waits txBusyPause and tries
// again, until it has waited txBusyWait without the device taking a frame;
// then the rest of the batch is dropped (tx_error). 2 ms is 256 frames at
// 128 kpps, a ring's worth at the slowest rate a device should drain it.
const (
	txBusyPause = 20 * time.Microsecond
	txBusyWait  = 2 * time.Millisecond
)

// txSendBuffer is the send buffer of the TX sockets. A sent frame can stay
// charged to the socket until the device has sent it (virtio-net with
// NAPI TX frees it at completion), and the default (net.core.wmem_default,
// 208 KiB) would fail a send with EAGAIN at about 160 small frames in
// flight, before a 256-entry device ring is full. 4 MiB covers such a ring
// of 9000-byte frames (truesize about 16 KiB).
const txSendBuffer = 4 << 20

// setSendBuffer sets the socket's send buffer to txSendBuffer, beyond
// net.core.wmem_max where CAP_NET_ADMIN allows (the router has it) and
// otherwise up to wmem_max.
func setSendBuffer(fd int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, txSendBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, txSendBuffer)
	}
}

// kick asks the kernel to send the queued TX frames.
func (p *RingPort) kick() error {
	for {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.txFd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.ENOBUFS:
			return nil // sent, or sent later by the next kick
		case unix.EINTR:
			continue
		default:
			return fmt.Errorf("af_packet: sendto: %w", e)
		}
	}
}

// Drain asks the kernel to send what the TX ring holds and waits, at most
// timeout, until it has taken every frame. It returns an error wrapping
// os.ErrDeadlineExceeded when frames are still queued after timeout.
func (p *RingPort) Drain(timeout time.Duration) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if p.closed.Load() {
		return fmt.Errorf("af_packet: %w", net.ErrClosed)
	}
	if p.cfg.SendMmsg {
		return nil // nothing is queued in userspace
	}
	deadline := time.Now().Add(timeout)
	for {
		if err := p.kick(); err != nil {
			return err
		}
		queued := 0
		fs := p.cfg.TxFrameSize
		for i := range p.cfg.TxFrames {
			st := atomic.LoadUint32(u32at(p.tx, i*fs+v2Status))
			if st != tpStatusAvail && st != tpStatusWrong {
				queued++
			}
		}
		if queued == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("af_packet: %d frames still in the TX ring after %v: %w", queued, timeout, os.ErrDeadlineExceeded)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TxBusy returns how many sends found the device's queue full and waited
// for it (see txBusyWait).
func (p *RingPort) TxBusy() uint64 { return p.txBusy.Load() }

// RingDrops returns how many frames the kernel dropped because the RX ring
// was full, since the port was opened (PACKET_STATISTICS, which resets on
// each read, summed).
func (p *RingPort) RingDrops() (uint64, error) {
	p.statMu.Lock() // Close releases the socket under it
	defer p.statMu.Unlock()
	if p.closed.Load() {
		return p.drops, fmt.Errorf("af_packet: %w", net.ErrClosed)
	}
	st, err := unix.GetsockoptTpacketStatsV3(p.rxFd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return p.drops, err
	}
	p.drops += uint64(st.Drops)
	return p.drops, nil
}

// Close implements Port.
func (p *RingPort) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		var one [8]byte
		one[0] = 1
		_, _ = unix.Write(p.wakeFd, one[:])
		p.readMu.Lock() // wait for a blocked Read to leave
		p.writeMu.Lock()
		p.statMu.Lock()
		p.release()
		p.statMu.Unlock()
		p.writeMu.Unlock()
		p.readMu.Unlock()
	})
	return nil
}

func (p *RingPort) release() {
	var errs []error
	if p.rx != nil {
		errs = append(errs, unix.Munmap(p.rx))
		p.rx = nil
	}
	if p.tx != nil {
		errs = append(errs, unix.Munmap(p.tx))
		p.tx = nil
	}
	for _, fd := range []*int{&p.rxFd, &p.txFd, &p.wakeFd} {
		if *fd >= 0 {
			errs = append(errs, unix.Close(*fd))
			*fd = -1
		}
	}
	_ = errors.Join(errs...)
}
