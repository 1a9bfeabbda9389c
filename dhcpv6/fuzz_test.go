package dhcpv6

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// The fuzz input is a sequence of datagrams, each as
//
//	flags(1) length(2, big endian) payload(length)
//
// where flags&3 chooses how it arrives (0: multicast from an on-link
// client with a MAC, 1: unicast, 2: from a relay's global address, 3:
// multicast from a global source), flags&4 advances the clock by an hour
// first and flags&8 reloads the config with a shrunk pool first.
func fuzzFrames(msgs ...[]byte) []byte {
	var b []byte
	for i, m := range msgs {
		b = append(b, byte(i%3))
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

func fuzzSeeds() [][]byte {
	c := uuidClient(1)
	ll := &client{duid: &dhcpv6.DUIDLLT{HWType: iana.HWTypeEthernet, Time: 1, LinkLayerAddr: net.HardwareAddr{0xfa, 0x16, 0x3e, 0x33, 0x33, 0x33}}}
	a := netip.MustParseAddr("2001:db8:0:2::1234")
	rc := withOption(&dhcpv6.OptionGeneric{OptionCode: dhcpv6.OptionRapidCommit})
	relay := func(m dhcpv6.DHCPv6) []byte {
		r := &dhcpv6.RelayMessage{MessageType: dhcpv6.MessageTypeRelayForward, LinkAddr: net.ParseIP("2001:db8:0:2::1"), PeerAddr: net.ParseIP("fe80::1")}
		r.AddOption(dhcpv6.OptInterfaceID([]byte("eth0")))
		r.AddOption(dhcpv6.OptClientLinkLayerAddress(iana.HWTypeEthernet, net.HardwareAddr{0xfa, 0x16, 0x3e, 0x33, 0x33, 0x33}))
		r.AddOption(dhcpv6.OptRelayMessage(m))
		return r.ToBytes()
	}
	seeds := [][]byte{
		fuzzFrames(c.msg(dhcpv6.MessageTypeSolicit, withIA(1)).ToBytes(), c.msg(dhcpv6.MessageTypeRequest, withServerID(serverDUID), withIA(1, a)).ToBytes()),
		fuzzFrames(c.msg(dhcpv6.MessageTypeSolicit, withIA(1), withIA(2), rc).ToBytes(),
			c.msg(dhcpv6.MessageTypeRenew, withServerID(serverDUID), withIA(1, a)).ToBytes(),
			c.msg(dhcpv6.MessageTypeRebind, withIA(1, a)).ToBytes(),
			c.msg(dhcpv6.MessageTypeRelease, withServerID(serverDUID), withIA(1, a)).ToBytes()),
		fuzzFrames(ll.msg(dhcpv6.MessageTypeSolicit, withIA(1), rc).ToBytes(),
			ll.msg(dhcpv6.MessageTypeDecline, withServerID(serverDUID), withIA(1, netip.MustParseAddr("2001:db8:0:2::33"))).ToBytes()),
		fuzzFrames(c.msg(dhcpv6.MessageTypeConfirm, withIA(1, a)).ToBytes(), c.msg(dhcpv6.MessageTypeInformationRequest).ToBytes()),
		fuzzFrames(relay(c.msg(dhcpv6.MessageTypeSolicit, withIA(1), rc)), relay(c.msg(dhcpv6.MessageTypeInformationRequest))),
		{0x0c, 0, 4, 1, 0, 0, 0},
	}
	// Real clients' packets captured on the wire (testdata/*.hex).
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var raw []byte
		if _, err := fmt.Sscanf(string(b), "%x", &raw); err == nil {
			seeds = append(seeds, fuzzFrames(raw))
		}
	}
	return seeds
}

func FuzzReceive(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkReceive(t, data) })
}

// checkReceive feeds data to a server with the real table, policy and a
// journal on an in-memory file system, and checks what must always hold.
func checkReceive(t *testing.T, data []byte) {
	cfg := statefulCfg()
	cfg.Pools[0].End = netip.MustParseAddr("2001:db8:0:2::101f") // small: exhaustion reachable
	const maxLeases = 24
	clock := newClock()
	fsys := newMemFS()
	s, err := NewServer("eth1", cfg, WithClock(clock), WithDUID(serverDUID), WithStateDir("/state"), withFS(fsys),
		WithMaxLeases(maxLeases), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	metas := [4]Meta{
		direct(net.HardwareAddr{0xfa, 0x16, 0x3e, 0x33, 0x33, 0x33}),
		{Src: netip.AddrPortFrom(clientLL, ClientPort), Dst: netip.MustParseAddr("fe80::1")},
		{Src: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:0:2::fe"), ServerPort), Dst: netip.MustParseAddr("2001:db8:0:2::1")},
		{Src: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:0:2::77"), ClientPort), Dst: AllRelayAgentsAndServers, SrcMAC: net.HardwareAddr{1, 2, 3, 4, 5, 6}},
	}
	for len(data) >= 3 {
		flags := data[0]
		n := int(binary.BigEndian.Uint16(data[1:3]))
		data = data[3:]
		n = min(n, len(data))
		msg := data[:n]
		data = data[n:]
		if flags&4 != 0 {
			clock.Advance(time.Hour)
		}
		if flags&8 != 0 {
			shrunk := statefulCfg()
			shrunk.Pools[0].End = netip.MustParseAddr("2001:db8:0:2::1007")
			if err := s.Update(shrunk); err != nil {
				t.Fatal(err)
			}
		}
		s.mu.Lock()
		a, ok := s.handle(metas[flags&3], msg, clock.Now())
		if err := s.journal.sync(s.table); err != nil {
			t.Fatal(err)
		}
		checkTable(t, s)
		s.mu.Unlock()
		if ok {
			d, err := dhcpv6.FromBytes(a.b)
			if err != nil {
				t.Fatalf("answer does not decode: %v", err)
			}
			if d.IsRelay() != (msg[0] == byte(dhcpv6.MessageTypeRelayForward)) {
				t.Fatalf("answer relay-ness differs from the request's")
			}
			if _, err := d.GetInnerMessage(); err != nil {
				t.Fatal(err)
			}
			if a.typ != uint8(dhcpv6.MessageTypeAdvertise) && a.typ != uint8(dhcpv6.MessageTypeReply) {
				t.Fatalf("answered with type %d", a.typ)
			}
		}
	}
	// What is durable is what is in memory.
	_, tb, bad, err := openJournal(fsys.after(true), "/state/dhcpv6-eth1.leases", time.Unix(0, 0))
	if err != nil || bad != 0 {
		t.Fatalf("reopen journal: %v, %d bad lines", err, bad)
	}
	if got, want := snapshot(tb), snapshot(s.table); !maps.Equal(got, want) {
		t.Fatalf("journal holds %v\nmemory holds %v", got, want)
	}
}

// checkTable checks the table's invariants: both indexes agree, no
// address is leased twice, leases are within the bound and appropriate
// to the pools they were given from (or withdrawn pending).
func checkTable(t *testing.T, s *Server) {
	t.Helper()
	bound := s.maxLeases + len(s.pol.reserved)
	if s.table.len() > bound {
		t.Fatalf("%d leases, bound %d", s.table.len(), bound)
	}
	for a, l := range s.table.byAddr {
		if l.Addr != a {
			t.Fatalf("lease of %s indexed under %s", l.Addr, a)
		}
		if !l.Declined() && s.table.byIA[l.key()] != l {
			t.Fatalf("lease %s not indexed by its IA", a)
		}
	}
	for k, l := range s.table.byIA {
		if l.key() != k || s.table.byAddr[l.Addr] != l {
			t.Fatalf("IA index of %s inconsistent", l.Addr)
		}
	}
}

// TestReceiveRegressions replays inputs that once broke the receive path.
func TestReceiveRegressions(t *testing.T) {
	for name, data := range map[string][]byte{
		"seed corpus": nil,
	} {
		t.Run(name, func(t *testing.T) {
			if data == nil {
				for _, s := range fuzzSeeds() {
					checkReceive(t, s)
				}
				return
			}
			checkReceive(t, data)
		})
	}
}

// TestRealSeeds: the captured packets of real clients decode and, for the
// client messages, are handled without being dropped as malformed.
func TestRealSeeds(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	if len(files) == 0 {
		t.Fatal("no captured packets in testdata")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var raw []byte
		if _, err := fmt.Sscanf(string(b), "%x", &raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ts := newTestServer(t, statefulCfg())
		_, reason, ok := ts.send(direct(nil), raw)
		client := raw[0] != byte(dhcpv6.MessageTypeAdvertise) && raw[0] != byte(dhcpv6.MessageTypeReply)
		if client && !ok && (reason == DropMalformed || reason == DropNotClientMessage) {
			t.Errorf("%s: dropped as %s", f, reason)
		}
		if !client && (ok || reason != DropNotClientMessage) {
			t.Errorf("%s: server message not dropped as not_client_message", f)
		}
	}
}
