package fastpath

import "errors"

// Port is a batch packet port on one network interface: it reads the Ethernet
// frames the interface receives and sends Ethernet frames out of it. It is
// modelled on wireguard-go's tun.Device.
//
// Slice lengths and ownership: the caller owns every slice it passes; a Port
// never retains bufs or sizes after a call returns.
type Port interface {
	// Read stores up to len(bufs) received frames, frame i in bufs[i], and
	// returns how many it stored. len(sizes) must be at least len(bufs);
	// sizes[i] is frame i's length on the wire, and only its first
	// min(sizes[i], len(bufs[i])) bytes are stored: sizes[i] > len(bufs[i])
	// means the frame was cut to the buffer. Frames carry no FCS. Read blocks
	// until at least one frame is there (n ≥ 1 when err == nil). After Close,
	// and when Close is called while Read blocks, Read returns an error
	// wrapping net.ErrClosed. Read must not be called concurrently with
	// itself.
	Read(bufs [][]byte, sizes []int) (n int, err error)

	// Write queues the complete frames bufs[i] for transmission and returns
	// how many it queued, in order. When n < len(bufs) err says why:
	// ErrQueueFull when the transmit queue has no room, an error wrapping
	// net.ErrClosed after Close. The frames are copied before Write returns.
	// Write may run concurrently with Read, but not with itself.
	Write(bufs [][]byte) (n int, err error)

	// Close releases the port and wakes a blocked Read. Calling it again
	// returns nil.
	Close() error
}

// ErrQueueFull is returned by Port.Write when the transmit queue has no room
// for the remaining frames; they were not sent.
var ErrQueueFull = errors.New("fastpath: transmit queue full")

// RingConfig sizes an AF_PACKET port's rings.
type RingConfig struct {
	// RX ring: BlockNr blocks of BlockSize bytes (a power of two multiple of
	// the page size); a block is handed to userspace when full or after
	// RetireMs milliseconds.
	BlockSize, BlockNr, RetireMs int
	// TX ring: TxFrames frames of TxFrameSize bytes (≥ MTU + 14 + 32).
	TxFrameSize, TxFrames int
	// SendMmsg sends with sendmmsg(2), one system call per Write, instead
	// of a TX ring (TxFrames is then ignored; TxFrameSize still bounds a
	// frame). The kernel copies each frame into a linear skb, where the TX
	// ring hands it over as a page fragment that a veth peer copies once
	// more and that needs a completion (see the package doc, "I/O").
	SendMmsg bool
}

// DefaultRingConfig is 4 MiB of RX ring in 64 KiB blocks retired after 1 ms,
// and sendmmsg(2) for TX (TX ring settings for SendMmsg false: 1024 frames
// of 2 KiB, larger frames for MTUs above 1970).
var DefaultRingConfig = RingConfig{BlockSize: 1 << 16, BlockNr: 64, RetireMs: 1, TxFrameSize: 2048, TxFrames: 1024, SendMmsg: true}

// XDPConfig sizes an AF_XDP port.
type XDPConfig struct {
	// FrameSize is the size of a UMEM chunk: 2048 or 4096. A frame longer
	// than FrameSize cannot be received or sent.
	FrameSize int
	// Frames is the number of chunks per queue's UMEM (a power of two):
	// half of them, at most 1024, for sending, the rest for receiving
	// (the fill ring).
	Frames int
	// SendMmsg sends with sendmmsg(2) on an AF_PACKET socket instead of
	// the AF_XDP TX ring.
	SendMmsg bool
}

// DefaultXDPConfig is 8192 chunks of 2 KiB (16 MiB of UMEM) per receive
// queue: 7168 to receive into, 24 ms at 300 kpps (see splitChunks). For
// MTUs above 1778 the chunks are 4 KiB and half as many.
var DefaultXDPConfig = XDPConfig{FrameSize: 2048, Frames: 8192}
