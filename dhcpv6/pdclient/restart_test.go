package pdclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6/pdclient/pdtest"
)

// A Run that failed is called again by the supervisor: the next Run opens a
// new socket and goes on with the delegation it held, confirming it with a
// Rebind, without telling consumers it went away.
func TestRunAgainAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prefix := netip.MustParsePrefix("2001:db8:100::/56")
		src := netip.AddrPortFrom(netip.MustParseAddr("fe80::53"), ServerPort)
		srv := pdtest.NewServer(prefix)
		var mu sync.Mutex
		var opened []*pdtest.Conn
		var changes []Change
		c := New("eth0", config.PrefixDelegation{Length: 56}, WithDUID([]byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 1}),
			WithRand(rand.New(rand.NewPCG(3, 4))), WithNotify(func(ch Change) {
				mu.Lock()
				changes = append(changes, ch)
				mu.Unlock()
			}))
		c.listenFn = func(string) (Conn, error) {
			mu.Lock()
			defer mu.Unlock()
			opened = append(opened, pdtest.NewConn())
			return opened[len(opened)-1], nil
		}
		conns := func() []*pdtest.Conn {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(opened)
		}
		answer := func(conn *pdtest.Conn, want dhcpv6.MessageType) {
			t.Helper()
			synctest.Wait()
			s := conn.Sent()
			if len(s) == 0 || s[len(s)-1].Message.MessageType != want {
				t.Fatalf("last sent %v, want a %v", s, want)
			}
			conn.Deliver(srv.Answer(s[len(s)-1].Message).ToBytes(), src)
			synctest.Wait()
		}

		done := make(chan error, 1)
		go func() { done <- c.Run(context.Background()) }()
		time.Sleep(time.Second)
		answer(conns()[0], dhcpv6.MessageTypeSolicit)
		time.Sleep(1100 * time.Millisecond)
		answer(conns()[0], dhcpv6.MessageTypeRequest)
		if c.Current().Prefix != prefix {
			t.Fatalf("not bound: %+v", c.Status())
		}
		conns()[0].FailRead(errors.New("socket broke"))
		if err := <-done; err == nil || !conns()[0].Closed() {
			t.Fatalf("Run returned %v, closed %v; want the read error and the socket closed", err, conns()[0].Closed())
		}

		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- c.Run(ctx) }()
		synctest.Wait()
		if len(conns()) != 2 || c.Current().Prefix != prefix || c.Status().State != StateRebinding {
			t.Fatalf("second Run: %d sockets, status %+v; want a new socket and the delegation kept, rebinding", len(conns()), c.Status())
		}
		answer(conns()[1], dhcpv6.MessageTypeRebind)
		if st := c.Status(); st.State != StateBound || st.Delegations != 1 {
			t.Errorf("status %+v, want bound on the same delegation", st)
		}
		mu.Lock()
		seen := slices.Clone(changes)
		mu.Unlock()
		for _, ch := range seen {
			if ch.Current.Prefix != prefix || len(ch.Gone) != 0 {
				t.Errorf("change %+v: consumers should only have seen %v", ch, prefix)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// A socket whose interface is gone ends Run with ErrInterfaceGone; the next
// Run opens a new one and keeps the delegation.
func TestRunEndsWhenInterfaceGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prefix := netip.MustParsePrefix("2001:db8:100::/56")
		src := netip.AddrPortFrom(netip.MustParseAddr("fe80::53"), ServerPort)
		srv := pdtest.NewServer(prefix)
		srv.T1, srv.T2 = 50*time.Second, 80*time.Second
		first, second := pdtest.NewConn(), pdtest.NewConn()
		c := New("eth0", config.PrefixDelegation{Length: 56}, WithConn(first), WithDUID([]byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 1}),
			WithRand(rand.New(rand.NewPCG(3, 4))))
		c.listenFn = func(string) (Conn, error) { return second, nil }
		last := func(conn *pdtest.Conn) *dhcpv6.Message {
			synctest.Wait()
			s := conn.Sent()
			return s[len(s)-1].Message
		}
		done := make(chan error, 1)
		go func() { done <- c.Run(context.Background()) }()
		time.Sleep(time.Second)
		first.Deliver(srv.Answer(last(first)).ToBytes(), src)
		time.Sleep(1100 * time.Millisecond)
		first.Deliver(srv.Answer(last(first)).ToBytes(), src)
		synctest.Wait()
		if c.Current().Prefix != prefix {
			t.Fatalf("not bound: %+v", c.Status())
		}
		// A link that is down is no reason to stop; a link that is gone is.
		first.SetWriteError(errors.New("sendto: cannot assign requested address"))
		time.Sleep(50 * time.Second)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned %v on a send error", err)
		default:
		}
		first.SetWriteError(fmt.Errorf("%w: sendto: cannot assign requested address", ErrInterfaceGone))
		time.Sleep(11 * time.Second)
		if err := <-done; !errors.Is(err, ErrInterfaceGone) {
			t.Fatalf("Run returned %v, want ErrInterfaceGone", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- c.Run(ctx) }()
		if m := last(second); m.MessageType != dhcpv6.MessageTypeRebind || c.Current().Prefix != prefix {
			t.Errorf("second Run sent %v with %+v, want a Rebind for the delegation held", m.MessageType, c.Status())
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// Without the right to bind port 546 retrying cannot help: Run says why.
func TestRunWithoutPermission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New("eth0", config.PrefixDelegation{Length: 56}, WithDUID([]byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 1}))
		c.listenFn = func(string) (Conn, error) {
			return nil, fmt.Errorf("listen udp6 [::]:546: bind: %w", syscall.EACCES)
		}
		err := c.Run(context.Background())
		if !errors.Is(err, syscall.EACCES) || !strings.Contains(err.Error(), "CAP_NET_BIND_SERVICE") {
			t.Errorf("Run: %v, want the permission error naming CAP_NET_BIND_SERVICE", err)
		}
	})
}
