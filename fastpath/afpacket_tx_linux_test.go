//go:build linux

package fastpath

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeDevice is a RingPort's sendmmsg(2) against a device whose queue takes
// room frames and then says ENOBUFS until drained, with the port's clock:
// pause advances it without sleeping.
type fakeDevice struct {
	room    int   // frames the queue takes before it is full
	drainAt []int // calls after which the queue is empty again
	calls   int
	sent    int
	clock   time.Time
}

func (d *fakeDevice) now() time.Time         { return d.clock }
func (d *fakeDevice) pause(dt time.Duration) { d.clock = d.clock.Add(dt) }

// epoch is where a fakeDevice's clock starts (not the zero time, which
// sendMmsg takes for "not waiting").
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// attach makes d p's device and clock.
func (d *fakeDevice) attach(p *RingPort) {
	d.clock = epoch
	p.mmsg, p.now, p.pause = d.mmsg, d.now, d.pause
}

func (d *fakeDevice) mmsg(_ int, msgs []unix.Mmsghdr) (int, unix.Errno) {
	d.calls++
	for _, c := range d.drainAt {
		if c == d.calls {
			d.room = 1 << 30
		}
	}
	n := min(d.room, len(msgs))
	if n == 0 {
		return 0, unix.ENOBUFS
	}
	d.room -= n
	d.sent += n
	return n, 0
}

func testFrames(n int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 78)
	}
	return bufs
}

// TestSendMmsgWaitsForDevice: a send that finds the device's queue full
// waits for it and sends the rest (nothing is dropped when the device
// drains within txBusyWait); a device that takes nothing for txBusyWait
// fails the rest with ErrQueueFull, and the next send fails at once until
// the device takes a frame again.
func TestSendMmsgWaitsForDevice(t *testing.T) {
	dev := &fakeDevice{room: 100, drainAt: []int{5}}
	p := &RingPort{txFd: -1, cfg: RingConfig{SendMmsg: true, TxFrameSize: 2048}}
	dev.attach(p)
	n, err := p.Write(testFrames(256))
	if n != 256 || err != nil {
		t.Fatalf("Write into a queue that drains: %d, %v; want 256, nil", n, err)
	}
	if dev.sent != 256 || p.TxBusy() != 1 {
		t.Errorf("device got %d frames, TxBusy %d; want 256, 1", dev.sent, p.TxBusy())
	}

	if took := dev.clock.Sub(epoch); took != 3*txBusyPause {
		t.Errorf("waited %v for a queue that drained at the fourth try; want %v", took, 3*txBusyPause)
	}

	dev = &fakeDevice{room: 10}
	dev.attach(p)
	n, err = p.Write(testFrames(64))
	if took := dev.clock.Sub(epoch); n != 10 || !errors.Is(err, ErrQueueFull) || took < txBusyWait || took > txBusyWait+txBusyPause {
		t.Fatalf("Write into a queue that stays full: %d, %v after %v; want 10, ErrQueueFull after %v", n, err, took, txBusyWait)
	}
	start := dev.clock
	n, err = p.Write(testFrames(64))
	if took := dev.clock.Sub(start); n != 0 || !errors.Is(err, ErrQueueFull) || took != 0 {
		t.Fatalf("Write into a port that stayed full: %d, %v after %v; want 0, ErrQueueFull at once", n, err, took)
	}
	dev.room = 1 << 30
	if n, err = p.Write(testFrames(64)); n != 64 || err != nil {
		t.Fatalf("Write once the device takes frames again: %d, %v; want 64, nil", n, err)
	}
	dev.room = 0
	start = dev.clock
	if _, err = p.Write(testFrames(8)); !errors.Is(err, ErrQueueFull) || dev.clock.Sub(start) < txBusyWait {
		t.Errorf("after recovering, a full queue is waited for again: %v after %v", err, dev.clock.Sub(start))
	}

	p.mmsg = func(int, []unix.Mmsghdr) (int, unix.Errno) { return 0, unix.EINVAL }
	if _, err = p.Write(testFrames(1)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Write with a failing device: %v; want EINVAL", err)
	}
}

// TestSplitChunks: sending gets at most txChunksMax chunks of an AF_XDP
// UMEM and half of a small one, receiving the rest.
func TestSplitChunks(t *testing.T) {
	for _, c := range []struct{ frames, rx, tx int }{
		{64, 32, 32}, {2048, 1024, 1024}, {4096, 3072, 1024}, {8192, 7168, 1024},
	} {
		if rx, tx := splitChunks(c.frames); rx != c.rx || tx != c.tx {
			t.Errorf("splitChunks(%d) = %d, %d; want %d, %d", c.frames, rx, tx, c.rx, c.tx)
		}
	}
}
