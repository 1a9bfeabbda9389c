package dhcpv6_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	vdhcp "github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/internal/netns"
)

// batchConn is the batch side of ListenConn's conn, as the server uses it.
type batchConn interface {
	vdhcp.Conn
	ReadBatch(bufs [][]byte, ns []int, ms []vdhcp.Meta, wait bool) (int, error)
	WriteBatch(bs [][]byte, dsts []netip.AddrPort) (int, error)
	LearnMACs(on bool)
}

// TestNetnsConnBatch: ListenConn's conn reads batches of datagrams with
// their source, destination, interface and (while asked) source MAC, does
// not wait when told not to, and writes batches.
func TestNetnsConnBatch(t *testing.T) {
	l := newLink(t)
	const mac = "fa:16:3e:66:66:01"
	cns := l.addClient(mac)
	var c vdhcp.Conn
	var ifindex int
	if err := netns.Do(l.srv, func() (err error) {
		ifi, err := net.InterfaceByName("eth1")
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		c, err = vdhcp.ListenConn("eth1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A read that waits for nothing fails the test instead of hanging.
	watchdog := time.AfterFunc(30*time.Second, func() { c.Close() })
	defer watchdog.Stop()
	bc, ok := c.(batchConn)
	if !ok {
		t.Fatalf("ListenConn's conn %T reads no batches", c)
	}
	var cl *net.UDPConn
	var zone string
	var ll netip.Addr
	if err := netns.Do(cns, func() (err error) {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		zone = strconv.Itoa(ifi.Index) // a name would be looked up in this process's namespace
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsLinkLocalUnicast() {
				ll = p.Addr()
			}
		}
		cl, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: vdhcp.ClientPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	const slots = 4
	bufs := make([][]byte, slots)
	for i := range bufs {
		bufs[i] = make([]byte, 65536)
	}
	ns, ms := make([]int, slots), make([]vdhcp.Meta, slots)
	if n, err := bc.ReadBatch(bufs, ns, ms, false); n != 0 || err != nil {
		t.Fatalf("nothing queued: read %d, %v; want 0 and no error without waiting", n, err)
	}
	// A read that does not wait is not held up by one that waits (the
	// server's reader waits while its handler drains).
	waiting := make(chan error, 1)
	go func() {
		wb := [][]byte{make([]byte, 65536)}
		_, err := bc.ReadBatch(wb, make([]int, 1), make([]vdhcp.Meta, 1), true)
		waiting <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it wait (nothing to synchronize on: it is in the kernel)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if n, err := bc.ReadBatch(make([][]byte, 1), make([]int, 1), make([]vdhcp.Meta, 1), false); n != 0 || err != nil {
			t.Errorf("beside a waiting read: read %d, %v", n, err)
		}
	}()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("a read that does not wait waited for the one that does")
	}
	srv := &net.UDPAddr{IP: net.ParseIP("ff02::1:2"), Port: vdhcp.ServerPort, Zone: zone}
	if _, err := cl.WriteTo([]byte{1, 0, 0, 0}, srv); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatalf("waiting read: %v", err)
	}
	// send sends count datagrams and reads them back in batches,
	// checking each; it returns the MACs seen.
	next := byte(0)
	send := func(count int) []string {
		t.Helper()
		for range count {
			next++
			if _, err := cl.WriteTo([]byte{1, 0, 0, next}, srv); err != nil {
				t.Fatal(err)
			}
		}
		var macs []string
		want := next - byte(count) + 1
		deadline := time.Now().Add(5 * time.Second)
		for len(macs) < count {
			if time.Now().After(deadline) {
				t.Fatalf("read %d of %d datagrams", len(macs), count)
			}
			n, err := bc.ReadBatch(bufs, ns, ms, true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if !bytes.Equal(bufs[i][:ns[i]], []byte{1, 0, 0, want}) {
					t.Fatalf("datagram %x, want number %d", bufs[i][:ns[i]], want)
				}
				want++
				m := ms[i]
				if m.Src != netip.AddrPortFrom(ll, vdhcp.ClientPort) || m.Dst != vdhcp.AllRelayAgentsAndServers || m.IfIndex != ifindex {
					t.Fatalf("meta %+v, want from [%s]:546 to ff02::1:2 on %d", m, ll, ifindex)
				}
				macs = append(macs, m.SrcMAC.String())
			}
		}
		return macs
	}
	for _, m := range send(6) {
		if m != mac {
			t.Fatalf("source MAC %q, want %s", m, mac)
		}
	}
	bc.LearnMACs(false)
	for _, m := range send(3) {
		if m != "" {
			t.Fatalf("source MAC %q while not learning", m)
		}
	}
	bc.LearnMACs(true)
	for _, m := range send(3) {
		if m != mac {
			t.Fatalf("source MAC %q after learning again, want %s", m, mac)
		}
	}

	answers := [][]byte{{7, 0, 0, 1}, {7, 0, 0, 2}, {7, 0, 0, 3}}
	dst := netip.AddrPortFrom(ll, vdhcp.ClientPort)
	if n, err := bc.WriteBatch(answers, []netip.AddrPort{dst, dst, dst}); n != 3 || err != nil {
		t.Fatalf("wrote %d, %v", n, err)
	}
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 100)
	for _, want := range answers {
		n, from, err := cl.ReadFromUDP(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b[:n], want) || from.Port != vdhcp.ServerPort {
			t.Fatalf("client read %x from %v, want %x from port 547", b[:n], from, want)
		}
	}
	c.Close()
	if _, err := bc.ReadBatch(bufs, ns, ms, true); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
}
