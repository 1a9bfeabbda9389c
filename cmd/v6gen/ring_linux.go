package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TPACKET_V2 TX ring constants (linux/if_packet.h).
const (
	tpStatusAvailable   = 0
	tpStatusSendRequest = 1
	tpStatusWrongFormat = 4
	tpHdrLenOff         = 4  // tp_len in struct tpacket2_hdr
	tpDataOff           = 32 // TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)
	ringFrames          = 4096
	ringBatch           = 64
)

// txRing is a TPACKET_V2 TX ring socket with PACKET_QDISC_BYPASS.
type txRing struct {
	fd        int
	ring      []byte
	frameSize int
	frames    int
}

func openTxRing(ifindex, maxFrame int) (*txRing, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	r := &txRing{fd: fd, frameSize: 128}
	fail := func(what string, err error) (*txRing, error) {
		r.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fail("PACKET_VERSION", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return fail("PACKET_QDISC_BYPASS", err)
	}
	// Skip a frame the kernel refuses instead of stopping the ring at it.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return fail("PACKET_LOSS", err)
	}
	for r.frameSize < maxFrame+tpDataOff {
		r.frameSize *= 2
	}
	block := max(4*unix.Getpagesize(), r.frameSize)
	per := block / r.frameSize
	req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(ringFrames / per), Frame_size: uint32(r.frameSize)}
	req.Frame_nr = req.Block_nr * uint32(per)
	r.frames = int(req.Frame_nr)
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fail("PACKET_TX_RING", err)
	}
	if r.ring, err = unix.Mmap(fd, 0, block*int(req.Block_nr), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail("mmap", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return fail("bind", err)
	}
	return r, nil
}

func (r *txRing) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.ring[i*r.frameSize]))
}

// kick asks the kernel to send what the ring holds; wait makes the call
// return only once it has (or the device refused to take more).
//
// The non-blocking kick is a raw system call: it takes 50-100 µs (the
// kernel sends the batch inside it), and a Syscall that long lets the Go
// runtime's sysmon hand the goroutine's P to another thread, which cost a
// context switch per kick or two (62k per 3 s flat out) and made v6gen
// offer 0.68x of the C loop (txring.c) on the same veth; raw, the thread
// keeps its P (nothing else runs in v6gen meanwhile).
func (r *txRing) kick(wait bool) {
	if wait {
		_, _, _ = unix.Syscall6(unix.SYS_SENDTO, uintptr(r.fd), 0, 0, 0, 0, 0)
		return
	}
	_, _, _ = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(r.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
}

func (r *txRing) Close() {
	if r.ring != nil {
		_ = unix.Munmap(r.ring)
		r.ring = nil
	}
	if r.fd >= 0 {
		_ = unix.Close(r.fd)
		r.fd = -1
	}
}

// sendRing sends from a TX ring: it fills up to ringBatch slots with the
// next frames, hands them to the kernel and kicks it once per batch. A slot
// the kernel still owns makes it kick and wait. At the end it waits until
// the kernel has taken every queued frame, so that sent is exact.
func sendRing(ctx context.Context, spec sendSpec, pps float64, dur time.Duration) (result, error) {
	frames, err := buildFrames(spec.frameSpec)
	if err != nil {
		return result{}, err
	}
	r, err := openTxRing(spec.Ifindex, spec.Size)
	if err != nil {
		return result{}, err
	}
	defer r.Close()
	var res result
	start := time.Now()
	p := pacer{pps: pps, start: start, now: time.Now, sleep: time.Sleep}
	end := start.Add(dur)
	slot, next := 0, 0
	for n := uint64(0); ctx.Err() == nil; n++ {
		if n&15 == 0 && !time.Now().Before(end) {
			break
		}
		k := p.due(res.Sent, ringBatch)
		if k == 0 {
			p.wait()
			continue
		}
		for range k {
			st := r.status(slot)
			for atomic.LoadUint32(st) != tpStatusAvailable {
				if atomic.LoadUint32(st) == tpStatusWrongFormat {
					atomic.StoreUint32(st, tpStatusAvailable)
					break
				}
				res.Waits++
				r.kick(true)
			}
			f := r.ring[slot*r.frameSize : (slot+1)*r.frameSize]
			copy(f[tpDataOff:], frames[next])
			*(*uint32)(unsafe.Pointer(&f[tpHdrLenOff])) = uint32(len(frames[next]))
			atomic.StoreUint32(st, tpStatusSendRequest)
			if next++; next == len(frames) {
				next = 0
			}
			if slot++; slot == r.frames {
				slot = 0
			}
		}
		res.Sent += uint64(k)
		r.kick(false)
	}
	r.kick(true)
	res.finish(start)
	return res, nil
}
