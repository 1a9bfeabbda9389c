package pdclient

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/vrouter/vrouter/config"
	"github.com/vrouter/vrouter/dhcpv6/pdclient/pdtest"
)

// Fuzz states: what the client is doing when a datagram arrives.
const (
	fuzzSoliciting      = iota // first RT: Advertises are collected
	fuzzSolicitingLater        // after the first RT: the first one is taken
	fuzzRequesting
	fuzzRenewing
	fuzzRebinding
	fuzzRequestingAgain // after NoBinding, holding the prefix
	fuzzReleasing
	numFuzzStates
)

var (
	fuzzDUID   = []byte{0, 4, 0x66, 0x75, 0x7a, 0x7a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	fuzzPrefix = netip.MustParsePrefix("2001:db8:100::/56")
	fuzzSrc    = netip.AddrPortFrom(netip.MustParseAddr("fe80::53"), ServerPort)
)

// fuzzClient returns a client in state, as Run would have it, writing to an
// in-memory Conn.
func fuzzClient(state uint8) (*Client, *pdtest.Conn, time.Time) {
	conn := pdtest.NewConn()
	c := New("eth0", config.PrefixDelegation{Length: 56}, WithConn(conn), WithDUID(fuzzDUID),
		WithRand(rand.New(rand.NewPCG(1, 2))), WithMaxSubnetID(255))
	c.cur = conn
	c.clientID, _ = dhcpv6.DUIDFromBytes(c.duid)
	now := time.Unix(1_800_000_000, 0)
	srv := pdtest.NewServer(fuzzPrefix).DUID.ToBytes()
	if state >= fuzzRenewing {
		c.bind = &binding{
			Delegation: Delegation{Prefix: fuzzPrefix, Preferred: 100 * time.Second, Valid: 200 * time.Second, Obtained: now.Add(-60 * time.Second)},
			t1:         50 * time.Second, t2: 80 * time.Second, serverID: srv, server: fuzzSrc.Addr(),
		}
	}
	switch state % numFuzzStates {
	case fuzzSoliciting, fuzzSolicitingLater:
		c.startSolicit(now, 0)
		c.transmit(now)
		if state == fuzzSolicitingLater {
			c.transmit(now)
		}
	case fuzzRequesting:
		c.request(now, offer{serverID: srv, prefixes: []netip.Prefix{fuzzPrefix}, src: fuzzSrc.Addr()})
	case fuzzRenewing:
		c.startRenew(now)
	case fuzzRebinding:
		c.startRebind(now, false)
	case fuzzRequestingAgain:
		ex := c.newExchange(now, kindRequest, params{irt: reqTimeout, mrt: reqMaxRT, mrc: reqMaxRC})
		ex.serverID, ex.prefixes = srv, []netip.Prefix{fuzzPrefix}
		c.transmit(now)
	case fuzzReleasing:
		c.newExchange(now, kindRelease, params{irt: relTimeout, mrc: relMaxRC})
		c.transmit(now)
	}
	return c, conn, now
}

// FuzzReceive feeds the client's whole receive path (parsing, the checks,
// the state machine) with datagrams in every state. The transaction id is
// always the one the client waits for; with match the client also takes the
// Client Identifier and IAID of the datagram as its own, so that recorded
// packets of other clients reach the deep checks. Whatever comes, the client
// must not panic, must count the datagram as received or refused, must bind
// only what a Reply delegated with sane values, and must write only messages
// that parse back with its Client Identifier.
func FuzzReceive(f *testing.F) {
	for state := range uint8(numFuzzStates) {
		c, conn, _ := fuzzClient(state)
		srv := pdtest.NewServer(fuzzPrefix)
		srv.T1, srv.T2 = 50*time.Second, 80*time.Second
		req := conn.Sent()[len(conn.Sent())-1].Message
		if m := srv.Answer(req); m != nil {
			f.Add(m.ToBytes(), state, false)
			srv.Prefix = netip.MustParsePrefix("2001:db8:200::/48")
			srv.Withdraw = []netip.Prefix{fuzzPrefix}
			srv.Unicast = netip.MustParseAddr("2001:db8::53")
			f.Add(srv.Answer(req).ToBytes(), state, false)
			srv.NoBinding = true
			f.Add(srv.Answer(req).ToBytes(), state, false)
			srv.Prefix = netip.Prefix{}
			f.Add(srv.Answer(req).ToBytes(), state, false)
		}
		_ = c
	}
	f.Fuzz(func(t *testing.T, b []byte, state uint8, match bool) {
		c, conn, now := fuzzClient(state % numFuzzStates)
		if len(b) >= 4 {
			b = bytes.Clone(b)
			copy(b[1:4], c.ex.xid[:])
		}
		if m, err := dhcpv6.MessageFromBytes(b); err == nil && match {
			if ia := m.Options.OneIAPD(); ia != nil {
				c.iaid = ia.IaId
			}
			if id := m.Options.ClientID(); id != nil {
				c.clientID = id
			}
		}
		var before Delegation
		if c.bind != nil {
			before = c.bind.Delegation
		}
		sentBefore := len(conn.Sent())
		counted := func() uint64 {
			st := c.Status()
			var n uint64
			for _, v := range st.Received {
				n += v
			}
			for _, v := range st.Refused {
				n += v
			}
			return n
		}
		n0 := counted()

		c.receive(now, b, fuzzSrc)

		if counted() == n0 {
			t.Error("datagram neither received nor refused")
		}
		if c.bind != nil {
			d := c.bind.Delegation
			if d != before && (len(b) == 0 || dhcpv6.MessageType(b[0]) != dhcpv6.MessageTypeReply) {
				t.Errorf("delegation %+v taken from a message of type %d", d, b[0])
			}
			if d != before {
				if r := c.fits(d.Prefix); r != nil || d.Valid == 0 || d.Preferred > d.Valid || c.bind.t1 > c.bind.t2 {
					t.Errorf("bound %+v t1 %v t2 %v (fits: %v)", d, c.bind.t1, c.bind.t2, r)
				}
			}
		}
		if c.ex == nil && c.bind == nil {
			t.Error("nothing to do: no exchange and no delegation")
		}
		for _, d := range conn.Sent()[sentBefore:] {
			if d.Message == nil || !d.Message.Options.ClientID().Equal(c.clientID) {
				t.Errorf("wrote %x, which does not parse back with our client id", d.Bytes)
			}
		}
		_ = c.Status()
	})
}
