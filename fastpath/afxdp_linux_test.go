//go:build linux

package fastpath

import (
	"bytes"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestXDPPortNamespace runs an XDPPort with its XDP program on one end of a
// veth pair in a namespace and sends frames into the other end: the frames
// the fast path takes arrive byte for byte through Read, a frame with hop
// limit 1 goes to the kernel and is counted there, frames beyond the
// receive ring are counted as ring drops, and Write sends frames out.
func TestXDPPortNamespace(t *testing.T) {
	locals, err := newXDPLocals(16)
	skipUnlessBPF(t, err)
	t.Cleanup(func() { locals.Close() })
	name := enterTestNetns(t)

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + "a"}, PeerName: name + "b"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	a, err := netlink.LinkByName(name + "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := netlink.LinkByName(name + "b")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []netlink.Link{a, b} {
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}

	prog, err := loadXDPProgram(locals, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	// 64 chunks: 32 to receive into, 32 to send from.
	port, err := OpenXDPPort(b.Attrs().Index, 1, XDPConfig{FrameSize: 2048, Frames: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	if err := prog.setSocket(0, port.FDs()[0]); err != nil {
		t.Fatal(err)
	}
	lk, mode, err := prog.attach(b.Attrs().Index)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lk.Close() })
	if mode != "native" {
		t.Errorf("XDP on veth attached in %s mode, want native", mode)
	}

	// A raw socket on a: what it sends arrives at b; what b sends arrives here.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: a.Attrs().Index}); err != nil {
		t.Fatal(err)
	}
	macA, macB := a.Attrs().HardwareAddr, b.Attrs().HardwareAddr
	frame := func(i int, hop uint8) []byte {
		f := pkt{dstMAC: [6]byte(macB), srcMAC: [6]byte(macA), hop: hop, payload: 16}.bytes()
		f[minFrame+8], f[minFrame+9] = byte(i), byte(i>>8) // after the UDP header
		return f
	}
	const n = 100
	for i := range n {
		if _, err := unix.Write(fd, frame(i, 64)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := unix.Write(fd, frame(n, 1)); err != nil {
		t.Fatal(err)
	}

	// Nothing has read yet: the 32 chunks of the fill ring hold the first
	// 32 frames, the kernel drops the rest for want of room.
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, 64)
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 32 && time.Now().Before(deadline) {
		k, err := port.Read(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	if len(got) != 32 {
		t.Fatalf("read %d frames, want the 32 the ring held", len(got))
	}
	for i, g := range got {
		if !bytes.Equal(g, frame(i, 64)) {
			t.Errorf("frame %d differs:\n got %x\nwant %x", i, g, frame(i, 64))
		}
	}
	drops, err := port.RingDrops()
	if err != nil {
		t.Fatal(err)
	}
	if drops != n-32 {
		t.Errorf("ring drops %d, want %d", drops, n-32)
	}
	var k [NumKernelReasons]uint64
	if err := prog.kernelCounts(&k); err != nil {
		t.Fatal(err)
	}
	if k[KernelHopLimit] != 1 {
		t.Errorf("kernel counts %v, want the hop-limit-1 frame", k)
	}

	// Write: frames leave b and arrive at a.
	out := [][]byte{frame(1000, 63), frame(1001, 63)}
	if w, err := port.Write(out); w != 2 || err != nil {
		t.Fatalf("Write = %d, %v", w, err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for _, want := range out {
		// Other frames (router solicitations, MLD reports of the new
		// links) may come first; at most 50 are skipped.
		found := false
		for range 50 {
			m, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				t.Fatalf("waiting for %x: %v", want[:16], err)
			}
			if found = bytes.Equal(buf[:m], want); found {
				break
			}
		}
		if !found {
			t.Fatalf("frame %x not received at the peer", want)
		}
	}
}
