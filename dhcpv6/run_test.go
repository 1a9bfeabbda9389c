package dhcpv6_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vrouter/vrouter/config"
	vdhcp "github.com/vrouter/vrouter/dhcpv6"
	"github.com/vrouter/vrouter/dhcpv6/dhcpv6test"
)

var (
	sduid = &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	meta  = vdhcp.Meta{Src: netip.MustParseAddrPort("[fe80::a]:546"), Dst: vdhcp.AllRelayAgentsAndServers, IfIndex: 2}
)

func cfg() config.DHCPv6 {
	return config.DHCPv6{
		Mode: config.DHCPv6Stateful, RapidCommit: true,
		T1: 50 * time.Second, T2: 80 * time.Second, PreferredLifetime: 100 * time.Second, ValidLifetime: 200 * time.Second,
		Pools: []config.DHCPv6Pool{{Start: netip.MustParseAddr("2001:db8::100"), End: netip.MustParseAddr("2001:db8::1ff")}},
	}
}

func solicit(n byte) []byte {
	m := &dhcpv6.Message{MessageType: dhcpv6.MessageTypeSolicit, TransactionID: dhcpv6.TransactionID{1, 2, n}}
	m.AddOption(dhcpv6.OptClientID(&dhcpv6.DUIDUUID{UUID: [16]byte{n}}))
	m.AddOption(&dhcpv6.OptIANA{IaId: [4]byte{0, 0, 0, 1}})
	m.AddOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	return m.ToBytes()
}

// TestRun: the server reads from its conn, answers to the client's source,
// commits the leases to the state directory before answering, and stops
// when its context ends; a restart keeps the leases.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	clock := dhcpv6test.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	synctest.Test(t, func(t *testing.T) {
		conn := dhcpv6test.NewConn()
		s, err := vdhcp.NewServer("eth1", cfg(), vdhcp.WithConn(conn), vdhcp.WithDUID(sduid), vdhcp.WithStateDir(dir), vdhcp.WithClock(clock),
			vdhcp.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		for i := range byte(10) {
			conn.Inject(solicit(i), meta)
		}
		for i := range 10 {
			d := <-conn.Sent()
			if d.Dst != meta.Src {
				t.Fatalf("answer %d to %s", i, d.Dst)
			}
			m, err := dhcpv6.MessageFromBytes(d.B)
			if err != nil || m.MessageType != dhcpv6.MessageTypeReply {
				t.Fatalf("answer %d: %v %v", i, m, err)
			}
		}
		if st := s.Status(); st.LeasesInUse != 10 || st.Sent["reply"] != 10 || !st.Running {
			t.Fatalf("status %+v", st)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
		if s.Status().Running {
			t.Fatal("running after return")
		}
	})
	s, err := vdhcp.NewServer("eth1", cfg(), vdhcp.WithDUID(sduid), vdhcp.WithStateDir(dir), vdhcp.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Leases()); n != 10 {
		t.Fatalf("%d leases after restart", n)
	}
}

// TestRunReopensSocket: a socket that fails is opened again; the server
// is ready once the first socket is open, not before.
func TestRunReopensSocket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := make(chan *dhcpv6test.Conn, 3)
		opened := 0
		listen := func(string) (vdhcp.Conn, error) {
			opened++
			if opened == 1 {
				return nil, errors.New("no such interface yet")
			}
			c := dhcpv6test.NewConn()
			conns <- c
			return c, nil
		}
		s, err := vdhcp.NewServer("eth1", cfg(), vdhcp.WithListen(listen), vdhcp.WithDUID(sduid), vdhcp.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		synctest.Wait() // the first listen failed; Run waits to retry
		select {
		case <-s.Ready():
			t.Fatal("ready before any socket was open")
		default:
		}
		c1 := <-conns
		synctest.Wait()
		select {
		case <-s.Ready():
		default:
			t.Fatal("not ready once listening")
		}
		c1.Inject(solicit(1), meta)
		<-c1.Sent()
		c1.Close() // the socket dies under the server
		c2 := <-conns
		c2.Inject(solicit(2), meta)
		if d := <-c2.Sent(); len(d.B) == 0 {
			t.Fatal("empty answer")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if opened != 3 {
			t.Fatalf("opened %d sockets", opened)
		}
	})
}
