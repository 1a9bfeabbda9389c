//go:build linux

package fastpath

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netdevMessage builds a netdev generic netlink message as the kernel sends
// it: netlink header, genetlink header, ifindex and xdp-features attributes.
func netdevMessage(typ uint16, seq uint32, cmd uint8, ifindex uint32, features uint64) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+4+8+12)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	g := b[unix.NLMSG_HDRLEN:]
	g[0], g[1] = cmd, 1
	a := g[4:]
	binary.NativeEndian.PutUint16(a[0:], 8)
	binary.NativeEndian.PutUint16(a[2:], netdevAttrIfindex)
	binary.NativeEndian.PutUint32(a[4:], ifindex)
	binary.NativeEndian.PutUint16(a[8:], 12)
	binary.NativeEndian.PutUint16(a[10:], netdevAttrXDPFeatures)
	binary.NativeEndian.PutUint64(a[12:], features)
	return b
}

func netlinkDone(seq uint32) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return b
}

func TestParseNetdevMessages(t *testing.T) {
	type dev struct {
		Cmd      uint8
		Ifindex  int
		Features uint64
	}
	var got []dev
	collect := func(cmd uint8, ifindex int, features uint64) { got = append(got, dev{cmd, ifindex, features}) }
	b := append(netdevMessage(20, 7, netdevCmdDevGet, 1, 0), netdevMessage(20, 7, netdevCmdDevGet, 3, 0x27)...)
	b = append(b, netdevMessage(20, 6, netdevCmdDevGet, 9, 1)...) // another request's: skipped
	b = append(b, netlinkDone(7)...)
	done, err := parseNetdevMessages(b, 7, collect)
	if err != nil || !done {
		t.Fatalf("dump: done %v, err %v", done, err)
	}
	if diff := cmp.Diff([]dev{{netdevCmdDevGet, 1, 0}, {netdevCmdDevGet, 3, 0x27}}, got); diff != "" {
		t.Errorf("dump (-want +got):\n%s", diff)
	}
	got = nil
	if done, err := parseNetdevMessages(netdevMessage(20, 0, netdevCmdDevChangeNtf, 4, xdpActNDOXmit), 0, collect); err != nil || done {
		t.Fatalf("notification: done %v, err %v", done, err)
	}
	if diff := cmp.Diff([]dev{{netdevCmdDevChangeNtf, 4, xdpActNDOXmit}}, got); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
	e := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(e[0:], uint32(len(e)))
	binary.NativeEndian.PutUint16(e[4:], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(e[8:], 7)
	binary.NativeEndian.PutUint32(e[16:], uint32(0x100000000-int64(unix.EPERM)))
	if _, err := parseNetdevMessages(e, 7, collect); !errors.Is(err, unix.EPERM) {
		t.Errorf("error message: %v, want EPERM", err)
	}
	if _, err := parseNetdevMessages(netdevMessage(20, 7, 1, 1, 0)[:30], 7, collect); err == nil {
		t.Error("truncated message: no error")
	}
}

// FuzzParseNetdevMessages: no input makes the parser read out of bounds,
// loop or report a device without an index.
func FuzzParseNetdevMessages(f *testing.F) {
	f.Add(append(netdevMessage(20, 7, netdevCmdDevGet, 3, 0x27), netlinkDone(7)...), uint32(7))
	f.Add(netdevMessage(20, 0, netdevCmdDevChangeNtf, 4, 4), uint32(0))
	f.Add(netlinkDone(1), uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		_, _ = parseNetdevMessages(b, seq, func(_ uint8, ifindex int, _ uint64) {
			if ifindex <= 0 {
				t.Fatalf("device index %d reported", ifindex)
			}
		})
	})
}

// TestXDPFeaturesVeth: a veth takes redirected frames (NDO_XMIT) only while
// its peer has NAPI; vethPeerGRO gives the peer NAPI in another namespace
// and its undo takes it away again; the notification of the change
// arrives on a subscribed connection.
func TestXDPFeaturesVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("namespace test: needs root")
	}
	name := enterTestNetns(t)
	conn, err := dialXDPFeatures(false)
	if errors.Is(err, errNoXDPFeatures) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The peer in a second namespace, as a VM or container would be.
	peerNS := name + "p"
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	pns, err := netns.NewNamed(peerNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pns.Close(); _ = netns.DeleteNamed(peerNS) })
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + "a"}, PeerName: name + "b", PeerNamespace: netlink.NsFd(pns)}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	a, err := netlink.LinkByName(name + "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(a); err != nil {
		t.Fatal(err)
	}
	if err := runInNetns(pns, func() error {
		b, err := netlink.LinkByName(name + "b")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(b)
	}); err != nil {
		t.Fatal(err)
	}
	idx := a.Attrs().Index
	features := func() uint64 {
		t.Helper()
		d, err := conn.Dump()
		if err != nil {
			t.Fatal(err)
		}
		return d[idx]
	}
	if f := features(); f&xdpActNDOXmit != 0 {
		t.Fatalf("features %#x: takes redirected frames before its peer has NAPI", f)
	}
	watch, err := dialXDPFeatures(true)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	undo, err := vethPeerGRO(name + "a")
	if err != nil {
		t.Fatal(err)
	}
	if f := features(); f&xdpActNDOXmit == 0 {
		t.Errorf("features %#x: no NDO_XMIT with GRO on the peer", f)
	}
	if err := watch.setReceiveTimeout(2e9); err != nil {
		t.Fatal(err)
	}
	notified := false
	for range 8 {
		if err := watch.Receive(func(cmd uint8, ifindex int, f uint64) {
			if ifindex == idx && f&xdpActNDOXmit != 0 {
				notified = true
			}
		}); err != nil || notified {
			break
		}
	}
	if !notified {
		t.Error("no notification that the veth takes redirected frames")
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if f := features(); f&xdpActNDOXmit != 0 {
		t.Errorf("features %#x: NDO_XMIT after GRO was turned off again on the peer", f)
	}
	runtime.KeepAlive(pns)
}
